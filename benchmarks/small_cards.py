"""Issue 15 on the GPU: fit the memory model, price the fp32 vision encoder, and run clips under small-card caps.

    python benchmarks/small_cards.py fit --out memory-fit.json
    python benchmarks/small_cards.py capped --card 8gb --out capped-8gb.json
    python benchmarks/small_cards.py capped --card t4 --out capped-t4.json

``fit``: for each loading mode, every point (a clip and a ``total_pixels``) is
measured three ways: the vision encoder alone, a question with 16 new tokens, and
a question sized for 4,096 new tokens (the default; stopped after 32 tokens, which
leaves the peak unchanged: the static cache is allocated whole after the prefill).
Peak memory is PyTorch's allocated peak above what was allocated before the question.

``capped``: caps this process with ``torch.cuda.set_per_process_memory_fraction`` so
that PyTorch's allocator plus the memory outside it (CUDA context, kernels, measured
here) stays within the card's memory, then asks the default question about every
scenario clip and synthetic 10/30/60 s 720p/1080p, 25 fps and 29.97 fps clips at the
default settings (answers stopped after 32 of the default 4,096 new tokens). A clip
the default budget refuses (``BudgetError``) is retried at lower fps (4, 2, 1, 0.5),
as ``fps="auto"`` will do. Random-weight 7B (``bench_inference.py``); needs a GPU.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata as md
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_CKPT, ROOT, build_random_checkpoint, require_gpu, scenario_inputs

from cosmos_nb_utils import generation
from cosmos_nb_utils.generation import GPUMemoryError, ask, prepare_inputs
from cosmos_nb_utils.loading import load_model
from cosmos_nb_utils.memory import GIB, predict_question
from cosmos_nb_utils.prompts import build_messages
from cosmos_nb_utils.video import BudgetError, plan_sampling, work_dir

QUESTION = "Describe the video."
STOP_AFTER = 32
# name -> (quantization, compute dtype, vision_fp32)
MODES = {
    "nf4 bf16": ("nf4", torch.bfloat16, False),  # the course default on 8.0+ cards
    "nf4 fp16, vision fp32": ("nf4", torch.float16, True),  # the T4 path (the default there now)
    "nf4 fp16, vision fp16": ("nf4", torch.float16, False),  # the T4 path before issue 15
}
# card -> (GiB the card offers, loading mode)
CARDS = {"8gb": (8.0, "nf4 bf16"), "t4": (15.0, "nf4 fp16, vision fp32")}


class _Stop(Exception):
    pass


_LIMIT: list[int | None] = [None]  # stop answers after this many new tokens (None: never)


def install_stop() -> None:
    """Let :data:`_LIMIT` stop an answer (by an exception) after that many new tokens. The static cache is
    still sized for the full ``max_new_tokens`` after the prefill, so the peak is that of a full answer."""
    put = generation._Streamer.put

    def limited(self, value):
        put(self, value)
        self.seen = getattr(self, "seen", -1) + 1  # the first call carries the prompt
        if _LIMIT[0] is not None and self.seen >= _LIMIT[0]:
            raise _Stop

    generation._Streamer.put = limited


def _frames(seconds: float, fps: float, size: tuple[int, int], texture: bool):
    h, w = size
    rng = np.random.default_rng(0)
    base = np.zeros((h, w + 64, 3), np.uint8)
    if texture:  # blotches of 16x16 pixels: busier than flat colour, yet compressible like camera footage
        small = rng.integers(0, 256, (h // 16 + 1, (w + 64) // 16 + 1, 3), np.uint8)
        base = small.repeat(16, 0).repeat(16, 1)[:h, : w + 64]
    n = round(seconds * fps)
    for i in range(n):
        frame = base[:, (i % 64): (i % 64) + w].copy()
        x = int(i / max(n - 1, 1) * (w - 80))
        frame[:, x: x + 80] = (230, 140, 40)
        frame[: h // 8, :, 0] = int(255 * i / max(n - 1, 1))
        yield frame


def write_clip(path: Path, seconds: float, fps: float, size: tuple[int, int], texture: bool = False) -> Path:
    """A synthetic clip, encoded fast (x264 ultrafast): a bar sweeping over a (textured) background."""
    import av

    if path.exists():
        return path
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for frame in _frames(seconds, fps, size, texture):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    tmp.rename(path)
    return path


SYNTHETIC = {  # name -> (seconds, fps, (height, width), textured)
    "10s 720p": (10, 30, (720, 1280), False),
    "30s 720p": (30, 30, (720, 1280), False),
    "60s 720p": (60, 30, (720, 1280), False),
    "10s 1080p": (10, 30, (1080, 1920), False),
    "30s 1080p": (30, 30, (1080, 1920), False),
    "60s 1080p": (60, 30, (1080, 1920), False),
    "20s 1080p 25fps textured": (20, 25, (1080, 1920), True),
    "20s 720p 29.97fps textured": (20, 30000 / 1001, (720, 1280), True),
}


def synthetic_clips() -> dict[str, Path]:
    folder = work_dir() / "issue15"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / (k.replace(" ", "_").replace(".", "") + ".mp4") for k in SYNTHETIC}
    with ProcessPoolExecutor(8) as pool:
        futures = [pool.submit(write_clip, paths[k], *SYNTHETIC[k]) for k in SYNTHETIC]
        [f.result() for f in futures]
    return paths


def outside_pytorch_gib() -> float:
    """GPU memory this process uses outside PyTorch's allocator (CUDA context, kernels, library handles)."""
    free, total = torch.cuda.mem_get_info()
    return ((total - free) - torch.cuda.memory_reserved()) / GIB


