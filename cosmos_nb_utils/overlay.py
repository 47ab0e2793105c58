"""The official timestamp overlay: each sampled frame's time, on a black band added below it.

Cosmos-Reason1's ``cosmos_reason1_utils.vision.overlay_text`` (used by the repository's
``scripts/inference.py --timestamp``) works on the frames the model is given, after
sampling and resizing: it adds a 28-pixel black band below each frame (28 = one row of
merged patches, so the frame stays a multiple of 28) and writes ``"1.25s"`` in it, the
frame's index divided by the sampled fps. The label's horizontal place cycles through
two positions (the temporal patch size): the two frames that the vision encoder fuses
into one temporal patch carry their labels side by side instead of on top of each other,
so both stay readable. The rule's constants live in :data:`cosmos_nb_utils.official.OVERLAY`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .official import OVERLAY, overlay_label


@functools.cache
def _font() -> ImageFont.FreeTypeFont:
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family=OVERLAY["font_family"]))
    return ImageFont.truetype(path, OVERLAY["font_size"])


def _stamp(image: Image.Image, index: int, fps: float, positions: int) -> Image.Image:
    band = OVERLAY["band_height"]
    width, height = image.size
    out = Image.new("RGB", (width, height + band), color="black")
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    text = overlay_label(index, fps)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=_font())
    text_w, text_h = right - left, bottom - top
    section = width // positions
    x = (index % positions) * section + section // 2 - text_w // 2
    x = max(0, min(x, width - text_w))
    draw.text((x, height + (band - text_h) // 2), text, fill="white", font=_font())
    return out


def overlay_timestamps(frames: torch.Tensor | np.ndarray, fps: float,
                       positions: int = OVERLAY["positions"]) -> torch.Tensor | np.ndarray:
    """Stamp sampled frames as the official overlay does; returns frames ``band_height`` pixels taller.

    ``frames``: the sampled video, either as qwen-vl-utils gives it (a ``(T, C, H, W)``
    tensor of 0-255 values) or as a ``(T, H, W, 3)`` uint8 array; the result has the same
    layout. ``fps`` is the *sampled* frame rate (frame ``i`` is labelled ``i / fps``).
    ``positions`` is the official 2 (the temporal patch size); 1 puts every label in the
    middle, to show what the alternation avoids.
    """
    if not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be the sampled frame rate, a positive number, got {fps!r}.")
    if not isinstance(positions, int) or positions < 1:
        raise ValueError(f"positions must be a whole number >= 1, got {positions!r}.")
    as_tensor = isinstance(frames, torch.Tensor)
    if as_tensor:
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be a (T, 3, H, W) tensor, got shape {tuple(frames.shape)}.")
        array = frames.detach().float().clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    else:
        array = np.asarray(frames)
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got {array.dtype} {array.shape}.")
    stamped = np.stack([np.asarray(_stamp(Image.fromarray(f), i, fps, positions)) for i, f in enumerate(array)])
    if not as_tensor:
        return stamped
    return torch.from_numpy(stamped).permute(0, 3, 1, 2).to(frames.dtype)
