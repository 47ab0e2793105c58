"""Fast batch-1 decoding: a static KV cache, and one CUDA graph replay per new token.

``model.generate`` runs the 28 decoder layers of a 4-bit model as several hundred
small kernel launches per token, each prepared by Python on the CPU. On a GPU the
launches, not the arithmetic, set the pace (benchmarks/RESULTS.md). A CUDA graph
records those launches once and replays them with one call, so the GPU no longer
waits for Python. It needs tensors that stay at the same addresses from token to
token: a static KV cache (transformers' ``StaticCache``), and fixed buffers for the
token, its position and the attention mask.

The prompt (with the video) is read exactly as ``generate`` reads it, then each new
token is chosen with transformers' own logits processors (repetition penalty,
temperature, top-k, top-p). Without a CUDA GPU the same loop runs without a graph,
so the CPU tests exercise every line but the capture.

Every new token's raw logits are checked for inf/NaN (a float16 overflow, on a T4)
in the same single GPU wait per token, and the vision encoder's features once per
prompt (:func:`guard_vision`): the answer stops with :class:`NonFiniteError` instead
of streaming "!!!!" or gibberish.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

import torch
from transformers import (
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    StaticCache,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from .facts import model_facts

FP16_MAX = torch.finfo(torch.float16).max
SUPPORTED_SETTINGS = {"do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "min_new_tokens",
                      "suppress_tokens"}


def logits_processors(prompt_len: int, eos_ids: list[int], *, do_sample: bool = True,
                      temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                      repetition_penalty: float | None = None, min_new_tokens: int | None = None,
                      suppress_tokens: list[int] | None = None, device: str | torch.device = "cpu",
                      ) -> LogitsProcessorList:
    """The processors ``generate`` would apply for these settings, in its order."""
    procs = LogitsProcessorList()
    if repetition_penalty is not None and repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
    if min_new_tokens and eos_ids:
        procs.append(MinNewTokensLengthLogitsProcessor(prompt_len, min_new_tokens, eos_ids, device=device))
    if suppress_tokens:
        procs.append(SuppressTokensLogitsProcessor(suppress_tokens, device=device))
    if do_sample:
        if temperature is not None and temperature != 1.0:
            procs.append(TemperatureLogitsWarper(temperature))
        if top_k:
            procs.append(TopKLogitsWarper(top_k))
        if top_p is not None and top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p))
    return procs


class NonFiniteError(RuntimeError):
    """The model computed inf or NaN (in practice a float16 overflow); the message says what to change."""


def _compute_dtype(model) -> torch.dtype:
    return model.model.language_model.embed_tokens.weight.dtype


def non_finite_advice(model, where: str) -> str:
    """The message for inf/NaN found in ``where``: what happened and the setting that fixes it."""
    dtype = _compute_dtype(model)
    vision_fp32 = model_facts(model).vision_fp32
    if dtype == torch.float16:
        cause = ("This model computes in float16 (the path for GPUs without bf16, such as the T4), and float16 "
                 "overflows above 65,504: a known problem of Qwen2-VL/Qwen2.5-VL in float16 "
                 "(transformers #33294, vllm #13817).")
        if where.startswith("the vision encoder") and not vision_fp32:
            fix = ("Reload with load_model(..., vision_fp32=True): the vision encoder then computes in float32 "
                   "(benchmarks/RESULTS.md gives its memory and speed cost).")
        else:
            fix = ("Reload with load_model(..., compute_dtype=torch.float32): 4-bit weights stay 4-bit, "
                   "activations and the KV cache take float32 (slower, more memory: lower fps or total_pixels "
                   "to compensate), or use a GPU with bf16 (compute capability 8.0 or newer).")
    else:
        cause = f"This model computes in {str(dtype).replace('torch.', '')}, which should not overflow."
        fix = "Check the weights: the checkpoint may be corrupt or not a Qwen2.5-VL model."
    return f"Non-finite values (inf/NaN) in {where}; the answer was stopped before any of it was shown. {cause} {fix}"


def guard_vision(model) -> None:
    """Make ``model``'s vision encoder raise :class:`NonFiniteError` when its features hold inf/NaN.

    Checked once per prompt (one GPU wait), before the language model reads the
    features. Features computed in float32 for a float16 language model must also
    stay below float16's maximum, or the cast between the two turns them into inf.
    Idempotent.
    """
    visual = model.model.visual
    if getattr(visual, "_non_finite_guard", None) is not None:
        return
    target = _compute_dtype(model)
    owner = weakref.ref(model)  # no reference cycle: `del model` still frees the GPU

    def check(module, args, output) -> None:
        features = output.pooler_output if hasattr(output, "pooler_output") else output
        if not torch.is_tensor(features):
            return
        bad = ~torch.isfinite(features).all()
        if target == torch.float16 and features.dtype != torch.float16:
            bad = bad | (features.abs().amax() > FP16_MAX)
        if bool(bad):
            raise NonFiniteError(non_finite_advice(owner(), "the vision encoder's features for this clip"))

    visual._non_finite_guard = visual.register_forward_hook(check)


class DecodeStep:
    """Everything one new token needs, in buffers that keep their addresses.

    Calling it runs the language model on ``token`` at the next position, writes
    the key/values into the static cache, and leaves the next-token logits in
    ``logits``; the position and mask advance on the GPU, so replaying a graph of
    this call needs no input from Python.
    """

    def __init__(self, model, cache: StaticCache, prompt_len: int, rope_deltas: torch.Tensor, max_len: int):
        device = model.lm_head.weight.device
        self.model, self.cache, self.prompt_len = model, cache, prompt_len
        self.token = torch.zeros(1, 1, dtype=torch.long, device=device)
        self.start_pos = (torch.full((3, 1, 1), prompt_len, dtype=torch.long, device=device)
                          + rope_deltas.to(device).view(1, -1, 1))
        self.pos = self.start_pos.clone()
        self.mask = torch.zeros(1, 1, 1, max_len, dtype=torch.bool, device=device)
        self.mask[..., :prompt_len] = True
        layer_types = set(model.config.get_text_config().layer_types)
        self.masks = dict.fromkeys(layer_types, self.mask)
        self.logits: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        filled = self.cache.layers[0].cumulative_length.view(1)  # where this token's key/values go
        self.mask.index_fill_(-1, filled, True)
        out = self.model.model.language_model(input_ids=self.token, position_ids=self.pos, cache=self.cache,
                                              attention_mask=self.masks, use_cache=True)
        self.logits = self.model.lm_head(out.last_hidden_state[:, -1, :])
        self.pos.add_(1)
        return self.logits

    def rewind(self) -> None:
        """Back to the state right after the prompt (undo warm-up steps)."""
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(self.prompt_len)
        self.pos.copy_(self.start_pos)
        self.mask[..., self.prompt_len:] = False


_SIDE_STREAMS: dict[int, torch.cuda.Stream] = {}


def _side_stream() -> torch.cuda.Stream:
    """One side stream per GPU, reused: cuBLAS keeps a workspace for every stream it has seen."""
    device = torch.cuda.current_device()
    if device not in _SIDE_STREAMS:
        _SIDE_STREAMS[device] = torch.cuda.Stream()
    return _SIDE_STREAMS[device]


def capture(step: DecodeStep, warmup: int = 2) -> Callable[[], torch.Tensor]:
    """Record ``step`` as a CUDA graph and return a function that replays it."""
    stream = _side_stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm up (lazy inits, cuBLAS workspaces) before recording
        for _ in range(warmup):
            step()
        step.rewind()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        logits = step()
    torch.cuda.current_stream().wait_stream(stream)

    def replay() -> torch.Tensor:
        graph.replay()
        return logits

    replay.graph = graph  # keep it alive as long as the function
    return replay


def _capture_or_eager(step: DecodeStep) -> Callable[[], torch.Tensor]:
    """The graph's replay, or, if this GPU or model cannot be captured, the step itself (slower, same tokens)."""
    try:
        return capture(step)
    except torch.cuda.OutOfMemoryError:
        raise  # not a capture problem: ask() explains what to lower
    except RuntimeError as exc:
        warnings.warn(f"Could not record the decode step as a CUDA graph ({str(exc).splitlines()[0]}); "
                      "decoding without one, which is slower. ask(..., decoder='generate') uses "
                      "transformers' generate instead.", stacklevel=3)
        torch.cuda.synchronize()
        step.rewind()
        return step


