"""Peak GPU memory and time of one QLoRA SFT step on the random-weight 7B, for about 1k-8k visual tokens.

    python benchmarks/sft_memory.py --out sft-memory.json            # a CUDA GPU: both compute paths
    python benchmarks/sft_memory.py --tiny --out /tmp/sft-tiny.json  # the tiny model on a CPU (checks the script)

For each compute path (bf16: the 8 GB-card path; fp16 with the vision encoder in float32: the T4
path, forced on a bf16 GPU) the 7B is loaded in 4 bit by the course's ``load_model``, LoRA is added by
``training.add_lora`` (rank 16 on the language model's projections, gradient checkpointing) and one
arrow-of-time question about a 20 s 1280x720 clip is trained by ``training.run_training`` with the
answer-only loss of ``sft.py``, at four vision budgets (1024, 2048, 4096 and 8192 * 28 * 28 pixels, at 1 fps).
With the process capped like the card (8 GB for bf16, 15 GiB for the T4 path, as benchmarks/small_cards.py
caps it) to see what runs; a point that does not run there is measured again without the cap, so that the
memory model (a line in the visual tokens, written under "fits") has every point.
Memory: PyTorch's peak allocated and reserved per step, and the device's used memory (cudaMemGetInfo,
what NVML reports) sampled every 5 ms by a thread, with NVML's per-process figure where pynvml is installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
from pathlib import Path

import torch

from cosmos_nb_utils.memory import GIB
from cosmos_nb_utils.sft import answer_loss, build_sft_inputs
from cosmos_nb_utils.training import TrainConfig, add_lora, lora_parameter_count, run_training
from cosmos_nb_utils.training_data import ARROW_OPTIONS, ARROW_QUESTION, Example

BUDGETS = (1024, 2048, 4096, 8192)  # total_pixels / (28 * 28): at FPS, 1.2k, 1.9k, 3.9k and 7.2k visual tokens
FPS = 1.0  # 20 frames of the 20 s clip (at 4 fps the frames' minimum size keeps small budgets above 4.8k tokens)
# path -> (compute dtype, GiB of the card it stands for)
PATHS = {"bf16": (torch.bfloat16, 8.0), "fp16": (torch.float16, 15.0)}
RANK = 16
MEASURED_STEPS = 2  # after one warm-up step


class UsedSampler:
    """The device's used memory (GiB) at its highest while the block runs, sampled by a thread."""

    def __init__(self, period_s: float = 0.005):
        self.period, self.peak, self.process_peak, self._stop = period_s, 0.0, None, threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        except Exception:  # pynvml missing or no NVML: device-wide figure only
            self._nvml = None

    def _process_gib(self) -> float | None:
        import os

        if self._nvml is None:
            return None
        for proc in self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
            if proc.pid == os.getpid() and proc.usedGpuMemory:
                return proc.usedGpuMemory / GIB
        return None

    def _run(self):
        while not self._stop.is_set():
            free, total = torch.cuda.mem_get_info()
            self.peak = max(self.peak, (total - free) / GIB)
            p = self._process_gib()
            if p is not None:
                self.process_peak = max(self.process_peak or 0.0, p)
            time.sleep(self.period)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def example(clip: Path) -> Example:
    return Example("arrow_of_time", clip.stem, 0, clip, ARROW_QUESTION, dict(ARROW_OPTIONS), "A")


def measure_point(peft_model, processor, ex: Example, budget: int, fps: float, out: Path) -> dict:
    """One warm-up step and MEASURED_STEPS more on one example; the steps' times and peaks."""
    peft_model.zero_grad(set_to_none=True)  # what an out-of-memory step before may have left
    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
    batch = build_sft_inputs(processor, ex, fps=fps, total_pixels=budget * 28 * 28, max_visual_tokens=None)
    base = peft_model.get_base_model()
    row = {"budget": f"{budget}*28*28", "visual_tokens": batch.visual_tokens,
           "prompt_tokens": int(batch.inputs["input_ids"].shape[1])}
    config = TrainConfig(steps=1 + MEASURED_STEPS, lr=1e-4, rank=RANK, grad_accum=1, save_every=100, warmup_steps=0)
    sampler = UsedSampler() if cuda else None
    try:
        if sampler:
            sampler.__enter__()
        result = run_training(peft_model, 1, lambda i: (answer_loss(base, batch), batch.answer_tokens), config,
                              out / f"run-{budget}-{time.time_ns()}", progress=False, save=False)
        steps = result.rows[1:]
        row.update(result="ok", seconds_per_step=round(statistics.median(r["seconds"] for r in steps), 3),
                   first_step_seconds=result.rows[0]["seconds"])
        if cuda:
            row.update(peak_allocated_gib=max(r["peak_allocated_gib"] for r in result.rows),
                       peak_reserved_gib=max(r["peak_reserved_gib"] for r in result.rows))
    except Exception as exc:  # GPUMemoryError from the loop's out-of-memory handler
        row.update(result="OOM" if "out of memory" in str(exc).lower() else f"error: {type(exc).__name__}",
                   error=str(exc)[:300])
    finally:
        if sampler:
            sampler.__exit__()
            row["device_used_peak_gib"] = round(sampler.peak, 3)
            if sampler.process_peak is not None:
                row["nvml_process_peak_gib"] = round(sampler.process_peak, 3)
    return row


