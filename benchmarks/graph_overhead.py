"""GPU memory outside PyTorch's allocator that the graph decoder adds, per SDPA backend.

    python benchmarks/graph_overhead.py [--backend default|efficient|math|no-cudnn]

Loads the course default (nf4) random 7B, answers once with ``generate`` and notes
the memory in use outside PyTorch's allocator (CUDA context, loaded kernels), then
answers twice with the graph decoder under the chosen attention backend and notes
it again. Run each backend in its own process: kernels, once loaded, stay loaded.
Measured on H100s (2026-11-26): +0.072 to +0.074 GiB with the default, math and no-cudnn
backends alike; ``efficient`` alone has no kernel for this case.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import load_mode  # noqa: E402

from cosmos_nb_utils.generation import ask  # noqa: E402
from cosmos_nb_utils.memory import GIB  # noqa: E402

BACKENDS = {
    "default": None,
    "efficient": [SDPBackend.EFFICIENT_ATTENTION],
    "math": [SDPBackend.MATH],
    "no-cudnn": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH],
}


def outside_gib() -> float:
    free, total = torch.cuda.mem_get_info()
    return ((total - free) - torch.cuda.memory_reserved()) / GIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="default", choices=list(BACKENDS))
    args = parser.parse_args()
    model, processor = load_mode("nf4")
    question = ("Is it safe to turn right?", ROOT / "assets" / "road_turn.mp4")
    greedy = {"stream": False, "temperature": 0}
    ref = ask(model, processor, *question, decoder="generate", min_new_tokens=64, max_new_tokens=64, **greedy)
    before = outside_gib()
    backends = BACKENDS[args.backend]
    with sdpa_kernel(backends) if backends else contextlib.nullcontext():
        for _ in range(2):
            fast = ask(model, processor, *question, decoder="graph", min_new_tokens=256, max_new_tokens=256, **greedy)
    after = outside_gib()
    print(f"{args.backend}: outside PyTorch's allocator {before:.3f} GiB after generate, {after:.3f} GiB after the "
          f"graph decoder (+{after - before:.3f}); decode {ref.decode_tokens_per_s:.1f} vs "
          f"{fast.decode_tokens_per_s:.1f} tok/s")


if __name__ == "__main__":
    main()
