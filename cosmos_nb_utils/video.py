"""Video files: check them, plan what the model will see, and edit them.

Reading for the model goes through ``qwen_vl_utils`` (decord backend); checks and
edits use PyAV, whose wheels ship their own FFmpeg (with H.264), so nothing here
needs a system package.

A learner's clip is checked once (:func:`probe_video`): every frame is decoded, and a
clip whose frames are not evenly spaced in time (phones record a variable frame rate)
or that carries a rotation tag is converted once into an upright, constant-rate copy
in the work folder. The plan, the frames shown, the model's input and the edits all
read that copy, so they agree with each other and with the clip's real timing.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# The official Cosmos-Reason1 defaults: 4 frames per second, ~8k visual tokens.
DEFAULT_FPS = 4.0
DEFAULT_TOTAL_PIXELS = 8192 * 28 * 28
# fps="auto": the highest rate up to DEFAULT_FPS whose plan fits the limits.
AUTO = "auto"
# Refuse inputs above this many visual tokens (1.5x the official budget). For scale: a clip
# that fills the official budget is already above 8 GiB in all with the default 4-bit loading
# (benchmarks/RESULTS.md); raise it only on a larger GPU.
MAX_VISUAL_TOKENS = 12_288

# Qwen2.5-VL's vision rules (same for the 7B and the tiny model).
PATCH = 14
MERGE = 2
TEMPORAL_PATCH = 2
FACTOR = PATCH * MERGE  # 28: frames are resized to multiples of this
MIN_FRAME_PIXELS = 128 * FACTOR * FACTOR  # qwen-vl-utils' per-frame floor for video
MAX_FRAME_PIXELS = 768 * FACTOR * FACTOR  # and its per-frame ceiling
MAX_ASPECT = 200  # qwen-vl-utils refuses frames more elongated than this

# Edits hold at most this many bytes of decoded frames at once (a 4K frame is 24 MiB).
EDIT_MEMORY_BYTES = 512 * 2**20
# Downloads larger than this are refused (a 10-minute 1080p phone clip is about 1 GB).
MAX_DOWNLOAD_BYTES = 4 * 2**30
# Containers the writer (H.264) can produce.
WRITABLE_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")
# Re-encoded clips get at least this many pixels on their short side: decord cannot
# read some narrow frames (16, 48 or 72 pixels wide, for example).
READABLE_MIN_SIDE = 112
# Converted copies are written at most at this rate (plenty for sampling at 4 fps or less).
MAX_CONVERTED_FPS = 60


class VideoError(ValueError):
    """A video cannot be used; the message says which file and what to do."""


class BudgetError(ValueError):
    """A request would cost more visual tokens than allowed; the message says which knob to turn."""


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


def cache_dir() -> Path:
    """The course's cache folder (``$COSMOS_NB_CACHE`` or ``~/.cache/cosmos_nb_utils``)."""
    return Path(os.environ.get("COSMOS_NB_CACHE") or Path.home() / ".cache" / "cosmos_nb_utils")


def work_dir() -> Path:
    """A folder for the clips the notebooks make (reversed, trimmed, stamped)."""
    path = cache_dir() / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_assets() -> Path:
    """The course's ``assets/`` folder, searched from the current folder upward."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "assets" / "road_turn.mp4").exists():
            return folder / "assets"
    raise FileNotFoundError(
        f"No assets/ folder with the course clips above {here}. Run the notebooks from the repository "
        "(on Colab, run the install cell first), or regenerate them: python scripts/make_assets.py"
    )


# ---------------------------------------------------------------------------------------------
# Arguments


def _number(value, name: str, *, allow_none: bool = False, hint: str = "") -> float | None:
    """``value`` as a finite real number, or a ValueError naming the parameter ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__}).{hint}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.{hint}")
    return value


def _check_fps(fps) -> float | str:
    if isinstance(fps, str) and fps.strip().lower() == AUTO:
        return AUTO
    hint = f" Try fps={DEFAULT_FPS:g}, or fps=\"auto\" to let the course choose."
    if isinstance(fps, str):
        raise ValueError(f"fps must be a number of frames per second or \"auto\", got the text {fps!r}.{hint}")
    value = _number(fps, "fps", hint=hint)
    if value <= 0:
        raise VideoError(f"fps must be a positive number of frames per second, got {fps}.{hint}")
    return value


