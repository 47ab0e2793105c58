"""Ask a question about a video: build the inputs correctly, stream the answer, measure it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
from transformers import BatchFeature, TextStreamer, set_seed

from .decoding import graph_capturable, static_generate
from .loading import model_facts
from .memory import track_gpu_peak
from .parsing import parse_reasoning
from .prompts import build_messages
from .video import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS, MAX_VISUAL_TOKENS, SamplePlan, plan_sampling

# The official sampling settings of Cosmos-Reason1.
OFFICIAL_SAMPLING = {
    "do_sample": True,
    "temperature": 0.6,
    "top_p": 0.95,
    "top_k": 0,  # off, as in the official vLLM settings (a checkpoint's own top_k would otherwise apply)
    "repetition_penalty": 1.05,
    "max_new_tokens": 4096,
}
# How answers are decoded: see ``generate``.
DECODERS = ("graph", "generate")
# The tiny random model only produces noise: no need to wait for 4096 tokens of it.
TINY_MAX_NEW_TOKENS = 48


class GPUMemoryError(RuntimeError):
    """The GPU ran out of memory; the message says which knob to turn."""


@dataclass
class Answer:
    """One reply and what it cost."""

    text: str
    think: str
    answer: str
    prompt_tokens: int
    visual_tokens: int
    new_tokens: int
    time_to_first_token_s: float
    total_s: float
    decode_tokens_per_s: float
    peak_gpu_allocated_gib: float | None
    peak_gpu_reserved_gib: float | None
    model_name: str
    is_tiny: bool
    plan: SamplePlan | None = field(default=None, repr=False)

    def stats(self) -> str:
        mem = f", peak GPU {self.peak_gpu_allocated_gib:.2f} GiB" if self.peak_gpu_allocated_gib else ""
        return (
            f"{self.prompt_tokens:,} prompt tokens ({self.visual_tokens:,} visual), {self.new_tokens} new; "
            f"first token {self.time_to_first_token_s:.2f} s, {self.decode_tokens_per_s:.1f} tok/s{mem}"
        )


def prepare_inputs(processor, messages: list[dict]) -> BatchFeature:
    """Processor inputs for ``messages``, with each video's sampled frame rate passed on.

    ``qwen_vl_utils`` samples the frames; the sampling metadata (source fps and the
    indices kept) must reach the processor, otherwise transformers 5 assumes the
    source frame rate and squeezes the video's temporal positions (0.083 s instead
    of 0.5 s per grid step at fps 4).
    """
    from qwen_vl_utils import process_vision_info

    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos, video_kwargs = process_vision_info(
        messages, return_video_kwargs=True, return_video_metadata=True
    )
    kwargs = dict(video_kwargs)
    if videos:
        frames, metadata = zip(*videos)
        kwargs.update(videos=list(frames), video_metadata=list(metadata), cap_pixels_per_frame=True)
    return processor(text=[prompt], images=images, padding=True, return_tensors="pt", **kwargs)


class _Streamer(TextStreamer):
    """Prints text as it is generated (when ``echo``), keeps it, and notes when the first new token came.

    Either decoder calls it in the calling thread. (The usual notebook recipe, a
    TextIteratorStreamer read while ``generate`` runs in a worker thread, halved
    decode speed on an H100: benchmarks/RESULTS.md, "Removed experiments".)
    """

    def __init__(self, tokenizer, echo: bool):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.echo = echo
        self.pieces: list[str] = []
        self.first_token_at: float | None = None

    def put(self, value):
        if not (self.skip_prompt and self.next_tokens_are_prompt) and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        super().put(value)

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.pieces.append(text)
        if self.echo:
            print(text, flush=True, end="" if not stream_end else None)


def sampling_settings(model, **overrides) -> dict:
    """The official sampling settings, shortened for the tiny model, with ``overrides`` applied."""
    settings = dict(OFFICIAL_SAMPLING)
    if model_facts(model).tiny:
        settings["max_new_tokens"] = TINY_MAX_NEW_TOKENS
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if not settings.get("do_sample", True) or settings.get("temperature") == 0:
        settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return settings


def generate(model, processor, inputs: BatchFeature, *, stream: bool = True, seed: int | None = None,
             decoder: str = "graph", **sampling) -> tuple[str, int, float, float]:
    """Generate an answer, printing text as it comes; return (text, new tokens, ttft s, total s).

    ``decoder="graph"`` (default) uses :func:`~cosmos_nb_utils.decoding.static_generate`:
    a static KV cache and a CUDA graph per token on a GPU, same tokens as
    ``generate`` for the same settings and seed. ``decoder="generate"`` calls
    transformers' ``model.generate`` (the article's path).
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}.")
    if decoder == "graph" and model.device.type == "cuda" and not graph_capturable(model):
        decoder = "generate"  # int8 layers cannot be recorded; without a graph, keep the measured int8 path
    if seed is not None:
        set_seed(seed)
    inputs = inputs.to(model.device)
    streamer = _Streamer(processor.tokenizer, echo=stream)
    start = time.perf_counter()
    try:
        if decoder == "graph":
            ids = static_generate(model, inputs, streamer=streamer, **sampling)
        else:
            ids = model.generate(**inputs, streamer=streamer, **sampling)
    except Exception as exc:
        _raise_friendly(exc)
    total = time.perf_counter() - start
    new_tokens = int(ids.shape[1] - inputs["input_ids"].shape[1])
    ttft = (streamer.first_token_at or time.perf_counter()) - start
    return "".join(streamer.pieces), new_tokens, ttft, total


