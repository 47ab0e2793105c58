"""The sampling plan: what the model will see of a clip (frames, size, visual tokens), known before decoding.

:func:`plan_sampling` follows ``qwen_vl_utils.fetch_video``; over a limit it raises
:class:`~cosmos_nb_utils.video.checks.BudgetError` with advice (a lower rate, a smaller budget,
a shorter span) each checked to fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .checks import (
    AUTO,
    DEFAULT_FPS,
    DEFAULT_TOTAL_PIXELS,
    FACTOR,
    MAX_FRAME_PIXELS,
    MAX_VISUAL_TOKENS,
    MERGE,
    MIN_FRAME_PIXELS,
    PATCH,
    TEMPORAL_PATCH,
    BudgetError,
    VideoError,
    _check_fps,
    _check_max_tokens,
    _check_total_pixels,
)
from .probe import VideoInfo, _trim_range, probe_video


@dataclass(frozen=True)
class SamplePlan:
    """What the model will see of one video, computed before anything is decoded."""

    info: VideoInfo
    fps: float  # frames per second asked for (the rate chosen, with fps="auto")
    num_frames: int  # frames sampled (always even)
    frame_indices: list[int]
    height: int  # each sampled frame is resized to height x width
    width: int
    total_pixels: float = DEFAULT_TOTAL_PIXELS
    max_pixels: int | None = None  # a per-frame cap asked for (NVIDIA's RL example: 81,920), else None

    @property
    def timestamps(self) -> list[float]:
        """Time in seconds of each sampled frame in the source."""
        return [i / self.info.fps for i in self.frame_indices]

    @property
    def sampled_fps(self) -> float:
        return self.num_frames / self.info.num_frames * self.info.fps

    @property
    def grid_thw(self) -> tuple[int, int, int]:
        """Patch grid (time, height, width) the vision encoder gets."""
        return self.num_frames // TEMPORAL_PATCH, self.height // PATCH, self.width // PATCH

    @property
    def visual_tokens(self) -> int:
        """Tokens the video costs in the prompt, after the 2x2 spatial merge."""
        t, h, w = self.grid_thw
        return t * h * w // (MERGE * MERGE)

    def summary(self) -> str:
        i = self.info
        return (
            f"{i.name}: {i.width}x{i.height}, {i.fps:g} fps, {i.duration:.1f} s -> "
            f"{self.num_frames} frames at {self.width}x{self.height} "
            f"= {self.visual_tokens:,} visual tokens"
        )


def _plan(info: VideoInfo, fps: float, total_pixels: float, max_pixels: int | None = None) -> SamplePlan:
    from qwen_vl_utils.vision_process import smart_nframes, smart_resize

    nframes = smart_nframes({"fps": fps}, total_frames=info.num_frames, video_fps=info.fps)
    indices = np.linspace(0, info.num_frames - 1, nframes).round().astype(int).tolist()
    cap = max(min(MAX_FRAME_PIXELS, total_pixels / nframes * TEMPORAL_PATCH), int(MIN_FRAME_PIXELS * 1.05))
    floor = MIN_FRAME_PIXELS if max_pixels is None else frame_floor(max_pixels)
    height, width = smart_resize(info.height, info.width, factor=FACTOR, min_pixels=floor,
                                 max_pixels=cap if max_pixels is None else min(cap, max_pixels))
    return SamplePlan(info=info, fps=fps, num_frames=nframes, frame_indices=indices, height=height, width=width,
                      total_pixels=total_pixels, max_pixels=max_pixels)


def frame_floor(max_pixels: int) -> int:
    """The per-frame floor sent with a per-frame cap: qwen-vl-utils' own (128 * 28 * 28), or the cap if lower.

    NVIDIA's RL example sends ``max_pixels`` 81,920 alone, below that floor; qwen-vl-utils 0.0.14's
    ``smart_resize`` asserts ``max_pixels >= min_pixels``, so the floor is lowered with it.
    """
    return min(MIN_FRAME_PIXELS, max_pixels)


def _fits(plan: SamplePlan, max_visual_tokens: int | None, fits: Callable[[SamplePlan], bool] | None) -> bool:
    within = max_visual_tokens is None or plan.visual_tokens <= max_visual_tokens
    return within and (fits is None or bool(fits(plan)))


# Rates fps="auto" tries, highest first: round numbers, so that the choice is easy to repeat.
_RATES = sorted({round(r, 2) for r in [*np.arange(1, 4.01, 0.25), *np.arange(0.1, 1, 0.05),
                                       *np.arange(0.01, 0.1, 0.01)]}, reverse=True)


def _highest_fitting(info, total_pixels, max_visual_tokens, fits, below: float | None = None,
                     max_pixels: int | None = None) -> SamplePlan | None:
    """The highest rate (below ``below``) whose plan at ``total_pixels`` fits; None if none does."""
    top = min(DEFAULT_FPS, info.fps)
    rates = [top] + [r for r in _RATES if r < top]
    for rate in rates:
        if below is not None and rate >= below:
            continue
        plan = _plan(info, rate, total_pixels, max_pixels)
        if _fits(plan, max_visual_tokens, fits):
            return plan
    return None


# Budgets fps="auto" tries below the one asked for, largest first: multiples of 128 visual tokens (round numbers
# to repeat), down to 128 * 28 * 28, qwen-vl-utils' per-frame floor, where frames stop shrinking.
_BUDGET_STEP_TOKENS = 128


def _budgets(total_pixels: float) -> list[float]:
    tokens = int(total_pixels // (FACTOR * FACTOR)) // _BUDGET_STEP_TOKENS * _BUDGET_STEP_TOKENS
    lower = [k * FACTOR * FACTOR for k in range(tokens, _BUDGET_STEP_TOKENS - 1, -_BUDGET_STEP_TOKENS)]
    return [total_pixels] + [b for b in lower if b < total_pixels]


def _auto_plan(info: VideoInfo, total_pixels: float, max_visual_tokens, fits,
               max_pixels: int | None = None) -> SamplePlan | None:
    """fps="auto": smaller frames first, then a lower rate.

    At the highest rate (up to 4 fps and the clip's own) the largest budget up to ``total_pixels``
    that fits is taken; only when even the smallest frames (qwen-vl-utils' per-frame floor) do not
    fit at that rate is the rate lowered. This is what qwen-vl-utils' own design does with a long clip
    (a fixed budget shared by more frames shrinks each, down to the floor), and the official RL
    recipe samples small frames too (max_pixels 81,920 at fps 1): time coverage is kept before detail.
    """
    top = min(DEFAULT_FPS, info.fps)
    budgets = _budgets(total_pixels)
    for rate in [top] + [r for r in _RATES if r < top]:
        if not _fits(_plan(info, rate, budgets[-1], max_pixels), max_visual_tokens, fits):
            continue  # even the smallest frames do not fit at this rate
        for budget in budgets:
            plan = _plan(info, rate, budget, max_pixels)
            if _fits(plan, max_visual_tokens, fits):
                return plan
    return None


def _advice(info: VideoInfo, fps: float, total_pixels: float, max_visual_tokens, fits,
            max_pixels: int | None = None) -> str:
    """Ways out of an over-budget request, each checked to fit before it is offered."""
    options = []
    lower = _highest_fitting(info, total_pixels, max_visual_tokens, fits, below=fps, max_pixels=max_pixels)
    if lower is not None:
        options.append(f"Lower fps: fps={lower.fps:g} fits")
    for tokens in (6144, 4096, 3072, 2048, 1024, 512):
        if tokens * FACTOR * FACTOR < total_pixels and _fits(_plan(info, fps, tokens * FACTOR * FACTOR, max_pixels),
                                                               max_visual_tokens, fits):
            options.append(f"lower total_pixels: total_pixels={tokens} * 28 * 28 fits at fps={fps:g}")
            break
    seconds = _longest_fitting_span(info, fps, total_pixels, max_visual_tokens, fits, max_pixels)
    if seconds:
        options.append(f"trim the clip to {seconds:g} s or less (e.g. trim_video(clip, work_dir() / 'part.mp4', "
                       f"0, {seconds:g})) and keep fps={fps:g}")
    options.append("pass fps=\"auto\" to let the course shrink the frames, then lower the rate, until it fits")
    return "; ".join(options) + ". Raise max_visual_tokens only on a large GPU."


def _longest_fitting_span(info, fps, total_pixels, max_visual_tokens, fits, max_pixels=None) -> float | None:
    """Longest span (seconds, one decimal) from the start whose trimmed clip fits at ``fps``; checked, not guessed."""

    def fits_for(tenths: int) -> bool:
        frames = _trim_range(info, 0, tenths / 10)[1]
        shorter = replace(info, num_frames=frames)
        return frames >= 2 and _fits(_plan(shorter, fps, total_pixels, max_pixels), max_visual_tokens, fits)

    low, high = 0, math.floor(info.duration * 10) - 1  # fits_for(low) is taken as true, high is the longest cut
    if high < 1 or fps > info.fps:
        return None
    while low < high:  # the cost grows with the length (almost always): bisect, then check downward
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits_for(middle) else (low, middle - 1)
    for tenths in range(low, max(0, low - 50), -1):
        if tenths and fits_for(tenths):
            return tenths / 10
    return None


def plan_sampling(
    video: str | os.PathLike | VideoInfo,
    fps: float | str = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
    *,
    fits: Callable[[SamplePlan], bool] | None = None,
    max_pixels: int | None = None,
) -> SamplePlan:
    """Frames, resolution and visual tokens that ``qwen_vl_utils`` will produce.

    Follows ``qwen_vl_utils.fetch_video`` exactly (frame count rounded to an even
    number, per-frame pixel budget ``total_pixels / frames * 2`` between a floor
    and a ceiling, sides rounded to multiples of 28). Raises :class:`BudgetError`
    when the cost exceeds ``max_visual_tokens`` (``None`` disables the check), with
    advice that was checked to fit. ``fps="auto"`` takes the highest rate up to 4 fps (and up
    to the clip's own) and, when that does not fit, first lowers the pixel budget (smaller frames, down
    to qwen-vl-utils' per-frame floor), then the rate (:func:`_auto_plan`); it prints one line when it
    chose anything but 4 fps at ``total_pixels``. ``fits`` is an extra test a plan must pass (for
    example a GPU-memory estimate): with ``fps="auto"`` plans it rejects are skipped; with a fixed
    fps a rejection raises. ``max_pixels``
    caps each frame's pixels as well (qwen-vl-utils takes the smaller of it and the budget's share).
    """
    fps = _check_fps(fps)
    total_pixels = _check_total_pixels(total_pixels)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)
                                   or max_pixels < FACTOR * FACTOR):
        raise ValueError(f"max_pixels (a per-frame cap in pixels) must be a whole number >= {FACTOR * FACTOR} "
                         f"or None, got {max_pixels!r}.")
    max_visual_tokens = _check_max_tokens(max_visual_tokens)
    if fits is not None and not callable(fits):
        raise ValueError(f"fits must be a function taking a SamplePlan and returning True or False, got {fits!r}.")
    info = video if isinstance(video, VideoInfo) else probe_video(video)
    if fps == AUTO:
        plan = _auto_plan(info, total_pixels, max_visual_tokens, fits, max_pixels)
        if plan is None:
            span = _longest_fitting_span(info, min(DEFAULT_FPS, info.fps), MIN_FRAME_PIXELS, max_visual_tokens, fits,
                                         max_pixels)
            cut = f" Trim it to {span:g} s or less (trim_video) first." if span else " Trim it (trim_video) first."
            raise BudgetError(f"{info.name} ({info.duration:.0f} s) does not fit the limits at any rate "
                              f"down to {_RATES[-1]:g} fps, even at the smallest frames.{cut}")
        smaller = plan.total_pixels < total_pixels
        if plan.fps != DEFAULT_FPS or smaller:  # the official settings need no notice; anything else is said once
            budget = f" and total_pixels={int(plan.total_pixels) // (FACTOR * FACTOR)} * 28 * 28" if smaller else ""
            why = ("smaller frames to fit" if plan.fps == min(DEFAULT_FPS, info.fps) else
                   "the smallest frames did not fit at a higher rate") if smaller else (
                   "the clip's own rate" if plan.fps == info.fps else "the highest rate that fits")
            print(f"fps=\"auto\": {plan.fps:g} fps{budget} for {info.name} ({why}: {plan.num_frames} frames at "
                  f"{plan.width}x{plan.height}, {plan.visual_tokens:,} visual tokens).")
        return plan
    if fps > info.fps + 1e-6:
        raise VideoError(
            f"fps={fps:g} is above the frame rate of {info.name} ({info.fps:g} fps): "
            f"there are no extra frames to sample. Use fps <= {info.fps:g}."
        )
    plan = _plan(info, fps, total_pixels, max_pixels)
    if max_visual_tokens is not None and plan.visual_tokens > max_visual_tokens:
        raise BudgetError(f"{plan.summary()}, above the limit of {max_visual_tokens:,}. "
                          f"{_advice(info, fps, total_pixels, max_visual_tokens, fits, max_pixels)}")
    if not _fits(plan, None, fits):
        name = getattr(fits, "__name__", "fits")
        raise BudgetError(f"{plan.summary()} does not pass the check {name}. "
                          f"{_advice(info, fps, total_pixels, max_visual_tokens, fits, max_pixels)}")
    return plan


