"""What the GPU scripts in benchmarks/ share: the random 7B, the scenarios, timing, memory, JSON output.

Weights cannot be downloaded here, and memory and speed depend on shapes and token
counts, not on weight values: every script builds the exact Cosmos-Reason1-7B
architecture with random weights (once, into ``--ckpt``) and loads it through the
course's own ``load_model``. Each script needs a CUDA GPU; none is part of the CPU tests.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cosmos_nb_utils.architecture import reason1_7b_config
from cosmos_nb_utils.loading import load_model
from cosmos_nb_utils.memory import GIB
from cosmos_nb_utils.tiny_model import CHAT_TEMPLATE, PIXEL_LIMITS, SPECIAL_TOKENS, build_tokenizer
from cosmos_nb_utils.video import burn_timestamps, reverse_video, work_dir, write_video

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CKPT = Path("/tmp/reason1-7b-random")

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


@dataclass
class Run:
    """One measured answer: token counts, time to first token, decode speed and peak memory."""

    prompt_tokens: int
    visual_tokens: int
    new_tokens: int
    ttft_s: float
    decode_tok_s: float
    peak_allocated_gib: float
    peak_reserved_gib: float

    @classmethod
    def from_answer(cls, answer) -> Run:
        """The measured fields of a :class:`cosmos_nb_utils.generation.Answer`."""
        return cls(answer.prompt_tokens, answer.visual_tokens, answer.new_tokens, answer.time_to_first_token_s,
                   answer.decode_tokens_per_s, answer.peak_gpu_allocated_gib, answer.peak_gpu_reserved_gib)


def require_gpu() -> None:
    """Stop with a clear message on a machine without a CUDA GPU."""
    if not torch.cuda.is_available():
        sys.exit(f"{Path(sys.argv[0]).name} needs a CUDA GPU.")


def build_random_checkpoint(path: Path = DEFAULT_CKPT) -> Path:
    """Save a random-weight model of the exact 7B architecture, with a processor, into ``path`` (once)."""
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


def load_mode(mode: str, ckpt: Path = DEFAULT_CKPT):
    """The random 7B loaded as in ``MODES[mode]``; returns (model, processor)."""
    require_gpu()
    quant, keep_vision, dtype = MODES[mode]
    return load_model(str(build_random_checkpoint(ckpt)), quant, keep_vision_unquantized=keep_vision,
                      compute_dtype=dtype)


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


def outside_allocator_gib() -> float:
    """GPU memory in use that PyTorch's allocator does not hold (CUDA context, kernels, library handles).

    Device-wide, from ``cudaMemGetInfo``: the same count as NVML and ``nvidia-smi``.
    """
    free, total = torch.cuda.mem_get_info()
    return ((total - free) - torch.cuda.memory_reserved()) / GIB


def in_use_at_peak_gib(peak_reserved_gib: float) -> float:
    """GPU memory in use at the peak as nvidia-smi would show it: the peak reservation plus what lies
    outside PyTorch's allocator, measured now."""
    return peak_reserved_gib + outside_allocator_gib()


def elapsed(fn, *args, **kwargs) -> tuple[object, float]:
    """``fn(*args, **kwargs)`` and its wall time in seconds, the GPU's queue drained before and after."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    torch.cuda.synchronize()
    return out, time.perf_counter() - start


def parse_common(parser: argparse.ArgumentParser, default_out: str) -> argparse.Namespace:
    """Add the options the scenario scripts share, parse, and insist on a GPU."""
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


def environment(**extra) -> dict:
    """The card, the date and the versions that a result depends on, plus ``extra`` (the run's options)."""
    return {
        "gpu": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
        "torch": torch.__version__,
        **{p: md.version(p) for p in ("transformers", "bitsandbytes", "accelerate", "qwen-vl-utils")},
        **extra,
    }


def write_results(out: Path, rows: list[dict], **extra) -> None:
    """Write ``{"env": ..., "rows": rows}`` to ``out`` (the raw JSON that RESULTS.md's tables come from)."""
    env = environment(**extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    print(json.dumps(env))
    print(f"written to {out}")
