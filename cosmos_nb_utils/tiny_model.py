"""A tiny random-weight Qwen2.5-VL, built locally in about a second.

No machine of this project can download weights, so tests and GPU-less notebooks
run the *real* code path (processor, ``process_vision_info``, ``generate``) on
this model instead. It has Qwen's special tokens, a chat template of the same
format and the 7B's patch and timing rules, so every input is built exactly as
for Cosmos-Reason1-7B. **Its answers are noise**: the weights are random.

Build it from a shell with ``python -m cosmos_nb_utils.tiny_model DIR``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from .architecture import tiny_config

TINY_VERSION = "v3"  # v3: vision width 64, so nf4 (blocks of 64) quantizes every layer on a CPU too
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Same layout as Qwen2.5-VL's template: a default system turn, one
# <|vision_start|><|video_pad|><|vision_end|> per video, <|im_start|>role ... <|im_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'video' or 'video' in item %}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'image' or 'image' in item %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = """
<think> The car approaches the intersection. The light is green and no pedestrian is crossing. </think>
<answer> Yes, it is safe to turn right. </answer> <answer> No. </answer> <answer> A </answer>
Is the video playing backward or forward? The ball falls down and bounces, so time runs forward.
The agent picks up the green package and places it into the shopping cart. What is the next subtask?
The advertisement opens on a dark scene, then shows the product at 3.5 seconds and the logo at 9.0 s.
Answer with the option's letter from the given choices directly. (A) (B) (C) (D) none of the options.
The robot arm grasps the cup. Water spreads across the table. The wheel rolls to the left.
"""


# The 7B checkpoint's preprocessor_config.json limits (shared by images and video), so the
# processor leaves the frames qwen-vl-utils already resized exactly as they are.
PIXEL_LIMITS = {"min_pixels": 3136, "max_pixels": 12845056}


def default_cache_dir() -> Path:
    """Where the tiny model is cached (``$COSMOS_NB_CACHE`` or ``~/.cache/cosmos_nb_utils``)."""
    from .video import cache_dir

    return cache_dir() / f"tiny-qwen2_5_vl-{TINY_VERSION}"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Train a small byte-level BPE (deterministic) that carries Qwen's special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([line for line in _CORPUS.splitlines() if line] * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=32768,
        padding_side="left",
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL (weights, config, processor) into ``out_dir``."""
    out_dir = Path(out_dir)
    tokenizer = build_tokenizer()
    special_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = tiny_config(len(tokenizer), special_ids)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [special_ids["<|im_end|>"], special_ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = special_ids["<|endoftext|>"]
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**PIXEL_LIMITS),
        video_processor=Qwen2VLVideoProcessor(**PIXEL_LIMITS),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def tiny_model_path(cache_dir: str | Path | None = None) -> Path:
    """Path of the cached tiny model, building it once if it is missing."""
    target = Path(cache_dir) if cache_dir else default_cache_dir()
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    build_tiny_model(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="folder to write (default: the cache folder)")
    args = parser.parse_args()
    path = build_tiny_model(args.out_dir) if args.out_dir else tiny_model_path()
    print(f"tiny Qwen2.5-VL written to {path}")


if __name__ == "__main__":
    main()
