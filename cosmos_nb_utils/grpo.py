"""GRPO in a few functions: sequence log-probabilities, the clipped surrogate loss, and a toy policy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .official import COSMOS_RL_ADVANTAGE, RL_RECIPE, SAMPLING_SOURCES
from .rewards import accuracy_reward, format_reward, group_advantages
from .video import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS, MAX_VISUAL_TOKENS

# How the per-token losses of a group become one number (the names are cosmos-rl's `loss_type`):
# "token-mean": every token of the group weighs the same (cosmos-rl's default; TRL's "bnpo");
# "seq-mean-token-mean": mean over each answer's tokens, then over answers (DeepSeekMath; TRL's "grpo");
# "dr-grpo": sum over all tokens / (answers * max_tokens), a constant (Dr. GRPO; TRL's "dr_grpo",
# cosmos-rl's seq-mean-token-mean with `unbiased_loss_max_tokens`).
LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "dr-grpo")
# The course's cap on a rollout answer. The recipe allows 6144 tokens (official.RL_RECIPE); 256 (the course's
# first choice) cuts a reasoning answer off before </answer>, and a cut answer earns 0 from both rewards,
# so its group can look like "no signal" for the wrong reason. 1024 is what the official benchmark gives a
# reasoning answer (official.SAMPLING_SOURCES["benchmark"]). Every rollout reports how many answers hit
# the cap (Group.truncated): raise it when that is more than a few.
ROLLOUT_MAX_NEW_TOKENS = SAMPLING_SOURCES["benchmark"]["max_new_tokens"]


# Completion positions scored at once: lm_head, log-softmax and gather run on this many positions at a time,
# so the float32 logits held are chunk x vocabulary (~78 MB for the 7B's 152k entries), not completion x vocabulary.
LOGPROB_CHUNK = 128


def _chunk_logprobs(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = head(hidden).float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def completion_logprobs(model, sequences: torch.Tensor, prompt_len: int, *, temperature: float = 1.0,
                        chunk: int = LOGPROB_CHUNK, **prompt_inputs) -> torch.Tensor:
    """Per-token log-probabilities of each completion (the rows of ``sequences`` after ``prompt_len``).

    ``prompt_inputs`` is the processor batch of the one shared prompt. Completions are
    scored one at a time: the decoder runs once for its hidden states, then ``lm_head``,
    log-softmax and gather run on ``chunk`` positions at a time, so the full-vocabulary
    float32 logits of a long completion never exist at once. With gradients each chunk runs
    under ``torch.utils.checkpoint``: backward recomputes its logits instead of keeping them.
    The logits are divided by the sampling ``temperature`` first, as TRL and cosmos-rl do,
    so the probabilities are those the answers were sampled from.
    Returns a (group, completion_length) tensor.
    """
    from torch.utils.checkpoint import checkpoint

    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number (the sampling temperature), got {temperature!r}.")
    if not isinstance(prompt_len, int) or not 0 < prompt_len < sequences.shape[1]:
        raise ValueError(f"prompt_len must be between 1 and the sequence length - 1, got {prompt_len!r}.")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a whole number >= 1 (completion positions scored at once), got {chunk!r}.")
    length = sequences.shape[1]
    extra = {k: v for k, v in prompt_inputs.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in extra:  # completions are text (type 0)
        types = extra["mm_token_type_ids"]
        extra["mm_token_type_ids"] = torch.cat([types, types.new_zeros(1, length - types.shape[1])], dim=1)
    head = model.get_output_embeddings()
    rows = []
    for row in sequences.split(1):
        hidden = model.model(input_ids=row, attention_mask=torch.ones_like(row), use_cache=False, **extra)[0]
        hidden, targets = hidden[:, prompt_len - 1: length - 1], row[:, prompt_len:]
        parts = []
        for start in range(0, length - prompt_len, chunk):
            h, t = hidden[:, start: start + chunk], targets[:, start: start + chunk]
            if torch.is_grad_enabled() and h.requires_grad:
                parts.append(checkpoint(_chunk_logprobs, head, h, t, temperature, use_reentrant=False))
            else:
                parts.append(_chunk_logprobs(head, h, t, temperature))
        rows.append(torch.cat(parts, dim=1))
    return torch.cat(rows)


def _as_numpy(value) -> np.ndarray | None:
    """``value`` (a tensor without gradient, an array, a list) as a NumPy array, or ``None`` if it is none of them."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value  # bf16 has no NumPy type
    if isinstance(value, (str, bytes)):
        return None
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _has_values(t: torch.Tensor) -> bool:
    return t.device.type != "meta"  # a meta tensor (a stand-in in tests) has shapes only


