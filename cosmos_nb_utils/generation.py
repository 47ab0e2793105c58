"""Ask a question about a video: build the inputs correctly, stream the answer, measure it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import BatchFeature, TextStreamer, set_seed

from .decoding import NonFiniteError, graph_capturable, guard_vision, non_finite_advice, static_generate
from .facts import model_facts
from .memory import track_gpu_peak
from .official import DEFAULT_SAMPLING, OVERLAY, SAMPLING_SOURCES
from .parsing import parse_reasoning
from .prompts import build_messages
from .video import (
    AUTO,
    DEFAULT_FPS,
    DEFAULT_TOTAL_PIXELS,
    MAX_VISUAL_TOKENS,
    PATCH,
    BudgetError,
    SamplePlan,
    plan_sampling,
)

# The settings ``ask`` samples with unless told otherwise (see official.SAMPLING_SOURCES for all four
# official sources; ``top_k=0`` is off, so a checkpoint's own top_k cannot apply).
OFFICIAL_SAMPLING = SAMPLING_SOURCES[DEFAULT_SAMPLING]
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


def sampled_fps(metadata: dict) -> float:
    """The frame rate a video was sampled at, from qwen-vl-utils' metadata."""
    return len(metadata["frames_indices"]) / metadata["total_num_frames"] * metadata["fps"]


def prepare_inputs(processor, messages: list[dict], *, timestamps: bool = False) -> BatchFeature:
    """Processor inputs for ``messages``, with each video's sampled frame rate passed on.

    ``qwen_vl_utils`` samples the frames; the sampling metadata (source fps and the
    indices kept) must reach the processor, otherwise transformers 5 assumes 24 fps
    (``video_utils.VideoMetadata.sampled_fps`` falls back to 24 when no fps is known,
    transformers 5.24) and squeezes the video's temporal positions (2 / 24 = 0.083 s
    instead of 0.5 s per grid step at fps 4; notebook 03 shows both). ``timestamps=True`` stamps each sampled frame's
    time below it, as the official ``--timestamp`` option does (:mod:`cosmos_nb_utils.overlay`).
    """
    from qwen_vl_utils import process_vision_info

    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos, video_kwargs = process_vision_info(
        messages, return_video_kwargs=True, return_video_metadata=True
    )
    kwargs = dict(video_kwargs)
    if videos:
        frames, metadata = (list(x) for x in zip(*videos))
        if timestamps:
            from .overlay import overlay_timestamps

            frames = [overlay_timestamps(f, sampled_fps(m)) for f, m in zip(frames, metadata)]
        kwargs.update(videos=frames, video_metadata=metadata, cap_pixels_per_frame=True)
    return processor(text=[prompt], images=images, padding=True, return_tensors="pt", **kwargs)