def question_peak(model, processor, clip: Path, total_pixels: int | None, fps: float = 4.0,
                  max_new_tokens: int = 16, max_visual_tokens: int | None = None) -> dict:
    """Ask once; peak allocated/reserved above what was allocated before, plus timings."""
    clean_slate()
    kwargs = {"fps": fps, "max_visual_tokens": max_visual_tokens, "stream": False}
    if total_pixels:
        kwargs["total_pixels"] = total_pixels
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    row: dict = {"max_new_tokens": max_new_tokens}
    _LIMIT[0] = None if max_new_tokens <= STOP_AFTER else STOP_AFTER
    try:
        if max_new_tokens <= STOP_AFTER:
            a = ask(model, processor, QUESTION, clip, temperature=0, min_new_tokens=max_new_tokens,
                    max_new_tokens=max_new_tokens, **kwargs)
            row.update(ttft_s=round(a.time_to_first_token_s, 3), decode_tok_s=round(a.decode_tokens_per_s, 1),
                       prompt_tokens=a.prompt_tokens, visual_tokens=a.visual_tokens)
        else:
            ask(model, processor, QUESTION, clip, max_new_tokens=max_new_tokens, **kwargs)
    except _Stop:
        row["stopped_after"] = STOP_AFTER
    torch.cuda.synchronize()
    row.update(total_s=round(time.perf_counter() - start, 2),
               peak_alloc_gib=round((torch.cuda.max_memory_allocated() - base) / GIB, 4),
               peak_reserved_gib=round((torch.cuda.max_memory_reserved() - base) / GIB, 4),
               in_use_gib=round((torch.cuda.max_memory_reserved()) / GIB + outside_pytorch_gib(), 3))
    return row


def clean_slate() -> None:
    """Free what an earlier stopped answer left (its traceback keeps the cache alive until collected)."""
    gc.collect()
    torch.cuda.empty_cache()


def vision_peak(model, processor, clip: Path, total_pixels: int, fps: float) -> dict:
    clean_slate()
    messages = build_messages(QUESTION, clip, fps=fps, total_pixels=total_pixels)
    inputs = prepare_inputs(processor, messages).to("cuda")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.model.get_video_features(inputs["pixel_values_videos"], inputs["video_grid_thw"])
    torch.cuda.synchronize()
    row = {"vision_s": round(time.perf_counter() - start, 3),
           "vision_peak_gib": round((torch.cuda.max_memory_allocated() - base) / GIB, 4),
           "prompt_tokens": int(inputs["input_ids"].shape[1]),
           "visual_tokens": int((inputs["input_ids"] == model.config.video_token_id).sum())}
    del out, inputs
    return row


