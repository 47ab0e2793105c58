"""Decoding frames by index and encoding H.264: the streaming pieces every reader and edit uses.

Decoding holds one frame at a time; writing goes to a temporary file moved into place on success.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .checks import VideoError, _check_destination, _check_rate, _fix_hint

# Re-encoded clips get at least this many pixels on their short side: decord cannot
# read some narrow frames (16, 48 or 72 pixels wide, for example).
READABLE_MIN_SIDE = 112
# libx264 refuses frames with a side longer than this (16,384 wrote here, 16,400 did not).
MAX_ENCODED_SIDE = 16384


def _frame_times(path: Path) -> list[int] | None:
    """Presentation timestamps of every frame, sorted, read from the packets (no decoding); None if some lack one."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [packet.pts for packet in container.demux(stream) if packet.size]
    return None if any(p is None for p in pts) else sorted(pts)


def _iter_frames(path: Path, first: int = 0, stop: int | None = None,
                 pts: list[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, RGB array) of frames ``first`` to ``stop - 1``, decoding from the keyframe before ``first``.

    Only the frame being yielded is converted to an array: memory does not grow with the clip.
    """
    pts = pts if pts is not None else _frame_times(path)
    if pts is None:  # no timestamps to seek by: decode from the start, counting frames
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if stop is not None and i >= stop:
                    return
                if i >= first:
                    yield i, frame.to_ndarray(format="rgb24")
        return
    stop = len(pts) if stop is None else min(stop, len(pts))
    index_of = {p: i for i, p in enumerate(pts)}
    expected = first
    for seek in (first > 0, False):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if seek:
                container.seek(pts[first], stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if expected >= stop:
                    return
                i = index_of.get(frame.pts)
                if i is None or i < expected:
                    continue
                if i > expected:
                    break  # a frame is missing: the seek landed too late, or the file is damaged
                yield i, frame.to_ndarray(format="rgb24")
                expected += 1
            if expected >= stop:
                return
            if expected > first or not seek:
                raise VideoError(f"{path}: frame {expected} could not be decoded. {_fix_hint(path)}")


def _as_uint8(frames) -> tuple[np.ndarray, float]:
    """``frames`` as an array (T, H, W, 3) and the factor that brings its values to 0-255."""
    try:
        frames = np.asarray(frames)
    except ValueError:
        raise ValueError("frames must all have the same shape (H, W, 3).") from None
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1 or min(frames.shape[1:3]) < 2:
        raise ValueError(f"frames must have shape (T, H, W, 3) with T >= 1 and sides of 2 pixels or more, "
                         f"got {frames.shape}")
    if frames.dtype == np.uint8:
        return frames, 1.0
    numeric = np.issubdtype(frames.dtype, np.integer) or np.issubdtype(frames.dtype, np.floating)
    if frames.dtype == bool or not numeric:
        raise ValueError(f"frames must hold numbers (uint8 0-255, or floats 0-1), got dtype {frames.dtype}.")
    low, high = float(frames.min()), float(frames.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("frames hold NaN or infinite values: fix them before writing (np.nan_to_num).")
    if low < 0 or high > 255:
        raise ValueError(f"frames hold values from {low:g} to {high:g}; RGB frames take 0-255 (uint8) or 0-1 "
                         "(floats). Scale or clip them first, e.g. np.clip(frames, 0, 255).astype(np.uint8).")
    scale = 255.0 if np.issubdtype(frames.dtype, np.floating) and high <= 1.0 else 1.0
    return frames, scale


class _Writer:
    """Writes RGB frames one by one as H.264 into a temporary file next to ``path``, moved into place on success."""

    def __init__(self, path: Path, fps: Fraction, crf: int = 23, keyframe_every: int | None = None):
        self.path, self.fps, self.crf, self.keyframe_every = path, fps, crf, keyframe_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self.temp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
        self.container = av.open(str(self.temp), mode="w")
        self.stream = None
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        if self.stream is None:
            self.height, self.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2  # yuv420p: even sides
            if max(self.height, self.width) > MAX_ENCODED_SIDE:
                raise VideoError(f"{self.path}: frames of {self.width}x{self.height} pixels are larger than H.264 "
                                 f"takes ({MAX_ENCODED_SIDE:,} pixels a side). Crop or scale the clip first.")
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
            self.stream.options = {"crf": str(self.crf), "preset": "medium", "threads": "1"}
            if self.width * self.height > 1920 * 1088:  # x264 looks 40 frames ahead: 1.4 GiB at 4K; 10 halves it
                self.stream.options = {**self.stream.options, "rc-lookahead": "10"}
            if self.keyframe_every:  # short GOPs: edits that seek (reverse_video) decode little twice
                self.stream.codec_context.gop_size = self.keyframe_every
        image = np.ascontiguousarray(frame[: self.height, : self.width])
        self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        try:
            if kind is None:
                if self.stream is None:
                    raise VideoError(f"No frames to write to {self.path}.")
                self.container.mux(self.stream.encode())
            self.container.close()
            if kind is None:
                os.replace(self.temp, self.path)
        finally:
            self.temp.unlink(missing_ok=True)
        return False


def write_video(frames: np.ndarray | list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB frames (T, H, W, 3) as an H.264 .mp4 that browsers and decord play.

    uint8 frames are written as they are; float frames are read as 0-1 when no value
    exceeds 1, else as 0-255. Anything else out of range is refused, not wrapped.
    """
    frames, scale = _as_uint8(frames)
    rate = _check_rate(fps)
    path = _check_destination(path)
    with _Writer(path, rate) as writer:
        for frame in frames:
            writer.write(frame if frame.dtype == np.uint8 else np.rint(frame * scale).astype(np.uint8))
    return path


def _transcode(src: Path, dst: Path, rate: Fraction, quarter_turns: int, min_side: int = READABLE_MIN_SIDE) -> None:
    """Write ``src`` upright at a constant ``rate``: each output frame is the source frame nearest its time.

    Frames that cannot be decoded are skipped (the neighbours fill their time). Streams:
    at most two decoded frames are held.
    """
    keyframe_every = max(1, round(2 * float(rate)))
    with av.open(str(src)) as container, _Writer(dst, rate, crf=18, keyframe_every=keyframe_every) as writer:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size = None
        step = 1 / float(rate)
        emitted, start, previous = 0, None, None  # previous: (time, array)

        def convert(frame):
            nonlocal size
            if size is None:
                w, h = frame.width, frame.height
                grow = max(1.0, min_side / min(w, h))
                size = (math.ceil(w * grow / 2) * 2, math.ceil(h * grow / 2) * 2)
            array = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
            return np.ascontiguousarray(np.rot90(array, quarter_turns)) if quarter_turns else array

        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue  # a damaged packet: its time is covered by the frames around it
            for frame in frames:
                t = frame.time if frame.time is not None else (previous[0] + step if previous else 0.0)
                start = t if start is None else start
                current = (t - start, convert(frame))
                if previous is not None:
                    middle = (previous[0] + current[0]) / 2
                    while emitted * step < middle:
                        writer.write(previous[1])
                        emitted += 1
                previous = current
        if previous is None:
            raise VideoError(f"No frame of {src} could be decoded: there is nothing to save.")
        while emitted * step <= previous[0] + 1e-9 or emitted < 2:
            writer.write(previous[1])
            emitted += 1


