"""GRPO's rewards and group-normalised advantages, as in Cosmos-Reason1's RL stage.

The two rewards are cosmos-rl's own rules, kept in :mod:`cosmos_nb_utils.official`:
``format_reward`` (``format_reward_fn``) and ``accuracy_reward`` (``single_choice_reward_fn``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .official import format_reward
from .official import single_choice_reward as accuracy_reward

__all__ = ["accuracy_reward", "format_reward", "group_advantages"]


def _as_groups(rewards) -> tuple[np.ndarray, bool]:
    """Rewards as a 2-D float array (one row per group) and whether one group was given."""
    if rewards is None or isinstance(rewards, (str, bytes)):
        raise ValueError(f"rewards must be a group (a list of numbers) or a list of groups, got {rewards!r}.")
    try:
        r = np.asarray(rewards, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("rewards must hold numbers only, in groups of equal size.") from None
    if r.ndim == 0:
        raise ValueError(f"rewards must be a group (a list of numbers) or a list of groups, got {rewards!r}.")
    one_group = r.ndim == 1
    if one_group:
        r = r[None, :]
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"rewards must be a group (1-D) or groups (2-D), got shape {r.shape}.")
    bad = ~np.isfinite(r)
    if bad.any():
        g, i = map(int, np.argwhere(bad)[0])
        raise ValueError(f"rewards[{g}][{i}] is {r[g, i]}: every reward must be a finite number "
                         "(check the reward function for that answer).")
    return r, one_group


def group_advantages(
    rewards: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    std: str = "sample",
    eps: float = 1e-4,
    scale: str = "group",
) -> np.ndarray:
    """GRPO advantages ``A_i = (R_i - mean(G)) / (std + eps)`` for each group (row).

    ``std``: ``"sample"`` (ddof=1, TRL) or ``"population"`` (ddof=0, cosmos-rl; both in
    :data:`cosmos_nb_utils.official.TRL_ADVANTAGE` / ``COSMOS_RL_ADVANTAGE``).
    ``scale``: ``"group"`` (each group's own std, the default), ``"batch"`` (one std
    over all rewards) or ``"none"`` (Dr. GRPO: centre only, no division).
    A group whose rewards are all equal gets all-zero advantages: it teaches nothing.
    """
    if std not in ("sample", "population"):
        raise ValueError(f"std must be 'sample' or 'population', got {std!r}")
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    r, one_group = _as_groups(rewards)
    ddof = 1 if std == "sample" else 0
    # (r - mean) / std does not change when every reward is divided by the same number, so work on
    # r / max|r|: squares of large rewards (1e200) would overflow to inf and turn every advantage into 0.
    size = np.abs(r).max(axis=1, keepdims=True) if scale != "batch" else np.full((len(r), 1), np.abs(r).max())
    size[size == 0] = 1.0
    unit = r / size
    centred = (unit - unit.mean(axis=1, keepdims=True)) * size
    centred[np.ptp(r, axis=1) == 0] = 0.0  # equal rewards: exactly no signal, whatever the rounding
    if scale == "none":
        adv = centred
    elif scale == "group":
        sd = (unit.std(axis=1, ddof=ddof, keepdims=True) if r.shape[1] > ddof else np.zeros((len(r), 1))) * size
        adv = centred / (sd + eps)
    else:
        sd = (unit.std(ddof=ddof) if unit.size > ddof else 0.0) * size
        adv = centred / (sd + eps)
    return adv[0] if one_group else adv
