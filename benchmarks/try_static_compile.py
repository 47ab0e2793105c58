"""Speed candidate: static KV cache + torch.compile on the course's default 4-bit model.

    python benchmarks/try_static_compile.py

Greedy-decodes the road clip with and without ``cache_implementation="static"``
(which makes transformers compile the decode step), reports decode tokens/s and the
first (compiling) call's time, and compares the greedy token ids of both.
(Not adopted; the course's faster path is the graph decoder, see check_graph_decoder.py.)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import load_mode  # noqa: E402

from cosmos_nb_utils.generation import generate, prepare_inputs  # noqa: E402
from cosmos_nb_utils.prompts import build_messages  # noqa: E402

N = 256


def main() -> None:
    model, processor = load_mode("nf4")
    inputs = prepare_inputs(processor, build_messages("Is it safe to turn right?", ROOT / "assets" / "road_turn.mp4"))
    greedy = {"do_sample": False, "min_new_tokens": N, "max_new_tokens": N, "return_dict_in_generate": False}
    results = {}
    for name, extra in {"dynamic cache": {}, "static cache + compile": {"cache_implementation": "static"}}.items():
        torch.cuda.synchronize()
        start = time.perf_counter()
        generate(model, processor, inputs, stream=False, decoder="generate", **greedy, **extra)
        first = time.perf_counter() - start
        rates = []
        for _ in range(3):
            _, new, ttft, total = generate(model, processor, inputs, stream=False, decoder="generate",
                                           **greedy, **extra)
            rates.append((new - 1) / (total - ttft))
        ids = model.generate(**inputs.to(model.device), **greedy, **extra)
        results[name] = (first, statistics.median(rates), ids)
        print(f"{name:24s} first call {first:6.1f} s, decode {statistics.median(rates):6.1f} tok/s "
              f"(runs: {[round(r, 1) for r in rates]})", flush=True)
    same = torch.equal(results["dynamic cache"][2], results["static cache + compile"][2])
    print("same greedy token ids with and without compile:", same)


if __name__ == "__main__":
    main()