def fit(args) -> None:
    ckpt = build_random_checkpoint(args.ckpt)
    scen = scenario_inputs()
    hd = scen.pop("8k-token HD clip")[0]
    points = [(k, clip, None, 4.0) for k, (clip, _) in scen.items()]
    points += [(f"HD 20s, fps {f:g}, total_pixels {k}*28*28", hd, k * 28 * 28, f)
               for f, k in ((1.0, 1024), (2.0, 3072), (4.0, 6144), (4.0, 9216), (4.0, 12288))]
    rows, env = [], environment()
    for mode in args.modes:
        quant, dtype, vision_fp32 = MODES[mode]
        torch.cuda.empty_cache()
        start = time.perf_counter()
        model, processor = load_model(str(ckpt), quant, compute_dtype=dtype, vision_fp32=vision_fp32)
        load_s = time.perf_counter() - start
        weights = torch.cuda.memory_allocated() / GIB
        question_peak(model, processor, scen["02 road_turn"][0], None, max_new_tokens=8)  # warm-up
        for name, clip, tp, fps in points:
            row = {"mode": mode, "point": name, "weights_gib": round(weights, 3), "load_s": round(load_s, 1)}
            row.update(vision_peak(model, processor, clip, tp or 8192 * 28 * 28, fps))
            row["q16"] = question_peak(model, processor, clip, tp, fps)
            if mode != "nf4 fp16, vision fp16" or args.long_all:  # that mode only prices the fp32 vision
                row["q4096"] = question_peak(model, processor, clip, tp, fps, max_new_tokens=4096)
            print(json.dumps(row), flush=True)
            rows.append(row)
            args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))
        # decode speed and time to first token, on the heaviest default input
        speed = question_peak(model, processor, hd, None, max_new_tokens=STOP_AFTER)
        speed["point"], speed["mode"] = "HD 20s default, 32 tokens", mode
        rows.append({"mode": mode, "speed": speed})
        print(json.dumps(speed), flush=True)
        env.setdefault("outside_pytorch_gib", {})[mode] = round(outside_pytorch_gib(), 3)
        del model
        torch.cuda.empty_cache()
    args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))


