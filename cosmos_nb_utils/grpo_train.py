"""GRPO on the video model with LoRA: one step samples a group, scores it, and takes the clipped-loss update.

Why not TRL: TRL 1.16's ``GRPOTrainer`` reads images only. ``_tokenize_prompts`` collects the
``"image"`` parts of each message, and ``_generate_and_score_completions`` re-processes the prompts
for the loss with ``processing_class(images=..., text=...)``; a video prompt reaches the
log-probability pass with no video features at all (huggingface/trl#4144 asks for video and is open).
So the course writes the step itself, over ``peft``, with cosmos-rl's rules from :mod:`.official`:

1. sample ``group_size`` answers with the course's graph decoder at the RL rollout settings
   (:func:`cosmos_nb_utils.grpo.sample_group`), keeping each sampled token's log-probability at the
   sampling temperature: the old policy's, with no second pass;
2. score them with cosmos-rl's format and single-choice rewards;
3. advantages with cosmos-rl's convention (population std, eps 1e-6: ``official.COSMOS_RL_ADVANTAGE``);
4. recompute the log-probabilities of the sampled tokens under the policy, with gradients, at the
   sampling temperature, one answer at a time (gradients accumulate, so memory does not grow with
   the group), logits only at the completion's positions;
5. the clipped surrogate, token-mean over the group as cosmos-rl's default ``loss_type``, KL beta 0
   as in ``rl.toml``; one optimizer step (``updates`` > 1 reuses the batch, and then the ratio and
   the clip do real work).

``kl_to_reference`` is measured even with beta 0: the k3 estimator of KL(policy || base) on the
sampled tokens, the base being the model with its adapter disabled.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .grpo import ROLLOUT_MAX_NEW_TOKENS, Group, clipped_surrogate_loss, completion_logprobs, sample_group
from .official import COSMOS_RL_ADVANTAGE, RL_RECIPE, RL_SYSTEM, format_reward, rl_prompt, single_choice_reward
from .rewards import group_advantages
from .video import DEFAULT_TOTAL_PIXELS

# The metrics of one step, in the order of a line of grpo_log.jsonl (notebook 10 plots them).
LOG_KEYS = ("step", "reward_mean", "format_rate", "accuracy_rate", "zero_signal_groups", "truncated",
            "completion_tokens_mean", "loss", "clip_fraction", "kl_to_reference", "seconds")


@dataclass(frozen=True)
class GRPOSettings:
    """What one GRPO step does; defaults are the official RL recipe's (``official.RL_RECIPE``) where it has one.

    ``max_new_tokens`` is the course's cap (``grpo.ROLLOUT_MAX_NEW_TOKENS``; the recipe allows 6144).
    ``updates``: optimizer steps on each sampled group (1: on-policy, the ratio stays 1).
    """

    group_size: int = RL_RECIPE["group size (n_generation)"]
    max_new_tokens: int = ROLLOUT_MAX_NEW_TOKENS
    clip_eps: float = RL_RECIPE["clip epsilon (low, high)"][0]
    kl_beta: float = RL_RECIPE["kl_beta"]
    updates: int = 1
    fps: float = RL_RECIPE["video fps"]
    total_pixels: int = DEFAULT_TOTAL_PIXELS
    reasoning: bool = True  # the RL prompt asks for <think> and <answer>; False: letter mode
    measure_kl: bool = True

    def __post_init__(self) -> None:
        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")

        whole("group_size", 2)  # one answer has nothing to be compared with: its advantage is always 0
        whole("max_new_tokens", 1)
        whole("updates", 1)
        whole("total_pixels", 1)
        for name in ("clip_eps", "kl_beta", "fps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (name == "fps" and value == 0):
                raise ValueError(f"{name} must be a finite number {'> 0' if name == 'fps' else '>= 0'}, "
                                 f"got {value!r}.")


@dataclass(frozen=True)
class Prompt:
    """One RL question: a clip, a multiple-choice question, and the key (cosmos-rl compares the answer with it)."""

    video: Path
    question: str
    options: dict[str, str]
    key: str

    def text(self, reasoning: bool = True) -> str:
        """The user text: the official RL prompt (``official.rl_prompt``), or in letter mode the benchmark's."""
        from .official import benchmark_prompt

        return rl_prompt(self.question, self.options) if reasoning else benchmark_prompt(
            self.question, self.options, "letter")


