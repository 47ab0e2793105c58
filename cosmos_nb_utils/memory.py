"""Memory: what a model's weights cost (counted exactly on the ``meta`` device) and what a run used."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

GIB = 2**30
# Bytes per parameter of a 4-bit layer's weight, with its absmax constants:
# nf4 stores 0.5 byte plus one fp32 absmax per block of 64 weights; double
# quantization stores those absmax as 8-bit with one fp32 per 256 of them.
NF4_BYTES = 0.5 + 4 / 64
NF4_DQ_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
INT8_BYTES = 1.0 + 4 / 4096  # int8 weight plus a per-row fp32 scale (rows of ~4k)


def meta_model(config=None) -> nn.Module:
    """The real Qwen2.5-VL-7B architecture on the ``meta`` device: every shape, no memory."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .architecture import reason1_7b_config

    with torch.device("meta"):
        return Qwen2_5_VLForConditionalGeneration(config or reason1_7b_config())


def parameter_groups(model: nn.Module) -> dict[str, int]:
    """Parameter counts split the way quantization treats them."""
    groups = {"language Linear layers": 0, "vision Linear layers": 0, "lm_head": 0, "embeddings and norms": 0}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        n = module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
        if name.endswith("lm_head"):
            groups["lm_head"] += n
        elif ".visual." in f".{name}.":
            groups["vision Linear layers"] += n
        else:
            groups["language Linear layers"] += n
    total = sum(p.numel() for p in model.parameters())
    groups["embeddings and norms"] = total - sum(groups.values())
    return groups


def weight_footprints(model: nn.Module | None = None, *, keep_vision: bool = True,
                      kept_bytes: float = 2.0) -> dict[str, float]:
    """Weight memory in GiB under bf16, int8, nf4 and nf4 + double quant (default: the real 7B).

    Linear layers of the language model are quantized; embeddings, norms and
    lm_head stay in 16 bit (``kept_bytes`` per parameter: 4 for fp32 on a CPU),
    and so does the vision tower when ``keep_vision``.
    """
    g = parameter_groups(model if model is not None else meta_model())
    quantized = g["language Linear layers"] + (0 if keep_vision else g["vision Linear layers"])
    kept = sum(g.values()) - quantized
    per_param = {"bf16": kept_bytes, "int8": INT8_BYTES, "nf4": NF4_BYTES, "nf4 + double quant": NF4_DQ_BYTES}
    return {mode: (quantized * b + kept * kept_bytes) / GIB for mode, b in per_param.items()}


def quantized_modules(model: nn.Module) -> dict[str, list[str]]:
    """Names of the modules loaded as bitsandbytes 4-bit or 8-bit layers, and of plain Linear layers."""
    kinds: dict[str, list[str]] = {"4-bit": [], "8-bit": [], "16/32-bit Linear": []}
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls == "Linear4bit":
            kinds["4-bit"].append(name)
        elif cls == "Linear8bitLt":
            kinds["8-bit"].append(name)
        elif isinstance(module, nn.Linear):
            kinds["16/32-bit Linear"].append(name)
    return kinds


@dataclass
class GPUPeak:
    """Peak GPU memory during a block, in GiB (``None`` on CPU)."""

    allocated: float | None = None
    reserved: float | None = None


@contextlib.contextmanager
def track_gpu_peak():
    """``with track_gpu_peak() as peak: ...`` fills ``peak`` with the block's peak GPU memory."""
    peak = GPUPeak()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    try:
        yield peak
    finally:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            peak.allocated = torch.cuda.max_memory_allocated() / GIB
            peak.reserved = torch.cuda.max_memory_reserved() / GIB
