"""GRPO on the video model with LoRA: one step samples a group, scores it, and takes the clipped-loss update.

Why not TRL: TRL 1.16's ``GRPOTrainer`` reads images only. ``_tokenize_prompts`` collects the
``"image"`` parts of each message, and ``_generate_and_score_completions`` re-processes the prompts
for the loss with ``processing_class(images=..., text=...)``; a video prompt reaches the
log-probability pass with no video features at all (huggingface/trl#4144 asks for video and is open).
So the course writes the step itself, over ``peft``, with cosmos-rl's rules from :mod:`.official`:

1. sample ``group_size`` answers with the course's graph decoder at the RL rollout settings
   (:func:`cosmos_nb_utils.grpo.sample_group`), keeping each sampled token's log-probability at the
   sampling temperature: the old policy's, with no second pass;
2. score them with cosmos-rl's format and single-choice rewards;
3. advantages with cosmos-rl's convention (population std, eps 1e-6: ``official.COSMOS_RL_ADVANTAGE``);
4. recompute the log-probabilities of the sampled tokens under the policy, with gradients, at the
   sampling temperature, one answer at a time (gradients accumulate, so memory does not grow with
   the group), logits only at the completion's positions;
5. the clipped surrogate, token-mean over the group as cosmos-rl's default ``loss_type``, KL beta 0
   as in NVIDIA's RL example (``rl.toml``: further RL on the released model; the paper's run that trained
   Cosmos-Reason1-7B used 0.005, ``paper.PAPER_RL_SETTINGS``; ``GRPOSettings(kl_beta=...)``); one optimizer
   step (``updates`` > 1 reuses the batch, and then the ratio and the clip do real work).

``kl_to_reference`` is measured even with beta 0: the k3 estimator of KL(policy || base) on the
sampled tokens, the base being the model with its adapter disabled.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .grpo import (
    LOGPROB_CHUNK,
    ROLLOUT_MAX_NEW_TOKENS,
    Group,
    clipped_surrogate_loss,
    completion_logprobs,
    sample_group,
)
from .official import (
    COSMOS_RL_ADVANTAGE,
    RL_RECIPE,
    RL_SYSTEM,
    benchmark_prompt,
    format_reward,
    rl_prompt,
    single_choice_reward,
)
from .rewards import group_advantages
from .training_data import Example
from .video.checks import DEFAULT_TOTAL_PIXELS

# The metrics of one step, in the order of a line of grpo_log.jsonl (notebook 10 plots them).
LOG_KEYS = ("step", "reward_mean", "format_rate", "accuracy_rate", "zero_signal_groups", "truncated",
            "completion_tokens_mean", "loss", "clip_fraction", "kl_to_reference", "seconds")


@dataclass(frozen=True)
class GRPOSettings:
    """What one GRPO step does; defaults are NVIDIA's RL example's (``official.RL_RECIPE``, rl.toml) where it has one.

    ``max_new_tokens`` is the course's cap (``grpo.ROLLOUT_MAX_NEW_TOKENS``; the recipe allows 6144).
    ``updates``: optimizer steps on each sampled group (1: on-policy, the ratio stays 1).
    """

    group_size: int = RL_RECIPE["group size (n_generation)"]
    max_new_tokens: int = ROLLOUT_MAX_NEW_TOKENS
    clip_eps: float = RL_RECIPE["clip epsilon (low, high)"][0]
    kl_beta: float = RL_RECIPE["kl_beta"]
    updates: int = 1
    fps: float = float(RL_RECIPE["video fps"])  # NVIDIA's RL example's rollout video (cosmos_grpo.py FPS)
    total_pixels: int = DEFAULT_TOTAL_PIXELS  # the course's budget per clip; at 1 fps the per-frame cap binds first
    max_pixels: int | None = RL_RECIPE["max_pixels per frame"]  # cosmos_grpo.py MAX_PIXELS; None: the budget only
    reasoning: bool = True  # the RL prompt asks for <think> and <answer>; False: letter mode
    measure_kl: bool = True

    def __post_init__(self) -> None:
        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")

        whole("group_size", 2)  # one answer has nothing to be compared with: its advantage is always 0
        whole("max_new_tokens", 1)
        whole("updates", 1)
        whole("total_pixels", 1)
        if self.max_pixels is not None:
            whole("max_pixels", 28 * 28)
        for name in ("clip_eps", "kl_beta", "fps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (name == "fps" and value == 0):
                raise ValueError(f"{name} must be a finite number {'> 0' if name == 'fps' else '>= 0'}, "
                                 f"got {value!r}.")


def question_text(example: Example, reasoning: bool = True) -> str:
    """The user text: the official RL prompt (``official.rl_prompt``), or in letter mode the benchmark's."""
    if reasoning:
        return rl_prompt(example.question, example.index2ans)
    return benchmark_prompt(example.question, example.index2ans, "letter")