def official_reward(text: str, key: str) -> float:
    """cosmos-rl's reward of one answer: single-choice accuracy + format (each 0 or 1)."""
    return single_choice_reward(text, key) + format_reward(text)


def policy_of(model):
    """The module that decodes and scores: a peft model's base (its LoRA layers sit inside it), else ``model``."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def k3_kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference) from tokens sampled by the policy:
    ``exp(ref - logp) - (ref - logp) - 1`` (never negative; 0 where they agree)."""
    diff = logp_ref - logp
    return torch.exp(diff) - diff - 1


def reference_logprobs(model, group: Group, lengths: Sequence[int]) -> list[torch.Tensor]:
    """Each answer's token log-probabilities under the base model (the adapter disabled), no gradients."""
    policy = policy_of(model)
    out = []
    with torch.no_grad(), model.disable_adapter():
        for i, n in enumerate(lengths):
            row = group.sequences[i: i + 1, : group.prompt_len + n]
            out.append(completion_logprobs(policy, row, group.prompt_len, temperature=group.temperature,
                                           **group.prompt_inputs)[0].float())
    return out


@dataclass
class Rollout:
    """One prompt's sampled group with its rewards, advantages and per-answer log-probabilities."""

    prompt: Prompt
    group: Group
    rewards: np.ndarray
    format: np.ndarray
    accuracy: np.ndarray
    advantages: np.ndarray
    lengths: list[int]
    old: list[torch.Tensor]  # the sampling pass's log-probs of each answer's tokens
    ref: list[torch.Tensor] | None  # the same tokens under the base model (adapter disabled)


@dataclass
class StepResult:
    """One step's metrics (a line of grpo_log.jsonl) and its rollouts, for a notebook to show."""

    metrics: dict
    rollouts: list[Rollout]


def rollout(model, processor, prompt: Prompt, settings: GRPOSettings, *, seed: int | None,
            reward_fn: Callable[[str, str], float] = official_reward) -> Rollout:
    """Sample and score one group (no gradients): GRPO's steps 1-3, plus the reference log-probs if needed."""
    policy = policy_of(model)
    policy.eval()  # sampling: no dropout
    group = sample_group(policy, processor, prompt.text(settings.reasoning), prompt.video, system=RL_SYSTEM,
                         group_size=settings.group_size, max_new_tokens=settings.max_new_tokens, seed=seed,
                         fps=settings.fps, total_pixels=settings.total_pixels, reasoning=settings.reasoning)
    texts = group.texts
    rewards = np.array([float(reward_fn(t, prompt.key)) for t in texts])
    bad = [i for i, r in enumerate(rewards) if not math.isfinite(r)]
    if bad:
        raise ValueError(f"reward_fn returned {rewards[bad[0]]} for answer {bad[0]} ({texts[bad[0]][:80]!r}): "
                         "a reward must be a finite number.")
    advantages = group_advantages(rewards, std=COSMOS_RL_ADVANTAGE["std"], eps=COSMOS_RL_ADVANTAGE["eps"])
    lengths = [int(n) for n in group.mask.sum(dim=1).tolist()]
    old = [group.logprobs[i, :n].float() for i, n in enumerate(lengths)]
    ref = reference_logprobs(model, group, lengths) if settings.kl_beta > 0 or settings.measure_kl else None
    return Rollout(prompt, group, rewards, np.array([format_reward(t) for t in texts]),
                   np.array([single_choice_reward(t, prompt.key) for t in texts]), advantages, lengths, old, ref)


