"""The official timestamp overlay (cosmos_reason1_utils vision.py overlay_text), as the model gets it."""

import numpy as np
import pytest
import torch

from cosmos_nb_utils.official import OVERLAY
from cosmos_nb_utils.overlay import overlay_timestamps


def label_columns(frame: np.ndarray, height: int) -> np.ndarray:
    """Columns of the band below ``height`` where white text was drawn."""
    return np.flatnonzero((frame[height:] > 128).any(axis=(0, 2)))


def test_band_below_each_frame_with_alternating_labels():
    frames = np.full((4, 56, 224, 3), 90, np.uint8)
    out = overlay_timestamps(frames, fps=4.0)
    band = OVERLAY["band_height"]
    assert out.shape == (4, 56 + band, 224, 3)
    assert np.array_equal(out[:, :56], frames)  # the picture itself is untouched
    for i, frame in enumerate(out):
        cols = label_columns(frame, 56)
        assert cols.size and frame[56:].min() == 0  # white text on black
        centre = cols.mean()
        assert (centre < 112) == (i % 2 == 0)  # even frames left half, odd frames right half
    assert not np.array_equal(out[0, 56:], out[2, 56:])  # the time changes: 0.00s vs 0.50s


def test_one_position_puts_every_label_in_the_middle():
    out = overlay_timestamps(np.zeros((2, 28, 224, 3), np.uint8), fps=4.0, positions=1)
    assert all(abs(label_columns(f, 28).mean() - 112) < 20 for f in out)


def test_tensor_layout_as_qwen_vl_utils_gives_it():
    frames = torch.full((2, 3, 28, 84), 200.0)
    out = overlay_timestamps(frames, fps=2.0)
    assert out.shape == (2, 3, 28 + OVERLAY["band_height"], 84) and out.dtype == frames.dtype
    assert torch.equal(out[:, :, :28], frames)


@pytest.mark.parametrize(("frames", "fps", "match"), [
    (np.zeros((2, 28, 28, 3), np.uint8), 0, "fps"),
    (np.zeros((2, 28, 28, 3), np.uint8), float("nan"), "fps"),
    (np.zeros((2, 28, 28), np.uint8), 4.0, "uint8"),
    (np.zeros((2, 28, 28, 3), np.float32), 4.0, "uint8"),
    (torch.zeros(2, 28, 28, 3), 4.0, "tensor"),
])
def test_bad_input_is_refused(frames, fps, match):
    with pytest.raises(ValueError, match=match):
        overlay_timestamps(frames, fps)