def official_reward(text: str, key: str) -> float:
    """cosmos-rl's reward of one answer: single-choice accuracy + format (each 0 or 1)."""
    return single_choice_reward(text, key) + format_reward(text)


def policy_of(model):
    """The module that decodes and scores: a peft model's base (its LoRA layers sit inside it), else ``model``."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def k3_kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference) from tokens sampled by the policy:
    ``exp(ref - logp) - (ref - logp) - 1`` (never negative; 0 where they agree)."""
    diff = logp_ref - logp
    return torch.exp(diff) - diff - 1


def reference_logprobs(model, group: Group, lengths: Sequence[int]) -> list[torch.Tensor]:
    """Each answer's token log-probabilities under the base model (the adapter disabled), no gradients."""
    policy = policy_of(model)
    out = []
    with torch.no_grad(), model.disable_adapter():
        for i, n in enumerate(lengths):
            row = group.sequences[i: i + 1, : group.prompt_len + n]
            out.append(completion_logprobs(policy, row, group.prompt_len, temperature=group.temperature,
                                           **group.prompt_inputs)[0].float())
    return out


@dataclass
class Rollout:
    """One prompt's sampled group with its rewards, advantages and per-answer log-probabilities."""

    example: Example
    group: Group
    rewards: np.ndarray
    format: np.ndarray
    accuracy: np.ndarray
    advantages: np.ndarray
    lengths: list[int]
    old: list[torch.Tensor]  # the sampling pass's log-probs of each answer's tokens
    ref: list[torch.Tensor] | None  # the same tokens under the base model (adapter disabled)


@dataclass
class StepResult:
    """One step's metrics (a line of grpo_log.jsonl) and its rollouts, for a notebook to show."""

    metrics: dict
    rollouts: list[Rollout]


def rollout(model, processor, example: Example, settings: GRPOSettings, *, seed: int | None,
            reward_fn: Callable[[str, str], float] = official_reward) -> Rollout:
    """Sample and score one group (no gradients): GRPO's steps 1-3, plus the reference log-probs if needed."""
    policy = policy_of(model)
    policy.eval()  # sampling: no dropout
    group = sample_group(policy, processor, question_text(example, settings.reasoning), example.clip, system=RL_SYSTEM,
                         group_size=settings.group_size, max_new_tokens=settings.max_new_tokens, seed=seed,
                         fps=settings.fps, total_pixels=settings.total_pixels, reasoning=settings.reasoning,
                         max_pixels=settings.max_pixels)
    texts = group.texts
    rewards = np.array([float(reward_fn(t, example.key)) for t in texts])
    bad = [i for i, r in enumerate(rewards) if not math.isfinite(r)]
    if bad:
        raise ValueError(f"reward_fn returned {rewards[bad[0]]} for answer {bad[0]} ({texts[bad[0]][:80]!r}): "
                         "a reward must be a finite number.")
    advantages = group_advantages(rewards, std=COSMOS_RL_ADVANTAGE["std"], eps=COSMOS_RL_ADVANTAGE["eps"])
    lengths = [int(n) for n in group.mask.sum(dim=1).tolist()]
    old = [group.logprobs[i, :n].float() for i, n in enumerate(lengths)]
    ref = reference_logprobs(model, group, lengths) if settings.kl_beta > 0 or settings.measure_kl else None
    return Rollout(example, group, rewards, np.array([format_reward(t) for t in texts]),
                   np.array([single_choice_reward(t, example.key) for t in texts]), advantages, lengths, old, ref)


