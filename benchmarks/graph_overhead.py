"""GPU memory outside PyTorch's allocator that the graph decoder adds, per SDPA backend.

    python benchmarks/graph_overhead.py [--backend default|efficient|math|no-cudnn] [--out graph-overhead.json]

Loads the course default (nf4) random 7B, answers once with ``generate`` and notes
the memory in use outside PyTorch's allocator (CUDA context, loaded kernels), then
answers twice with the graph decoder under the chosen attention backend and notes
it again. Run each backend in its own process: kernels, once loaded, stay loaded.
Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from common import ROOT, load_mode, outside_allocator_gib, require_gpu, write_results
from torch.nn.attention import SDPBackend, sdpa_kernel

from cosmos_nb_utils.generation import ask

BACKENDS = {
    "default": None,
    "efficient": [SDPBackend.EFFICIENT_ATTENTION],
    "math": [SDPBackend.MATH],
    "no-cudnn": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="default", choices=list(BACKENDS))
    parser.add_argument("--out", type=Path, default=Path("graph-overhead.json"))
    args = parser.parse_args()
    require_gpu()
    model, processor = load_mode("nf4")
    question = ("Is it safe to turn right?", ROOT / "assets" / "road_turn.mp4")
    greedy = {"stream": False, "temperature": 0}
    ref = ask(model, processor, *question, decoder="generate", min_new_tokens=64, max_new_tokens=64, **greedy)
    before = outside_allocator_gib()
    backends = BACKENDS[args.backend]
    with sdpa_kernel(backends) if backends else contextlib.nullcontext():
        for _ in range(2):
            fast = ask(model, processor, *question, decoder="graph", min_new_tokens=256, max_new_tokens=256, **greedy)
    after = outside_allocator_gib()
    row = {"backend": args.backend, "outside_after_generate_gib": round(before, 3),
           "outside_after_graph_gib": round(after, 3), "added_gib": round(after - before, 3),
           "generate_tok_s": round(ref.decode_tokens_per_s, 1), "graph_tok_s": round(fast.decode_tokens_per_s, 1)}
    print(row)
    write_results(args.out, [row])


if __name__ == "__main__":
    main()
