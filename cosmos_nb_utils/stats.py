"""Statistics for reading a benchmark score: a proportion's interval, a paired difference, a sample size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% for z = 1.96); (0, 1) when n is 0.

    Unlike p ± z·sqrt(p(1-p)/n), it stays inside [0, 1] and does not collapse to a
    point at 0 or n correct, which matters for the small slices a learner runs.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be between 0 and n={n}, got {correct}.")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class PairedDifference:
    """Accuracy of A minus accuracy of B on the same questions, with a 95% interval."""

    n: int
    difference: float
    low: float
    high: float
    only_a: int  # questions A got right and B wrong
    only_b: int


def paired_difference(a: Sequence[bool], b: Sequence[bool], z: float = 1.96) -> PairedDifference:
    """Normal interval on the per-question differences d_i = a_i - b_i (each -1, 0 or 1).

    mean(d) ± z·sd(d)/sqrt(n), sd with n-1. Pairing removes the variation between
    questions (both models find the same ones hard), so it is much narrower than
    comparing two independent Wilson intervals. Needs at least 2 questions.
    """
    if len(a) != len(b):
        raise ValueError(f"Pair the same questions: got {len(a)} results for A and {len(b)} for B.")
    n = len(a)
    if n < 2:
        raise ValueError("A paired interval needs at least 2 questions answered by both models.")
    d = [int(bool(x)) - int(bool(y)) for x, y in zip(a, b)]
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = z * sd / math.sqrt(n)
    return PairedDifference(n, mean, mean - half, mean + half, d.count(1), d.count(-1))


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], *, resamples: int = 10_000,
                     seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of accuracy(A) - accuracy(B), resampling questions (pairs kept together)."""
    import numpy as np

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def questions_needed(difference: float, discordant: float, z: float = 1.96) -> int:
    """Questions needed before a true paired ``difference`` gives a 95% interval that excludes zero.

    ``discordant``: the share of questions on which the two models disagree (one right,
    one wrong). The variance of d_i is discordant - difference², so the half-width
    z·sqrt(var/n) falls below ``difference`` once n > z²·var/difference².
    """
    if not 0 < abs(difference) <= discordant <= 1:
        raise ValueError("Need 0 < |difference| <= discordant <= 1 (a difference needs disagreements).")
    return math.ceil(z * z * (discordant - difference ** 2) / difference ** 2)