def policy_update(model, optimizer: torch.optim.Optimizer, rollouts: Sequence[Rollout], settings: GRPOSettings, *,
                  max_grad_norm: float | None = None, scaler=None) -> tuple[list[float], float]:
    """GRPO's steps 4-5 on sampled ``rollouts``: ``settings.updates`` optimizer steps of the clipped loss.

    Each answer's log-probs are recomputed with gradients at the sampling temperature, its loss
    (token-mean over every answer of ``rollouts``) backpropagated at once, so one answer's graph
    is held at a time. Answers with advantage 0 are skipped when beta is 0 (their gradient is 0).
    Returns (the loss of each update, the fraction of tokens clipped in the last one).
    """
    policy = policy_of(model)
    total_tokens = sum(sum(r.lengths) for r in rollouts)
    policy.train()
    losses, clipped = [], 0.0
    try:
        for _ in range(settings.updates):
            optimizer.zero_grad(set_to_none=True)
            loss_sum, clipped_tokens = 0.0, 0
            for r in rollouts:
                for i, n in enumerate(r.lengths):
                    if r.advantages[i] == 0 and settings.kl_beta == 0:
                        continue  # its gradient is exactly 0; its tokens still count in the token-mean
                    row = r.group.sequences[i: i + 1, : r.group.prompt_len + n]
                    logp = completion_logprobs(policy, row, r.group.prompt_len, temperature=r.group.temperature,
                                               **r.group.prompt_inputs).float()
                    part = clipped_surrogate_loss(
                        logp, r.old[i][None], r.advantages[i: i + 1], clip_eps=settings.clip_eps,
                        kl_coef=settings.kl_beta, logp_ref=r.ref[i][None] if settings.kl_beta > 0 else None,
                        aggregation="token-mean") * (n / total_tokens)
                    (scaler.scale(part) if scaler is not None else part).backward()
                    loss_sum += float(part.detach())
                    ratio = torch.exp(logp.detach() - r.old[i][None])
                    clipped_tokens += int(((ratio - 1).abs() > settings.clip_eps).sum())
            params = [p for pg in optimizer.param_groups for p in pg["params"] if p.grad is not None]
            if params:  # no answer had an advantage: nothing to step
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
            losses.append(loss_sum)
            clipped = clipped_tokens / total_tokens
    finally:
        optimizer.zero_grad(set_to_none=True)
    return losses, clipped


def grpo_step(model, processor, optimizer: torch.optim.Optimizer, prompts: Sequence[Example],
              settings: GRPOSettings, *, step: int, seed: int | None = 0,
              reward_fn: Callable[[str, str], float] = official_reward, max_grad_norm: float | None = None,
              scaler=None) -> StepResult:
    """One GRPO step on ``prompts`` (one group each): sample, score, update the adapter; returns the metrics.

    ``step`` counts from 0 (the log's ``step`` from 1, as ``train_log.jsonl``). ``max_grad_norm`` clips the
    gradient norm before each update; ``scaler``: a ``torch.amp.GradScaler`` on the fp16 path.

    ``model`` is a peft model (its adapter trains; ``disable_adapter`` gives the reference).
    ``reward_fn(text, key)`` scores an answer (default: cosmos-rl's, :func:`official_reward`); the
    format and accuracy rates are always cosmos-rl's own. Answer ``i`` of group ``j`` is sampled
    with seed ``seed + (step * len(prompts) + j) * group_size + i``, so a resumed run samples
    what the uninterrupted one would. The loss is the token-mean over every answer of the step.
    """
    if not prompts:
        raise ValueError("prompts is empty: give at least one training Example per step.")
    start = time.perf_counter()
    policy = policy_of(model)
    was_training = policy.training
    g = settings.group_size
    rollouts = [rollout(model, processor, p, settings, reward_fn=reward_fn,
                        seed=None if seed is None else seed + (step * len(prompts) + j) * g)
                for j, p in enumerate(prompts)]
    total_tokens = sum(sum(r.lengths) for r in rollouts)
    losses, clipped = policy_update(model, optimizer, rollouts, settings, max_grad_norm=max_grad_norm, scaler=scaler)
    policy.train(was_training)

    def mean(name: str) -> float:
        return float(np.mean(np.concatenate([getattr(r, name) for r in rollouts])))

    kl = None
    if all(r.ref is not None for r in rollouts):
        kl = float(sum(k3_kl(o, f).sum() for r in rollouts for o, f in zip(r.old, r.ref)) / total_tokens)
    metrics = {
        "step": step + 1,
        "reward_mean": mean("rewards"),
        "format_rate": mean("format"),
        "accuracy_rate": mean("accuracy"),
        "zero_signal_groups": float(np.mean([np.ptp(r.rewards) == 0 for r in rollouts])),
        "truncated": float(np.mean([t for r in rollouts for t in r.group.truncated])),
        "completion_tokens_mean": total_tokens / (len(rollouts) * g),
        "loss": losses[0],  # the first update's: at ratio 1, minus the token-weighted mean advantage
        "clip_fraction": clipped,  # tokens whose ratio left [1 - eps, 1 + eps] in the last update
        "kl_to_reference": kl,  # of the policy that sampled this step, before its update
        "seconds": time.perf_counter() - start,
    }
    return StepResult(metrics, rollouts)


