"""GRPO's rule-based rewards and group-normalised advantages, as in Cosmos-Reason1's RL stage."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .parsing import parse_reasoning

# The official format check: a think block, optional whitespace, an answer block, nothing else.
FORMAT_PATTERN = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.S)
_LETTER = re.compile(r"[A-Z]")


def format_reward(text: str) -> float:
    """1.0 when ``text`` is exactly ``<think>...</think>`` then ``<answer>...</answer>``, else 0.0."""
    if not isinstance(text, str):
        return 0.0
    if not FORMAT_PATTERN.match(text):
        return 0.0
    # exactly one of each block: a second <think> or <answer> inside breaks the format
    counts = [text.count(tag) for tag in ("<think>", "</think>", "<answer>", "</answer>")]
    return 1.0 if counts == [1, 1, 1, 1] else 0.0


def accuracy_reward(text: str, key: str) -> float:
    """1.0 when the ``<answer>`` matches ``key``, else 0.0.

    A single-letter key is scored as the official MCQ benchmark does: the first
    capital letter of the answer, compared case-insensitively. Any other key is
    compared with the whole answer after stripping spaces and case.
    """
    if not isinstance(text, str) or not isinstance(key, str) or not key.strip():
        return 0.0
    _, answer = parse_reasoning(text)
    key = key.strip()
    if len(key) == 1 and key.isalpha():
        match = _LETTER.search(answer)
        return float(match is not None and match.group(0).lower() == key.lower())
    return float(answer.strip().lower() == key.lower())


def group_advantages(
    rewards: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    std: str = "sample",
    eps: float = 1e-4,
    scale: str = "group",
) -> np.ndarray:
    """GRPO advantages ``A_i = (R_i - mean(G)) / (std + eps)`` for each group (row).

    ``std``: ``"sample"`` (ddof=1, TRL) or ``"population"`` (ddof=0, cosmos-rl).
    ``scale``: ``"group"`` (each group's own std, the default), ``"batch"`` (one std
    over all rewards) or ``"none"`` (Dr. GRPO: centre only, no division).
    A group whose rewards are all equal gets all-zero advantages: it teaches nothing.
    """
    r = np.asarray(rewards, dtype=np.float64)
    one_group = r.ndim == 1
    r = np.atleast_2d(r)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"rewards must be a group (1-D) or groups (2-D), got shape {r.shape}")
    if std not in ("sample", "population"):
        raise ValueError(f"std must be 'sample' or 'population', got {std!r}")
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    ddof = 1 if std == "sample" else 0
    centred = r - r.mean(axis=1, keepdims=True)
    centred[np.ptp(r, axis=1) == 0] = 0.0  # equal rewards: exactly no signal, whatever the rounding
    if scale == "none":
        adv = centred
    elif scale == "group":
        sd = r.std(axis=1, ddof=ddof, keepdims=True) if r.shape[1] > ddof else np.zeros((len(r), 1))
        adv = centred / (sd + eps)
    else:
        sd = r.std(ddof=ddof) if r.size > ddof else 0.0
        adv = centred / (sd + eps)
    return adv[0] if one_group else adv
