"""Decode speed of the same greedy generate, run repeatedly in different ways, interleaved.

    python benchmarks/decode_order.py [--mode article]

Rules out order effects when comparing plain ``generate``, ``generate`` in a
thread, and ``generate`` with the course's streamer.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import MODES, load_mode  # noqa: E402

from cosmos_nb_utils.generation import generate, prepare_inputs  # noqa: E402
from cosmos_nb_utils.prompts import build_messages  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="article", choices=list(MODES))
    parser.add_argument("--new-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model, processor = load_mode(args.mode)
    inputs = prepare_inputs(processor, build_messages("Q?", ROOT / "assets" / "road_turn.mp4")).to(model.device)
    n = args.new_tokens
    greedy = {"do_sample": False, "min_new_tokens": n, "max_new_tokens": n}

    def run(kind: str) -> float:
        if kind == "course streamer":
            _, new, ttft, total = generate(model, processor, inputs, stream=False, decoder="generate", **greedy)
            return (new - 1) / (total - ttft)
        short = {**greedy, "min_new_tokens": 1, "max_new_tokens": 1}
        fns = {"plain": lambda g: model.generate(**inputs, **g)}
        if kind == "thread":
            def call(g):
                t = threading.Thread(target=model.generate, kwargs={**inputs, **g})
                t.start()
                t.join()
        else:
            call = fns["plain"]
        torch.cuda.synchronize()
        a = time.perf_counter()
        call(short)
        torch.cuda.synchronize()
        b = time.perf_counter()
        call(greedy)
        torch.cuda.synchronize()
        c = time.perf_counter()
        return (n - 1) / ((c - b) - (b - a))

    run("plain")
    for r in range(args.rounds):
        for kind in ("plain", "thread", "course streamer"):
            print(f"round {r} {kind:16s} {run(kind):6.1f} tok/s", flush=True)
    print("torch threads", torch.get_num_threads())


if __name__ == "__main__":
    main()