def _check_total_pixels(total_pixels) -> float:
    hint = " The official budget is total_pixels=8192 * 28 * 28."
    value = _number(total_pixels, "total_pixels", hint=hint)
    if value < MIN_FRAME_PIXELS:
        raise ValueError(
            f"total_pixels={total_pixels:g} is below one frame's minimum ({MIN_FRAME_PIXELS:,} = 128 * 28 * 28 "
            f"pixels), so it could not change anything.{hint}"
        )
    return value


def _check_max_tokens(max_visual_tokens) -> int | None:
    value = _number(max_visual_tokens, "max_visual_tokens", allow_none=True,
                    hint=f" The course's limit is {MAX_VISUAL_TOKENS:,}; None switches the check off.")
    if value is not None and value < 1:
        raise ValueError(f"max_visual_tokens must be positive (or None for no limit), got {max_visual_tokens}.")
    return None if value is None else int(value)


def _seconds(value, name: str, *, allow_none: bool = False) -> float | None:
    hint = " Give a time in seconds from the start of the clip, e.g. 2.5."
    if value is not None and not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isinf(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value}.{hint}"
                         + (f" Leave {name}=None to keep the rest of the clip." if allow_none else ""))
    seconds = _number(value, name, allow_none=allow_none, hint=hint)
    if seconds is not None and seconds < 0:
        raise VideoError(f"{name} must not be negative, got {value}.{hint}")
    return seconds


def _check_destination(dst, *sources: Path) -> Path:
    """A path the writer can produce that is not one of ``sources`` (never overwrite a source)."""
    if not isinstance(dst, str | os.PathLike):
        raise ValueError(f"dst must be a file path, got {dst!r} ({type(dst).__name__}).")
    path = Path(dst).expanduser()
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        raise ValueError(
            f"dst={str(dst)!r}: the course writes H.264 video into {', '.join(WRITABLE_SUFFIXES)} files, "
            f"not {path.suffix or 'a name without an extension'}. Use a name ending in .mp4."
        )
    if path.is_dir():
        raise ValueError(f"dst={str(dst)!r} is a folder; give a file name inside it, e.g. {path / 'clip.mp4'}.")
    for src in sources:
        same = path.resolve() == src.resolve() or (path.exists() and src.exists() and os.path.samefile(path, src))
        if same:
            raise ValueError(
                f"dst is the source itself ({src}): an edit never overwrites its source. "
                "Write to another file, e.g. work_dir() / 'edited.mp4'."
            )
    return path


# ---------------------------------------------------------------------------------------------
# Downloads


def _is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def resolve_video(video: str | os.PathLike) -> Path:
    """Return a local path for ``video``, downloading an http(s) URL into the cache.

    A download goes to a temporary file, is checked to be a readable video of at most
    :data:`MAX_DOWNLOAD_BYTES`, and only then moved into the cache: a failed or
    non-video download leaves nothing behind.
    """
    if not isinstance(video, str | os.PathLike):
        raise ValueError(f"video must be a file path or an http(s) URL, got {video!r} ({type(video).__name__}).")
    text = str(video).strip()
    if not text:
        raise ValueError("video is empty: give a file path or an http(s) URL.")
    if text[:7].lower() == "file://":
        return Path(urllib.parse.unquote(text[7:])).expanduser()
    if not _is_url(text):
        return Path(text).expanduser()
    cache = cache_dir() / "videos"
    cache.mkdir(parents=True, exist_ok=True)
    suffix = Path(urllib.parse.urlsplit(text).path).suffix.lower()
    suffix = suffix if suffix and len(suffix) <= 6 and suffix[1:].isalnum() else ".mp4"
    target = cache / (hashlib.sha256(text.encode()).hexdigest()[:16] + suffix)
    if not target.exists():
        _download(text, target)
    return target


def _download(url: str, target: Path) -> None:
    temp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.partial{target.suffix}")
    advice = "Check the address and your internet connection, or download the file yourself and pass its local path."
    try:
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(temp, "wb") as out:
                size = int(response.headers.get("Content-Length") or 0)
                if size > MAX_DOWNLOAD_BYTES:
                    raise VideoError(f"{url} is {size / 2**20:,.0f} MiB, more than the course downloads "
                                     f"({MAX_DOWNLOAD_BYTES / 2**20:,.0f} MiB). Download a shorter clip.")
                written = 0
                while chunk := response.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_DOWNLOAD_BYTES:
                        raise VideoError(f"{url} is larger than the course downloads "
                                         f"({MAX_DOWNLOAD_BYTES / 2**20:,.0f} MiB). Download a shorter clip.")
                    out.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if isinstance(exc, VideoError):
                raise
            raise VideoError(f"Could not download {url} ({exc}). {advice}") from None
        reason = _not_a_video(temp)
        if reason:
            raise VideoError(f"{url} did not download a usable video ({reason}). Nothing was kept. {advice}")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Checking a file


