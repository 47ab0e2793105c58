"""GRPO in a few functions: sequence log-probabilities, the clipped surrogate loss, and a toy policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .rewards import accuracy_reward, format_reward, group_advantages


def completion_logprobs(model, sequences: torch.Tensor, prompt_len: int, **prompt_inputs) -> torch.Tensor:
    """Per-token log-probabilities of each completion (the rows of ``sequences`` after ``prompt_len``).

    ``prompt_inputs`` is the processor batch of the one shared prompt. Completions are
    scored one at a time, keeping logits only for the completion's positions: a 7B's
    logits over its 152k-token vocabulary for a whole group at once would not fit a small GPU.
    Returns a (group, completion_length) tensor.
    """
    length = sequences.shape[1]
    extra = {k: v for k, v in prompt_inputs.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in extra:  # completions are text (type 0)
        types = extra["mm_token_type_ids"]
        extra["mm_token_type_ids"] = torch.cat([types, types.new_zeros(1, length - types.shape[1])], dim=1)
    rows = []
    for row in sequences.split(1):
        logits = model(input_ids=row, attention_mask=torch.ones_like(row), logits_to_keep=length - prompt_len + 1,
                       **extra).logits[:, :-1]
        logp = torch.log_softmax(logits.float(), dim=-1)
        rows.append(logp.gather(-1, row[:, prompt_len:].unsqueeze(-1)).squeeze(-1))
    return torch.cat(rows)


def clipped_surrogate_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    logp_ref: torch.Tensor | None = None,
) -> torch.Tensor:
    """GRPO's token-level loss: ``-min(ratio * A, clip(ratio, 1-eps, 1+eps) * A) + beta * KL``.

    ``ratio = exp(logp_new - logp_old)``; each token of completion ``i`` gets advantage
    ``A_i``. The KL term (k3 estimator against ``logp_ref``) is weighted by ``kl_coef``;
    Cosmos-Reason1's recipe sets it to 0. Averages over the tokens in ``mask``.
    """
    adv = advantages.reshape(-1, 1).to(device=logp_new.device, dtype=logp_new.dtype)  # advantages come from the CPU
    ratio = torch.exp(logp_new - logp_old)
    per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    if kl_coef and logp_ref is not None:
        diff = logp_ref - logp_new
        per_token = per_token + kl_coef * (torch.exp(diff) - diff - 1)
    if mask is None:
        mask = torch.ones_like(per_token)
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


# A toy policy: a distribution over whole answer strings for one MCQ question, so a learner can
# watch GRPO move probability onto well-formatted, correct answers in a few real optimiser steps.
TOY_ANSWERS = [
    "<think>The ball falls, then bounces lower each time.</think> <answer>A</answer>",
    "<think>Bounces lose height over time.</think> <answer>B</answer>",
    "<think>Hard to tell.</think> <answer>C</answer>",
    "<answer>A</answer>",
    "A, because the ball loses energy.",
    "<think>It plays forward.</think>",
    "<think>The bounces grow.</think><answer>B</answer> <answer>A</answer>",
    "I am not sure.",
]
TOY_KEY = "A"


@dataclass
class ToyStep:
    step: int
    mean_reward: float
    p_good: float  # probability of a well-formatted, correct answer
    loss: float


def toy_rewards(answers: list[str] = TOY_ANSWERS, key: str = TOY_KEY) -> np.ndarray:
    """Accuracy + format reward of each candidate answer."""
    return np.array([accuracy_reward(a, key) + format_reward(a) for a in answers])


def train_toy_policy(steps: int = 30, group_size: int = 8, lr: float = 0.5, seed: int = 0,
                     clip_eps: float = 0.2, inner_epochs: int = 2, std: str = "sample") -> list[ToyStep]:
    """Run real GRPO on a softmax policy over :data:`TOY_ANSWERS` and return its history.

    Each step samples a group, scores it with both rewards, normalises the rewards
    within the group and takes ``inner_epochs`` Adam steps on the clipped surrogate.
    """
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
        adv = torch.tensor(group_advantages(rewards.numpy(), std=std), dtype=torch.float32)
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


def sample_group(model, processor, question: str, video, *, group_size: int = 8, max_new_tokens: int = 256,
                 seed: int | None = 0, **ask_kwargs) -> Group:
    """Sample ``group_size`` answers to one video question (GRPO's rollout).

    Answers are sampled one after the other (seeds ``seed``, ``seed + 1``, ...), so the
    GPU never holds more than one answer's activations: a whole group in one batch
    would multiply the video's memory by ``group_size``. Each answer is decoded with
    the course's CUDA-graph decoder (:mod:`cosmos_nb_utils.decoding`).
    """
    from transformers import set_seed

    from .decoding import static_generate
    from .generation import prepare_inputs, sampling_settings
    from .prompts import build_messages
    from .video import plan_sampling

    fps = ask_kwargs.pop("fps", 4.0)
    plan = plan_sampling(video, fps, **ask_kwargs)
    inputs = prepare_inputs(processor, build_messages(question, plan.info.path, fps=fps, **ask_kwargs)).to(model.device)
    settings = sampling_settings(model, max_new_tokens=max_new_tokens)
    # A sampled vision placeholder would be mistaken for video input when the group is re-scored.
    cfg = model.config
    settings["suppress_tokens"] = [cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id,
                                   cfg.vision_end_token_id]
    n = inputs["input_ids"].shape[1]
    completions = []
    with torch.no_grad():
        for i in range(group_size):
            if seed is not None:
                set_seed(seed + i)
            completions.append(static_generate(model, inputs, **settings)[0, n:])
    width = max(len(c) for c in completions)
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else cfg.text_config.eos_token_id
    padded = torch.stack([torch.nn.functional.pad(c, (0, width - len(c)), value=int(pad)) for c in completions])
    mask = (torch.arange(width, device=padded.device) < torch.tensor([len(c) for c in completions],
                                                                     device=padded.device)[:, None]).float()
    sequences = torch.cat([inputs["input_ids"].repeat(group_size, 1), padded], dim=1)
    texts = processor.batch_decode(completions, skip_special_tokens=True)
    return Group(texts, sequences, n, dict(inputs), mask)
