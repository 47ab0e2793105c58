"""GPU benchmark of the course's inference path on a random-weight Cosmos-Reason1-7B.

    python benchmarks/bench_inference.py [--modes article nf4 nf4-vision16 nf4-fp16 int8 bf16] [--out results.json]

Weights cannot be downloaded here, and memory and speed depend on shapes and token
counts, not on weight values: the script builds the exact 7B architecture with
random weights (once, into --ckpt), then loads it through ``load_model`` in each
mode and asks each scenario's default question through ``ask`` (the notebooks'
own path, with its default graph decoder; the ``article`` mode calls plain ``generate``),
forcing a fixed number of new tokens. It reports weights memory, peak
allocated / reserved GPU memory, GPU memory in use as nvidia-smi shows it (CUDA
context included), time to first token and decode speed, median of --repeats.
Needs a CUDA GPU; not part of the CPU test suite.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosmos_nb_utils.architecture import reason1_7b_config  # noqa: E402
from cosmos_nb_utils.generation import Answer, ask, prepare_inputs  # noqa: E402
from cosmos_nb_utils.loading import free_gpu_memory, load_model  # noqa: E402
from cosmos_nb_utils.memory import GIB, track_gpu_peak  # noqa: E402
from cosmos_nb_utils.prompts import build_messages  # noqa: E402
from cosmos_nb_utils.tiny_model import CHAT_TEMPLATE, PIXEL_LIMITS, SPECIAL_TOKENS, build_tokenizer  # noqa: E402
from cosmos_nb_utils.video import burn_timestamps, reverse_video, work_dir, write_video  # noqa: E402

# mode -> (quantization, keep vision in 16 bit, compute dtype or None for the GPU's default)
MODES = {
    # the article's recipe as the article runs it: nf4 + double quant, bf16 compute, plain `generate`
    # (its BitsAndBytesConfig skips no module, so under transformers 5 the vision encoder is 4-bit too)
    "article": ("nf4", False, torch.bfloat16),
    "nf4": ("nf4", False, None),  # the course default, through `ask` (graph decoder)
    "nf4-vision16": ("nf4", True, None),  # the option for 12 GB cards: vision encoder in 16 bit
    "nf4-fp16": ("nf4", False, torch.float16),  # the T4 path (no bf16), forced on a bf16 GPU
    "int8": ("int8", False, None),
    "bf16": ("bf16", True, None),
}


DEFAULT_CKPT = Path("/tmp/reason1-7b-random")


def require_gpu() -> None:
    """Stop with a clear message on a machine without a CUDA GPU."""
    if not torch.cuda.is_available():
        sys.exit(f"{Path(sys.argv[0]).name} needs a CUDA GPU.")


def load_mode(mode: str, ckpt: Path = DEFAULT_CKPT):
    """The random 7B (built into ``ckpt`` once) loaded as in ``MODES[mode]``; returns (model, processor)."""
    require_gpu()
    quant, keep_vision, dtype = MODES[mode]
    return load_model(str(build_random_checkpoint(ckpt)), quant, keep_vision_unquantized=keep_vision,
                      compute_dtype=dtype)


def build_random_checkpoint(path: Path) -> Path:
    """Save a random-weight model of the exact 7B architecture, with a processor, into ``path``."""
    if (path / "config.json").exists():
        return path
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = reason1_7b_config()
    # the local tokenizer's ids for the special tokens (all below the 7B's vocab size: shapes unchanged)
    config.image_token_id, config.video_token_id = ids["<|image_pad|>"], ids["<|video_pad|>"]
    config.vision_start_token_id, config.vision_end_token_id = ids["<|vision_start|>"], ids["<|vision_end|>"]
    config.text_config.eos_token_id = ids["<|im_end|>"]
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.device("cuda"):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = [ids["<|im_end|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**PIXEL_LIMITS),
                        video_processor=Qwen2VLVideoProcessor(**PIXEL_LIMITS),
                        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE).save_pretrained(path)
    del model
    torch.cuda.empty_cache()
    print(f"random 7B written to {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def scenario_inputs() -> dict[str, tuple[Path, str]]:
    """Each notebook's default clip and question (made with the course's own video tools)."""
    assets, work = ROOT / "assets", work_dir()
    ad = burn_timestamps(assets / "ad_fizz.mp4", work / "ad_fizz_stamped.mp4")
    bounce = reverse_video(assets / "ball_bounce.mp4", work / "ball_bounce_reversed.mp4")
    # A long HD clip that uses the whole official budget (~8k visual tokens): the heaviest default input.
    hd = work / "hd_20s.mp4"
    if not hd.exists():
        frames = np.zeros((200, 720, 1280, 3), np.uint8)
        for i in range(200):
            frames[i, :, (i * 6) % 1200 : (i * 6) % 1200 + 80] = (200, 120, 40)
        write_video(frames, hd, 10)
    return {
        "02 road_turn": (assets / "road_turn.mp4", "Is it safe to turn right?"),
        "03 arrow of time": (bounce, "Is the video playing backward or forward?"),
        "04 agent_pick": (assets / "agent_pick.mp4", "What is the most plausible next immediate subtask?"),
        "05 ad (stamped)": (ad, "Explain the ad in detail."),
        "8k-token HD clip": (hd, "Describe the video."),
    }


def in_use_at_peak_gib(peak_reserved_gib: float) -> float:
    """GPU memory in use at the peak as nvidia-smi would show it: PyTorch's peak reservation plus what lies
    outside PyTorch's allocator (CUDA context, kernels, library handles), measured now."""
    free, total = torch.cuda.mem_get_info()
    outside = (total - free) - torch.cuda.memory_reserved()
    return peak_reserved_gib + outside / GIB


