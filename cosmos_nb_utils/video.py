"""Video files: check them, plan what the model will see, and edit them.

Reading for the model goes through ``qwen_vl_utils`` (decord backend); checks and
edits use PyAV, whose wheels ship their own FFmpeg (with H.264), so nothing here
needs a system package.
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# The official Cosmos-Reason1 defaults: 4 frames per second, ~8k visual tokens.
DEFAULT_FPS = 4.0
DEFAULT_TOTAL_PIXELS = 8192 * 28 * 28
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


class VideoError(ValueError):
    """A video cannot be used; the message says which file and what to do."""


class BudgetError(ValueError):
    """A request would cost more visual tokens than allowed; the message says which knob to turn."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read from its container and packets."""

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@dataclass(frozen=True)
class SamplePlan:
    """What the model will see of one video, computed before anything is decoded."""

    info: VideoInfo
    fps: float  # frames per second asked for
    num_frames: int  # frames sampled (always even)
    frame_indices: list[int]
    height: int  # each sampled frame is resized to height x width
    width: int

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
            f"{i.path.name}: {i.width}x{i.height}, {i.fps:g} fps, {i.duration:.1f} s -> "
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


def resolve_video(video: str | os.PathLike) -> Path:
    """Return a local path for ``video``, downloading an http(s) URL into the cache."""
    text = str(video)
    if text.startswith("file://"):
        text = text[len("file://"):]
    if not text.startswith(("http://", "https://")):
        return Path(text).expanduser()
    cache = cache_dir() / "videos"
    cache.mkdir(parents=True, exist_ok=True)
    suffix = Path(text.split("?")[0]).suffix or ".mp4"
    target = cache / (hashlib.sha256(text.encode()).hexdigest()[:16] + suffix)
    if not target.exists():
        try:
            with urllib.request.urlopen(text, timeout=30) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise VideoError(
                f"Could not download {text} ({exc}). Check the address and your internet "
                "connection, or download the file yourself and pass its local path."
            ) from None
        target.write_bytes(data)
    return target


def probe_video(video: str | os.PathLike) -> VideoInfo:
    """Check that ``video`` is a readable video with at least two frames.

    Raises :class:`VideoError` naming the file and what to do for a missing,
    empty, corrupt, truncated, non-video or single-frame file.
    """
    path = resolve_video(video)
    if not path.exists():
        raise VideoError(f"No such video file: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file.")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes): the download or copy did not finish. Fetch it again.")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
                raise VideoError(f"{path} holds no video stream (it holds {kinds}). Pass a video file such as an .mp4.")
            stream = container.streams.video[0]
            declared = stream.frames
            rate = stream.average_rate or stream.guessed_rate
            packets = sum(1 for p in container.demux(stream) if p.size > 0)
        with av.open(str(path)) as container:
            first = next(container.decode(video=0))
            width, height = first.width, first.height
    except VideoError:
        raise
    except (av.error.FFmpegError, StopIteration, UnicodeDecodeError) as exc:
        raise VideoError(
            f"{path} is not a readable video ({type(exc).__name__}: {exc}). "
            "It may be corrupt or another kind of file; re-download it or convert it to H.264 .mp4."
        ) from None
    if declared and packets < declared:
        raise VideoError(
            f"{path} is truncated: its header announces {declared} frames but only {packets} are present. "
            "Re-download or re-export the file."
        )
    num_frames = packets or declared
    fps = float(rate) if rate else 0.0
    if fps <= 0 or num_frames < 2 or (num_frames / fps) < 1e-3:
        raise VideoError(f"{path} has {num_frames} frame(s): an image, not a video. Pass a clip of at least 2 frames.")
    if fps > 1000:  # e.g. a still image wrapped as a stream with a nonsense rate
        raise VideoError(f"{path} reports {fps:g} frames per second: it is not a usable video.")
    return VideoInfo(path=path, width=width, height=height, fps=fps, num_frames=num_frames)