def capped(args) -> None:
    from cosmos_nb_utils.memory import fits

    card_gib, mode = CARDS[args.card]
    synthetic = synthetic_clips()  # before CUDA starts (worker processes)
    ckpt = build_random_checkpoint(args.ckpt)
    total = torch.cuda.get_device_properties(0).total_memory / GIB
    torch.cuda.set_per_process_memory_fraction((card_gib - 0.9) / total)  # refined after the warm-up
    quant, dtype, vision_fp32 = MODES[mode]
    model, processor = load_model(str(ckpt), quant, compute_dtype=dtype, vision_fp32=vision_fp32)
    scen = scenario_inputs()
    clips = {k: clip for k, (clip, _) in scen.items()}
    clips.update({f"assets/{p.name}": p for p in sorted((ROOT / "assets").glob("*.mp4"))})
    clips.update(synthetic)
    outside_cold = outside_pytorch_gib()
    question_peak(model, processor, clips["02 road_turn"], None, max_new_tokens=8)  # warm-up: kernels load
    outside = outside_pytorch_gib()
    allocator_cap = card_gib - outside
    torch.cuda.set_per_process_memory_fraction(allocator_cap / total)
    print(f"card {args.card}: {card_gib} GiB; outside PyTorch {outside:.2f} GiB; allocator cap {allocator_cap:.2f} GiB",
          flush=True)
    env = {**environment(), "card": args.card, "card_gib": card_gib, "mode": mode,
           "outside_pytorch_gib": round(outside, 3), "outside_before_first_question_gib": round(outside_cold, 3),
           "allocator_cap_gib": round(allocator_cap, 3),
           "weights_gib": round(torch.cuda.memory_allocated() / GIB, 3)}
    rows = []
    for name, clip in clips.items():
        row = {"clip": name}
        # the default first; then what fps="auto" with the fits hook could do: a smaller pixel budget, then fewer
        # frames (qwen-vl-utils gives fewer frames more pixels each, so fps alone barely lowers the cost)
        for fps, k in [(f, k) for f in (4.0, 2.0, 1.0, 0.5) for k in (8192, 4096, 2048)]:
            setting = f"fps={fps:g}, total_pixels={k}*28*28"
            try:
                plan = plan_sampling(clip, fps, k * 28 * 28)
            except BudgetError:
                row.setdefault("refused_by_budget", []).append(setting)
                continue
            clean_slate()
            pred = predict_question(model, plan.visual_tokens, None, 4096)
            row.update(setting=setting, frames=plan.num_frames, visual_tokens=plan.visual_tokens,
                       source=f"{plan.info.width}x{plan.info.height} {plan.info.fps:g} fps {plan.info.duration:.1f} s",
                       predicted_gib=round(pred.peak, 3) if pred else None)
            if not fits(model, plan):
                row.setdefault("refused_by_memory_model", []).append(setting)
                continue
            try:
                row.update(question_peak(model, processor, clip, k * 28 * 28, fps=fps, max_new_tokens=4096,
                                         max_visual_tokens=12_288))
                row["result"] = "ok"
            except GPUMemoryError as exc:
                row["result"] = "refused before running" if "Nothing was run" in str(exc) else "OOM"
                row["error"] = str(exc)[:300]
            except torch.cuda.OutOfMemoryError as exc:
                row["result"], row["error"] = "OOM", str(exc)[:300]
            break
        print(json.dumps(row), flush=True)
        rows.append(row)
        args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    if args.probe:
        rows += probe_boundary(model, processor, scen["8k-token HD clip"][0])
        args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))


def probe_boundary(model, processor, clip: Path) -> list[dict]:
    """Ask about ``clip`` at token counts around the most the memory model allows here (no margin), with
    ask's own check switched off, to see where out-of-memory really begins."""
    from cosmos_nb_utils.memory import free_gpu_gib, largest_prompt

    clean_slate()
    free = free_gpu_gib()
    limit = largest_prompt(model, free, 4096)
    check, generation.check_gpu_memory = generation.check_gpu_memory, lambda *a, **k: None
    rows = []
    try:
        for f in (0.8, 0.9, 1.0, 1.1, 1.2, 1.35):
            k = int((limit * f - 110) / 64) * 64
            plan = plan_sampling(clip, 4.0, k * 28 * 28, None)
            pred = predict_question(model, plan.visual_tokens, plan.visual_tokens + 110)
            row = {"probe": f"{f:.2f} x limit", "free_gib": round(free, 3), "limit_prompt_tokens": limit,
                   "visual_tokens": plan.visual_tokens, "predicted_gib": round(pred.peak, 3)}
            try:
                row.update(question_peak(model, processor, clip, k * 28 * 28, max_new_tokens=4096))
                row["result"] = "ok"
            except (GPUMemoryError, torch.cuda.OutOfMemoryError) as exc:
                row["result"], row["error"] = "OOM", str(exc)[:200]
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        generation.check_gpu_memory = check
    return rows


def environment() -> dict:
    return {"gpu": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"),
            "python": platform.python_version(),
            **{p: md.version(p) for p in ("torch", "transformers", "bitsandbytes", "accelerate", "qwen-vl-utils")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["fit", "capped"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--card", choices=list(CARDS), default="8gb")
    parser.add_argument("--probe", action="store_true", help="capped: find where out-of-memory begins")
    parser.add_argument("--long-all", action="store_true", help="the 4,096-token sizing in every mode")
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CKPT)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    require_gpu()
    install_stop()
    if args.what == "fit":
        fit(args)
    else:
        capped(args)


if __name__ == "__main__":
    main()