GRPO_LOG = "grpo_log.jsonl"
# One chunk's logits (grpo.LOGPROB_CHUNK positions) in the compute dtype (2 bytes), their float32 copy and its
# log-softmax (4 + 4): completion_logprobs never holds more positions' logits than one chunk's.
LOGIT_BYTES = 10
WHAT_TO_LOWER = "--max-new-tokens, --total-pixels or --fps (fewer visual tokens)"


@dataclass
class GRPOPrediction:
    """Predicted peak GPU memory (GiB above the loaded weights) of a GRPO step's two phases."""

    rollout: float  # one answer decoded (prefill, static cache for prompt + cap), or scored by the base for the KL
    logprob_pass: float  # one answer re-scored with gradients, plus the LoRA state

    @property
    def peak(self) -> float:
        return max(self.rollout, self.logprob_pass)


def predict_grpo_memory(model, visual_tokens: int, prompt_tokens: int, max_new_tokens: int,
                        rank: int) -> GRPOPrediction | None:
    """The peak of each phase from the course's two measured models (``None`` where they were not measured).

    Rollout: :func:`cosmos_nb_utils.memory.predict_question` (answers are decoded one at a time, so the
    group size does not enter). Log-prob pass: :func:`cosmos_nb_utils.training_memory.predict_training_memory`
    for the prompt, with each completion token counted as one more token of it (the SFT fit had short
    answers). Both phases hold the LoRA state, and both score every completion position over the whole
    vocabulary, one chunk of ``grpo.LOGPROB_CHUNK`` positions at a time (:data:`LOGIT_BYTES` per position and
    vocabulary entry: 0.18 GiB for a chunk of 128 positions of the 7B, whatever the completion's length).
    Measured against benchmarks/grpo_video_memory.py: benchmarks/RESULTS.md, "GRPO on video".
    """
    from .memory import GIB, predict_question
    from .training_memory import predict_training_memory

    decode = predict_question(model, visual_tokens, prompt_tokens, max_new_tokens)
    train = predict_training_memory(model, visual_tokens + max_new_tokens, rank)
    if decode is None or train is None:
        return None
    logits = min(LOGPROB_CHUNK, max_new_tokens) * model.config.get_text_config().vocab_size * LOGIT_BYTES / GIB
    return GRPOPrediction(max(decode.decode, decode.prefill + logits) + train.lora_state, train.peak + logits)


def check_grpo_memory(model, visual_tokens: int, prompt_tokens: int, settings: GRPOSettings, rank: int, *,
                      free_gib: float | None = None) -> GRPOPrediction | None:
    """Before the first rollout: raise ``GPUMemoryError`` naming what to lower if a phase would not fit."""
    from .generation import GPUMemoryError
    from .memory import MARGIN_GIB, free_gpu_gib

    if free_gib is None:
        if not torch.cuda.is_available() or model.device.type != "cuda":
            return None
        free_gib = free_gpu_gib()
    predicted = predict_grpo_memory(model, visual_tokens, prompt_tokens, settings.max_new_tokens, rank)
    if predicted is None or predicted.peak + MARGIN_GIB <= free_gib:
        return predicted
    shorter = next((m for m in (512, 256, 128) if m < settings.max_new_tokens and predict_grpo_memory(
        model, visual_tokens, prompt_tokens, m, rank).peak + MARGIN_GIB <= free_gib), None)
    advice = (f"--max-new-tokens to {shorter} (predicted to fit; check the truncated rate), or " if shorter else "")
    phase = "rollout" if predicted.rollout >= predicted.logprob_pass else "log-probability pass"
    raise GPUMemoryError(
        f"A GRPO step with {visual_tokens:,} visual tokens ({prompt_tokens:,} prompt tokens) and answers of up to "
        f"{settings.max_new_tokens} tokens is predicted to need {predicted.peak:.2f} GiB in its {phase} "
        f"(rollout {predicted.rollout:.2f}, log-prob pass {predicted.logprob_pass:.2f}); {free_gib:.2f} GiB is free "
        f"and {MARGIN_GIB} GiB is kept spare. Nothing was run. Lower {advice}--total-pixels or --fps (fewer visual "
        f"tokens), or use shorter clips (trim_video). The group size does not change the peak, only the time."
    )


def _prompt_size(processor, example: Example, settings: GRPOSettings) -> tuple[int, int]:
    """(visual tokens, prompt tokens) of ``example``'s RL prompt, built exactly as the rollout builds it."""
    from .generation import build_inputs

    plan, inputs = build_inputs(processor, question_text(example, settings.reasoning), example.clip,
                                fps=settings.fps, total_pixels=settings.total_pixels, system=RL_SYSTEM,
                                reasoning=settings.reasoning, max_pixels=settings.max_pixels)
    return plan.visual_tokens, int(inputs["input_ids"].shape[1])


