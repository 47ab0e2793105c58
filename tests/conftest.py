import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"


@pytest.fixture(scope="session")
def tiny_dir():
    from cosmos_nb_utils.tiny_model import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    from cosmos_nb_utils.loading import load_model

    # on the CPU on every machine, so that tests that compare exact tokens mean the same with or without a GPU
    return load_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def make_clip(tmp_path_factory):
    """Write a synthetic clip: a bar sweeping across, ``seconds`` long at ``fps``."""
    import numpy as np

    from cosmos_nb_utils.video import write_video

    folder = tmp_path_factory.mktemp("clips")

    def make(fps=25.0, seconds=4.0, size=(112, 200), name=None):
        n = max(1, round(fps * seconds))
        frames = np.zeros((n, *size, 3), np.uint8)
        for i in range(n):
            x = int(i / max(n - 1, 1) * (size[1] - 10))
            frames[i, :, x : x + 10] = (255, 255, 255)
            frames[i, : size[0] // 4, :, 0] = int(255 * i / max(n - 1, 1))  # a ramp marks time
        return write_video(frames, folder / (name or f"clip_{fps:g}_{seconds:g}_{n}.mp4"), fps)

    return make
