"""Where clips come from and go: the cache and work folders, the course's assets, and downloads."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import av

from .checks import VideoError

# Downloads larger than this are refused (a 10-minute 1080p phone clip is about 1 GB).
MAX_DOWNLOAD_BYTES = 4 * 2**30


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