def train_grpo(model, processor, examples: Sequence[Example], config, out_dir, settings: GRPOSettings | None = None,
               *, adapter: str | None = None, targets: str | None = None, progress: bool = True,
               on_step: Callable[[dict], None] | None = None,
               reward_fn: Callable[[str, str], float] = official_reward):
    """GRPO on ``examples`` with LoRA: ``config.steps`` steps of ``config.grad_accum`` groups; returns
    (peft model, :class:`~cosmos_nb_utils.training.TrainResult`).

    The pieces are :mod:`cosmos_nb_utils.training`'s, as for SFT: :func:`add_lora` (``adapter``: start
    from a saved one, e.g. an SFT run's), the data order of :func:`data_order`, atomic checkpoints every
    ``config.save_every`` steps with exact resumption (same settings required), OOM advice. The log is
    ``out_dir/grpo_log.jsonl`` (:data:`LOG_KEYS` and ``lr``). Before the first rollout the step's memory
    is predicted for the longest prompt, and a setting that cannot fit is refused, naming what to lower.
    """
    from tqdm.auto import tqdm

    from .decoding import guard_vision
    from .training import (
        LANGUAGE_TARGETS,
        TrainLog,
        TrainResult,
        _lr_lambda,
        add_lora,
        compute_dtype_key,
        data_order,
        load_checkpoint,
        oom_advice,
        save_checkpoint,
        trainable_parameters,
    )

    settings = settings or GRPOSettings()
    if not examples:
        raise ValueError("No training examples: read them with training_data.load_examples(data_dir).")
    out_dir = Path(out_dir)
    if torch.cuda.is_available() and model.device.type == "cuda":
        longest = max(examples, key=lambda ex: _prompt_size(processor, ex, settings)[0])
        check_grpo_memory(model, *_prompt_size(processor, longest, settings), settings, config.rank)
    torch.manual_seed(config.seed)  # the adapter's initial weights come from the seed too
    peft_model = add_lora(model, config.rank, config.alpha, config.dropout, targets or LANGUAGE_TARGETS, init=adapter)
    guard_vision(peft_model.get_base_model())
    params = trainable_parameters(peft_model)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps, config.steps))
    device = params[0].device
    scaler = torch.amp.GradScaler("cuda") if compute_dtype_key(peft_model) == "fp16" and device.type == "cuda" else None
    record = {"method": "grpo", **asdict(config), **asdict(settings), "targets": targets or LANGUAGE_TARGETS,
              "reward": getattr(reward_fn, "__name__", str(reward_fn))}
    state = load_checkpoint(out_dir, peft_model, optimizer, scheduler, scaler)
    start = 0
    if state is not None:
        start = int(state["step"])
        saved = state.get("extra", {}).get("settings")
        same = ("steps", "warmup_steps")  # more steps may be asked for: the run continues
        if saved and {k: v for k, v in saved.items() if k not in same} != {k: v for k, v in record.items()
                                                                            if k not in same}:
            raise ValueError(f"{out_dir} holds a checkpoint made with other settings ({saved}); resuming with "
                             f"{record} would not continue the same run. Use another --out-dir, or the same settings.")
    log = TrainLog(out_dir, GRPO_LOG)
    log.keep_until(start)
    result = TrainResult(out_dir, start, 0)
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="grpo steps", disable=not progress)
    try:
        with oom_advice(WHAT_TO_LOWER):
            for step in bar:
                prompts = [examples[i] for i in data_order(config.seed, step, config.grad_accum, len(examples))]
                lr = optimizer.param_groups[0]["lr"]
                done = grpo_step(peft_model, processor, optimizer, prompts, settings, step=step, seed=config.seed,
                                 reward_fn=reward_fn, max_grad_norm=config.max_grad_norm, scaler=scaler)
                with warnings.catch_warnings():  # a step with no signal skipped optimizer.step(): keep the schedule
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()`")
                    scheduler.step()
                row = {**done.metrics, "lr": lr}
                log.append(row)
                result.rows.append(row)
                result.steps_done += 1
                bar.set_postfix(reward=f"{row['reward_mean']:.2f}")
                if on_step:
                    on_step(row)
                if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
                    save_checkpoint(out_dir, peft_model, optimizer, scheduler, step + 1, scaler, {"settings": record})
                    result.last_saved = step + 1
    finally:
        bar.close()
        peft_model.eval()
    return peft_model, result
