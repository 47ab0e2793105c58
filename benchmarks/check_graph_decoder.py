"""The CUDA-graph decoder against ``model.generate``: same tokens? how much faster?

    python benchmarks/check_graph_decoder.py [--dtypes bf16 fp16] [--new-tokens 256] [--repeats 3]

On the course's default 4-bit model (random weights of the exact 7B architecture),
for each scenario's default input: greedy-decodes ``--new-tokens`` tokens with
``ask(decoder="generate")`` and ``ask(decoder="graph")``, runs interleaved, and
reports decode tok/s of each (median), their ratio, time to first token and peak
memory. It then compares greedy token ids: the graph against the same loop run
without a graph (must be equal: same kernels), and against ``generate`` (equal in
fp32; in 16 bit a different attention kernel can flip a random model's near-ties).
``fp16`` forces the T4 path (fp16 compute). Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from common import checkpoint_and_inputs, in_use_at_peak_gib, parse_common, write_results

from cosmos_nb_utils.decoding import static_generate
from cosmos_nb_utils.generation import ask, prepare_inputs
from cosmos_nb_utils.loading import free_gpu_memory, load_model
from cosmos_nb_utils.prompts import build_messages

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def run(model, processor, clip, question, decoder: str, n: int):
    torch.cuda.synchronize()
    a = ask(model, processor, question, clip, stream=False, temperature=0, decoder=decoder,
            min_new_tokens=n, max_new_tokens=n)
    torch.cuda.synchronize()
    return a


def greedy_ids(model, inputs, how: str, n: int) -> torch.Tensor:
    """``n`` greedy new token ids: ``generate``, the graph decoder, or the same loop without the graph."""
    greedy = {"do_sample": False, "repetition_penalty": 1.05, "min_new_tokens": n, "max_new_tokens": n}
    if how == "generate":
        ids = model.generate(**inputs, **greedy)
    else:
        ids = static_generate(model, inputs, use_cuda_graph=how == "graph", **greedy)
    return ids[0, inputs["input_ids"].shape[1]:]


def first_difference(a: torch.Tensor, b: torch.Tensor) -> int | None:
    differ = (a != b).nonzero()
    return int(differ[0]) if len(differ) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES),
                        help="compute dtypes: bf16 (default on 8.0+), fp16 (T4 path), fp32 (exactness check)")
    args = parse_common(parser, "graph-decoder.json")
    ckpt, inputs = checkpoint_and_inputs(args)
    rows = []
    for dtype_name in args.dtypes:
        model, processor = load_model(str(ckpt), "nf4", compute_dtype=DTYPES[dtype_name])
        for scenario, (clip, question) in inputs.items():
            for decoder in ("generate", "graph"):  # warm-up
                run(model, processor, clip, question, decoder, 8)
            answers = {"generate": [], "graph": []}
            for _ in range(args.repeats):
                for decoder in answers:
                    answers[decoder].append(run(model, processor, clip, question, decoder, args.new_tokens))
            ref, fast = answers["generate"], answers["graph"]
            rate = {d: statistics.median(a.decode_tokens_per_s for a in v) for d, v in answers.items()}
            ids_inputs = prepare_inputs(processor, build_messages(question, clip)).to(model.device)
            ids = {how: greedy_ids(model, ids_inputs, how, args.new_tokens) for how in ("generate", "graph", "eager")}
            row = {
                "compute": dtype_name, "scenario": scenario, "prompt_tokens": ref[0].prompt_tokens,
                "generate_tok_s": round(rate["generate"], 1), "graph_tok_s": round(rate["graph"], 1),
                "speedup": round(rate["graph"] / rate["generate"], 2),
                "generate_ttft_s": round(statistics.median(a.time_to_first_token_s for a in ref), 3),
                "graph_ttft_s": round(statistics.median(a.time_to_first_token_s for a in fast), 3),
                "generate_peak_allocated_gib": round(max(a.peak_gpu_allocated_gib for a in ref), 2),
                "graph_peak_allocated_gib": round(max(a.peak_gpu_allocated_gib for a in fast), 2),
                "generate_peak_reserved_gib": round(max(a.peak_gpu_reserved_gib for a in ref), 2),
                "graph_peak_reserved_gib": round(max(a.peak_gpu_reserved_gib for a in fast), 2),
                "graph_gpu_in_use_at_peak_gib": round(in_use_at_peak_gib(max(a.peak_gpu_reserved_gib
                                                                             for a in fast)), 2),
                # token ids, greedy: the graph replays exactly the eager loop's kernels, so these must be equal
                "graph_equals_eager_loop": bool(torch.equal(ids["graph"], ids["eager"])),
                # generate attends without a mask (another SDPA kernel): in 16 bit, random weights' near-ties
                # can flip; None means all tokens equal
                "first_token_differing_from_generate": first_difference(ids["graph"], ids["generate"]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        del model
        free_gpu_memory()
    write_results(args.out, rows, new_tokens=args.new_tokens, repeats=args.repeats)

if __name__ == "__main__":
    main()
