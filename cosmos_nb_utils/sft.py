"""Supervised fine-tuning on video questions: the official benchmark prompt, a loss on the answer tokens only.

Each example is asked exactly as the benchmark asks it (:func:`cosmos_nb_utils.official.benchmark_prompt`,
system prompt ``BENCHMARK_SYSTEM``, the video through :func:`cosmos_nb_utils.generation.build_inputs`, so
its timing metadata is right), and the reply to learn is appended after the prompt:

- letter answer type (no ``reasoning`` in the row): the key letter, ``"A"``;
- reasoning answer type: ``"<think>{reasoning}</think>\\n\\n<answer>{key}</answer>"`` (the format
  cosmos-rl's format reward accepts), then the end-of-turn token in both cases.

Only those reply tokens count in the loss: prompt, video and padding tokens are masked (a batch is one
example, so there is no padding). The language model runs for its hidden states, and ``lm_head``
is applied to the reply positions alone: the full logits of a 5,000-token prompt would be
5,000 x 152,064 x 4 bytes, about 3 GB in float32, for a loss that reads a handful of them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import BatchFeature

from .decoding import guard_vision
from .official import BENCHMARK_FPS, BENCHMARK_SYSTEM, benchmark_prompt
from .training import TrainConfig, TrainResult, add_lora, check_resume, run_training
from .training_data import Example
from .training_memory import check_training_memory
from .video.checks import DEFAULT_TOTAL_PIXELS, MAX_VISUAL_TOKENS

END_OF_TURN = "<|im_end|>"
INPUT_CACHE_BYTES = 2 * 2**30  # processed inputs kept in RAM between epochs (decoding a clip costs more than a step)


def target_text(example: Example) -> str:
    """The reply the model learns for ``example`` (without the end-of-turn token)."""
    if example.answer_type == "reasoning":
        return f"<think>{example.reasoning}</think>\n\n<answer>{example.key}</answer>"
    return example.key


@dataclass
class SFTInputs:
    """One example ready for the model: the processor's batch with the reply appended, and where it starts."""

    inputs: BatchFeature
    answer_start: int  # position of the first reply token in input_ids
    visual_tokens: int

    @property
    def answer_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1]) - self.answer_start


def build_sft_inputs(processor, example: Example, *, fps: float = BENCHMARK_FPS,
                     total_pixels: int = DEFAULT_TOTAL_PIXELS,
                     max_visual_tokens: int | None = MAX_VISUAL_TOKENS) -> SFTInputs:
    """The benchmark prompt of ``example`` with its reply tokens appended (every per-token tensor extended)."""
    from .generation import build_inputs

    prompt = benchmark_prompt(example.question, example.index2ans, example.answer_type)
    _, inputs = build_inputs(processor, prompt, example.clip, fps=fps, total_pixels=total_pixels,
                             max_visual_tokens=max_visual_tokens, system=BENCHMARK_SYSTEM)
    tokenizer = processor.tokenizer
    reply = tokenizer(target_text(example), add_special_tokens=False)["input_ids"]
    reply = torch.tensor([reply + [tokenizer.convert_tokens_to_ids(END_OF_TURN)]], dtype=torch.long)
    start = int(inputs["input_ids"].shape[1])
    n = reply.shape[1]
    data = dict(inputs)
    data["input_ids"] = torch.cat([inputs["input_ids"], reply], dim=1)
    # every tensor with one value per token must grow with the reply (get_rope_index fails on a mismatch)
    data["attention_mask"] = torch.cat([inputs["attention_mask"], inputs["attention_mask"].new_ones(1, n)], dim=1)
    if "mm_token_type_ids" in data:  # reply tokens are text (type 0)
        data["mm_token_type_ids"] = torch.cat([data["mm_token_type_ids"], data["mm_token_type_ids"].new_zeros(1, n)],
                                              dim=1)
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return SFTInputs(BatchFeature(data), start, int((inputs["input_ids"] == video_id).sum()))


