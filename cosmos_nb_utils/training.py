"""What every fine-tuning method shares (SFT and GRPO): LoRA, the loop, checkpoints, the log.

The small API, used by :mod:`cosmos_nb_utils.sft` and the GRPO trainer:

- :func:`add_lora`: peft LoRA adapters on the language model's attention and MLP projections only
  (the vision encoder and its merger stay frozen), gradient checkpointing on.
- :class:`TrainConfig`: the settings, each checked where it enters.
- :func:`run_training`: the optimizer loop. The caller gives ``micro_step(index) -> (loss, tokens)``
  for one example; the loop handles the data order, gradient accumulation, clipping, the learning
  rate, the progress bar, ``train_log.jsonl``, atomic checkpoints, exact resumption, and turns
  out-of-memory into :class:`~cosmos_nb_utils.generation.GPUMemoryError` naming what to lower.
- :func:`data_order`: which example each micro-step trains on, a pure function of seed and step.
- :func:`save_checkpoint` / :func:`load_checkpoint`; :class:`TrainLog`. The measured memory model of a
  training step is :mod:`cosmos_nb_utils.training_memory`.

Files in ``out_dir``: ``adapter/`` (peft's ``adapter_config.json`` and ``adapter_model.safetensors``,
plus ``training_state.pt``: optimizer, scheduler, gradient scaler, RNG states and step), and
``train_log.jsonl`` (one JSON object per optimizer step). ``load_model(..., adapter=out_dir)`` loads it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .memory import GIB

# The language model's attention and MLP projections, by full module name (peft matches a string with
# re.fullmatch). The vision encoder's MLP has gate/up/down projections too: the prefix keeps them out.
LANGUAGE_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
ADAPTER_DIR = "adapter"
STATE_FILE = "training_state.pt"
LOG_FILE = "train_log.jsonl"
SETTINGS_FILE = "training_settings.json"  # the run's settings, beside the adapter: checked before a model loads
RESUMABLE = ("steps", "warmup_steps")  # settings a resumed run may change (more steps: the run continues)
# Bytes per trained LoRA parameter: float32 weight, gradient and AdamW's two moments.
LORA_BYTES_PER_PARAM = 16


@dataclass
class TrainConfig:
    """The settings of one fine-tuning run (validated on creation; ``ValueError`` names the setting)."""

    steps: int = 60  # optimizer steps
    lr: float = 2e-4  # peak learning rate (AdamW), after a linear warm-up
    rank: int = 16  # LoRA rank r
    alpha: float = 32.0  # LoRA alpha (the update is scaled by alpha / r)
    dropout: float = 0.05  # LoRA dropout
    grad_accum: int = 4  # examples per optimizer step (each a batch of one)
    save_every: int = 10  # optimizer steps between checkpoints (and one at the end)
    seed: int = 0
    warmup_steps: int | None = None  # default: 10% of the steps, at least 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0

    def __post_init__(self):
        for name in ("steps", "rank", "grad_accum", "save_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        for name in ("lr", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}.")
        if self.warmup_steps is None:
            self.warmup_steps = max(1, self.steps // 10)
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be a whole number between 0 and steps={self.steps}, "
                             f"got {self.warmup_steps!r}.")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {self.max_grad_norm!r}.")


# ---------------------------------------------------------------- LoRA


def lora_parameter_count(config, rank: int) -> int:
    """LoRA parameters that :func:`add_lora` trains on a model of ``config`` at ``rank`` (counted from shapes:
    ``rank * (in + out)`` per adapted projection)."""
    text = config.get_text_config()
    h, inter = text.hidden_size, text.intermediate_size
    head = getattr(text, "head_dim", None) or h // text.num_attention_heads
    q, kv = text.num_attention_heads * head, text.num_key_value_heads * head
    per_layer = (h + q) + 2 * (h + kv) + (q + h) + 3 * (h + inter)
    return rank * per_layer * text.num_hidden_layers


def add_lora(model, rank: int = 16, alpha: float = 32.0, dropout: float = 0.05, targets: str = LANGUAGE_TARGETS,
             *, init: str | os.PathLike | None = None, gradient_checkpointing: bool = True):
    """Wrap ``model`` (as :func:`~cosmos_nb_utils.loading.load_model` returns it) in peft LoRA adapters.

    Adapters go on ``targets`` (default: the language model's q/k/v/o and gate/up/down projections);
    every other weight is frozen, the vision encoder and merger included. Returns the ``PeftModel``
    (``.get_base_model()`` is the same transformers model, with the adapters inside). ``init``: start
    from a saved adapter folder instead (its own rank, alpha and targets; ``rank`` must match it).

    This does what peft's ``prepare_model_for_kbit_training`` does for training, except one step:
    that function casts every 16-bit weight to float32, the 7B's embeddings and lm_head included
    (2 x 545M parameters: 2.0 GiB more), which alone would overflow an 8 GB card. Here the frozen
    weights keep their dtype; the adapters are float32; gradient checkpointing (non-reentrant) keeps
    one layer's activations at a time.
    """
    from peft import LoraConfig, get_peft_model

    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"rank must be a whole number >= 1, got {rank!r}.")
    if any("lora_A" in name for name, _ in model.named_parameters()):
        raise ValueError("This model already holds LoRA adapters (it was trained, or loaded with an adapter): load "
                         "a fresh one with load_model() to train again; the same out_dir resumes its checkpoint.")
    for param in model.parameters():
        param.requires_grad_(False)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.model.visual.gradient_checkpointing_disable()  # frozen and fed no gradient: nothing to recompute
    model.config.use_cache = False
    if init is not None:
        from peft import PeftModel

        from .loading import find_adapter

        folder = find_adapter(init)
        saved = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        if saved.get("r") != rank:
            raise ValueError(f"The adapter {folder} has rank {saved.get('r')}; pass --rank {saved.get('r')} to "
                             f"continue from it (got {rank}).")
        peft_model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
    else:
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
        peft_model = get_peft_model(model, config)
    # transformers (gradient_checkpointing_enable) and peft hook every input-embedding layer to make its output
    # require grad, the vision encoder's patch embedding included: the frozen vision encoder then keeps its
    # activations for a backward pass that needs none. Non-reentrant checkpointing needs no such hook.
    _remove_input_grad_hooks(peft_model.get_base_model())
    for name, param in peft_model.named_parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
        if param.requires_grad and ".visual." in name:
            raise RuntimeError(f"LoRA targets reached the vision encoder ({name}); pass language-model targets only.")
    facts = getattr(model, "cosmos_nb_facts", None)
    if facts is not None:
        peft_model.get_base_model().cosmos_nb_facts = facts
    return peft_model


def _remove_input_grad_hooks(model) -> None:
    """Remove transformers' ``enable_input_require_grads`` hooks from every submodule (vision tower included)."""
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if "make_inputs_require_grad" in getattr(hook, "__qualname__", ""):
                del module._forward_hooks[key]
        if hasattr(module, "_require_grads_hooks"):
            module._require_grads_hooks = []


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


# ---------------------------------------------------------------- the data order


def data_order(seed: int, step: int, grad_accum: int, n: int) -> list[int]:
    """The example indices of optimizer step ``step`` (counted from 0): a pure function of its arguments.

    Micro-step ``k = step * grad_accum + j`` takes position ``k % n`` of epoch ``k // n``'s
    permutation, drawn from ``seed`` and the epoch; so a run resumed at any step trains the same
    examples in the same order as one that never stopped.
    """
    if n < 1:
        raise ValueError("No examples to train on.")
    out = []
    for k in range(step * grad_accum, (step + 1) * grad_accum):
        epoch, pos = divmod(k, n)
        out.append(int(np.random.default_rng([seed, epoch]).permutation(n)[pos]))
    return out


# ---------------------------------------------------------------- the log


class TrainLog:
    """``train_log.jsonl``: one JSON object per optimizer step, appended and flushed as each step ends.

    ``name``: another file name in ``out_dir`` (GRPO writes ``grpo_log.jsonl``)."""

    def __init__(self, out_dir: str | os.PathLike, name: str = LOG_FILE):
        self.path = Path(out_dir) / name

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by an interruption
        return rows

    def keep_until(self, step: int) -> None:
        """Drop the lines of steps after ``step`` (done after the last checkpoint, so done again), atomically."""
        rows = [r for r in self.read() if isinstance(r.get("step"), int) and r["step"] <= step]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, self.path)

    def append(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()


# ---------------------------------------------------------------- checkpoints


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir: str | os.PathLike, peft_model, optimizer, scheduler, step: int,
                    scaler=None, extra: dict | None = None) -> Path:
    """Save the adapter and everything needed to resume after ``step`` optimizer steps, atomically.

    Everything is written into a temporary folder next to ``out_dir/adapter``, which then replaces it
    by renames: an interruption leaves the previous checkpoint or the new one, never half of one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final, tmp, old = out_dir / ADAPTER_DIR, out_dir / f".{ADAPTER_DIR}.tmp", out_dir / f".{ADAPTER_DIR}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(str(tmp))
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None, "rng": _rng_state(),
                "extra": extra or {}}, tmp / STATE_FILE)
    if extra and "settings" in extra:
        (tmp / SETTINGS_FILE).write_text(json.dumps(extra["settings"], indent=1), encoding="utf-8")
    if final.exists():  # (without it, .adapter.old may be the only checkpoint left by an interrupted save: keep it)
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_dir(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in ``out_dir`` (after an interrupted save, the previous one), or None."""
    out_dir = Path(out_dir)
    for folder in (out_dir / ADAPTER_DIR, out_dir / f".{ADAPTER_DIR}.old"):
        if (folder / STATE_FILE).is_file() and (folder / "adapter_config.json").is_file():
            return folder
    return None


