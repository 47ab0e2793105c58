"""Memory: what a model's weights cost (counted exactly on the ``meta`` device) and what a run used."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from .facts import model_facts

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


@dataclass
class GPUPeak:
    """Peak GPU memory during a block, in GiB (``None`` when the work ran on no GPU)."""

    allocated: float | None = None
    reserved: float | None = None


@contextlib.contextmanager
def track_gpu_peak(device: torch.device | str | None = None):
    """``with track_gpu_peak(model.device) as peak: ...`` fills ``peak`` with the block's peak GPU memory.

    ``device`` is where the measured work runs: a CUDA device is measured (its own counters);
    any other device (a model on the CPU, even with a GPU present) leaves ``peak`` at ``None``.
    ``None`` measures the current CUDA device if there is one.
    """
    peak = GPUPeak()
    if device is not None and not isinstance(device, (torch.device, str, int)):
        raise ValueError(f"device must be a torch.device, a device name like 'cuda:0', or None; got {device!r}.")
    if device is None:
        cuda = torch.device("cuda") if torch.cuda.is_available() else None
    else:
        target = torch.device(device)
        cuda = target if target.type == "cuda" and torch.cuda.is_available() else None
    if cuda is not None:
        torch.cuda.synchronize(cuda)
        torch.cuda.reset_peak_memory_stats(cuda)
    try:
        yield peak
    finally:
        if cuda is not None:
            torch.cuda.synchronize(cuda)
            peak.allocated = torch.cuda.max_memory_allocated(cuda) / GIB
            peak.reserved = torch.cuda.max_memory_reserved(cuda) / GIB


# ---------------------------------------------------------------------------------------------
# Predicting a question's peak GPU memory before the model runs (issue 15).
#
# Fitted on the GPU with the random-weight 7B: benchmarks/RESULTS.md, section "Memory model and small
# cards (issue 15)"; data in benchmarks/results/memory-fit.json (H200, torch 2.11, transformers 5.24,
# bitsandbytes 0.50.2), measured by benchmarks/small_cards.py. A question's peak allocated memory above
# what was allocated before it (the weights) is the largest of three terms, in GiB:
#   the vision encoder:  vision_per_token * visual_tokens + vision_base               (fitted)
#   the prefill:         prefill_per_token * prompt_tokens + prefill_base             (fitted; the largest
#                        term at every fitted point, 1.3k-12k prompt tokens, max error 0.033 GiB)
#   the decode:          KV bytes per token * (prompt_tokens + max_new_tokens) + decode_base
#                        (not fitted: the static cache, sized for the whole answer, plus 0.05 GiB; it stays
#                        below the measured peak at every fitted point, 4,096 new tokens included, where the
#                        prefill term was the peak)
# Keys: the vision encoder computing in 16 bit or in float32 (``load_model(vision_fp32=...)``), with the
# language model in bf16 or fp16 and 4-bit weights. Other modes (int8, float32) were not fitted.
MEMORY_MODEL: dict[str, dict[str, float]] = {
    "vision 16-bit": {"vision_per_token": 1.733e-4, "vision_base": 0.0, "prefill_per_token": 2.197e-4,
                      "prefill_base": 0.062, "decode_base": 0.05},
    "vision fp32": {"vision_per_token": 2.126e-4, "vision_base": 0.0, "prefill_per_token": 2.360e-4,
                    "prefill_base": 0.060, "decode_base": 0.05},
}
# Kept free on top of every prediction. Under an 8 GB cap (same RESULTS section) a question predicted at
# 0.02 GiB under the free memory ran out of memory and one at 0.26 GiB under it ran; the first question in
# a process also loads kernels outside PyTorch's count (+0.15 GiB measured): 0.26 + 0.15, rounded up.
MARGIN_GIB = 0.5
# Prompt tokens besides the video (system prompt, question, chat template), when only a plan is known.
TEXT_TOKENS = 256


def kv_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    """Bytes the KV cache holds per token: keys and values of every layer."""
    text = config.get_text_config()
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * dtype_bytes


def memory_mode(model) -> str | None:
    """The key of :data:`MEMORY_MODEL` that describes ``model``, or ``None`` if it was not fitted."""
    facts = model_facts(model)
    if facts.quantization == "int8":
        return None
    if model.model.language_model.embed_tokens.weight.dtype not in (torch.bfloat16, torch.float16):
        return None
    return "vision fp32" if facts.vision_fp32 else "vision 16-bit"


@dataclass
class Prediction:
    """A question's predicted peak GPU memory (GiB) above what is allocated before it, by phase."""

    vision: float
    prefill: float
    decode: float

    @property
    def peak(self) -> float:
        return max(self.vision, self.prefill, self.decode)