def record(row: dict, weights: float | None, rows: list[dict], out: Path, env: dict, fits: dict) -> None:
    if weights and row.get("peak_allocated_gib"):
        row["above_weights_gib"] = round(row["peak_allocated_gib"] - weights, 3)
    print(json.dumps(row), flush=True)
    rows.append(row)
    out.write_text(json.dumps({"env": env, "fits": fits, "rows": rows}, indent=1))


def fit_line(points: list[tuple[int, float]]) -> dict:
    """Least-squares line y = a * tokens + b through (tokens, GiB) points."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    a = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    b = my - a * mx
    return {"per_visual_token": a, "base": b, "max_error_gib": max(abs(a * x + b - y) for x, y in points)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (checks the script only)")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--ckpt", type=Path, default=None)
    parser.add_argument("--no-cap", action="store_true", help="skip the capped pass")
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS), help="total_pixels / (28 * 28)")
    args = parser.parse_args()
    from cosmos_nb_utils.loading import load_model

    work = Path("/tmp/sft-memory-runs")
    rows, env = [], {}
    if args.tiny:
        from cosmos_nb_utils.video import find_assets

        clip, budgets, fps = find_assets() / "road_turn.mp4", (128, 256), 1.0
        paths = {"tiny fp32": (torch.float32, None)}
    else:
        from common import DEFAULT_CKPT, build_random_checkpoint, environment, require_gpu, scenario_inputs

        require_gpu()
        clip, budgets, fps = scenario_inputs()["8k-token HD clip"][0], tuple(args.budgets), FPS
        paths = {k: PATHS[k] for k in args.paths}
        ckpt = build_random_checkpoint(args.ckpt or DEFAULT_CKPT)
        env = environment(rank=RANK, measured_steps=MEASURED_STEPS, clip="20 s 1280x720 10 fps synthetic (common.py)",
                          question="arrow of time, letter answer (2 reply tokens)")
    fits = {}
    for name, (dtype, card_gib) in paths.items():
        if args.tiny:
            model, processor = load_model("tiny")
        else:
            model, processor = load_model(str(ckpt), "nf4", compute_dtype=dtype)
        weights = torch.cuda.memory_allocated() / GIB if not args.tiny else None
        peft_model = add_lora(model, RANK, 2 * RANK, 0.05)
        lora = lora_parameter_count(model.config, RANK)
        counted = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        assert counted == lora, f"LoRA parameters: counted {counted}, predicted {lora}"
        after_lora = torch.cuda.memory_allocated() / GIB if not args.tiny else None
        print(f"{name}: weights {weights} GiB, LoRA {lora:,} parameters, allocated after LoRA {after_lora}", flush=True)
        capped = not args.tiny and not args.no_cap
        if capped:  # the card's cap first: what runs there is the question
            warm = {"path": name, "pass": "warm-up (uncapped; kernels load outside PyTorch)",
                    **measure_point(peft_model, processor, example(clip), budgets[0], fps, work)}
            record(warm, weights, rows, args.out, env, fits)
            gc.collect()
            torch.cuda.empty_cache()
            free, total = torch.cuda.mem_get_info()
            outside = ((total - free) - torch.cuda.memory_reserved()) / GIB
            cap = card_gib - outside
            torch.cuda.set_per_process_memory_fraction(cap / (total / GIB))
        failed = []
        for budget in budgets:
            row = {"path": name, "pass": f"capped {card_gib:g} GiB" if capped else "uncapped",
                   "weights_gib": round(weights, 3) if weights else None, "lora_parameters": lora}
            if capped:
                row.update(allocator_cap_gib=round(cap, 3), outside_pytorch_gib=round(outside, 3))
            row.update(measure_point(peft_model, processor, example(clip), budget, fps, work))
            record(row, weights, rows, args.out, env, fits)
            if row["result"] != "ok":
                failed.append(budget)
        if capped:
            torch.cuda.set_per_process_memory_fraction(1.0)
            for budget in failed:  # the points over the cap, measured without it (for the memory model)
                row = {"path": name, "pass": "uncapped", "weights_gib": round(weights, 3), "lora_parameters": lora,
                       **measure_point(peft_model, processor, example(clip), budget, fps, work)}
                record(row, weights, rows, args.out, env, fits)
        if not args.tiny:
            lora_state = lora * 16 / GIB
            points = [(r["visual_tokens"], r["above_weights_gib"] - lora_state) for r in rows
                      if r["path"] == name and r.get("above_weights_gib")]
            if len(points) >= 2:
                fits[name] = {**fit_line(points), "lora_state_gib_rank16": round(lora_state, 3)}
                print(name, fits[name], flush=True)
        del peft_model, model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    args.out.write_text(json.dumps({"env": env, "fits": fits, "rows": rows}, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
