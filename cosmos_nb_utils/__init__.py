"""Helpers for the Cosmos-Reason1 video reasoning notebooks.

Each module holds one concern: ``loading`` (models, 4 bit), ``tiny_model`` (the
random test model), ``video`` (checks, sampling plan, edits), ``prompts``,
``generation`` (``ask``), ``parsing``, ``rewards`` and ``grpo``, ``evaluation``,
``memory``, ``display`` and ``system``.
"""

import importlib.util
import os

# qwen-vl-utils picks its video reader once, at import. torchvision no longer reads
# video, so prefer decord (a pip wheel, no system FFmpeg needed) unless told otherwise.
if importlib.util.find_spec("decord") is not None:
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

# Let PyTorch grow memory segments instead of caching fixed blocks: it lowers the peak reserved
# memory of a long question (benchmarks/RESULTS.md, "The allocator setting matters").
# It must be set before CUDA starts, hence here.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

__version__ = "0.1.0"