def plan_sampling(
    video: str | os.PathLike | VideoInfo,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
) -> SamplePlan:
    """Frames, resolution and visual tokens that ``qwen_vl_utils`` will produce.

    Follows ``qwen_vl_utils.fetch_video`` exactly (frame count rounded to an even
    number, per-frame pixel budget ``total_pixels / frames * 2`` between a floor
    and a ceiling, sides rounded to multiples of 28). Raises :class:`BudgetError`
    when the cost exceeds ``max_visual_tokens`` (``None`` disables the check).
    """
    from qwen_vl_utils.vision_process import smart_nframes, smart_resize

    info = video if isinstance(video, VideoInfo) else probe_video(video)
    if not fps or fps <= 0:
        raise VideoError(f"fps must be a positive number of frames per second, got {fps}. Try fps=4.")
    if fps > info.fps + 1e-6:
        raise VideoError(
            f"fps={fps:g} is above the frame rate of {info.path.name} ({info.fps:g} fps): "
            f"there are no extra frames to sample. Use fps <= {info.fps:g}."
        )
    nframes = smart_nframes({"fps": fps}, total_frames=info.num_frames, video_fps=info.fps)
    indices = np.linspace(0, info.num_frames - 1, nframes).round().astype(int).tolist()
    max_pixels = max(min(MAX_FRAME_PIXELS, total_pixels / nframes * TEMPORAL_PATCH), int(MIN_FRAME_PIXELS * 1.05))
    height, width = smart_resize(info.height, info.width, factor=FACTOR,
                                 min_pixels=MIN_FRAME_PIXELS, max_pixels=max_pixels)
    plan = SamplePlan(info=info, fps=fps, num_frames=nframes, frame_indices=indices, height=height, width=width)
    if max_visual_tokens is not None and plan.visual_tokens > max_visual_tokens:
        lower_fps = max(0.5, fps * max_visual_tokens / plan.visual_tokens)
        raise BudgetError(
            f"{plan.summary()}, above the limit of {max_visual_tokens:,}. Lower fps (try fps={lower_fps:.1f}), "
            f"trim the clip (trim_video), or lower total_pixels; raise max_visual_tokens only on a large GPU."
        )
    return plan


def read_frames(video: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame as an RGB array of shape (T, H, W, 3), with the frame rate."""
    info = probe_video(video)
    with av.open(str(info.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames), info.fps


def write_video(frames: np.ndarray | list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB frames (T, H, W, 3 uint8) as an H.264 .mp4 that browsers and decord play."""
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # yuv420p needs even sides
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from fractions import Fraction

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "medium", "threads": "1"}
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
            container.mux(stream.encode(vf))
        container.mux(stream.encode())
    return path


def reverse_video(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``src`` played backward (the arrow-of-time twin of a clip)."""
    frames, fps = read_frames(src)
    return write_video(frames[::-1], dst, fps)


def trim_video(src: str | os.PathLike, dst: str | os.PathLike, start: float, end: float) -> Path:
    """Write the part of ``src`` between ``start`` and ``end`` seconds."""
    frames, fps = read_frames(src)
    duration = len(frames) / fps
    if not 0 <= start < end:
        raise VideoError(f"Need 0 <= start < end, got start={start}, end={end}.")
    if start >= duration:
        raise VideoError(f"start={start} s is past the end of {Path(src).name} ({duration:.2f} s).")
    a, b = math.floor(start * fps), min(len(frames), math.ceil(end * fps))
    if b - a < 2:
        raise VideoError(f"{start}-{end} s holds fewer than 2 frames of {Path(src).name}; choose a longer span.")
    return write_video(frames[a:b], dst, fps)


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
    frames, fps = read_frames(src)
    size = max(12, frames.shape[1] // 14)
    font = _font(size)
    out = []
    for i, frame in enumerate(frames):
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        label = f"{i / fps:.2f} s"
        box = draw.textbbox((size // 2, size // 2), label, font=font)
        draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(0, 0, 0))
        draw.text((size // 2, size // 2), label, fill=(255, 255, 255), font=font)
        out.append(np.asarray(image))
    return write_video(np.stack(out), dst, fps)


def sampled_frames(
    video: str | os.PathLike,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
) -> tuple[np.ndarray, list[float]]:
    """The exact frames ``qwen_vl_utils`` hands the processor (T, H, W, 3 uint8), with their times."""
    from qwen_vl_utils import fetch_video

    info = probe_video(video)
    plan_sampling(info, fps, total_pixels, max_visual_tokens=None)
    frames, meta = fetch_video(
        {"video": str(info.path), "fps": fps, "total_pixels": total_pixels}, return_video_metadata=True
    )
    times = [i / meta["fps"] for i in meta["frames_indices"]]
    array = frames.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return array, times