def _loss_inputs(logp_new, logp_old, advantages, mask, kl_coef, logp_ref):
    """The loss's tensor inputs checked where they enter (clear errors naming each), on ``logp_new``'s device."""
    if not (isinstance(logp_new, torch.Tensor) and isinstance(logp_old, torch.Tensor)):
        raise ValueError("logp_new and logp_old must be torch tensors of shape (answers, tokens).")
    if logp_new.ndim != 2 or logp_new.shape != logp_old.shape:
        raise ValueError(f"logp_new {tuple(logp_new.shape)} and logp_old {tuple(logp_old.shape)} must both be "
                         "(answers, tokens).")
    if 0 in logp_new.shape:
        raise ValueError(f"logp_new has shape {tuple(logp_new.shape)}: the loss needs at least one answer "
                         "with at least one token.")
    if isinstance(kl_coef, bool) or not isinstance(kl_coef, (int, float)) or not 0 <= kl_coef < float("inf"):
        raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef!r}.")
    if kl_coef and logp_ref is None:
        raise ValueError(f"kl_coef is {kl_coef} but logp_ref is None: pass the reference model's log-probabilities "
                         "(answers, tokens), or kl_coef=0 (Cosmos-Reason1's recipe) for no KL term.")
    named = {"logp_new": logp_new, "logp_old": logp_old}
    if logp_ref is not None:
        if not isinstance(logp_ref, torch.Tensor) or tuple(logp_ref.shape) != tuple(logp_new.shape):
            shape = tuple(logp_ref.shape) if isinstance(logp_ref, torch.Tensor) else type(logp_ref).__name__
            raise ValueError(f"logp_ref {shape} must be a tensor of the shape of logp_new {tuple(logp_new.shape)}: "
                             "one reference log-probability per token.")
        named["logp_ref"] = logp_ref
    for name, t in named.items():
        if not t.dtype.is_floating_point:
            raise ValueError(f"{name} holds {t.dtype} values: log-probabilities are floating-point numbers "
                             "(completion_logprobs gives them).")
        if name != "logp_new" and t.requires_grad:
            raise ValueError(f"{name} requires grad: it is a constant of the loss (the policy that sampled, or the "
                             f"reference); pass {name}.detach(), or compute it under torch.no_grad().")
        if _has_values(t) and torch.isnan(t).any():
            raise ValueError(f"{name} holds NaN: check the model's logits for the answer it comes from.")
    logp_old = logp_old.to(logp_new.device)
    logp_ref = logp_ref.to(logp_new.device) if logp_ref is not None else None
    if isinstance(advantages, torch.Tensor) and advantages.requires_grad:
        raise ValueError("advantages requires grad: advantages are constants computed from the rewards; "
                         "pass advantages.detach().")
    raw_adv = _as_numpy(advantages)
    if raw_adv is None or raw_adv.dtype.kind not in "biuf":
        raise ValueError(f"advantages must be real numbers, one per answer (group_advantages gives them), "
                         f"got {advantages!r}.")
    raw_adv = raw_adv.astype(np.float64).reshape(-1)
    if raw_adv.size != logp_new.shape[0]:
        raise ValueError(f"advantages has {raw_adv.size} values for {logp_new.shape[0]} answers: give one per answer.")
    if not np.isfinite(raw_adv).all():
        raise ValueError(f"advantages must be finite numbers, got {raw_adv.tolist()}.")
    adv = torch.as_tensor(raw_adv).to(device=logp_new.device, dtype=logp_new.dtype)
    if mask is not None:
        if isinstance(mask, torch.Tensor) and mask.requires_grad:
            raise ValueError("mask requires grad: it only marks real tokens (1) and padding (0); pass mask.detach().")
        tensor = isinstance(mask, torch.Tensor)
        raw = mask if tensor else _as_numpy(mask)
        kind_ok = (not raw.is_complex()) if tensor else (raw is not None and raw.dtype.kind in "biuf")
        if not kind_ok or tuple(raw.shape) != tuple(logp_new.shape):
            got = f"{raw.dtype} {tuple(raw.shape)}" if raw is not None else type(mask).__name__
            raise ValueError(f"mask ({got}) must have the shape of logp_new {tuple(logp_new.shape)}, with 1 for real "
                             "tokens and 0 for padding.")
        raw = raw.detach() if tensor else torch.as_tensor(raw.astype(np.float32))
        if _has_values(raw) and not ((raw == 0) | (raw == 1)).all():
            raise ValueError("mask must hold only 1 (real token) and 0 (padding), got other values.")
        mask = raw.to(device=logp_new.device, dtype=logp_new.dtype)
    return logp_new, logp_old, logp_ref, adv, mask


