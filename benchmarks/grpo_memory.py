"""Peak GPU memory and time of notebook 06's GPU path on the random-weight 7B (course default loading).

    python benchmarks/grpo_memory.py [--out grpo-memory.json]

Samples a group of 8 answers of up to 256 tokens to the arrow-of-time question, then
scores every token with ``completion_logprobs``, as the notebook does. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import ROOT, elapsed, in_use_at_peak_gib, load_mode, require_gpu, write_results

from cosmos_nb_utils.grpo import completion_logprobs, sample_group
from cosmos_nb_utils.memory import track_gpu_peak
from cosmos_nb_utils.prompts import format_mcq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("grpo-memory.json"))
    args = parser.parse_args()
    require_gpu()
    model, processor = load_mode("nf4")
    question = format_mcq("Is the video playing forward or backward?", ["forward", "backward"], reasoning=True)
    rows = []
    with track_gpu_peak() as peak:
        group, seconds = elapsed(sample_group, model, processor, question, ROOT / "assets" / "ball_bounce.mp4",
                                 group_size=8, max_new_tokens=256)
    rows.append({"step": f"sample 8 x {group.mask.shape[1]} tokens", "seconds": round(seconds, 1),
                 "peak_allocated_gib": round(peak.allocated, 2), "peak_reserved_gib": round(peak.reserved, 2),
                 "gpu_used_gib": round(in_use_at_peak_gib(peak.reserved), 2)})
    with track_gpu_peak() as peak, torch.no_grad():
        logp, seconds = elapsed(completion_logprobs, model, group.sequences, group.prompt_len, **group.prompt_inputs)
    rows.append({"step": "score every token", "seconds": round(seconds, 1),
                 "peak_allocated_gib": round(peak.allocated, 2), "peak_reserved_gib": round(peak.reserved, 2),
                 "gpu_used_gib": round(in_use_at_peak_gib(peak.reserved), 2),
                 "finite": bool(torch.isfinite(logp[group.mask > 0]).all())})
    for row in rows:
        print(row)
    write_results(args.out, rows)


if __name__ == "__main__":
    main()