def grpo_step(model, processor, optimizer: torch.optim.Optimizer, prompts: Sequence[Prompt],
              settings: GRPOSettings, *, step: int, seed: int | None = 0,
              reward_fn: Callable[[str, str], float] = official_reward) -> StepResult:
    """One GRPO step on ``prompts`` (one group each): sample, score, update the adapter; returns the metrics.

    ``model`` is a peft model (its adapter trains; ``disable_adapter`` gives the reference).
    ``reward_fn(text, key)`` scores an answer (default: cosmos-rl's, :func:`official_reward`); the
    format and accuracy rates are always cosmos-rl's own. Answer ``i`` of group ``j`` is sampled
    with seed ``seed + (step * len(prompts) + j) * group_size + i``, so a resumed run samples
    what the uninterrupted one would. The loss is the token-mean over every answer of the step.
    """
    if not prompts:
        raise ValueError("prompts is empty: give at least one Prompt per step.")
    start = time.perf_counter()
    policy = policy_of(model)
    was_training = policy.training
    g = settings.group_size
    rollouts = [rollout(model, processor, p, settings, reward_fn=reward_fn,
                        seed=None if seed is None else seed + (step * len(prompts) + j) * g)
                for j, p in enumerate(prompts)]
    total_tokens = sum(sum(r.lengths) for r in rollouts)

    policy.train()
    losses, clipped = [], 0.0
    try:
        for _ in range(settings.updates):
            optimizer.zero_grad(set_to_none=True)
            loss_sum, clipped_tokens = 0.0, 0
            for r in rollouts:
                for i, n in enumerate(r.lengths):
                    if r.advantages[i] == 0 and settings.kl_beta == 0:
                        continue  # its gradient is exactly 0; its tokens still count in the token-mean
                    row = r.group.sequences[i: i + 1, : r.group.prompt_len + n]
                    logp = completion_logprobs(policy, row, r.group.prompt_len, temperature=r.group.temperature,
                                               **r.group.prompt_inputs).float()
                    part = clipped_surrogate_loss(
                        logp, r.old[i][None], r.advantages[i: i + 1], clip_eps=settings.clip_eps,
                        kl_coef=settings.kl_beta, logp_ref=r.ref[i][None] if settings.kl_beta > 0 else None,
                        aggregation="token-mean") * (n / total_tokens)
                    part.backward()  # one answer's graph at a time: memory does not grow with the group
                    loss_sum += float(part.detach())
                    ratio = torch.exp(logp.detach() - r.old[i][None])
                    clipped_tokens += int(((ratio - 1).abs() > settings.clip_eps).sum())
            if any(p.grad is not None for pg in optimizer.param_groups for p in pg["params"]):
                optimizer.step()
            losses.append(loss_sum)
            clipped = clipped_tokens / total_tokens
    finally:
        optimizer.zero_grad(set_to_none=True)
        policy.train(was_training)

    def mean(name: str) -> float:
        return float(np.mean(np.concatenate([getattr(r, name) for r in rollouts])))

    kl = None
    if all(r.ref is not None for r in rollouts):
        kl = float(sum(k3_kl(o, f).sum() for r in rollouts for o, f in zip(r.old, r.ref)) / total_tokens)
    metrics = {
        "step": step,
        "reward_mean": mean("rewards"),
        "format_rate": mean("format"),
        "accuracy_rate": mean("accuracy"),
        "zero_signal_groups": float(np.mean([np.ptp(r.rewards) == 0 for r in rollouts])),
        "truncated": float(np.mean([t for r in rollouts for t in r.group.truncated])),
        "completion_tokens_mean": total_tokens / (len(rollouts) * g),
        "loss": losses[0],  # the first update's: at ratio 1, minus the token-weighted mean advantage
        "clip_fraction": clipped,  # tokens whose ratio left [1 - eps, 1 + eps] in the last update
        "kl_to_reference": kl,  # of the policy that sampled this step, before its update
        "seconds": time.perf_counter() - start,
    }
    return StepResult(metrics, rollouts)


def settings_dict(settings: GRPOSettings) -> dict:
    """The settings as plain JSON values (for a run's record)."""
    return asdict(settings)