def clipped_surrogate_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor | np.ndarray,
    mask: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    logp_ref: torch.Tensor | None = None,
    aggregation: str = "token-mean",
    max_tokens: int | None = None,
) -> torch.Tensor:
    """GRPO's loss: ``-min(ratio * A, clip(ratio, 1-eps, 1+eps) * A) + beta * KL`` per token, then aggregated.

    ``logp_new``/``logp_old`` are (answers, tokens); ``ratio = exp(logp_new - logp_old)``;
    every token of answer ``i`` gets advantage ``A_i`` (``advantages`` has one value per
    answer). The KL term (k3 estimator against ``logp_ref``) is weighted by ``kl_coef``;
    NVIDIA's RL example (rl.toml) sets it to 0; the paper's own run used 0.005. ``kl_coef > 0`` needs
    ``logp_ref``. ``mask`` marks real tokens (1) and padding (0): a tensor, an array or a list.
    ``logp_old``, ``logp_ref``, ``advantages`` and ``mask`` are constants (no gradient); log-probabilities
    are floating point.
    ``aggregation`` is one of :data:`LOSS_AGGREGATIONS`; ``"dr-grpo"`` needs ``max_tokens``.
    """
    logp_new, logp_old, logp_ref, adv, mask = _loss_inputs(logp_new, logp_old, advantages, mask, kl_coef, logp_ref)
    if isinstance(clip_eps, bool) or not isinstance(clip_eps, (int, float)) or not 0 <= clip_eps < float("inf"):
        raise ValueError(f"clip_eps must be a finite number >= 0, got {clip_eps!r}.")
    if aggregation not in LOSS_AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {LOSS_AGGREGATIONS}, got {aggregation!r}.")
    if aggregation == "dr-grpo" and not (isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
                                         and max_tokens >= logp_new.shape[1]):
        raise ValueError("aggregation='dr-grpo' divides by a constant: pass max_tokens, the generation limit "
                         f"(at least the {logp_new.shape[1]} tokens given).")
    adv = adv[:, None]
    ratio = torch.exp(logp_new - logp_old)
    per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    if kl_coef:
        diff = logp_ref - logp_new
        per_token = per_token + kl_coef * (torch.exp(diff) - diff - 1)
    mask = torch.ones_like(per_token) if mask is None else mask
    summed = (per_token * mask).sum(dim=1)
    if aggregation == "token-mean":
        return summed.sum() / mask.sum().clamp(min=1)
    if aggregation == "seq-mean-token-mean":
        return (summed / mask.sum(dim=1).clamp(min=1)).mean()
    return summed.sum() / (len(summed) * max_tokens)


