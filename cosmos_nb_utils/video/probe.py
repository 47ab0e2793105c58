"""Checking a clip once, as the model's reader will read it: probing, scanning, converting odd clips.

A learner's clip is checked once (:func:`probe_video`): every frame is decoded, and a clip whose
frames are not evenly spaced in time (phones record a variable frame rate) or that carries a
rotation tag is converted once into an upright, constant-rate copy in the work folder. The plan,
the frames shown, the model's input and the edits all read that copy, so they agree with each
other and with the clip's real timing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .checks import MAX_ASPECT, VideoError, _fix_hint
from .codec import _transcode
from .sources import resolve_video, work_dir

# Converted copies are written at most at this rate (plenty for sampling at 4 fps or less).
MAX_CONVERTED_FPS = 60


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read from its container and frames.

    ``path`` is the file every reader uses: the clip itself, or, for a clip with a
    variable frame rate or a rotation tag, its upright constant-rate copy (then
    ``source`` is the clip that was given).
    """

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    source: Path | None = None

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def name(self) -> str:
        """The name of the clip the learner gave."""
        return (self.source or self.path).name


def _trim_range(info: VideoInfo, start: float, end: float | None) -> tuple[int, int]:
    """Frames [a, b) whose times lie in [start, end) (``end=None``: to the end of the clip)."""
    a = math.ceil(start * info.fps - 1e-6)
    b = info.num_frames if end is None else min(info.num_frames, math.ceil(end * info.fps - 1e-6))
    return a, b


@dataclass
class _Scan:
    width: int
    height: int
    rotation: int  # quarter turns counter-clockwise that make the frames upright
    rate: float  # the container's average rate (what the model's reader assumes)
    guessed_rate: float
    declared: int
    packets: int
    times: list[float]  # presentation time of every decoded frame, in order, from 0


def _scan(path: Path, lenient: bool = False) -> _Scan:
    """Decode every frame of ``path`` once (no pixel conversion): size, rotation, timeline, damage.

    A damaged packet raises :class:`VideoError`, or is skipped when ``lenient``.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
                raise VideoError(f"{path} holds no video stream (it holds {kinds}). Pass a video file such as an .mp4.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            guessed = stream.guessed_rate or rate
            declared, packets, times, first = stream.frames, 0, [], None
            for packet in container.demux(stream):
                packets += packet.size > 0
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    if lenient:
                        continue
                    raise VideoError(
                        f"{path} is damaged: its data cannot be decoded after {len(times)} frames "
                        f"({type(exc).__name__}), and the model's video reader would fail on it. {_fix_hint(path)}"
                    ) from None
                for frame in frames:
                    if first is None:
                        first = frame
                    times.append(frame.time)
    except VideoError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(
            f"{path} is not a readable video ({type(exc).__name__}: {exc}). "
            "It may be corrupt or another kind of file; re-download it or convert it to H.264 .mp4."
        ) from None
    if first is None:
        raise VideoError(f"{path} is not a readable video (no frame decodes). Re-download or re-export it.")
    rotation = first.rotation or 0
    quarter_turns = round(rotation / 90) % 4 if rotation % 90 == 0 else 0
    fps = float(rate) if rate else 0.0
    if any(t is None for t in times) and fps > 0:
        times = [i / fps for i in range(len(times))]
    elif times:
        times = sorted(t - min(times) for t in times)
    return _Scan(first.width, first.height, quarter_turns, fps, float(guessed or 0), declared or 0, packets, times)


def _is_uneven(scan: _Scan) -> bool:
    """True when reading frame i as time i / fps would be off by more than half a frame somewhere."""
    fps, times = scan.rate, scan.times
    return max(abs(t - i / fps) for i, t in enumerate(times)) > 0.5 / fps


def _converted_path(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|v1".encode()).hexdigest()[:16]
    folder = work_dir() / "converted"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{path.stem}-{key}.mp4"


def _steady_rate(scan: _Scan) -> Fraction:
    """The rate of a constant-rate copy: the container's usual rate, else the typical frame spacing."""
    gaps = np.diff(scan.times)
    gaps = gaps[gaps > 0]
    typical = 1 / float(np.median(gaps)) if len(gaps) else scan.rate
    rate = scan.guessed_rate if 0.5 * typical <= scan.guessed_rate <= 2 * typical else typical
    return Fraction(min(rate, MAX_CONVERTED_FPS)).limit_denominator(1001)


_PROBED: dict[tuple, VideoInfo] = {}


def probe_video(video: str | os.PathLike) -> VideoInfo:
    """Check that ``video`` is a readable video with at least two frames, as the model's reader will read it.

    Raises :class:`VideoError` naming the file and what to do for a missing, empty,
    corrupt, damaged, truncated, non-video, single-frame or unreadable file. A clip
    with a variable frame rate or a rotation tag is converted once into an upright,
    constant-rate copy in the work folder (with a one-line notice); the returned
    ``path`` is then that copy. Results are remembered per file (path, size, time).
    """
    path = resolve_video(video)
    if not path.exists():
        raise VideoError(f"No such video file: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file.")
    stat = path.stat()
    if stat.st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes): the download or copy did not finish. Fetch it again.")
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _PROBED or not _PROBED[key].path.exists():
        _PROBED[key] = _probe_file(path)
    return _PROBED[key]


