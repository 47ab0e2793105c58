"""Frames of a checked clip as arrays: all of them, those at given times, and exactly those the model gets."""

from __future__ import annotations

import os

import numpy as np
import torch

from .checks import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS, _number
from .codec import _iter_frames
from .plan import plan_sampling
from .probe import VideoInfo, probe_video


def read_frames(video: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame as an RGB array of shape (T, H, W, 3), with the frame rate.

    This holds the whole clip in memory; the edits (:mod:`.edits`) stream instead.
    """
    info = probe_video(video)
    frames = [array for _, array in _iter_frames(info.path)]
    return np.stack(frames), info.fps


def frames_at(video: str | os.PathLike, times: list[float]) -> tuple[list[np.ndarray | None], VideoInfo]:
    """The frame shown at each time in ``times`` (seconds; ``None`` outside the clip), decoding one pass."""
    info = probe_video(video)
    wanted = {}
    for k, t in enumerate(times):
        t = _number(t, "times")
        if 0 <= t < info.duration:
            wanted.setdefault(min(info.num_frames - 1, int(t * info.fps)), []).append(k)
    out: list[np.ndarray | None] = [None] * len(times)
    if wanted:
        for i, array in _iter_frames(info.path, min(wanted), max(wanted) + 1):
            for k in wanted.get(i, []):
                out[k] = array
    return out, info


def sampled_frames(
    video: str | os.PathLike,
    fps: float | str = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
) -> tuple[np.ndarray, list[float]]:
    """The exact frames ``qwen_vl_utils`` hands the processor (T, H, W, 3 uint8), with their times."""
    from qwen_vl_utils import fetch_video

    plan = plan_sampling(video, fps, total_pixels, max_visual_tokens=None)
    frames, meta = fetch_video(
        {"video": str(plan.info.path), "fps": plan.fps, "total_pixels": plan.total_pixels},
        return_video_metadata=True,
    )
    times = [i / meta["fps"] for i in meta["frames_indices"]]
    array = frames.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return array, times
