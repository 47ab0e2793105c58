"""Where does decode time go? Compare plain ``generate`` with the course's ``ask`` and profile the CPU side.

    python benchmarks/profile_decode.py [--mode nf4-article] [--clip PATH]

Uses the random 7B checkpoint of bench_inference.py. Prints decode tokens/s for
plain greedy ``generate`` (no streamer), ``generate`` with a TextIteratorStreamer
thread, and ``ask``; then the top CPU functions of one ``generate`` (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import MODES, build_random_checkpoint  # noqa: E402

from cosmos_nb_utils.generation import ask, generate, prepare_inputs  # noqa: E402
from cosmos_nb_utils.loading import load_model  # noqa: E402
from cosmos_nb_utils.prompts import build_messages  # noqa: E402


def timed(fn, n_new: int) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="nf4-article", choices=list(MODES))
    parser.add_argument("--clip", type=Path, default=ROOT / "assets" / "road_turn.mp4")
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    ckpt = build_random_checkpoint(Path("/tmp/reason1-7b-random"))
    quant, keep_vision, dtype = MODES[args.mode]
    model, processor = load_model(str(ckpt), quant, keep_vision_unquantized=keep_vision, compute_dtype=dtype)
    inputs = prepare_inputs(processor, build_messages("Is it safe to turn right?", args.clip)).to(model.device)
    n = args.new_tokens
    greedy = {"do_sample": False, "min_new_tokens": n, "max_new_tokens": n}
    model.generate(**inputs, **greedy)  # warm-up
    prefill = timed(lambda: model.generate(**inputs, do_sample=False, max_new_tokens=1), 1)
    results = {}
    for name, extra in {"plain": {}, "plain + repetition_penalty 1.05": {"repetition_penalty": 1.05}}.items():
        total = timed(lambda extra=extra: model.generate(**inputs, **greedy, **extra), n)
        results[name] = (n - 1) / (total - prefill)
    text_only = processor.tokenizer("hello " * 500, return_tensors="pt").to(model.device)
    total = timed(lambda: model.generate(**text_only, **greedy), n)
    short_prefill = timed(lambda: model.generate(**text_only, do_sample=False, max_new_tokens=1), 1)
    results["plain, 500-token text prompt"] = (n - 1) / (total - short_prefill)
    _, new, ttft, total = generate(model, processor, inputs, stream=False, **greedy)
    results["course generate (streamer thread)"] = (new - 1) / (total - ttft)
    answer = ask(model, processor, "Is it safe to turn right?", args.clip, stream=False, temperature=0,
                 min_new_tokens=n, max_new_tokens=n)
    results["course ask"] = answer.decode_tokens_per_s
    print(f"prefill {prefill:.3f} s, prompt {inputs['input_ids'].shape[1]} tokens")
    for name, rate in results.items():
        print(f"{name:40s} {rate:6.1f} tok/s")
    profiler = cProfile.Profile()
    profiler.enable()
    model.generate(**inputs, **{**greedy, "min_new_tokens": 32, "max_new_tokens": 32})
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