def saved_settings(out_dir: str | os.PathLike) -> dict | None:
    """The settings of the checkpoint in ``out_dir`` (``None`` without one), read without loading any model."""
    folder = checkpoint_dir(out_dir)
    if folder is None:
        return None
    if (folder / SETTINGS_FILE).is_file():
        return json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    return state.get("extra", {}).get("settings")


def check_resume(out_dir: str | os.PathLike, settings: dict, saved: dict | None = None) -> dict | None:
    """Raise ``ValueError`` if ``out_dir`` holds a checkpoint made with other ``settings`` (steps aside).

    Settings present on one side only are not compared. Returns the saved settings (``None``: nothing to resume).
    """
    saved = saved_settings(out_dir) if saved is None else saved
    if not saved:
        return saved
    differ = {k: (saved[k], settings[k]) for k in saved.keys() & settings.keys()
              if k not in RESUMABLE and saved[k] != settings[k]}
    if differ:
        what = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in sorted(differ.items()))
        raise ValueError(f"{out_dir} holds a checkpoint of another run ({what}); resuming it with these settings "
                         "would not continue the same run. Use another --out-dir, or the same settings (to start "
                         "from that adapter with new settings, pass --adapter with a new --out-dir).")
    return saved


def load_checkpoint(out_dir: str | os.PathLike, peft_model, optimizer, scheduler, scaler=None) -> dict | None:
    """Restore the adapter weights, optimizer, scheduler, scaler and RNG states from ``out_dir``.

    Returns the saved state (``state["step"]`` optimizer steps were done), or ``None`` without a checkpoint.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = checkpoint_dir(out_dir)
    if folder is None:
        return None
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    weights = load_file(str(folder / "adapter_model.safetensors"))
    set_peft_model_state_dict(peft_model, weights)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    return state


# ---------------------------------------------------------------- out of memory


@contextlib.contextmanager
def oom_advice(what_to_lower: str) -> Iterator[None]:
    """Turn CUDA out-of-memory inside the block into :class:`GPUMemoryError` naming ``what_to_lower``."""
    from .generation import GPUMemoryError

    try:
        yield
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise GPUMemoryError(
            f"The GPU ran out of memory while training. The checkpoint saved last is kept (run the same command "
            f"again to resume). Lower {what_to_lower}; or free the GPU (restart the kernel)."
        ) from None


def compute_dtype_key(model) -> str:
    """"bf16" or "fp16": the compute dtype the measured memory models are keyed by ("" for any other)."""
    from .facts import model_facts

    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(model_facts(model).compute_dtype, "")


# ---------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`run_training` did: steps done now, the step it resumed from, and the log rows of this run."""

    out_dir: Path
    resumed_from: int
    steps_done: int
    rows: list[dict] = field(default_factory=list)
    last_saved: int = 0  # the step of the newest checkpoint


