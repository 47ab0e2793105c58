"""Memory and speed of the course's inference path on a random-weight Cosmos-Reason1-7B, per loading mode.

    python benchmarks/bench_inference.py [--modes article nf4 nf4-vision16 nf4-fp16 int8 bf16] [--out results.json]

Loads the random 7B in each mode (``common.MODES``) and asks each scenario's default
question through ``ask`` (the notebooks' own path, with its default graph decoder; the
``article`` mode calls plain ``generate``), forcing a fixed number of new tokens. It
reports weights memory, peak allocated / reserved GPU memory, GPU memory in use as
nvidia-smi shows it (CUDA context included), time to first token and decode speed,
median of --repeats. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from common import (
    MODES,
    Run,
    checkpoint_and_inputs,
    elapsed,
    in_use_at_peak_gib,
    load_mode,
    parse_common,
    write_results,
)

from cosmos_nb_utils.generation import ask, prepare_inputs
from cosmos_nb_utils.loading import free_gpu_memory
from cosmos_nb_utils.memory import GIB, track_gpu_peak
from cosmos_nb_utils.prompts import build_messages

GREEDY = {"do_sample": False, "repetition_penalty": 1.05}


def plain_generate(model, processor, question: str, clip: Path, new_tokens: int) -> Run:
    """The article's code path: plain greedy ``generate``, no streamer; time to first token from a 1-token call."""
    inputs = prepare_inputs(processor, build_messages(question, clip)).to(model.device)
    _, ttft = elapsed(model.generate, **inputs, **GREEDY, max_new_tokens=1)
    with track_gpu_peak() as peak:
        ids, total = elapsed(model.generate, **inputs, **GREEDY, min_new_tokens=new_tokens, max_new_tokens=new_tokens)
    prompt = int(inputs["input_ids"].shape[1])
    n = int(ids.shape[1]) - prompt
    return Run(prompt_tokens=prompt, visual_tokens=int((inputs["input_ids"] == model.config.video_token_id).sum()),
               new_tokens=n, ttft_s=ttft, decode_tok_s=(n - 1) / (total - ttft),
               peak_allocated_gib=peak.allocated, peak_reserved_gib=peak.reserved)


def course_ask(model, processor, question: str, clip: Path, new_tokens: int) -> Run:
    """The course's path: ``ask`` with its default decoder, greedy, exactly ``new_tokens`` new tokens."""
    return Run.from_answer(ask(model, processor, question, clip, stream=False, temperature=0,
                               min_new_tokens=new_tokens, max_new_tokens=new_tokens))


def bench_mode(name: str, ckpt: Path, inputs: dict, new_tokens: int, repeats: int) -> list[dict]:
    torch.cuda.empty_cache()
    start = time.perf_counter()
    model, processor = load_mode(name, ckpt)
    load_s = time.perf_counter() - start
    weights = torch.cuda.memory_allocated() / GIB
    measure = plain_generate if name == "article" else course_ask
    rows = []
    for scenario, (clip, question) in inputs.items():
        # warm-up, on the path measured (the graph decoder loads kernels the article's path never uses)
        ask(model, processor, question, clip, stream=False, temperature=0, max_new_tokens=8,
            decoder="generate" if name == "article" else "graph")
        runs = [measure(model, processor, question, clip, new_tokens) for _ in range(repeats)]
        assert all(r.new_tokens == new_tokens for r in runs)
        peak_reserved = max(r.peak_reserved_gib for r in runs)
        rows.append({
            "mode": name, "scenario": scenario, "prompt_tokens": runs[0].prompt_tokens,
            "visual_tokens": runs[0].visual_tokens, "weights_gib": round(weights, 2),
            "peak_allocated_gib": round(max(r.peak_allocated_gib for r in runs), 2),
            "peak_reserved_gib": round(peak_reserved, 2),
            "gpu_used_gib": round(in_use_at_peak_gib(peak_reserved), 2),
            "ttft_s": round(statistics.median(r.ttft_s for r in runs), 3),
            "decode_tok_s": round(statistics.median(r.decode_tok_s for r in runs), 1),
            "load_s": round(load_s, 1),
        })
        print(rows[-1], flush=True)
    del model
    free_gpu_memory()
    left = torch.cuda.memory_allocated() / GIB
    assert left < 0.1, f"{left:.2f} GiB still allocated after freeing the {name} model"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parse_common(parser, "benchmark-results.json")
    ckpt, inputs = checkpoint_and_inputs(args)
    rows = []
    for mode in args.modes:
        rows += bench_mode(mode, ckpt, inputs, args.new_tokens, args.repeats)
    write_results(args.out, rows, new_tokens=args.new_tokens, repeats=args.repeats)


if __name__ == "__main__":
    main()
