"""The measured memory of one fine-tuning step, and the check that refuses a step that cannot fit.

:func:`check_training_memory` runs before training (SFT, and GRPO's log-prob pass through
:func:`predict_training_memory`) and raises :class:`~cosmos_nb_utils.generation.GPUMemoryError` naming
what to lower. The coefficients were measured by benchmarks/sft_memory.py (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .memory import GIB
from .training import LORA_BYTES_PER_PARAM, compute_dtype_key, lora_parameter_count

# Measured on the GPU with the random-weight 7B by benchmarks/sft_memory.py (benchmarks/RESULTS.md, section
# "Fine-tuning memory (issue 19)"; raw data in benchmarks/results/sft-memory.json, "fits"; H200, torch 2.11,
# transformers 5.24, bitsandbytes 0.50.2, peft 0.21.2): one SFT step's peak allocated memory above the 4-bit
# weights is the LoRA state (LORA_BYTES_PER_PARAM per adapter parameter) plus a line in the visual tokens of the
# step's example, fitted on 1.2k-7.2k visual tokens at rank 16 (max error 0.0002 GiB). Keys: the compute dtype
# (fp16: the T4 path, vision encoder in float32). tests/test_finetune.py checks these against the raw file.
TRAINING_MEMORY: dict[str, dict[str, float]] = {
    "bf16": {"per_visual_token": 6.875e-4, "base": -0.0407},
    "fp16": {"per_visual_token": 6.875e-4, "base": -0.1047},
}
# Kept free on top of the prediction. Under the 8 GB cap (same section) the 1.2k-token step, predicted 0.37 GiB
# under the free memory, ran, and the 1.9k-token step, predicted 0.11 GiB over it, ran out of memory: 0.3 GiB
# keeps the first and refuses the second. (PyTorch reserved 0.28-0.67 GiB more than it allocated at the peaks.)
TRAINING_MARGIN_GIB = 0.3


@dataclass
class TrainingPrediction:
    """Predicted peak GPU memory of one optimizer step (GiB, above what is allocated before training)."""

    lora_state: float  # adapter weights, gradients and AdamW moments
    activations: float  # the step's peak above that (fitted)
    visual_tokens: int

    @property
    def peak(self) -> float:
        return self.lora_state + self.activations


def predict_training_memory(model, visual_tokens: int, rank: int) -> TrainingPrediction | None:
    """Predicted peak of one optimizer step on ``model`` (before LoRA is added), or ``None`` where not measured."""
    coef = TRAINING_MEMORY.get(compute_dtype_key(model))
    if coef is None:
        return None
    lora = lora_parameter_count(model.config, rank) * LORA_BYTES_PER_PARAM / GIB
    return TrainingPrediction(lora, coef["per_visual_token"] * visual_tokens + coef["base"], visual_tokens)


def largest_visual_tokens(model, rank: int, room_gib: float) -> int | None:
    """The most visual tokens per example whose predicted step fits ``room_gib`` (``None`` if not measured)."""
    coef = TRAINING_MEMORY.get(compute_dtype_key(model))
    if coef is None:
        return None
    lora = lora_parameter_count(model.config, rank) * LORA_BYTES_PER_PARAM / GIB
    return max(0, int((room_gib - lora - coef["base"]) / coef["per_visual_token"]))


def check_training_memory(model, visual_tokens: int, rank: int, *, free_gib: float | None = None,
                          margin_gib: float = TRAINING_MARGIN_GIB) -> TrainingPrediction | None:
    """Before training: raise :class:`GPUMemoryError` naming what to lower if a step would not fit the GPU.

    ``visual_tokens``: the most any training example has. Nothing is checked on a CPU or for a compute
    dtype that was not measured (the prediction is then ``None``).
    """
    from .generation import GPUMemoryError
    from .memory import free_gpu_gib

    if free_gib is None:
        if not torch.cuda.is_available() or model.device.type != "cuda":
            return None
        free_gib = free_gpu_gib()
    predicted = predict_training_memory(model, visual_tokens, rank)
    if predicted is None or predicted.peak + margin_gib <= free_gib:
        return predicted
    fits_tokens = largest_visual_tokens(model, rank, free_gib - margin_gib) or 0
    lower_rank = next((r for r in (8, 4) if r < rank and predict_training_memory(model, visual_tokens, r).peak
                       + margin_gib <= free_gib), None)
    advice = [f"--total-pixels to about {max(fits_tokens, 0) // 64 * 64} * 28 * 28 (that many visual tokens "
              "per example are predicted to fit)" if fits_tokens >= 256 else "",
              f"--rank to {lower_rank}" if lower_rank else "", "--fps", "or use shorter clips (trim_video)"]
    raise GPUMemoryError(
        f"One training step with {visual_tokens:,} visual tokens at LoRA rank {rank} is predicted to need "
        f"{predicted.peak:.2f} GiB ({predicted.lora_state:.2f} GiB of LoRA state, {predicted.activations:.2f} GiB "
        f"for the step); {free_gib:.2f} GiB is free and {margin_gib} GiB is kept spare. Nothing was trained. Lower "
        + ", ".join(a for a in advice if a) + "."
    )