def _lr_lambda(warmup: int, steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:  # linear warm-up, then linear decay to 10% of the peak
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.1, 1 - 0.9 * (step - warmup) / max(1, steps - warmup))

    return factor


def run_training(peft_model, n_examples: int, micro_step: Callable[[int], tuple[torch.Tensor, int]],
                 config: TrainConfig, out_dir: str | os.PathLike, *, method: str = "sft",
                 progress: bool = True, on_step: Callable[[dict], None] | None = None, save: bool = True,
                 what_to_lower: str = "--total-pixels or --fps (fewer visual tokens), or --rank",
                 run_settings: dict | None = None) -> TrainResult:
    """Train ``peft_model`` for ``config.steps`` optimizer steps, resuming from ``out_dir`` if it holds a checkpoint.

    ``micro_step(i)`` runs example ``i`` forward and returns ``(loss, tokens)``: the mean loss over
    its trained tokens (a 0-dim tensor with a graph) and how many tokens it trained. Each optimizer
    step accumulates ``config.grad_accum`` of them (the order: :func:`data_order`), clips the gradient
    norm, steps AdamW and the learning rate. After each step one line goes to ``train_log.jsonl``
    (``step``, ``loss``, ``lr``, ``seconds``, ``tokens``, ``grad_norm``) and ``on_step`` is called with
    it; every ``config.save_every`` steps and at the end the checkpoint is saved atomically (``save=False``:
    never, for measurements). Run it
    again with the same settings and it resumes after the last checkpoint: no step lost or done twice.
    ``run_settings``: what else defines the run (the data, the video settings, the model), saved with the
    settings and compared on resuming. More ``steps`` than before continue the run: the later steps follow
    the new schedule (the earlier ones ran under the old one, so the result is not a straight run's).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    params = trainable_parameters(peft_model)
    if not params:
        raise ValueError("The model has no trainable parameters: call add_lora(model) first.")
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps, config.steps))
    device = next(p.device for p in params)
    compute_fp16 = compute_dtype_key(peft_model) == "fp16" and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if compute_fp16 else None  # fp16 activations: scale against underflow
    settings = {"method": method, **asdict(config), **(run_settings or {})}
    saved = check_resume(out_dir, settings)  # before anything is loaded into the model
    state = load_checkpoint(out_dir, peft_model, optimizer, scheduler, scaler)
    log = TrainLog(out_dir)
    start_step = 0
    if state is not None:
        start_step = int(state["step"])
        if saved and saved.get("steps") != config.steps and start_step < config.steps:
            # the optimizer kept the old schedule's learning rate: the next step takes the new schedule's
            for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                group["lr"] = base_lr * scheduler.lr_lambdas[0](scheduler.last_epoch)
            print(f"Continuing a run of {saved.get('steps')} steps to {config.steps}: steps {start_step + 1}-"
                  f"{config.steps} follow the {config.steps}-step learning-rate schedule; steps 1-{start_step} ran "
                  f"under the {saved.get('steps')}-step one, so this is not what one straight run would give.")
    log.keep_until(start_step)
    result = TrainResult(out_dir, start_step, 0)
    if start_step >= config.steps:
        return result
    peft_model.train()
    bar = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps, desc=f"{method} steps",
               disable=not progress)
    last_saved = start_step
    try:
        with oom_advice(what_to_lower):
            for step in bar:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()  # each row's peak is its own step's
                began = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                losses, tokens = [], 0
                for index in data_order(config.seed, step, config.grad_accum, n_examples):
                    loss, n_tokens = micro_step(index)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"The loss of example {index} is {float(loss)} at step {step + 1}: "
                                                 "lower --lr, or check the example.")
                    scaled = loss / config.grad_accum
                    (scaler.scale(scaled) if scaler else scaled).backward()
                    losses.append(float(loss.detach()))
                    tokens += int(n_tokens)
                if scaler:
                    scaler.unscale_(optimizer)
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                row = {"step": step + 1, "loss": round(sum(losses) / len(losses), 6), "lr": lr,
                       "seconds": round(time.perf_counter() - began, 4), "tokens": tokens,
                       "grad_norm": round(grad_norm, 6) if math.isfinite(grad_norm) else None}
                if device.type == "cuda":
                    row["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
                    row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
                log.append(row)
                result.rows.append(row)
                result.steps_done += 1
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                if on_step:
                    on_step(row)
                if save and ((step + 1) % config.save_every == 0 or step + 1 == config.steps):
                    save_checkpoint(out_dir, peft_model, optimizer, scheduler, step + 1, scaler,
                                    {"settings": settings})
                    last_saved = step + 1
    finally:
        bar.close()
        peft_model.eval()
        result.last_saved = last_saved
    return result
