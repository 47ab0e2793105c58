"""What a loaded model is: the facts :func:`~cosmos_nb_utils.loading.load_model` records, and its quantized layers.

Below both :mod:`.loading` (which records the facts) and :mod:`.memory` (whose memory model
depends on them), so that neither needs the other to read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelFacts:
    """What the course needs to know about a loaded model; :func:`load_model` records it once."""

    name: str  # hub id or folder ("tiny" for the tiny random model)
    tiny: bool  # the tiny random-weight model: its answers are noise
    quantization: str  # "nf4", "int8", "bf16", "fp16", "fp32" or "none"
    compute_dtype: torch.dtype
    vision_quantized: bool  # the vision encoder is quantized too (the default for nf4 and int8)
    vision_fp32: bool = False  # the vision encoder computes in float32 (see run_vision_in_fp32)
    adapter: str | None = None  # the LoRA adapter folder loaded over the weights (load_model(adapter=...))


def model_facts(model) -> ModelFacts:
    """The facts :func:`load_model` recorded on ``model``; read from the model itself if it was loaded otherwise."""
    facts = getattr(model, "cosmos_nb_facts", None)
    if facts is not None:
        return facts
    kinds = quantized_modules(model)
    low = kinds["4-bit"] or kinds["8-bit"]
    unquantized = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}.get(model.dtype, "none")
    quantization = "nf4" if kinds["4-bit"] else "int8" if kinds["8-bit"] else unquantized
    return ModelFacts(name=str(getattr(model.config, "_name_or_path", "")), tiny=False, quantization=quantization,
                      compute_dtype=model.dtype, vision_quantized=any(".visual." in f".{n}." for n in low))


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

