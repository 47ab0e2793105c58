"""What will run where: GPU, package versions, video backend, and the model the course will load."""

from __future__ import annotations

import importlib.metadata as md
import os
from pathlib import Path

import torch

from .loading import default_compute_dtype, default_model, is_tiny, resolve_quantization
from .memory import weight_footprints

PACKAGES = ["torch", "torchvision", "transformers", "accelerate", "bitsandbytes", "qwen-vl-utils",
            "decord", "av", "peft", "ipywidgets", "matplotlib"]


def package_versions(names: list[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package, or ``"missing"``."""
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "missing"
    return out


def gpu_info() -> dict[str, object]:
    """Name, memory (GiB), compute capability and bf16 support of GPU 0, or a CPU note."""
    if not torch.cuda.is_available():
        return {"gpu": "none (CPU only)", "vram_gib": 0.0, "compute_capability": "-", "bf16": False}
    props = torch.cuda.get_device_properties(0)
    major, minor = torch.cuda.get_device_capability(0)
    return {
        "gpu": props.name,
        "vram_gib": round(props.total_memory / 2**30, 1),
        "compute_capability": f"{major}.{minor}",
        "bf16": major >= 8,
    }


def video_backend() -> str:
    """The reader ``qwen_vl_utils`` will use."""
    from qwen_vl_utils.vision_process import get_video_reader_backend

    return get_video_reader_backend()


def decode_check(video: str | os.PathLike) -> str:
    """Decode ``video`` the way the model input does; return a one-line report (raises on failure)."""
    from .video import plan_sampling, sampled_frames

    frames, times = sampled_frames(video)
    plan = plan_sampling(video)
    return f"decoded {len(frames)} frames of {Path(video).name} ({times[0]:.2f}-{times[-1]:.2f} s); {plan.summary()}"


def course_plan() -> dict[str, object]:
    """Which model and quantization the notebooks will use here, and the weight memory it needs."""
    model = default_model()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    quant = resolve_quantization("auto", device)
    if is_tiny(model):
        need = "about 1.5 MB (tiny random model: answers are noise)"
    else:
        key = {"nf4": "nf4 + double quant", "int8": "int8"}.get(quant, "bf16")
        need = (f"about {weight_footprints(keep_vision=False)[key]:.1f} GiB of weights, plus what each question needs "
                "(measured: benchmarks/RESULTS.md)")
    dtype = str(default_compute_dtype(device)).replace("torch.", "")
    return {"model": model, "quantization": quant, "compute dtype": dtype, "memory": need}


def colab_check() -> None:
    """Say what the Colab runtime will do: GPU or not, compute dtype, and the one-time weight download."""
    info = gpu_info()
    if info["vram_gib"] == 0:
        print("No GPU in this runtime: the notebooks will run on the tiny random model (answers are noise).\n"
              "For the real model choose Runtime > Change runtime type > T4 GPU, then run this cell again.")
        return
    path = "bf16" if info["bf16"] else "fp16 (this card has no fast bf16)"
    print(f"GPU: {info['gpu']}, {info['vram_gib']} GiB, compute capability {info['compute_capability']}: "
          f"4-bit weights with {path} compute.")
    print("The first load_model() downloads Cosmos-Reason1-7B once per Colab session: 16.6 GB of weights "
          "(8.3 B parameters in bf16), so allow several minutes.")
