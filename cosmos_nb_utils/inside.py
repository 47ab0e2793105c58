"""Inside the model: one clip traced through Qwen2.5-VL with forward hooks, and the 7B's parts on the meta device.

Nothing here re-implements the model: shapes are read by hooks while transformers runs its own forward pass,
the window partition comes from transformers' own ``get_vision_window_index``, the position ids from the model's
``get_rope_index``, and the quantized layers from the bitsandbytes quantizer that ``from_pretrained`` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

# The stages a clip goes through, in order, as module names of Qwen2_5_VLForConditionalGeneration (transformers 5).
_STAGE = re.compile(r"^(model\.visual\.(patch_embed|blocks\.\d+|merger)|model\.language_model\.(embed_tokens|"
                    r"layers\.\d+|norm)|lm_head)$")
# What each part of the model is, for the parameter and quantization tables (first match wins).
PARTS = (
    ("vision: patch embedding (Conv3d)", "model.visual.patch_embed."),
    ("vision: transformer blocks", "model.visual.blocks."),
    ("vision: 2x2 patch merger", "model.visual.merger."),
    ("language: token embeddings", "model.language_model.embed_tokens."),
    ("language: decoder layers", "model.language_model.layers."),
    ("language: final norm", "model.language_model.norm."),
    ("lm_head (next-token scores)", "lm_head."),
)


def _shape(x) -> str:
    return "x".join(str(d) for d in x.shape) if isinstance(x, torch.Tensor) else "-"


def _first_tensor(args, kwargs) -> torch.Tensor | None:
    for value in (*args, kwargs.get("hidden_states"), kwargs.get("input"), kwargs.get("inputs_embeds")):
        if isinstance(value, torch.Tensor):
            return value
    return None


@dataclass
class Trace:
    """What one forward pass of one prompt went through (see :func:`trace`)."""

    rows: list[dict]  # one per stage: stage, module, input, output, attention (vision blocks)
    video_features: torch.Tensor  # the vision encoder's output (the merger's rows in frame order), one per video token
    inputs_embeds: torch.Tensor  # what the decoder layers receive: text embeddings with the video spliced in

    def spliced(self, input_ids: torch.Tensor, video_token_id: int) -> bool:
        """True when the decoder's input rows at the ``<|video_pad|>`` positions are exactly the vision output."""
        at_pads = self.inputs_embeds[(input_ids == video_token_id).to(self.inputs_embeds.device)]
        return at_pads.shape == self.video_features.shape and torch.equal(at_pads, self.video_features.to(at_pads))


def stages(model: nn.Module) -> dict[str, nn.Module]:
    """The modules a clip goes through, in order, by name (the same names on the tiny model and the 7B)."""
    return {name: m for name, m in model.named_modules() if _STAGE.match(name)}


def _segments(cu_seqlens: torch.Tensor) -> str:
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    return f"{len(lengths)} groups of at most {max(lengths)} patches"