def _probe_file(path: Path, source: Path | None = None) -> VideoInfo:
    scan = _scan(path)
    if scan.declared and scan.packets < scan.declared:
        raise VideoError(
            f"{path} is truncated: its header announces {scan.declared} frames but only {scan.packets} are present. "
            "Re-download or re-export the file."
        )
    num_frames = scan.packets or scan.declared
    fps = scan.rate
    if fps <= 0 or num_frames < 2 or len(scan.times) < 2 or (num_frames / fps) < 1e-3:
        raise VideoError(f"{path} has {num_frames} frame(s): an image, not a video. Pass a clip of at least 2 frames.")
    if fps > 1000:  # e.g. a still image wrapped as a stream with a nonsense rate
        raise VideoError(f"{path} reports {fps:g} frames per second: it is not a usable video.")
    if max(scan.width, scan.height) / min(scan.width, scan.height) > MAX_ASPECT:
        raise VideoError(f"{path} is {scan.width}x{scan.height}: more elongated than the model accepts "
                         f"(aspect ratio {MAX_ASPECT}). Crop it to a more usual shape.")
    reasons = []
    if scan.rotation:
        reasons.append(f"a rotation tag ({scan.rotation * 90} degrees)")
    if source is None and _is_uneven(scan):
        reasons.append("a variable frame rate")
    if reasons and source is None:
        copy = _converted_path(path)
        if not copy.exists():
            _transcode(path, copy, _steady_rate(scan), scan.rotation)
        info = _probe_file(copy, source=path)
        print(f"{path.name} has {' and '.join(reasons)}: the course uses an upright {info.fps:g} fps copy "
              f"of it, made once in {copy.parent}.")
        return info
    if scan.rotation:  # a copy written by the course never carries a rotation tag
        raise VideoError(f"{path} could not be made upright. {_fix_hint(source or path)}")
    info = VideoInfo(path=path, width=scan.width, height=scan.height, fps=fps, num_frames=num_frames, source=source)
    disagreement = _check_model_reader(info)
    if disagreement and source is None:  # the plan would not match what the model gets: convert, as above
        copy = _converted_path(path)
        if not copy.exists():
            _transcode(path, copy, _steady_rate(scan), 0)
        print(f"{path.name}: {disagreement}; the course uses a constant-rate copy of it, made once in {copy.parent}.")
        return _probe_file(copy, source=path)
    if disagreement:
        raise VideoError(f"{source}: {disagreement}, even in its converted copy {path}. {_fix_hint(source)}")
    return info


# decord is reported to hang on some files; it is asked in a child process that is stopped after this many seconds.
READER_TIMEOUT_S = 120
_DECORD_VIEW = (
    "import json, sys, decord\n"
    "reader = decord.VideoReader(sys.argv[1])\n"
    "count = len(reader)\n"
    "shape = reader.get_batch([0, count - 1]).asnumpy().shape[1:3]\n"
    "print(json.dumps([count, reader.get_avg_fps(), list(shape)]))\n"
)


def _decord_view(path: Path) -> tuple[int, float, tuple[int, int]]:
    """Frame count, rate and (height, width) as decord reads them, in a child process with a time limit."""
    try:
        done = subprocess.run([sys.executable, "-c", _DECORD_VIEW, str(path)], capture_output=True, text=True,
                              timeout=READER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"decord did not finish reading it within {READER_TIMEOUT_S} s (it hangs on some "
                           "files)") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"decord stopped with exit code {done.returncode}")
    count, fps, shape = json.loads(done.stdout.strip().splitlines()[-1])
    return int(count), float(fps), (int(shape[0]), int(shape[1]))


def _check_model_reader(info: VideoInfo) -> str | None:
    """Open ``info.path`` with the reader qwen-vl-utils will use; refuse what it cannot read.

    Returns how the reader's view (frame count, rate, size) differs from ``info``, or None when it agrees.
    """
    from qwen_vl_utils.vision_process import get_video_reader_backend

    backend = get_video_reader_backend()
    path = info.path
    try:
        if backend == "decord":
            count, fps, shape = _decord_view(path)
        elif backend == "torchcodec":
            from torchcodec.decoders import VideoDecoder

            reader = VideoDecoder(str(path))
            count, fps = reader.metadata.num_frames, reader.metadata.average_fps
            shape = tuple(reader.get_frames_at(indices=[0, count - 1]).data.shape[2:4])
        else:
            raise VideoError(
                "The model has no video reader here (torchvision no longer reads video): "
                "pip install decord (x86_64) or torchcodec with FFmpeg, then restart the kernel."
            )
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(
            f"{info.source or path} cannot be read by the model's video reader ({backend}: "
            f"{str(exc).strip().splitlines()[0][:160]}). {_fix_hint(info.source or path)}"
        ) from None
    if count != info.num_frames or abs(fps - info.fps) > 1e-3 * info.fps or shape != (info.height, info.width):
        return (f"the model's reader ({backend}) sees {count} frames at {fps:g} fps, {shape[1]}x{shape[0]}, "
                f"where the file holds {info.num_frames} at {info.fps:g} fps, {info.width}x{info.height}")
    return None


