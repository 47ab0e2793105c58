"""Helpers for the Cosmos-Reason1 video reasoning notebooks.

The names a learner needs first are here: ``from cosmos_nb_utils import load_model, ask, find_assets``.
Everything else lives in one module per concern, imported by name (the README's "Layout" maps them):
rules and figures (``official``, ``paper``, ``architecture``, ``stats``, ``results``); the ``video`` package
(``checks``, ``sources``, ``codec``, ``probe``, ``plan``, ``frames``, ``edits``; its face re-exports them)
and ``overlay``; models (``facts``, ``memory``, ``loading``, ``tiny_model``); asking (``prompts``,
``decoding``, ``generation``, ``parsing``); one clip traced through the model (``inside``); training
(``rewards``, ``grpo``; fine-tuning: ``training_data``, ``training``, ``training_memory``, ``sft``,
``grpo_train``, ``finetune``); the benchmark (``benchmark_data``, ``scoring``, and ``evaluation``, which runs
it and re-exports the other two); what the notebooks show (``display``, ``system``).
"""

import importlib.metadata
import importlib.util
import os

# These two settings must come before torch starts CUDA and before qwen_vl_utils is imported,
# hence before the imports at the end of this file.

# qwen-vl-utils picks its video reader once, at import. torchvision no longer reads
# video, so prefer decord (a pip wheel, no system FFmpeg needed) unless told otherwise.
if importlib.util.find_spec("decord") is not None:
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

# Let PyTorch grow memory segments instead of caching fixed blocks: it lowers the peak reserved
# memory of a long question (benchmarks/RESULTS.md, "The allocator setting matters").
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

try:  # the one version string is pyproject.toml's, read from the installed package
    __version__ = importlib.metadata.version("cosmos-nb-utils")
except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
    __version__ = "0+unknown"

from .generation import ask  # noqa: E402
from .loading import load_model  # noqa: E402
from .video import find_assets  # noqa: E402

__all__ = ["__version__", "ask", "find_assets", "load_model"]
