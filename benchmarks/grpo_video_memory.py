"""Peak GPU memory and time of a GRPO step on the random-weight 7B: rollouts and the log-prob pass apart.

    python benchmarks/grpo_video_memory.py --out grpo-video-memory.json --paths bf16    # a CUDA GPU
    python benchmarks/grpo_video_memory.py --tiny --out /tmp/grpo-tiny.json              # checks the script on a CPU

For each compute path (bf16 under an 8 GB cap; fp16 with the vision encoder in float32 under the T4's
15 GiB, forced on a bf16 GPU) the 7B is loaded in 4 bit by the course's ``load_model``, LoRA is added by
``training.add_lora`` (rank 16, the language model's projections) and one arrow-of-time question about
``assets/ball_bounce.mp4`` (GRPO's default video settings: NVIDIA's RL example's 1 fps and 81,920 pixels a
frame since grpo8; the runs before it used 4 fps and the course budget, 1,728 visual tokens) is rolled out
by ``grpo_train.rollout`` (the
graph decoder, one answer after another, with the base model's log-probs for the KL) and updated by
``grpo_train.policy_update`` (each answer re-scored with gradients, one at a time), for each
(new tokens, group size) in ``--grid``. Random weights never stop early: every answer runs to the cap.
Their rewards are all 0, so the update is given advantages of +1/-1 (its cost does not depend on
their values). Memory: PyTorch's peak allocated and reserved in each phase, and the device's used
memory sampled by a thread (NVML's per-process figure where pynvml is installed), as sft_memory.py does.
Each row also holds ``grpo_train.predict_grpo_memory``'s prediction for the same prompt.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_CKPT, ROOT, build_random_checkpoint, environment
from sft_memory import UsedSampler

from cosmos_nb_utils.grpo import LOGPROB_CHUNK
from cosmos_nb_utils.grpo_train import GRPOSettings, policy_update, predict_grpo_memory, rollout
from cosmos_nb_utils.loading import load_model
from cosmos_nb_utils.memory import GIB, track_gpu_peak
from cosmos_nb_utils.training import add_lora
from cosmos_nb_utils.training_data import ARROW_OPTIONS, ARROW_QUESTION, Example

# path -> (compute dtype, GiB of the card it stands for)
PATHS = {"bf16": (torch.bfloat16, 8.0), "fp16": (torch.float16, 15.0)}
RANK = 16
GRID = ("256x4", "256x8", "1024x4", "1024x8")  # new tokens x group size


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure(peft_model, processor, ex: Example, new_tokens: int, group: int, optimizer) -> dict:
    """One rollout of ``group`` answers of ``new_tokens`` and one update on them, each measured alone."""
    settings = GRPOSettings(group_size=group, max_new_tokens=new_tokens, measure_kl=True)
    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
    row = {"new_tokens": new_tokens, "group_size": group, "fps": settings.fps, "max_pixels": settings.max_pixels,
           "logprob_chunk": LOGPROB_CHUNK}
    try:
        for phase in ("rollout", "logprob_pass"):
            sampler = UsedSampler() if cuda else None
            if sampler:
                sampler.__enter__()
            try:
                with track_gpu_peak() as peak:
                    _sync()
                    start = time.perf_counter()
                    if phase == "rollout":
                        done = rollout(peft_model, processor, ex, settings, seed=0)
                        done.advantages = np.where(np.arange(group) % 2 == 0, 1.0, -1.0)
                    else:
                        policy_update(peft_model, optimizer, [done], settings, max_grad_norm=1.0)
                    _sync()
                    row[f"{phase}_s"] = round(time.perf_counter() - start, 2)
            finally:
                if sampler:
                    sampler.__exit__()
                    row[f"{phase}_device_used_gib"] = round(sampler.peak, 2)
                    row[f"{phase}_nvml_process_gib"] = (round(sampler.process_peak, 2)
                                                        if sampler.process_peak is not None else None)
            row[f"{phase}_peak_allocated_gib"] = round(peak.allocated, 2) if peak.allocated is not None else None
            row[f"{phase}_peak_reserved_gib"] = round(peak.reserved, 2) if peak.reserved is not None else None
        row.update(result="ok", prompt_tokens=done.group.prompt_len,
                   visual_tokens=int((done.group.sequences[0] == peft_model.config.video_token_id).sum()),
                   completion_tokens=int(done.group.mask.sum()), truncated=done.group.truncated_rate,
                   decode_tok_s=round(int(done.group.mask.sum()) / row["rollout_s"], 1))
        predicted = predict_grpo_memory(peft_model.get_base_model(), row["visual_tokens"], row["prompt_tokens"],
                                        new_tokens, RANK)
        if predicted is not None:
            row.update(predicted_rollout_gib=round(predicted.rollout, 2),
                       predicted_logprob_pass_gib=round(predicted.logprob_pass, 2))
    except Exception as exc:  # out of memory under the cap: recorded, not fatal
        row.update(result="OOM" if "out of memory" in str(exc).lower() else f"error: {type(exc).__name__}",
                   error=str(exc)[:300])
        optimizer.zero_grad(set_to_none=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("grpo-video-memory.json"))
    parser.add_argument("--paths", nargs="*", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--grid", nargs="*", default=list(GRID), help="NEWxGROUP points, in order")
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CKPT)
    parser.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (checks the script)")
    args = parser.parse_args()
    grid = [tuple(int(x) for x in point.split("x")) for point in args.grid]
    ex = Example("arrow_of_time", "ball_bounce", 0, ROOT / "assets" / "ball_bounce.mp4", ARROW_QUESTION,
                 dict(ARROW_OPTIONS), "A")
    rows = []
    paths = ["cpu"] if args.tiny else args.paths
    for name in paths:
        if args.tiny:
            model, processor = load_model("tiny", device="cpu")
            card = None
        else:
            dtype, card = PATHS[name]
            model, processor = load_model(str(build_random_checkpoint(args.ckpt)), "nf4", compute_dtype=dtype)
        weights = torch.cuda.memory_allocated() / GIB if torch.cuda.is_available() else None
        peft_model = add_lora(model, RANK, 32.0, 0.0)
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-5)
        cap = outside = None
        if card is not None:
            gc.collect()
            torch.cuda.empty_cache()
            free, total = torch.cuda.mem_get_info()
            outside = ((total - free) - torch.cuda.memory_reserved()) / GIB
            cap = card - outside
            torch.cuda.set_per_process_memory_fraction(cap / (total / GIB))
        for new_tokens, group in grid:
            row = {"path": name, "card_gib": card, "weights_gib": round(weights, 2) if weights else None,
                   "allocator_cap_gib": round(cap, 2) if cap else None,
                   "outside_pytorch_gib": round(outside, 2) if outside else None,
                   **measure(peft_model, processor, ex, new_tokens, group, optimizer)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"env": environment(rank=RANK) if torch.cuda.is_available() else {},
                                            "rows": rows}, indent=1))
        if card is not None:
            torch.cuda.set_per_process_memory_fraction(1.0)
        del peft_model, model, optimizer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
