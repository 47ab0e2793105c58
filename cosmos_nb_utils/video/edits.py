"""Edits of a clip: reverse, trim, burn timestamps, re-encode.

Each never overwrites its source, writes atomically, and holds a bounded number of frames.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .checks import MAX_ASPECT, VideoError, _check_destination, _fix_hint, _seconds
from .codec import _frame_times, _iter_frames, _transcode, _Writer
from .probe import VideoInfo, _scan, _steady_rate, _trim_range, probe_video
from .sources import resolve_video

# Edits hold at most this many bytes of decoded frames at once (a 4K frame is 24 MiB).
EDIT_MEMORY_BYTES = 512 * 2**20


def _edit_source(src, dst) -> tuple[VideoInfo, Path]:
    info = probe_video(src)
    given = resolve_video(src)
    return info, _check_destination(dst, given, info.path)


def reverse_video(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``src`` played backward (the arrow-of-time twin of a clip).

    Decodes the clip in chunks from its end (seeking to the keyframe before each chunk),
    so it holds at most :data:`EDIT_MEMORY_BYTES` of frames whatever the clip's length.
    """
    info, dst = _edit_source(src, dst)
    chunk = max(1, EDIT_MEMORY_BYTES // (info.width * info.height * 3))
    pts = _frame_times(info.path)
    with _Writer(dst, Fraction(info.fps).limit_denominator(1001)) as writer:
        for stop in range(info.num_frames, 0, -chunk):
            start = max(0, stop - chunk)
            frames = [array for _, array in _iter_frames(info.path, start, stop, pts)]
            if len(frames) != stop - start:
                raise VideoError(f"{info.name}: frames {start}-{stop - 1} could not be read. {_fix_hint(info.path)}")
            while frames:
                writer.write(frames.pop())
    return dst


def trim_video(src: str | os.PathLike, dst: str | os.PathLike, start: float, end: float | None = None) -> Path:
    """Write the part of ``src`` between ``start`` and ``end`` seconds (``end=None``: to the end)."""
    start = _seconds(start, "start")
    end = _seconds(end, "end", allow_none=True)
    if end is not None and end <= start:
        raise VideoError(f"Need start < end, got start={start:g}, end={end:g}.")
    info, dst = _edit_source(src, dst)
    if start >= info.duration:
        raise VideoError(f"start={start:g} s is past the end of {info.name} ({info.duration:.2f} s).")
    a, b = _trim_range(info, start, end)
    if b - a < 2:
        span = f"{start:g}-{end:g} s" if end is not None else f"{start:g} s to the end ({info.duration:.2f} s)"
        raise VideoError(f"{span} holds fewer than 2 frames of {info.name}; choose a longer span.")
    with _Writer(dst, Fraction(info.fps).limit_denominator(1001)) as writer:
        for _, array in _iter_frames(info.path, a, b):
            writer.write(array)
    return dst


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def burn_timestamps(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``src`` with each frame's time ``t.tt s`` drawn in its top-left corner.

    The official Cosmos-Reason1 recipe overlays timestamps like this so that an
    answer can cite the moments it describes.
    """
    info, dst = _edit_source(src, dst)
    size = max(12, info.height // 14)
    font = _font(size)
    with _Writer(dst, Fraction(info.fps).limit_denominator(1001)) as writer:
        for i, frame in _iter_frames(info.path):
            image = Image.fromarray(frame)
            draw = ImageDraw.Draw(image)
            label = f"{i / info.fps:.2f} s"
            box = draw.textbbox((size // 2, size // 2), label, font=font)
            draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(0, 0, 0))
            draw.text((size // 2, size // 2), label, fill=(255, 255, 255), font=font)
            writer.write(np.asarray(image))
    return dst


def reencode_video(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Rewrite any clip PyAV can read as an H.264 .mp4 the model's reader can read.

    Upright (rotation tags applied), constant frame rate (frames placed by their time),
    at least 112 pixels on the short side, damaged parts skipped. The fix the course
    suggests for GIFs, tiny clips and files with damaged bytes.
    """
    path = resolve_video(src)
    if not path.is_file():
        raise VideoError(f"No such video file: {path}.")
    dst = _check_destination(dst, path)
    scan = _scan(path, lenient=True)
    long, short = max(scan.width, scan.height), min(scan.width, scan.height)
    if long / short > MAX_ASPECT:  # growing its short side to 112 pixels would make a frame no encoder takes
        raise VideoError(f"{path} is {scan.width}x{scan.height}: more elongated than the model accepts (aspect "
                         f"ratio {MAX_ASPECT}), so re-encoding cannot make it usable. Crop it to a more usual shape.")
    _transcode(path, dst, _steady_rate(scan), scan.rotation)
    return dst