def graph_capturable(model) -> bool:
    """Whether a decode step of ``model`` can be recorded as a CUDA graph.

    bitsandbytes' int8 layers look for outlier features on the CPU side at every
    call (a synchronisation that graph capture forbids); 4-bit and 16-bit models work.
    """
    if not torch.cuda.is_available() or model.lm_head.weight.device.type != "cuda":
        return False
    return not any(type(m).__name__ == "Linear8bitLt" for m in model.modules())


def prefill_into_static_cache(model, inputs, max_len: int) -> tuple[torch.Tensor, StaticCache]:
    """Read the prompt as ``generate`` does (dynamic cache, causal kernels), then move its cache into a static one.

    Returns the last position's logits and the static cache. Each layer's dynamic
    copy is freed as soon as it is moved, so the two never exist whole at once.
    """
    out = model(**inputs, use_cache=True, logits_to_keep=1)
    static = StaticCache(config=model.config, max_cache_len=max_len)
    for dynamic_layer, static_layer in zip(out.cache.layers, static.layers, strict=True):
        static_layer.update(dynamic_layer.keys, dynamic_layer.values)
        dynamic_layer.keys = dynamic_layer.values = None
    return out.logits[:, -1, :], static


@torch.inference_mode()
def static_generate(model, inputs, *, max_new_tokens: int, streamer=None, eos_token_ids: list[int] | None = None,
                    use_cuda_graph: bool | None = None, return_logprobs: bool = False,
                    **sampling) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``generate`` for one prompt through a static cache and (on CUDA) a CUDA graph; returns prompt + new ids.

    ``sampling`` takes ``do_sample``, ``temperature``, ``top_k``, ``top_p``,
    ``repetition_penalty``, ``min_new_tokens`` and ``suppress_tokens``, with
    ``generate``'s meaning; generation stops after an end token or ``max_new_tokens``.
    ``return_logprobs=True`` returns ``(ids, logprobs)`` instead: the log-probability of each new
    token under the model's logits divided by the sampling temperature (before top-k, top-p,
    penalties and suppressed tokens), the quantity GRPO's loss recomputes; float32, (1, new tokens).
    """
    input_ids = inputs["input_ids"]
    guard_vision(model)
    if input_ids.shape[0] != 1:
        raise ValueError("static_generate answers one prompt at a time (batch size 1).")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}.")
    if eos_token_ids is None:
        eos = model.generation_config.eos_token_id
        eos_token_ids = [eos] if isinstance(eos, int) else list(eos or [])
    prompt_len, device = input_ids.shape[1], input_ids.device
    max_len = prompt_len + max_new_tokens
    unsupported = set(sampling) - SUPPORTED_SETTINGS
    if unsupported:
        raise ValueError(f"The graph decoder does not support {sorted(unsupported)}: pass decoder='generate' "
                         "to use transformers' generate instead.")
    procs = logits_processors(prompt_len, eos_token_ids, device=device, **sampling)
    do_sample = sampling.get("do_sample", True)
    ids = torch.empty(1, max_len, dtype=torch.long, device=device)
    ids[:, :prompt_len] = input_ids
    scale = float(sampling.get("temperature") or 1.0) if do_sample else 1.0
    logprobs = torch.empty(1, max_new_tokens, dtype=torch.float32, device=device) if return_logprobs else None
    if streamer is not None:
        streamer.put(input_ids.cpu())

    model.model.rope_deltas = None  # set by the prefill when the prompt holds a video or image
    logits, cache = prefill_into_static_cache(model, inputs, max_len)
    rope_deltas = model.model.rope_deltas
    if rope_deltas is None:  # text only: positions are plain token indices
        rope_deltas = torch.zeros(1, 1, dtype=torch.long, device=device)
    step = DecodeStep(model, cache, prompt_len, rope_deltas, max_len)
    run: Callable[[], torch.Tensor] = step
    if use_cuda_graph is None:
        use_cuda_graph = graph_capturable(model)
    eos = set(eos_token_ids)
    n = 0
    try:
        while True:
            finite = torch.isfinite(logits).all()
            scores = procs(ids[:, : prompt_len + n], logits.float())
            scores = torch.where(finite, scores, 0.0)  # keeps sampling valid until the check below stops it
            if do_sample:
                token = torch.multinomial(scores.softmax(-1), num_samples=1)
            else:
                token = scores.argmax(-1, keepdim=True)
            chosen, ok = torch.stack((token.view(()), finite.long())).tolist()  # the one wait for the GPU per token
            if not ok:
                raise NonFiniteError(non_finite_advice(model, f"the logits of new token {n + 1}"))
            ids[:, prompt_len + n] = token[:, 0]
            if logprobs is not None:  # on the GPU, no extra wait
                logprobs[:, n] = torch.log_softmax(logits.float() / scale, -1).gather(-1, token)[:, 0]
            n += 1
            if streamer is not None:
                streamer.put(torch.tensor([chosen]))
            if n == max_new_tokens or chosen in eos:
                break
            step.token.copy_(token)
            if n == 1 and use_cuda_graph:
                # The graph gets a memory pool of its own: hand the prefill's cached blocks back first,
                # so the pool reuses them instead of adding to the peak.
                torch.cuda.empty_cache()
                run = _capture_or_eager(step)
            logits = run()
    finally:
        if streamer is not None:
            streamer.end()
    if logprobs is not None:
        return ids[:, : prompt_len + n], logprobs[:, :n]
    return ids[:, : prompt_len + n]