def trace(model: nn.Module, inputs) -> Trace:
    """Run ``model`` once on ``inputs`` (a processor's output) with a forward hook on every stage.

    Each row gives the measured input and output shape of a stage; for a vision block, also how its attention
    was split (the ``cu_seqlens`` transformers passed it: one group per window, or one per temporal step for the
    full-attention blocks). Only the first call of each stage is recorded (one forward pass, no generation).
    ``lm_head`` scores the last position only, as generation does (the whole prompt's scores of the 7B would take
    more memory than an 8 GB card has to spare), and no KV cache is kept (nothing is generated).
    """
    rows: dict[str, dict] = {}
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name):
        def record(module, args, kwargs, output):
            if name in rows:
                return
            out = output[0] if isinstance(output, tuple) else output
            row = {"stage": name, "module": type(module).__name__, "input": _shape(_first_tensor(args, kwargs)),
                   "output": _shape(out)}
            if "cu_seqlens" in kwargs:
                row["attention"] = _segments(kwargs["cu_seqlens"])
            rows[name] = row
        return record

    def vision_output(module, args, output):  # the merger's rows, put back from window order into frame order
        captured.setdefault("video_features", output.pooler_output.detach())

    def decoder_input(module, args, kwargs):
        captured.setdefault("inputs_embeds", kwargs["inputs_embeds"].detach())

    for name, module in stages(model).items():
        handles.append(module.register_forward_hook(hook(name), with_kwargs=True))
    handles.append(model.model.visual.register_forward_hook(vision_output))
    handles.append(model.model.language_model.register_forward_pre_hook(decoder_input, with_kwargs=True))
    try:
        with torch.no_grad():
            on_device = {k: v.to(model.device) for k, v in inputs.items()}  # the caller's inputs stay put
            # next-token scores of the last position only, and no KV cache: one pass, nothing is generated
            model(**on_device, logits_to_keep=1, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    ordered = [rows[name] for name in stages(model) if name in rows]
    return Trace(ordered, captured["video_features"], captured["inputs_embeds"][0])


def window_ids(grid_thw: tuple[int, int, int], vision_config) -> np.ndarray:
    """The attention window of every merged token (t, h/2, w/2), from transformers' own window partition."""
    from transformers.vision_utils import get_vision_window_index

    merge = vision_config.spatial_merge_size
    t, h, w = (int(x) for x in grid_thw)
    order, bounds = get_vision_window_index(torch.tensor([[t, h, w]]), spatial_merge_size=merge,
                                            window_size=vision_config.window_size,
                                            patch_size=vision_config.patch_size)
    bounds = (bounds // merge**2).tolist()  # the bounds count patches; each merged token is merge**2 of them
    ids = np.empty(t * (h // merge) * (w // merge), dtype=int)
    for window, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        ids[order[start:stop].numpy()] = window
    return ids.reshape(t, h // merge, w // merge)


def plot_windows(frame: np.ndarray, grid_thw: tuple[int, int, int], vision_config, step: int = 0, ax=None):
    """Draw the patches (thin), merged tokens and attention windows (thick, numbered) on one resized frame."""
    patch, merge = vision_config.patch_size, vision_config.spatial_merge_size
    ids = window_ids(grid_thw, vision_config)[step]
    ax = ax or plt.subplots(figsize=(9, 5.5))[1]
    height, width = frame.shape[:2]
    ax.imshow(frame, extent=(0, width, height, 0))
    for x in range(0, width + 1, patch):
        ax.axvline(x, color="white", lw=0.5 if x % (patch * merge) else 1.0, alpha=0.5)
    for y in range(0, height + 1, patch):
        ax.axhline(y, color="white", lw=0.5 if y % (patch * merge) else 1.0, alpha=0.5)
    size = patch * merge
    for window in np.unique(ids):
        rows, cols = np.nonzero(ids == window)
        x0, y0 = cols.min() * size, rows.min() * size
        box_w, box_h = (cols.max() + 1) * size - x0, (rows.max() + 1) * size - y0
        ax.add_patch(plt.Rectangle((x0, y0), box_w, box_h, fill=False, ec="yellow", lw=2.5))
        ax.text(x0 + 4, y0 + 14, str(window), color="yellow", fontsize=9, weight="bold")
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)",
           title=f"{width}x{height} frame: {patch}-px patches, {size}-px merged tokens, "
                 f"{vision_config.window_size}-px attention windows (step {step})")
    return ax


def rope_positions(model: nn.Module, inputs) -> torch.Tensor:
    """The 3-D (time, height, width) position id of every prompt token, (3, seq), as the model computes them."""
    position_ids, _ = model.model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs.get("video_grid_thw"),
        second_per_grid_ts=inputs.get("second_per_grid_ts"), attention_mask=inputs.get("attention_mask"))
    return position_ids[:, 0].cpu()


def plot_positions(positions: torch.Tensor, input_ids: torch.Tensor, video_token_id: int):
    """The t/h/w position ids against the token's place in the prompt, the video's span shaded."""
    video = np.nonzero((input_ids.reshape(-1) == video_token_id).cpu().numpy())[0]
    fig, axes = plt.subplots(3, 1, figsize=(10, 6), sharex=True)
    for ax, axis, ids in zip(axes, ("time", "height", "width"), positions.cpu().numpy()):
        ax.plot(ids, lw=0.8)
        ax.axvspan(video[0], video[-1], color="tab:orange", alpha=0.15, label="video tokens")
        ax.set_ylabel(f"{axis} id")
    axes[0].legend(loc="upper left")
    axes[-1].set_xlabel("token index in the prompt")
    fig.suptitle("mRoPE position ids of every prompt token")
    fig.tight_layout()
    return fig


def token_grid(positions: torch.Tensor, input_ids: torch.Tensor, video_token_id: int, step: int = 0) -> np.ndarray:
    """Where the video tokens of one temporal step sit in the prompt, drawn on their grid: cell (row, column), read
    from each token's height and width ids, holds the token's index in the prompt. Steps are counted in prompt
    order: the ``step``-th block of rows x columns video tokens."""
    index = np.nonzero((input_ids.reshape(-1) == video_token_id).cpu().numpy())[0]
    video = positions.cpu()[:, index]
    _, rows, cols = (video - video.min(dim=1, keepdim=True).values).numpy()
    size = (rows.max() + 1) * (cols.max() + 1)
    block = slice(step * size, (step + 1) * size)
    grid = np.full((rows.max() + 1, cols.max() + 1), -1)
    grid[rows[block], cols[block]] = index[block]
    return grid


def plot_token_grid(positions: torch.Tensor, input_ids: torch.Tensor, video_token_id: int, steps: int = 2):
    """The first ``steps`` temporal steps' tokens on their grid, coloured by their place in the prompt."""
    index = np.nonzero((input_ids.reshape(-1) == video_token_id).cpu().numpy())[0]
    time_ids = positions.cpu()[0, index].numpy()
    fig, axes = plt.subplots(1, steps, figsize=(5 * steps, 3), squeeze=False)
    for step, ax in enumerate(axes[0]):
        grid = token_grid(positions, input_ids, video_token_id, step)
        image = ax.imshow(grid, cmap="viridis")
        ids = sorted(set(time_ids[step * grid.size:(step + 1) * grid.size].tolist()))
        ax.set(title=f"step {step}: time id {', '.join(map(str, ids))}", xlabel="token column (width id - start)",
               ylabel="token row (height id - start)")
        fig.colorbar(image, ax=ax, label="place in the prompt")
    fig.tight_layout()
    return fig


def frequency_axes(text_config) -> list[str]:
    """Which axis (time, height, width) turns each rotary frequency of a head: measured on the model's own
    rotary embedding (built from ``text_config``, a few hundred bytes), one unit step along each axis at a time."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLRotaryEmbedding

    rotary = Qwen2_5_VLRotaryEmbedding(text_config)
    probe = torch.eye(3, dtype=torch.long)[:, None, :]  # (3 axes, batch 1, 3 tokens): token i steps axis i
    _, sin = rotary(torch.zeros(1, dtype=torch.float32), probe)
    half = sin.shape[-1] // 2
    moved = sin[0, :, :half] != 0  # (token, frequency): which probe moved each frequency
    names = ("time", "height", "width")
    return [names[int(moved[:, f].nonzero()[0])] for f in range(half)]


def meta_quantized(config=None, quantization: str = "nf4", *, keep_vision: bool = False) -> nn.Module:
    """The 7B (or ``config``) on the meta device, its Linear layers replaced as the course's loading does.

    Uses the course's ``loading.quantization_config`` and the bitsandbytes quantizer's own
    ``preprocess_model``, the step ``from_pretrained`` takes before it reads any weight: no memory, no download.
    The defaults are ``load_model``'s (the vision encoder quantized too).
    """
    from transformers.quantizers import AutoHfQuantizer

    from .loading import quantization_config
    from .memory import meta_model

    model = meta_model(config)
    quantizer = AutoHfQuantizer.from_config(quantization_config(quantization, torch.bfloat16,
                                                                keep_vision=keep_vision), pre_quantized=False)
    quantizer.preprocess_model(model, device_map={"": "cpu"})
    return model


def _part(name: str) -> str:
    return next((part for part, prefix in PARTS if f"{name}.".startswith(prefix)), "other")


def part_table(model: nn.Module) -> list[dict]:
    """Parameters per part of ``model`` and how many of its Linear layers are 4-bit, 8-bit or 16-bit.

    On a :func:`meta_quantized` model the 4-bit count is what the loading quantizes; parameters are counted
    before quantization (a 4-bit layer's packed weight is read back as its full shape).
    """
    rows = {part: {"part": part, "parameters (M)": 0.0, "Linear layers": 0, "4-bit": 0, "8-bit": 0}
            for part, _ in PARTS}
    for name, module in model.named_modules():
        row = rows.get(_part(name))
        if row is None:
            continue
        for param in module.parameters(recurse=False):
            state = getattr(param, "quant_state", None)  # a loaded 4-bit weight is packed: count its true shape
            row["parameters (M)"] += (state.shape.numel() if state is not None else param.numel()) / 1e6
        kind = type(module).__name__
        if isinstance(module, nn.Linear):
            row["Linear layers"] += 1
            row["4-bit"] += kind == "Linear4bit"
            row["8-bit"] += kind == "Linear8bitLt"
    return [{**r, "parameters (M)": round(r["parameters (M)"], 3)} for r in rows.values()]


def linear_layers(model: nn.Module) -> list[dict]:
    """Every kind of Linear layer, by name with the layer number as ``*`` (the names LoRA's ``target_modules``
    match): how many, in and out features, and its class (``Linear4bit`` when quantized)."""
    kinds: dict[str, dict] = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        key = re.sub(r"\.\d+\.", ".*.", name)
        row = kinds.setdefault(key, {"name": key, "count": 0, "in": module.in_features,
                                     "out": module.out_features, "class": type(module).__name__})
        row["count"] += 1
    return list(kinds.values())