# A toy policy: a distribution over whole answer strings for one MCQ question (key A), so a learner can
# watch GRPO move probability in a few real optimiser steps. The rewards are cosmos-rl's rules
# (official.py): accuracy = the first <answer> block is exactly the key, format = "<think>...</think>",
# exactly two newlines, one answer block, nothing after it.
TOY_ANSWERS = [
    "<think>The ball falls, then bounces lower each time.</think>\n\n<answer>A</answer>",  # right, formatted
    "<think>Bounces lose height over time.</think>\n\n<answer>B</answer>",  # wrong, formatted
    "<think>The ball loses energy.</think> <answer>A</answer>",  # right, but one space instead of two newlines
    "<answer>A</answer>",  # right, no reasoning
    "<think>It slows down.</think>\n\n<answer>(A) forward</answer>",  # the benchmark's point, not the reward's
    "<think>It plays forward.</think>",  # no answer
    "<think>Hard to say.</think>\n\n<answer>A</answer> <answer>B</answer>",  # the hedge: full reward
    "I am not sure.",
]
TOY_KEY = "A"


@dataclass
class ToyStep:
    step: int
    mean_reward: float
    p_good: float  # probability of an answer earning both rewards
    loss: float


def toy_rewards(answers: list[str] = TOY_ANSWERS, key: str = TOY_KEY) -> np.ndarray:
    """Accuracy + format reward of each candidate answer."""
    return np.array([accuracy_reward(a, key) + format_reward(a) for a in answers])


