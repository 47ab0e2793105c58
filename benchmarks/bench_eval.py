"""GPU timing of one benchmark question, in each answer mode, with the course's default loading.

    python benchmarks/bench_eval.py [--ckpt DIR] [--reasoning-tokens 1024] [--letter-tokens 10] [--out FILE]

Weights cannot be downloaded here, so the model is the exact 7B architecture with random
weights (built once into --ckpt, as benchmarks/bench_inference.py does), loaded as
``load_model`` loads it by default on a GPU (nf4 + double quant, vision tower in 4 bit,
the graph decoder). Each mode asks 3 official-format questions (``benchmark_prompt``,
``BENCHMARK_SYSTEM``, the benchmark sampling) about the course's scenario clips at the
official fps 4 and the course's pixel budget. Random weights never stop on their own, so
every answer is forced to a fixed length: the reasoning cap of the official config
(1024 tokens) and the letter cap (10 tokens). A real answer that stops earlier costs
less; with retries of empty answers, more. Prints JSON; needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from common import DEFAULT_CKPT, build_random_checkpoint, load_mode, require_gpu

from cosmos_nb_utils.benchmark_data import _FIXTURE
from cosmos_nb_utils.evaluation import benchmark_settings
from cosmos_nb_utils.generation import ask
from cosmos_nb_utils.official import BENCHMARK_FPS, BENCHMARK_SEED, BENCHMARK_SYSTEM, benchmark_prompt
from cosmos_nb_utils.video import DEFAULT_TOTAL_PIXELS, find_assets


def questions() -> list[tuple[Path, str, dict]]:
    """The fixture's questions about three scenario clips (full length), as (clip, question, options)."""
    assets = find_assets()
    picked = [("road_turn.mp4", _FIXTURE["toy_driving"]["entries"][0]["qa_pairs"][0]),
              ("agent_pick.mp4", _FIXTURE["toy_robot"]["entries"][0]["qa_pairs"]),
              ("ball_bounce.mp4", _FIXTURE["toy_robot"]["entries"][1]["qa_pairs"][0])]
    return [(assets / clip, qa["question"], qa["index2ans"]) for clip, qa in picked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CKPT)
    parser.add_argument("--reasoning-tokens", type=int, default=1024)
    parser.add_argument("--letter-tokens", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench-eval.json"))
    args = parser.parse_args()
    require_gpu()
    start = time.perf_counter()
    build_random_checkpoint(args.ckpt)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    model, processor = load_mode("nf4", args.ckpt)
    load_s = time.perf_counter() - start
    rows = []
    first_call_s = None
    for answer_type, tokens in (("reasoning", args.reasoning_tokens), ("letter", args.letter_tokens)):
        for clip, question, options in questions():
            text = benchmark_prompt(question, options, answer_type)
            settings = {**benchmark_settings(model, answer_type), "min_new_tokens": tokens, "max_new_tokens": tokens}
            if first_call_s is None:  # the first call records the decoder's graphs: timed, reported apart
                t0 = time.perf_counter()
                warm = {**settings, "min_new_tokens": 8, "max_new_tokens": 8}
                ask(model, processor, text, clip, fps=BENCHMARK_FPS, total_pixels=DEFAULT_TOTAL_PIXELS,
                    system=BENCHMARK_SYSTEM, stream=False, seed=BENCHMARK_SEED, preset="benchmark", **warm)
                first_call_s = time.perf_counter() - t0
            result = ask(model, processor, text, clip, fps=BENCHMARK_FPS, total_pixels=DEFAULT_TOTAL_PIXELS,
                         system=BENCHMARK_SYSTEM, stream=False, seed=BENCHMARK_SEED, preset="benchmark",
                         **settings)
            assert result.new_tokens == tokens, (result.new_tokens, tokens)
            rows.append({"mode": answer_type, "clip": clip.name, "prompt_tokens": result.prompt_tokens,
                         "visual_tokens": result.visual_tokens, "new_tokens": result.new_tokens,
                         "ttft_s": round(result.time_to_first_token_s, 3), "total_s": round(result.total_s, 2),
                         "decode_tok_s": round(result.decode_tokens_per_s, 1),
                         "peak_reserved_gib": round(result.peak_gpu_reserved_gib or 0, 2)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {mode: {"median_total_s": statistics.median(r["total_s"] for r in rows if r["mode"] == mode),
                      "median_ttft_s": statistics.median(r["ttft_s"] for r in rows if r["mode"] == mode),
                      "median_decode_tok_s": statistics.median(r["decode_tok_s"] for r in rows if r["mode"] == mode)}
               for mode in ("reasoning", "letter")}
    env = {"gpu": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
           **{p: md.version(p) for p in ("torch", "transformers", "bitsandbytes", "accelerate", "qwen-vl-utils")},
           "loading": "load_model default on a GPU: nf4 + double quant, vision in 4 bit, graph decoder",
           "build_checkpoint_s": round(build_s, 1), "load_s": round(load_s, 1),
           "first_call_s": round(first_call_s or 0, 1), "reasoning_tokens": args.reasoning_tokens,
           "letter_tokens": args.letter_tokens, "fps": BENCHMARK_FPS, "total_pixels": DEFAULT_TOTAL_PIXELS}
    args.out.write_text(json.dumps({"env": env, "summary": summary, "rows": rows}, indent=1))
    print(json.dumps({"env": env, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