def predict_question(model, visual_tokens: int, prompt_tokens: int | None = None,
                     max_new_tokens: int = 4096) -> Prediction | None:
    """Predicted peak memory of one question (GiB above the weights), or ``None`` for an unfitted mode."""
    mode = memory_mode(model)
    if mode is None:
        return None
    c = MEMORY_MODEL[mode]
    prompt = prompt_tokens if prompt_tokens is not None else visual_tokens + TEXT_TOKENS
    kv = kv_bytes_per_token(model.config) / GIB
    return Prediction(
        vision=c["vision_per_token"] * visual_tokens + c["vision_base"],
        prefill=c["prefill_per_token"] * prompt + c["prefill_base"],
        decode=kv * (prompt + max_new_tokens) + c["decode_base"],
    )


def largest_prompt(model, room_gib: float, max_new_tokens: int = 4096) -> int | None:
    """The most prompt tokens whose predicted peak fits in ``room_gib`` (``None`` for an unfitted mode)."""
    if predict_question(model, 0, 0, max_new_tokens) is None:
        return None
    c = MEMORY_MODEL[memory_mode(model)]
    kv = kv_bytes_per_token(model.config) / GIB
    limits = [(room_gib - c["prefill_base"]) / c["prefill_per_token"],
              (room_gib - c["vision_base"]) / c["vision_per_token"],
              (room_gib - c["decode_base"] - kv * max_new_tokens) / kv]
    return max(0, int(min(limits)))


def free_gpu_gib() -> float:
    """GPU memory this process can still allocate (GiB): free on the card plus PyTorch's cached free
    blocks, within ``torch.cuda.set_per_process_memory_fraction`` if one is set."""
    free, total = torch.cuda.mem_get_info()
    cached = torch.cuda.memory_reserved() - torch.cuda.memory_allocated()
    available = free + cached
    fraction = getattr(torch.cuda, "get_per_process_memory_fraction", lambda: 1.0)()
    if fraction < 1.0:
        available = min(available, fraction * total - torch.cuda.memory_allocated())
    return available / GIB


def fits(model, plan, *, prompt_tokens: int | None = None, max_new_tokens: int = 4096,
         margin_gib: float = MARGIN_GIB) -> bool:
    """Whether the question ``plan`` describes fits the GPU memory free now, with ``margin_gib`` to spare.

    True without a CUDA model or for a loading mode the memory model does not cover (nothing to predict).
    """
    if not torch.cuda.is_available() or model.device.type != "cuda":
        return True
    predicted = predict_question(model, plan.visual_tokens, prompt_tokens, max_new_tokens)
    return predicted is None or predicted.peak + margin_gib <= free_gpu_gib()


def fits_predicate(model, *, max_new_tokens: int = 4096, margin_gib: float = MARGIN_GIB):
    """``fits`` for ``model`` as a one-argument function of a plan: the hook of ``plan_sampling(fps="auto")``."""
    return lambda plan: fits(model, plan, max_new_tokens=max_new_tokens, margin_gib=margin_gib)


def fitting_settings(model, plan, room_gib: float, total_pixels: int, text_tokens: int = TEXT_TOKENS,
                     max_new_tokens: int = 4096) -> dict[str, float | int]:
    """Settings predicted to fit ``room_gib`` for the clip of ``plan`` (asked with ``total_pixels``).

    Returns ``{"total_pixels": ...}`` and/or ``{"fps": ...}`` when lowering one of them alone is enough (the
    largest such value), else both together (``"together": True``), else ``{}``. Planned exactly: a lower fps
    gives each frame more pixels, and frames have a minimum size, so neither knob alone always helps.
    """
    from .video import plan_sampling

    def ok(fps: float, pixels: int) -> bool:
        tokens = plan_sampling(plan.info, fps, pixels, None).visual_tokens
        predicted = predict_question(model, tokens, tokens + text_tokens, max_new_tokens)
        return predicted is not None and predicted.peak <= room_gib

    budgets = [k * 28 * 28 for k in (6144, 4096, 3072, 2048, 1024, 512) if k * 28 * 28 < total_pixels]
    rates = [f for f in (2.0, 1.0, 0.5) if f < plan.fps]
    found: dict[str, float | int] = {}
    pixels = next((b for b in budgets if ok(plan.fps, b)), None)
    fps = next((f for f in rates if ok(f, total_pixels)), None)
    if pixels:
        found["total_pixels"] = pixels
    if fps:
        found["fps"] = fps
    if not found:
        both = next(((f, b) for f in rates for b in budgets if ok(f, b)), None)
        if both:
            found = {"fps": both[0], "total_pixels": both[1], "together": True}
    return found
