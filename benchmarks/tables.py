"""RESULTS.md's tables, made from the raw JSON in benchmarks/results/ (no GPU needed).

    python benchmarks/tables.py          # print every table
    python benchmarks/tables.py --check  # exit 1 if RESULTS.md does not hold each table exactly (a test runs this)

Every figure in a table of RESULTS.md comes from here, so each one can be traced to
the JSON file that a benchmark script wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = HERE / "results"


def rows(name: str, **match) -> list[dict]:
    """The rows of ``results/<name>`` whose fields equal ``match``."""
    data = json.loads((RAW / name).read_text())
    return [r for r in data["rows"] if all(r.get(k) == v for k, v in match.items())]


def fmt(key: str, value) -> str:
    """GiB and seconds with 2 decimals, tokens per second with 1, counts with thousands separators."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.1f}" if key.endswith("tok_s") else f"{value:.2f}"
    return str(value)


def table(columns: dict[str, str], data: list[dict]) -> str:
    """A markdown table: ``columns`` maps each header to a row key."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(fmt(k, r[k]) for k in columns.values()) + " |" for r in data]
    return "\n".join(lines)


def with_ratio(data: list[dict], reference: list[dict]) -> list[dict]:
    """Each row with ``vs_article``: its decode speed over the reference row's of the same scenario."""
    ref = {r["scenario"]: r["decode_tok_s"] for r in reference}
    return [{**r, "vs_article": f"{r['decode_tok_s'] / ref[r['scenario']]:.2f}x"} for r in data]


MEMORY_SPEED = {
    "mode": "mode", "scenario": "scenario", "visual tokens": "visual_tokens", "weights GiB": "weights_gib",
    "peak allocated GiB": "peak_allocated_gib", "peak reserved GiB": "peak_reserved_gib",
    "GPU in use at peak GiB": "gpu_used_gib", "time to first token s": "ttft_s", "decode tok/s": "decode_tok_s",
}
DECODER_CHECK = {
    "raw file": "file", "compute": "compute", "scenario": "scenario", "generate tok/s": "generate_tok_s",
    "graph tok/s": "graph_tok_s", "peak allocated GiB, generate / graph": "peak_pair",
    "graph equals the loop without graph": "graph_equals_eager_loop",
    "first token differing from generate": "first_token_differing_from_generate",
}

SFT_MEMORY = {
    "compute path": "path", "pass": "pass", "visual tokens": "visual_tokens", "prompt tokens": "prompt_tokens",
    "result": "result", "s per step": "seconds_per_step", "peak allocated GiB": "peak_allocated_gib",
    "peak reserved GiB": "peak_reserved_gib", "above weights GiB": "above_weights_gib",
    "NVML process peak GiB": "nvml_process_peak_gib",
}


def sft_rows(name: str) -> list[dict]:
    """The measured points of a fine-tuning memory run (warm-ups left out), with "-" where a step did not run."""
    keep = [r for r in rows(name) if not r["pass"].startswith("warm-up")]
    return [{k: r.get(k, "-") for k in SFT_MEMORY.values()} for r in keep]


GRPO_VIDEO = {
    "compute (card cap)": "card", "rollout video": "video", "log-probs": "logits", "new tokens": "new_tokens",
    "group": "group_size", "result": "result",
    "rollout s": "rollout_s", "rollout peak allocated GiB": "rollout_peak_allocated_gib",
    "rollout NVML process GiB": "rollout_nvml_process_gib", "log-prob pass s": "logprob_pass_s",
    "log-prob pass peak allocated GiB": "logprob_pass_peak_allocated_gib",
    "log-prob pass NVML process GiB": "logprob_pass_nvml_process_gib",
}


def grpo_video_rows() -> list[dict]:
    """The GRPO-on-video points (benchmarks/grpo_video_memory.py), with blanks where a phase did not run."""
    out = []
    # The first runs sampled the SFT/eval video (4 fps, the course budget: 1,728 visual tokens) and scored the
    # whole completion's logits at once; grpo-video-rl-*.json the RL example's (1 fps, 81,920 pixels a frame:
    # 273 visual tokens) with the log-probs in chunks of 128 positions.
    for name in ("grpo-video-bf16.json", "grpo-video-bf16-g8.json", "grpo-video-fp16.json",
                 "grpo-video-rl-bf16.json", "grpo-video-rl-fp16.json"):
        for r in rows(name):
            row = {k: r.get(k, "-") for k in GRPO_VIDEO.values()}
            row["card"] = f"{r['path']} ({r['card_gib']:g} GB)"
            row["video"] = (f"{r['fps']:g} fps, max {r['max_pixels']:,} px/frame" if "fps" in r
                            else "4 fps, course budget")
            row["logits"] = f"chunks of {r['logprob_chunk']}" if "logprob_chunk" in r else "whole completion"
            out.append(row)
    return out


def tables() -> dict[str, str]:
    """Each table of RESULTS.md by its name there."""
    article = rows("h100-runE.json", mode="article")
    run_e = [r for mode in ("article", "nf4", "nf4-fp16", "bf16") for r in rows("h100-runE.json", mode=mode)]
    run_d = [r for mode in ("nf4", "nf4-vision16") for r in rows("h100-runD.json", mode=mode)]
    checks = []
    for name in ("fp32", "bf16", "fp16", "bf16-final"):
        for r in rows(f"graph-decoder-{name}.json"):
            pair = f"{r['generate_peak_allocated_gib']:.2f} / {r['graph_peak_allocated_gib']:.2f}"
            checks.append({**r, "file": f"graph-decoder-{name}.json", "peak_pair": pair})
    return {
        "loading modes": table({**MEMORY_SPEED, "decode vs article": "vs_article"}, with_ratio(run_e, article)),
        "vision in 16 bit": table(MEMORY_SPEED, run_d),
        "int8": table(MEMORY_SPEED, rows("h100-runC.json")),
        "long answer": table(MEMORY_SPEED, rows("h100-runE-long4096.json")),
        "decoder check": table(DECODER_CHECK, checks),
        "grpo on video": table(GRPO_VIDEO, grpo_video_rows()),
        "fine-tuning memory": table(SFT_MEMORY, sft_rows("sft-memory.json")),
        "fine-tuning memory, run 1": table(SFT_MEMORY, sft_rows("sft-memory-run1.json")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check that RESULTS.md holds every table")
    args = parser.parse_args()
    results = (HERE / "RESULTS.md").read_text()
    missing = []
    for name, text in tables().items():
        if args.check:
            if text not in results:
                missing.append(name)
        else:
            print(f"{name}:\n\n{text}\n")
    if missing:
        sys.exit(f"RESULTS.md does not hold these tables as benchmarks/tables.py makes them: {missing}")


if __name__ == "__main__":
    main()
