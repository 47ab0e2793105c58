"""Peak GPU memory and time of notebook 06's GPU path on the random-weight 7B (course default loading).

    python benchmarks/grpo_memory.py

Samples a group of 8 answers of up to 256 tokens to the arrow-of-time question, then
scores every token with ``completion_logprobs``, as the notebook does.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import in_use_at_peak_gib, load_mode  # noqa: E402

from cosmos_nb_utils.grpo import completion_logprobs, sample_group  # noqa: E402
from cosmos_nb_utils.memory import track_gpu_peak  # noqa: E402
from cosmos_nb_utils.prompts import format_mcq  # noqa: E402


def main() -> None:
    model, processor = load_mode("nf4")
    question = format_mcq("Is the video playing forward or backward?", ["forward", "backward"], reasoning=True)
    with track_gpu_peak() as peak:
        start = time.perf_counter()
        group = sample_group(model, processor, question, ROOT / "assets" / "ball_bounce.mp4", group_size=8,
                             max_new_tokens=256)
        sampled = time.perf_counter() - start
    print(f"sampling 8 x {group.mask.shape[1]} tokens: {sampled:.1f} s, peak allocated {peak.allocated:.2f} GiB, "
          f"reserved {peak.reserved:.2f} GiB, in use {in_use_at_peak_gib(peak.reserved):.2f} GiB", flush=True)
    with track_gpu_peak() as peak, torch.no_grad():
        start = time.perf_counter()
        logp = completion_logprobs(model, group.sequences, group.prompt_len, **group.prompt_inputs)
        scored = time.perf_counter() - start
    print(f"scoring: {scored:.1f} s, peak allocated {peak.allocated:.2f} GiB, reserved {peak.reserved:.2f} GiB, "
          f"in use {in_use_at_peak_gib(peak.reserved):.2f} GiB; "
          f"finite: {bool(torch.isfinite(logp[group.mask > 0]).all())}")


if __name__ == "__main__":
    main()