def _not_a_video(path: Path) -> str | None:
    """Why ``path`` is not a video (no video stream, or its first frame does not decode), or None."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
                return f"it holds no video stream, only {kinds}"
            next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, UnicodeDecodeError) as exc:
        return f"not a readable video: {type(exc).__name__}"
    return None


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


def _fix_hint(path: Path) -> str:
    return (f"Re-encode it with the course's helper: reencode_video({str(path)!r}, work_dir() / "
            f"'{path.stem}_fixed.mp4'), then use the new file.")


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


# ---------------------------------------------------------------------------------------------
# Sampling plan


def _plan(info: VideoInfo, fps: float, total_pixels: float) -> SamplePlan:
    from qwen_vl_utils.vision_process import smart_nframes, smart_resize

    nframes = smart_nframes({"fps": fps}, total_frames=info.num_frames, video_fps=info.fps)
    indices = np.linspace(0, info.num_frames - 1, nframes).round().astype(int).tolist()
    max_pixels = max(min(MAX_FRAME_PIXELS, total_pixels / nframes * TEMPORAL_PATCH), int(MIN_FRAME_PIXELS * 1.05))
    height, width = smart_resize(info.height, info.width, factor=FACTOR,
                                 min_pixels=MIN_FRAME_PIXELS, max_pixels=max_pixels)
    return SamplePlan(info=info, fps=fps, num_frames=nframes, frame_indices=indices, height=height, width=width,
                      total_pixels=total_pixels)


def _fits(plan: SamplePlan, max_visual_tokens: int | None, fits: Callable[[SamplePlan], bool] | None) -> bool:
    within = max_visual_tokens is None or plan.visual_tokens <= max_visual_tokens
    return within and (fits is None or bool(fits(plan)))


# Rates fps="auto" tries, highest first: round numbers, so that the choice is easy to repeat.
_RATES = sorted({round(r, 2) for r in [*np.arange(1, 4.01, 0.25), *np.arange(0.1, 1, 0.05),
                                       *np.arange(0.01, 0.1, 0.01)]}, reverse=True)


def _highest_fitting(info, total_pixels, max_visual_tokens, fits, below: float | None = None) -> SamplePlan | None:
    top = min(DEFAULT_FPS, info.fps)
    rates = [top] + [r for r in _RATES if r < top]
    for rate in rates:
        if below is not None and rate >= below:
            continue
        plan = _plan(info, rate, total_pixels)
        if _fits(plan, max_visual_tokens, fits):
            return plan
    return None


def _advice(info: VideoInfo, fps: float, total_pixels: float, max_visual_tokens, fits) -> str:
    """Ways out of an over-budget request, each checked to fit before it is offered."""
    options = []
    lower = _highest_fitting(info, total_pixels, max_visual_tokens, fits, below=fps)
    if lower is not None:
        options.append(f"Lower fps: fps={lower.fps:g} fits")
    for tokens in (6144, 4096, 3072, 2048, 1024, 512):
        if tokens * FACTOR * FACTOR < total_pixels and _fits(_plan(info, fps, tokens * FACTOR * FACTOR),
                                                               max_visual_tokens, fits):
            options.append(f"lower total_pixels: total_pixels={tokens} * 28 * 28 fits at fps={fps:g}")
            break
    seconds = _longest_fitting_span(info, fps, total_pixels, max_visual_tokens, fits)
    if seconds:
        options.append(f"trim the clip to {seconds:g} s or less (e.g. trim_video(clip, work_dir() / 'part.mp4', "
                       f"0, {seconds:g})) and keep fps={fps:g}")
    options.append("pass fps=\"auto\" to let the course pick the highest rate that fits")
    return "; ".join(options) + ". Raise max_visual_tokens only on a large GPU."


def _trim_range(info: VideoInfo, start: float, end: float | None) -> tuple[int, int]:
    """Frames [a, b) whose times lie in [start, end) (``end=None``: to the end of the clip)."""
    a = math.ceil(start * info.fps - 1e-6)
    b = info.num_frames if end is None else min(info.num_frames, math.ceil(end * info.fps - 1e-6))
    return a, b


def _longest_fitting_span(info, fps, total_pixels, max_visual_tokens, fits) -> float | None:
    """Longest span (seconds, one decimal) from the start whose trimmed clip fits at ``fps``; checked, not guessed."""

    def fits_for(tenths: int) -> bool:
        frames = _trim_range(info, 0, tenths / 10)[1]
        shorter = replace(info, num_frames=frames)
        return frames >= 2 and _fits(_plan(shorter, fps, total_pixels), max_visual_tokens, fits)

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
) -> SamplePlan:
    """Frames, resolution and visual tokens that ``qwen_vl_utils`` will produce.

    Follows ``qwen_vl_utils.fetch_video`` exactly (frame count rounded to an even
    number, per-frame pixel budget ``total_pixels / frames * 2`` between a floor
    and a ceiling, sides rounded to multiples of 28). Raises :class:`BudgetError`
    when the cost exceeds ``max_visual_tokens`` (``None`` disables the check), with
    advice that was checked to fit. ``fps="auto"`` picks the highest rate up to 4 fps
    (and up to the clip's own) that fits, and prints one line when that is not 4 fps. ``fits``
    is an extra test a plan must pass (for example a GPU-memory estimate): with
    ``fps="auto"`` rates it rejects are skipped; with a fixed fps a rejection raises.
    """
    fps = _check_fps(fps)
    total_pixels = _check_total_pixels(total_pixels)
    max_visual_tokens = _check_max_tokens(max_visual_tokens)
    if fits is not None and not callable(fits):
        raise ValueError(f"fits must be a function taking a SamplePlan and returning True or False, got {fits!r}.")
    info = video if isinstance(video, VideoInfo) else probe_video(video)
    if fps == AUTO:
        plan = _highest_fitting(info, total_pixels, max_visual_tokens, fits)
        if plan is None:
            span = _longest_fitting_span(info, min(DEFAULT_FPS, info.fps), total_pixels, max_visual_tokens, fits)
            cut = f" Trim it to {span:g} s or less (trim_video) first." if span else " Trim it (trim_video) first."
            raise BudgetError(f"{info.name} ({info.duration:.0f} s) does not fit the limits at any rate "
                              f"down to {_RATES[-1]:g} fps.{cut}")
        if plan.fps != DEFAULT_FPS:  # the official rate needs no notice; anything else is said once per call
            limit = "the clip's own rate" if plan.fps == info.fps else "the highest rate that fits"
            print(f"fps=\"auto\": {plan.fps:g} fps for {info.name} ({limit}: {plan.num_frames} frames, "
                  f"{plan.visual_tokens:,} visual tokens).")
        return plan
    if fps > info.fps + 1e-6:
        raise VideoError(
            f"fps={fps:g} is above the frame rate of {info.name} ({info.fps:g} fps): "
            f"there are no extra frames to sample. Use fps <= {info.fps:g}."
        )
    plan = _plan(info, fps, total_pixels)
    if max_visual_tokens is not None and plan.visual_tokens > max_visual_tokens:
        raise BudgetError(f"{plan.summary()}, above the limit of {max_visual_tokens:,}. "
                          f"{_advice(info, fps, total_pixels, max_visual_tokens, fits)}")
    if not _fits(plan, None, fits):
        name = getattr(fits, "__name__", "fits")
        raise BudgetError(f"{plan.summary()} does not pass the check {name}. "
                          f"{_advice(info, fps, total_pixels, max_visual_tokens, fits)}")
    return plan


# ---------------------------------------------------------------------------------------------
# Reading and writing frames


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


def read_frames(video: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame as an RGB array of shape (T, H, W, 3), with the frame rate.

    This holds the whole clip in memory; the edits below stream instead.
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


def _check_rate(fps, name: str = "fps") -> Fraction:
    value = _number(fps, name, hint=" Give frames per second, e.g. 10.")
    if not 0.01 <= value <= 1000:
        raise ValueError(f"{name} must be between 0.01 and 1000 frames per second, got {fps}.")
    return Fraction(value).limit_denominator(1001)


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
    _transcode(path, dst, _steady_rate(scan), scan.rotation)
    return dst


# ---------------------------------------------------------------------------------------------
# Edits: never overwrite the source, write atomically, hold a bounded number of frames


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
        raise VideoError(f"{start:g}-{end:g} s holds fewer than 2 frames of {info.name}; choose a longer span.")
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
