"""Video files: check them, plan what the model will see, and edit them.

This package's face: every public name of its modules is importable from here
(``from cosmos_nb_utils.video import plan_sampling, trim_video``). Each rule lives in one module:

- :mod:`.checks`: the defaults (4 fps, ``8192 * 28 * 28`` pixels), the limits, Qwen2.5-VL's vision
  rules, the errors, and the argument checks;
- :mod:`.sources`: the cache and work folders, the course's assets, resolving and downloading a clip;
- :mod:`.codec`: decoding frames by index and writing H.264 (``write_video``), streaming;
- :mod:`.probe`: checking a clip once as the model's reader reads it, converting odd clips (variable
  frame rate, rotation tag) into an upright constant-rate copy (``probe_video``, ``VideoInfo``);
- :mod:`.plan`: the sampling plan and its budget advice (``plan_sampling``, ``SamplePlan``, ``fps="auto"``);
- :mod:`.frames`: a checked clip's frames as arrays (``read_frames``, ``frames_at``, ``sampled_frames``);
- :mod:`.edits`: ``reverse_video``, ``trim_video``, ``burn_timestamps``, ``reencode_video``.

Reading for the model goes through ``qwen_vl_utils`` (decord backend); checks and edits use
PyAV, whose wheels ship their own FFmpeg (with H.264), so nothing here needs a system package.
"""

from .checks import (
    AUTO,
    DEFAULT_FPS,
    DEFAULT_TOTAL_PIXELS,
    FACTOR,
    MAX_ASPECT,
    MAX_FRAME_PIXELS,
    MAX_VISUAL_TOKENS,
    MERGE,
    MIN_FRAME_PIXELS,
    PATCH,
    TEMPORAL_PATCH,
    WRITABLE_SUFFIXES,
    BudgetError,
    VideoError,
)
from .codec import MAX_ENCODED_SIDE, READABLE_MIN_SIDE, write_video
from .edits import EDIT_MEMORY_BYTES, burn_timestamps, reencode_video, reverse_video, trim_video
from .frames import frames_at, read_frames, sampled_frames
from .plan import SamplePlan, plan_sampling
from .probe import MAX_CONVERTED_FPS, READER_TIMEOUT_S, VideoInfo, probe_video
from .sources import MAX_DOWNLOAD_BYTES, cache_dir, find_assets, resolve_video, work_dir

__all__ = [
    "AUTO", "DEFAULT_FPS", "DEFAULT_TOTAL_PIXELS", "EDIT_MEMORY_BYTES", "FACTOR", "MAX_ASPECT",
    "MAX_CONVERTED_FPS", "MAX_DOWNLOAD_BYTES", "MAX_ENCODED_SIDE", "MAX_FRAME_PIXELS", "MAX_VISUAL_TOKENS", "MERGE",
    "MIN_FRAME_PIXELS", "PATCH", "READABLE_MIN_SIDE", "READER_TIMEOUT_S", "TEMPORAL_PATCH", "WRITABLE_SUFFIXES",
    "BudgetError", "SamplePlan", "VideoError", "VideoInfo",
    "burn_timestamps", "cache_dir", "find_assets", "frames_at", "plan_sampling", "probe_video", "read_frames",
    "reencode_video", "resolve_video", "reverse_video", "sampled_frames", "trim_video", "work_dir", "write_video",
]