def plain_generate(model, processor, question: str, clip: Path, new_tokens: int) -> Answer:
    """The article's code path: plain greedy `generate`, no streamer; TTFT from a 1-token call."""
    inputs = prepare_inputs(processor, build_messages(question, clip)).to(model.device)
    greedy = {"do_sample": False, "repetition_penalty": 1.05}
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.generate(**inputs, **greedy, max_new_tokens=1)
    torch.cuda.synchronize()
    ttft = time.perf_counter() - start
    with track_gpu_peak() as peak:
        start = time.perf_counter()
        ids = model.generate(**inputs, **greedy, min_new_tokens=new_tokens, max_new_tokens=new_tokens)
        torch.cuda.synchronize()
        total = time.perf_counter() - start
    n = int(ids.shape[1] - inputs["input_ids"].shape[1])
    visual = int((inputs["input_ids"] == model.config.video_token_id).sum())
    return Answer("", "", "", int(inputs["input_ids"].shape[1]), visual, n, ttft, total,
                  (n - 1) / (total - ttft), peak.allocated, peak.reserved, "", False)


def bench_mode(name: str, ckpt: Path, inputs: dict, new_tokens: int, repeats: int) -> list[dict]:
    torch.cuda.empty_cache()
    start = time.perf_counter()
    model, processor = load_mode(name, ckpt)
    load_s = time.perf_counter() - start
    weights = torch.cuda.memory_allocated() / GIB
    rows = []
    for scenario, (clip, question) in inputs.items():
        # warm-up, on the path measured (the graph decoder loads kernels the article's path never uses)
        ask(model, processor, question, clip, stream=False, temperature=0, max_new_tokens=8,
            decoder="generate" if name == "article" else "graph")
        if name == "article":
            runs = [plain_generate(model, processor, question, clip, new_tokens) for _ in range(repeats)]
        else:
            runs = [ask(model, processor, question, clip, stream=False, temperature=0,
                        min_new_tokens=new_tokens, max_new_tokens=new_tokens) for _ in range(repeats)]
        assert all(r.new_tokens == new_tokens for r in runs)
        rows.append({
            "mode": name, "scenario": scenario, "prompt_tokens": runs[0].prompt_tokens,
            "visual_tokens": runs[0].visual_tokens, "weights_gib": round(weights, 2),
            "peak_allocated_gib": round(max(r.peak_gpu_allocated_gib for r in runs), 2),
            "peak_reserved_gib": round(max(r.peak_gpu_reserved_gib for r in runs), 2),
            "gpu_used_gib": round(in_use_at_peak_gib(max(r.peak_gpu_reserved_gib for r in runs)), 2),
            "ttft_s": round(statistics.median(r.time_to_first_token_s for r in runs), 3),
            "decode_tok_s": round(statistics.median(r.decode_tokens_per_s for r in runs), 1),
            "load_s": round(load_s, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    del model
    free_gpu_memory()
    left = torch.cuda.memory_allocated() / GIB
    assert left < 0.1, f"{left:.2f} GiB still allocated after freeing the {name} model"
    return rows


def markdown_table(rows: list[dict]) -> str:
    keys = ["mode", "scenario", "visual_tokens", "weights_gib", "peak_allocated_gib", "peak_reserved_gib",
            "gpu_used_gib", "ttft_s", "decode_tok_s"]
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def parse_common(parser: argparse.ArgumentParser, default_out: str) -> argparse.Namespace:
    """Add the options every GPU script here shares, parse, and insist on a GPU."""
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CKPT)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="*", help="words starting scenario names, e.g. road 05 HD (default: all)")
    parser.add_argument("--out", type=Path, default=Path(default_out))
    args = parser.parse_args()
    require_gpu()
    return args


def checkpoint_and_inputs(args: argparse.Namespace) -> tuple[Path, dict[str, tuple[Path, str]]]:
    """The random 7B (built once) and the scenarios selected by ``--scenarios``."""
    ckpt = build_random_checkpoint(args.ckpt)
    inputs = scenario_inputs()
    if args.scenarios:
        inputs = {k: v for k, v in inputs.items() if any(re.search(rf"\b{re.escape(s)}", k) for s in args.scenarios)}
    return ckpt, inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parse_common(parser, "benchmark-results.json")
    ckpt, inputs = checkpoint_and_inputs(args)
    rows = []
    for mode in args.modes:
        rows += bench_mode(mode, ckpt, inputs, args.new_tokens, args.repeats)
    env = {
        "gpu": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
        **{p: md.version(p) for p in ("torch", "transformers", "bitsandbytes", "accelerate", "qwen-vl-utils")},
        "new_tokens": args.new_tokens, "repeats": args.repeats,
    }
    args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    print(json.dumps(env))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