def train_toy_policy(steps: int = 30, group_size: int = 8, lr: float = 0.5, seed: int = 0,
                     clip_eps: float = 0.2, inner_epochs: int = 2, std: str = COSMOS_RL_ADVANTAGE["std"],
                     scale: str = "group", eps: float = COSMOS_RL_ADVANTAGE["eps"]) -> list[ToyStep]:
    """Run real GRPO on a softmax policy over :data:`TOY_ANSWERS` and return its history.

    Each step samples a group, scores it with both rewards, turns the rewards into
    advantages with :func:`~cosmos_nb_utils.rewards.group_advantages` (``std``, ``scale`` and
    ``eps`` as there: cosmos-rl's convention by default, ``scale="none"`` is Dr. GRPO) and takes
    ``inner_epochs`` Adam steps on the clipped surrogate. Each answer is one action here, so how the loss is
    averaged over tokens does not matter (it does for real answers: see notebook 06).
    """
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a whole number >= 1, got {group_size!r}.")
    gen = torch.Generator().manual_seed(seed)
    logits = nn.Parameter(torch.zeros(len(TOY_ANSWERS)))
    opt = torch.optim.Adam([logits], lr=lr)
    table = torch.tensor(toy_rewards(), dtype=torch.float32)
    good = table == 2.0
    history = []
    for step in range(steps + 1):
        probs = torch.softmax(logits.detach(), -1)
        picks = torch.multinomial(probs, group_size, replacement=True, generator=gen)
        rewards = table[picks]
        history.append(ToyStep(step, float((probs * table).sum()), float(probs[good].sum()), float("nan")))
        if step == steps:
            break
        adv = torch.tensor(group_advantages(rewards.numpy(), std=std, scale=scale, eps=eps), dtype=torch.float32)
        logp_old = torch.log_softmax(logits.detach(), -1)[picks].unsqueeze(-1)
        for _ in range(inner_epochs):
            logp_new = torch.log_softmax(logits, -1)[picks].unsqueeze(-1)
            loss = clipped_surrogate_loss(logp_new, logp_old, adv, clip_eps=clip_eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
        history[-1].loss = float(loss.detach())
    return history


@dataclass
class Group:
    """A group of sampled completions to one prompt, with what is needed to score and re-score them."""

    texts: list[str]
    sequences: torch.Tensor  # (group, prompt + completion) token ids
    prompt_len: int
    prompt_inputs: dict
    mask: torch.Tensor  # 1 for real completion tokens, 0 for padding after the end token
    temperature: float  # the sampling temperature (score the tokens at the same one)
    # the old policy's log-probability of each sampled token, from the sampling pass (0 at padding)
    logprobs: torch.Tensor | None = None
    truncated: list[bool] = field(default_factory=list)  # cut off at max_new_tokens, before an end token
    max_new_tokens: int | None = None

    @property
    def truncated_rate(self) -> float:
        """The fraction of answers cut off at the token cap (their rewards are then 0 under cosmos-rl's rules)."""
        return sum(self.truncated) / len(self.truncated) if self.truncated else 0.0


def sample_group(model, processor, question: str, video, *, group_size: int = RL_RECIPE["group size (n_generation)"],
                 max_new_tokens: int = ROLLOUT_MAX_NEW_TOKENS, seed: int | None = 0, fps: float = DEFAULT_FPS,
                 total_pixels: int = DEFAULT_TOTAL_PIXELS, max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
                 system: str | None = None, reasoning: bool = True, preset: str = "rl rollout",
                 max_pixels: int | None = None) -> Group:
    """Sample ``group_size`` answers to one video question (GRPO's rollout).

    The inputs go through :func:`~cosmos_nb_utils.generation.build_inputs`, as for ``ask``.
    Sampling follows the official RL rollout (``preset="rl rollout"``: temperature 0.9,
    no top-p, no repetition penalty), with answers capped at ``max_new_tokens``.
    Answers are sampled one after the other (seeds ``seed``, ``seed + 1``, ...), so the
    GPU never holds more than one answer's activations: a whole group in one batch
    would multiply the video's memory by ``group_size``. Each answer is decoded with
    the course's CUDA-graph decoder (:mod:`cosmos_nb_utils.decoding`), which also returns
    each sampled token's log-probability at the sampling temperature (``Group.logprobs``,
    GRPO's old policy) and tells which answers were cut off at the cap (``Group.truncated``).
    """
    from transformers import set_seed

    from .decoding import static_generate
    from .generation import build_inputs, sampling_settings

    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a whole number >= 1 (GRPO compares answers), got {group_size!r}.")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}.")
    settings = sampling_settings(model, preset, max_new_tokens=max_new_tokens)
    _, inputs = build_inputs(processor, question, video, fps=fps, total_pixels=total_pixels,
                             max_visual_tokens=max_visual_tokens, system=system, reasoning=reasoning,
                             max_pixels=max_pixels)
    inputs = inputs.to(model.device)
    # A sampled vision placeholder would be mistaken for video input when the group is re-scored.
    cfg = model.config
    settings["suppress_tokens"] = [cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id,
                                   cfg.vision_end_token_id]
    n = inputs["input_ids"].shape[1]
    eos = model.generation_config.eos_token_id
    eos = {eos} if isinstance(eos, int) else set(eos or [])
    completions, old_logprobs = [], []
    with torch.no_grad():
        for i in range(group_size):
            if seed is not None:
                set_seed(seed + i)
            ids, logp = static_generate(model, inputs, return_logprobs=True, **settings)
            completions.append(ids[0, n:])
            old_logprobs.append(logp[0])
    cap = settings["max_new_tokens"]
    truncated = [len(c) >= cap and int(c[-1]) not in eos for c in completions]
    width = max(len(c) for c in completions)
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else cfg.text_config.eos_token_id
    padded = torch.stack([torch.nn.functional.pad(c, (0, width - len(c)), value=int(pad)) for c in completions])
    mask = (torch.arange(width, device=padded.device) < torch.tensor([len(c) for c in completions],
                                                                     device=padded.device)[:, None]).float()
    sequences = torch.cat([inputs["input_ids"].repeat(group_size, 1), padded], dim=1)
    logprobs = torch.stack([torch.nn.functional.pad(lp, (0, width - len(lp))) for lp in old_logprobs])
    texts = processor.batch_decode(completions, skip_special_tokens=True)
    return Group(texts, sequences, n, dict(inputs), mask, float(settings.get("temperature") or 1.0),
                 logprobs, truncated, cap)