def answer_loss(model, batch: SFTInputs) -> torch.Tensor:
    """Mean cross-entropy of the reply tokens of ``batch`` under ``model`` (a transformers Qwen2.5-VL, LoRA inside).

    The language model gives hidden states for every position; ``lm_head`` is applied only where a
    reply token is predicted (position t predicts token t + 1), so logits exist for the reply alone.
    """
    inputs = batch.inputs.to(model.device)
    ids = inputs["input_ids"]
    outputs = model.model(**{k: v for k, v in inputs.items()}, use_cache=False)
    hidden = outputs.last_hidden_state[:, batch.answer_start - 1: ids.shape[1] - 1]
    logits = model.lm_head(hidden).float()
    labels = ids[:, batch.answer_start:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


class InputCache:
    """Processed examples kept in RAM (CPU tensors) up to ``max_bytes``, so each clip is decoded once."""

    def __init__(self, build: Callable[[int], SFTInputs], max_bytes: int = INPUT_CACHE_BYTES):
        self.build, self.max_bytes, self.items, self.size = build, max_bytes, {}, 0

    def __call__(self, index: int) -> SFTInputs:
        if index in self.items:
            return self.items[index]
        item = self.build(index)
        nbytes = sum(v.numel() * v.element_size() for v in item.inputs.values() if isinstance(v, torch.Tensor))
        if self.size + nbytes <= self.max_bytes:
            self.items[index] = item
            self.size += nbytes
        return item


def max_visual_tokens_of(examples: Sequence[Example], fps: float, total_pixels: int) -> int:
    """The most visual tokens any example's clip costs at ``fps`` and ``total_pixels`` (planned, not decoded)."""
    from .video.plan import plan_sampling

    return max(plan_sampling(clip, fps, total_pixels, None).visual_tokens for clip in {ex.clip for ex in examples})


def run_settings(examples: Sequence[Example], fps: float, total_pixels: int, adapter: str | None = None,
                 model_name: str | None = None) -> dict:
    """What defines an SFT run besides :class:`TrainConfig`: saved with each checkpoint and compared on resuming.

    ``data`` fingerprints every example (name, clip, question, options, key, reasoning) in order, so a
    resumed run that would see other data, or the same data in another order, is refused.
    """
    rows = [[ex.name, ex.clip.name, ex.question, sorted(ex.index2ans.items()), ex.key, ex.reasoning]
            for ex in examples]
    data = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]
    settings = {"examples": len(examples), "data": data, "fps": float(fps), "total_pixels": int(total_pixels),
                "init_adapter": None if adapter is None else str(adapter)}
    if model_name is not None:
        settings["model"] = model_name
    return settings


def train_sft(model, processor, examples: Sequence[Example], config: TrainConfig, out_dir: str | os.PathLike, *,
              fps: float = BENCHMARK_FPS, total_pixels: int = DEFAULT_TOTAL_PIXELS, adapter: str | None = None,
              progress: bool = True, on_step: Callable[[dict], None] | None = None) -> tuple[object, TrainResult]:
    """Fine-tune ``model`` on ``examples`` with LoRA and the answer-only loss; returns (peft model, result).

    ``model`` comes from :func:`~cosmos_nb_utils.loading.load_model` (4-bit on a GPU). ``adapter``: start
    from a saved adapter instead of a fresh one. Before anything is trained, the step's memory is
    predicted for the longest example and a setting that cannot fit is refused, naming what to lower.
    Everything else (order, log, checkpoints, resume) is :func:`~cosmos_nb_utils.training.run_training`'s.
    """
    if not examples:
        raise ValueError("No training examples: read them with training_data.load_examples(data_dir).")
    from .facts import model_facts

    settings = run_settings(examples, fps, total_pixels, adapter, model_facts(model).name)
    check_resume(out_dir, {"method": "sft", **asdict(config), **settings})  # before the model is changed
    tokens = max_visual_tokens_of(examples, fps, total_pixels)
    check_training_memory(model, tokens, config.rank)
    torch.manual_seed(config.seed)  # the adapter's initial weights come from the seed too
    peft_model = add_lora(model, config.rank, config.alpha, config.dropout, init=adapter)
    base = peft_model.get_base_model()
    guard_vision(base)  # inf/NaN vision features (the fp16 path) stop with advice, as in `ask`
    cache = InputCache(lambda i: build_sft_inputs(processor, examples[i], fps=fps, total_pixels=total_pixels))

    def micro_step(index: int) -> tuple[torch.Tensor, int]:
        batch = cache(index)
        return answer_loss(base, batch), batch.answer_tokens

    result = run_training(peft_model, len(examples), micro_step, config, Path(out_dir), method="sft",
                          progress=progress, on_step=on_step, run_settings=settings)
    return peft_model, result
