"""The rules a video argument is held to: the defaults, the limits, Qwen2.5-VL's vision rules, and the checks.

Every check raises where the argument enters, naming the parameter and what to pass instead.
"""

from __future__ import annotations

import math
import numbers
import os
from fractions import Fraction
from pathlib import Path

# The official Cosmos-Reason1 defaults: 4 frames per second, ~8k visual tokens.
DEFAULT_FPS = 4.0
DEFAULT_TOTAL_PIXELS = 8192 * 28 * 28
# fps="auto": DEFAULT_FPS with smaller frames, then a lower rate, until the plan fits the limits (video.plan).
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

# Containers the writer (H.264) can produce.
WRITABLE_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")


class VideoError(ValueError):
    """A video cannot be used; the message says which file and what to do."""


class BudgetError(ValueError):
    """A request would cost more visual tokens than allowed; the message says which knob to turn."""


def _fix_hint(path: Path) -> str:
    return (f"Re-encode it with the course's helper: reencode_video({str(path)!r}, work_dir() / "
            f"'{path.stem}_fixed.mp4'), then use the new file.")


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
    above = next(p for p in path.parents if p.exists() or p == p.parent)
    if above.exists() and not above.is_dir():
        raise ValueError(f"dst={str(dst)!r} cannot be written: {above} is a file, not a folder. Choose another "
                         "place, e.g. work_dir() / 'edited.mp4'.")
    _check_writable_folder(path.parent, dst)
    for src in sources:
        same = path.resolve() == src.resolve() or (path.exists() and src.exists() and os.path.samefile(path, src))
        if same:
            raise ValueError(
                f"dst is the source itself ({src}): an edit never overwrites its source. "
                "Write to another file, e.g. work_dir() / 'edited.mp4'."
            )
    return path


def cannot_write(folder: Path) -> str | None:
    """Make ``folder`` and write a test file in it; None if that worked, else the reason (for a caller's error)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _check_writable_folder(folder: Path, dst) -> None:
    """A place the writer cannot use fails here, named."""
    if (reason := cannot_write(folder)) is not None:
        raise ValueError(f"dst={str(dst)!r} cannot be written ({reason} in {folder}). "
                         "Choose a folder you can write to, e.g. work_dir() / 'edited.mp4'.")


def _check_rate(fps, name: str = "fps") -> Fraction:
    value = _number(fps, name, hint=" Give frames per second, e.g. 10.")
    if not 0.01 <= value <= 1000:
        raise ValueError(f"{name} must be between 0.01 and 1000 frames per second, got {fps}.")
    return Fraction(value).limit_denominator(1001)


