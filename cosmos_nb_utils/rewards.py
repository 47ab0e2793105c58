"""GRPO's rewards and group-normalised advantages, as in Cosmos-Reason1's RL stage.

The two rewards are cosmos-rl's own rules, kept in :mod:`cosmos_nb_utils.official`:
``format_reward`` (``format_reward_fn``) and ``accuracy_reward`` (``single_choice_reward_fn``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .official import COSMOS_RL_ADVANTAGE, format_reward
from .official import single_choice_reward as accuracy_reward

__all__ = ["accuracy_reward", "format_reward", "group_advantages"]


def _numbers(rewards) -> np.ndarray:
    """``rewards`` as a float64 array; numbers only (bools count as 0/1), refused with the reason otherwise."""
    if type(rewards).__module__.split(".")[0] == "torch":  # a tensor: no gradient, any device
        if getattr(rewards, "requires_grad", False):
            raise ValueError("rewards is a tensor that requires grad: rewards are numbers given to the loss, "
                             "not part of the graph; pass rewards.detach().")
        rewards = rewards.detach().cpu().numpy()
    try:
        raw = np.asarray(rewards)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("rewards must hold numbers only, in groups of equal size.") from None
    if raw.dtype.kind in "biuf":
        return raw.astype(np.float64)
    if raw.dtype.kind != "O":  # strings, bytes, complex numbers, dates
        raise ValueError(f"rewards must hold real numbers, got {raw.dtype.name} values such as "
                         f"{raw.flat[0].item()!r} (convert them with float() first)." if raw.size else
                         f"rewards must hold real numbers, got {raw.dtype.name}.")
    out = np.empty(raw.shape, dtype=np.float64)
    for index, value in np.ndenumerate(raw):  # Python objects: ints too large for int64, Fractions, ...
        where = "".join(f"[{i}]" for i in index)
        if not isinstance(value, numbers.Real):
            raise ValueError(f"rewards{where} is {value!r}: every reward must be a real number, in groups of "
                             "equal size.")
        try:
            out[index] = float(value)
        except OverflowError:
            raise ValueError(f"rewards{where} is an integer too large for a float ({len(str(abs(int(value))))} "
                             "digits): scale the rewards down.") from None
    return out


def _as_groups(rewards) -> tuple[np.ndarray, bool]:
    """Rewards as a 2-D float array (one row per group) and whether one group was given."""
    if rewards is None or isinstance(rewards, (str, bytes)):
        raise ValueError(f"rewards must be a group (a list of numbers) or a list of groups, got {rewards!r}.")
    r = _numbers(rewards)
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
    std: str = COSMOS_RL_ADVANTAGE["std"],
    eps: float = COSMOS_RL_ADVANTAGE["eps"],
    scale: str = "group",
) -> np.ndarray:
    """GRPO advantages ``A_i = (R_i - mean(G)) / (std + eps)`` for each group (row).

    The defaults are cosmos-rl's convention, :data:`cosmos_nb_utils.official.COSMOS_RL_ADVANTAGE`
    (population std, ``eps=1e-6``); pass ``**official.TRL_ADVANTAGE`` for TRL's (sample std,
    ddof=1, ``eps=1e-4``). ``std``: ``"population"`` (ddof=0) or ``"sample"`` (ddof=1).
    ``scale``: ``"group"`` (each group's own std, the default), ``"batch"`` (one std
    over all rewards) or ``"none"`` (Dr. GRPO: centre only, no division).
    A group whose rewards are all equal gets all-zero advantages (``eps=0`` included): it teaches nothing.
    Rewards are real numbers (a list, an array, or a tensor without gradient).
    """
    if std not in ("sample", "population"):
        raise ValueError(f"std must be 'sample' or 'population', got {std!r}")
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
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
    else:
        if scale == "group":
            sd = (unit.std(axis=1, ddof=ddof, keepdims=True) if r.shape[1] > ddof else np.zeros((len(r), 1))) * size
        else:
            sd = np.full((len(r), 1), (unit.std(ddof=ddof) if unit.size > ddof else 0.0)) * size
        denominator = sd + eps
        # A zero denominator (equal rewards, or a one-answer group, with eps=0) only meets a zero numerator.
        adv = np.divide(centred, denominator, out=np.zeros_like(centred), where=denominator > 0)
    return adv[0] if one_group else adv