def _raise_friendly(exc: Exception):
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        torch.cuda.empty_cache()
        raise GPUMemoryError(
            "The GPU ran out of memory while answering. The kernel is still usable: lower fps "
            "(e.g. fps=2), lower total_pixels (e.g. 4096 * 28 * 28), trim the clip, or load the model "
            "in 4 bit (load_model(quantization='nf4')); restart the kernel if another model is still loaded."
        ) from None
    raise exc


def ask(
    model,
    processor,
    question: str,
    video: str | os.PathLike,
    *,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
    reasoning: bool = True,
    system: str | None = None,
    stream: bool = True,
    seed: int | None = None,
    decoder: str = "graph",
    **sampling,
) -> Answer:
    """Ask ``question`` about ``video`` and return the parsed, measured :class:`Answer`.

    The video is checked and its visual-token cost planned before the model runs
    (clear errors for bad files and over-budget requests). Sampling follows the
    official settings (temperature 0.6, top_p 0.95, repetition_penalty 1.05,
    max_new_tokens 4096); pass any of them to override, ``seed`` to repeat a run.
    ``decoder`` picks the decoding loop (see :func:`generate`).
    """
    plan = plan_sampling(video, fps, total_pixels, max_visual_tokens)
    messages = build_messages(question, plan.info.path, fps=fps, total_pixels=total_pixels,
                              system=system, reasoning=reasoning)
    inputs = prepare_inputs(processor, messages)
    settings = sampling_settings(model, **sampling)
    with track_gpu_peak() as peak:
        text, new_tokens, ttft, total = generate(model, processor, inputs, stream=stream, seed=seed,
                                                 decoder=decoder, **settings)
    think, answer = parse_reasoning(text)
    video_id = model.config.video_token_id
    return Answer(
        text=text,
        think=think,
        answer=answer,
        prompt_tokens=int(inputs["input_ids"].shape[1]),
        visual_tokens=int((inputs["input_ids"] == video_id).sum()),
        new_tokens=new_tokens,
        time_to_first_token_s=ttft,
        total_s=total,
        decode_tokens_per_s=(new_tokens - 1) / max(total - ttft, 1e-9) if new_tokens > 1 else 0.0,
        peak_gpu_allocated_gib=peak.allocated,
        peak_gpu_reserved_gib=peak.reserved,
        model_name=getattr(model, "name_or_path", "") or str(getattr(model.config, "_name_or_path", "")),
        is_tiny=model_facts(model).tiny,
        plan=plan,
    )



def compare_timing(processor, messages: list[dict]) -> dict[str, float]:
    """Seconds per temporal grid step as the processor sees them: the article's way vs. with metadata.

    The article passes only the frames; transformers 5 then assumes the source
    frame rate. The right value is ``temporal_patch_size / fps`` (0.5 at fps 4).
    """
    from qwen_vl_utils import process_vision_info

    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos, _ = process_vision_info(messages, return_video_kwargs=True)
    article = processor(text=[prompt], images=images, videos=videos, return_tensors="pt", cap_pixels_per_frame=True)
    right = prepare_inputs(processor, messages)
    return {"article (frames only)": float(article["second_per_grid_ts"][0]),
            "with sampling metadata": float(right["second_per_grid_ts"][0])}


def compare_decoders(model, processor, question: str, video, *, new_tokens: int = 128,
                     decoders: tuple[str, ...] = DECODERS, **ask_kwargs) -> dict[str, Answer]:
    """Answer the same greedy question with each decoder and return the measured answers.

    Each decoder answers once unmeasured first (kernels load, the GPU clocks up), then
    once more with exactly ``new_tokens`` new tokens; the second answers are returned.
    """
    fixed = {"stream": False, "temperature": 0, "min_new_tokens": new_tokens, "max_new_tokens": new_tokens}
    answers = {}
    for decoder in decoders:
        ask(model, processor, question, video, decoder=decoder, **fixed, **ask_kwargs)
        answers[decoder] = ask(model, processor, question, video, decoder=decoder, **fixed, **ask_kwargs)
    return answers


def ask_other_model(model_id: str, question: str, video, *, quantization: str = "auto", **kwargs) -> Answer:
    """Load ``model_id``, ask one question, free it again; for side-by-side comparisons.

    On a small GPU free the model you hold first (``del model; free_gpu_memory()``); without a
    GPU, any hub model is replaced by the tiny one so the code path still runs.
    """
    from .loading import free_gpu_memory, load_model

    if not torch.cuda.is_available():
        model_id = "tiny"
    other, other_processor = load_model(model_id, quantization)
    try:
        return ask(other, other_processor, question, video, **kwargs)
    finally:
        del other
        free_gpu_memory()