def build_inputs(
    processor,
    question: str,
    video: str | os.PathLike,
    *,
    fps: float | str = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
    system: str | None = None,
    reasoning: bool = True,
    timestamps: bool = False,
    fits: Callable[[SamplePlan], bool] | None = None,
    max_pixels: int | None = None,
) -> tuple[SamplePlan, BatchFeature]:
    """Check the video, plan its cost, and build the model's inputs: the one input path of the course.

    :func:`ask` and :func:`cosmos_nb_utils.grpo.sample_group` both go through it. Bad files
    and over-budget requests are refused here, before any model runs. With ``fps="auto"``
    the plan chosen (rate and pixel budget) also passes ``fits`` (for example the GPU-memory
    check) and leaves room for the timestamp band's extra row of tokens; the messages carry
    the plan's budget. ``max_pixels``: a per-frame cap (GRPO's rollout: NVIDIA's RL example's
    81,920, ``official.RL_RECIPE``), planned and sent to qwen-vl-utils alike.
    """

    def with_band(plan: SamplePlan) -> int:
        t, h, w = plan.grid_thw
        return t * (h + OVERLAY["band_height"] // PATCH) * w // 4

    checks = [c for c in (fits, (lambda p: with_band(p) <= max_visual_tokens)
                          if timestamps and max_visual_tokens is not None else None) if c is not None]
    auto_fits = (lambda p: all(check(p) for check in checks)) if checks and str(fps).strip().lower() == AUTO else None
    plan = plan_sampling(video, fps, total_pixels, max_visual_tokens, fits=auto_fits, max_pixels=max_pixels)
    if timestamps and max_visual_tokens is not None and with_band(plan) > max_visual_tokens:
        raise BudgetError(f"{plan.summary()}; the timestamp band adds rows: {with_band(plan):,} visual tokens, "
                          f"above the limit of {max_visual_tokens:,}. Lower fps or total_pixels, or trim the clip.")
    messages = build_messages(question, plan.info.path, fps=plan.fps, total_pixels=plan.total_pixels,
                              system=system, reasoning=reasoning, max_pixels=max_pixels)
    return plan, prepare_inputs(processor, messages, timestamps=timestamps)


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


def sampling_settings(model, preset: str = DEFAULT_SAMPLING, **overrides) -> dict:
    """The settings of an official ``preset`` (see ``official.SAMPLING_SOURCES``), shortened for the
    tiny model, with ``overrides`` applied."""
    if preset not in SAMPLING_SOURCES:
        raise ValueError(f"preset must be one of {sorted(SAMPLING_SOURCES)}, got {preset!r}.")
    settings = dict(SAMPLING_SOURCES[preset])
    if model_facts(model).tiny:
        settings["max_new_tokens"] = TINY_MAX_NEW_TOKENS
    settings.update({k: v for k, v in overrides.items() if v is not None})
    cap = os.environ.get("COSMOS_NB_MAX_NEW_TOKENS")  # one setting that shortens every answer (GPU notebook runs)
    if cap:
        for key in ("max_new_tokens", "min_new_tokens"):
            if settings.get(key):
                settings[key] = min(int(settings[key]), int(cap))
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
    guard_vision(model)
    try:
        if decoder == "graph":
            ids = static_generate(model, inputs, streamer=streamer, **sampling)
        else:
            with _logits_guard(model):
                ids = model.generate(**inputs, streamer=streamer, **sampling)
    except Exception as exc:
        _raise_friendly(exc)
    total = time.perf_counter() - start
    new_tokens = int(ids.shape[1] - inputs["input_ids"].shape[1])
    ttft = (streamer.first_token_at or time.perf_counter()) - start
    return "".join(streamer.pieces), new_tokens, ttft, total


@contextlib.contextmanager
def _logits_guard(model):
    """While ``generate`` runs, stop with :class:`NonFiniteError` at the first raw logits holding inf/NaN,
    before the token they would pick reaches the streamer (the graph decoder checks its own)."""
    calls = 0

    def check(module, args, output) -> None:
        nonlocal calls
        calls += 1
        if not bool(torch.isfinite(output).all()):
            raise NonFiniteError(non_finite_advice(model, f"the logits of new token {calls}"))

    handle = model.lm_head.register_forward_hook(check)
    try:
        yield
    finally:
        handle.remove()


def _raise_friendly(exc: Exception):
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        torch.cuda.empty_cache()
        raise GPUMemoryError(
            "The GPU ran out of memory while answering. The kernel is still usable: lower fps "
            "(e.g. fps=2), lower total_pixels (e.g. 4096 * 28 * 28), trim the clip, or load the model "
            "in 4 bit (load_model(quantization='nf4')); restart the kernel if another model is still loaded."
        ) from None
    raise exc


def check_gpu_memory(model, plan: SamplePlan, prompt_tokens: int, max_new_tokens: int,
                     total_pixels: int = DEFAULT_TOTAL_PIXELS) -> None:
    """On a GPU, print the question's predicted peak in one line and raise :class:`GPUMemoryError`,
    naming the settings to lower, if it would not fit the free memory (``memory.fits``)."""
    from .memory import MARGIN_GIB, TEXT_TOKENS, fits, fitting_settings, free_gpu_gib, predict_question

    if model.device.type != "cuda":
        return
    predicted = predict_question(model, plan.visual_tokens, prompt_tokens, max_new_tokens)
    if predicted is None:  # a loading mode the memory model does not cover (int8, float32)
        return
    free = free_gpu_gib()
    used = torch.cuda.memory_allocated() / 2**30
    print(f"{plan.info.path.name}: {plan.num_frames} frames, {prompt_tokens:,} prompt tokens "
          f"({plan.visual_tokens:,} visual), predicted peak {used + predicted.peak:.2f} GiB "
          f"({predicted.peak:.2f} GiB for this question, {free:.2f} GiB free)")
    if not fits(model, plan, prompt_tokens=prompt_tokens, max_new_tokens=max_new_tokens):
        text = max(prompt_tokens - plan.visual_tokens, TEXT_TOKENS)  # as much text as fps="auto"'s check assumes
        found = fitting_settings(model, plan, free - MARGIN_GIB, total_pixels, text, max_new_tokens)
        advice = [f"total_pixels={found['total_pixels'] // 784} * 28 * 28" if "total_pixels" in found else "",
                  f"fps={found['fps']:g}" if "fps" in found else ""]
        advice = (" and " if found.get("together") else " or ").join(a for a in advice if a)
        raise GPUMemoryError(
            f"{plan.info.path.name} at fps={plan.fps:g} ({plan.visual_tokens:,} visual tokens) would need about "
            f"{predicted.peak:.2f} GiB more GPU memory; {free:.2f} GiB is free and {MARGIN_GIB} GiB is kept "
            f"spare. Nothing was run. " + (f"Pass {advice} (predicted to fit), or trim the clip (trim_video)"
                                           if advice else "Trim the clip (trim_video) or free the GPU (del model; "
                                           "free_gpu_memory())") + f", or lower max_new_tokens (now {max_new_tokens})."
        )


def ask(
    model,
    processor,
    question: str,
    video: str | os.PathLike,
    *,
    fps: float | str = AUTO,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    max_visual_tokens: int | None = MAX_VISUAL_TOKENS,
    reasoning: bool = True,
    system: str | None = None,
    timestamps: bool = False,
    stream: bool = True,
    seed: int | None = None,
    decoder: str = "graph",
    preset: str = DEFAULT_SAMPLING,
    **sampling,
) -> Answer:
    """Ask ``question`` about ``video`` and return the parsed, measured :class:`Answer`.

    The video is checked and its visual-token cost planned before the model runs
    (clear errors for bad files and over-budget requests). Sampling follows the
    official ``preset`` (default: the release example's temperature 0.6, top_p 0.95,
    repetition_penalty 1.05, max_new_tokens 4096; ``official.SAMPLING_SOURCES`` has the
    others); pass any setting to override it, ``seed`` to repeat a run.
    ``timestamps=True`` stamps each sampled frame's time below it (the official overlay).
    ``decoder`` picks the decoding loop (see :func:`generate`). ``fps="auto"`` (default) samples at
    4 fps within ``total_pixels`` when that fits ``max_visual_tokens`` and the GPU (every course clip
    does); otherwise it shrinks the frames first, then lowers the rate, and says what it chose
    (:func:`~cosmos_nb_utils.video.plan.plan_sampling`).
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}.")
    settings = sampling_settings(model, preset, **sampling)
    from .memory import fits_predicate

    plan, inputs = build_inputs(processor, question, video, fps=fps, total_pixels=total_pixels,
                                max_visual_tokens=max_visual_tokens, system=system, reasoning=reasoning,
                                timestamps=timestamps,
                                fits=fits_predicate(model, max_new_tokens=settings["max_new_tokens"]))
    check_gpu_memory(model, plan, int(inputs["input_ids"].shape[1]), settings["max_new_tokens"], plan.total_pixels)
    with track_gpu_peak(model.device) as peak:  # the model's device: a CPU model on a GPU machine has no GPU peak
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



def temporal_positions(model, inputs: BatchFeature) -> list[int]:
    """The temporal (first) mRoPE coordinate of each temporal grid step of the prompt's video,
    counted from the video's first step (the text before the video shifts them all alike)."""
    position_ids, _ = model.model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
        second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"],
    )
    is_video = inputs["input_ids"][0] == model.config.video_token_id
    t, h, w = (int(x) for x in inputs["video_grid_thw"][0])
    per_token = position_ids[0, 0, is_video]
    steps = per_token.reshape(t, h * w // 4)[:, 0]
    return (steps - steps[0]).tolist()


def compare_timing(model, processor, messages: list[dict]) -> dict[str, dict]:
    """The article's way (frames only) against the course's (with sampling metadata), for one video.

    For each path: ``seconds_per_step`` (``second_per_grid_ts``, the time between two
    temporal grid steps as the model is told it; right: ``temporal_patch_size / fps``, 0.5
    at fps 4) and ``positions``, the temporal position id of each grid step, which
    transformers computes as ``(step * seconds_per_step * tokens_per_second).long()``.
    """
    from qwen_vl_utils import process_vision_info

    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos, _ = process_vision_info(messages, return_video_kwargs=True)
    article = processor(text=[prompt], images=images, videos=videos, return_tensors="pt", cap_pixels_per_frame=True)
    right = prepare_inputs(processor, messages)
    return {name: {"seconds_per_step": float(inputs["second_per_grid_ts"][0]),
                   "positions": temporal_positions(model, inputs)}
            for name, inputs in (("article (frames only)", article), ("with sampling metadata", right))}


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
