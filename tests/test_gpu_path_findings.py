"""Bugs that only the GPU run of the notebooks showed (benchmarks/run_notebooks_gpu.py), pinned on the CPU.

The ``meta`` device stands in for the GPU: mixing it with CPU tensors fails the same way.
"""

import torch

from cosmos_nb_utils.grpo import clipped_surrogate_loss, group_advantages


def test_surrogate_loss_takes_advantages_from_the_cpu():
    """Notebook 06 builds advantages with ``torch.tensor(group_advantages(...))`` (CPU) for log-probs on the GPU."""
    logp = torch.zeros(4, 5, device="meta")
    mask = torch.ones(4, 5, device="meta")  # the group's mask is on the GPU with its sequences
    advantages = torch.tensor(group_advantages([1.0, 0.0, 1.0, 0.0]))
    loss = clipped_surrogate_loss(logp, logp, advantages, mask)
    assert loss.device.type == "meta" and loss.shape == ()
    # on one device the value is unchanged: at ratio 1 the loss is minus the mean advantage
    cpu = clipped_surrogate_loss(torch.zeros(4, 5), torch.zeros(4, 5), advantages, torch.ones(4, 5))
    assert torch.isclose(cpu, -advantages.mean().float())
