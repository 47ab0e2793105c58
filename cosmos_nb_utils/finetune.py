"""Fine-tune Cosmos-Reason1-7B (QLoRA) on questions in the official benchmark layout, from a shell.

    python -m cosmos_nb_utils.finetune --data-dir D --out-dir A [--model tiny|cosmos|qwen|PATH]
        [--steps N] [--seed S] [--lr LR] [--rank R] [--alpha ALPHA] [--grad-accum K] [--save-every M]
        [--fps F] [--total-pixels P] [--adapter INIT] [--method sft|grpo]
        [--group-size G] [--max-new-tokens M] [--updates U] [--max-pixels P]  (GRPO: cosmos_nb_utils.grpo_train)

Video defaults differ by method: SFT samples as the course evaluates (4 fps, the course budget); GRPO as
NVIDIA's RL example's rollout (1 fps, at most 81,920 pixels a frame: ``official.RL_RECIPE``). Flags override.

``D`` holds ``<datasource>/<datasource>_benchmark_qa_pairs.json`` and ``<datasource>/clips/``
(:mod:`cosmos_nb_utils.training_data`). Every row is checked before the model loads; a bad row, or a
missing or empty folder, stops the command with exit status 2 and names the problem. ``A`` receives
``adapter/`` (saved atomically every ``--save-every`` steps and at the end) and ``train_log.jsonl``
(one line per optimizer step). Running the same command again resumes after the last checkpoint, with
the same data order. Load the result with ``load_model(..., adapter="A")`` or
``python -m cosmos_nb_utils.evaluation ... --adapter A``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .official import BENCHMARK_FPS, RL_RECIPE
from .training import LOG_FILE, TrainConfig
from .video.checks import DEFAULT_TOTAL_PIXELS, FACTOR


def _train_sft(model, processor, examples, config, out_dir, args):
    from .sft import train_sft

    fps = float(BENCHMARK_FPS) if args.fps is None else args.fps
    return train_sft(model, processor, examples, config, out_dir, fps=fps, total_pixels=args.total_pixels,
                     adapter=args.adapter)


def grpo_settings(args):
    """The GRPO settings of the command line (checked here, before the data or the model load)."""
    from .grpo_train import GRPOSettings

    video = {"fps": args.fps, "max_pixels": args.max_pixels}
    return GRPOSettings(group_size=args.group_size, max_new_tokens=args.max_new_tokens, updates=args.updates,
                        total_pixels=args.total_pixels, **{k: v for k, v in video.items() if v is not None})


def _train_grpo(model, processor, examples, config, out_dir, args):
    from .grpo_train import train_grpo

    return train_grpo(model, processor, examples, config, out_dir, grpo_settings(args), adapter=args.adapter)


# method name -> train(model, processor, examples, config, out_dir, args) -> (peft model, TrainResult).
# The dispatch point: GRPO adds its entry here.
METHODS: dict[str, Callable] = {"sft": _train_sft, "grpo": _train_grpo}


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return parse


def check_out_dir(out_dir: Path, data_dir: Path) -> None:
    """Refuse an ``--out-dir`` that is a file, lies in the data folder, or cannot be written (``ValueError``)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} is a file: pass a folder (it will hold adapter/ and {LOG_FILE}).")
    out, data = out_dir.resolve(), data_dir.resolve()
    if out == data or data in out.parents:
        raise ValueError(f"--out-dir {out_dir} is inside --data-dir {data_dir}: keep the adapter and log out of "
                         "the training data; pass another folder.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as exc:
        raise ValueError(f"--out-dir {out_dir} cannot be written ({exc.strerror}): pass a folder you can write.") \
            from None


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m cosmos_nb_utils.finetune", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, type=Path, help="the folder holding the datasource folders")
    p.add_argument("--out-dir", required=True, type=Path, help="adapter/ and train_log.jsonl go here")
    p.add_argument("--model", default=None, help="tiny, cosmos, qwen or a local folder (default: $COSMOS_NB_MODEL, "
                   "else Cosmos-Reason1-7B on a GPU and tiny without one)")
    p.add_argument("--method", default="sft", choices=sorted(METHODS))
    p.add_argument("--steps", type=_positive(int), default=defaults.steps, help="optimizer steps")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--lr", type=_positive(float), default=defaults.lr, help="peak learning rate")
    p.add_argument("--rank", type=_positive(int), default=defaults.rank, help="LoRA rank")
    p.add_argument("--alpha", type=_positive(float), default=defaults.alpha, help="LoRA alpha")
    p.add_argument("--dropout", type=float, default=defaults.dropout, help="LoRA dropout")
    p.add_argument("--grad-accum", type=_positive(int), default=defaults.grad_accum,
                   help="examples per optimizer step (batches of one)")
    p.add_argument("--save-every", type=_positive(int), default=defaults.save_every,
                   help="optimizer steps between checkpoints")
    p.add_argument("--fps", type=_positive(float), default=None,
                   help=f"video frames per second (default: SFT {BENCHMARK_FPS}, GRPO {RL_RECIPE['video fps']}, "
                   "NVIDIA's RL example's)")
    p.add_argument("--total-pixels", type=_positive(int), default=DEFAULT_TOTAL_PIXELS,
                   help=f"vision budget per clip in pixels (default {DEFAULT_TOTAL_PIXELS // FACTOR**2} * 28 * 28)")
    p.add_argument("--adapter", default=None, help="start from this saved adapter instead of a fresh one")
    p.add_argument("--quantization", default="auto", help="auto (nf4 on a GPU), nf4, bf16, ...")
    from .grpo_train import GRPOSettings

    grpo = GRPOSettings()
    p.add_argument("--group-size", type=_positive(int), default=grpo.group_size,
                   help=f"GRPO: answers sampled per question (default {grpo.group_size}, the recipe's; at least 2)")
    p.add_argument("--max-new-tokens", type=_positive(int), default=grpo.max_new_tokens,
                   help=f"GRPO: the cap on each answer (default {grpo.max_new_tokens}; grpo_log.jsonl reports "
                   "how many answers it cut)")
    p.add_argument("--updates", type=_positive(int), default=grpo.updates,
                   help="GRPO: optimizer steps on each sampled batch (default 1: on-policy)")
    p.add_argument("--max-pixels", type=_positive(int), default=None,
                   help=f"GRPO: pixels per frame at most (default {grpo.max_pixels:,}, NVIDIA's RL example's)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .generation import GPUMemoryError
    from .loading import ModelLoadError, default_model, find_adapter, load_model
    from .sft import max_visual_tokens_of, run_settings
    from .training import check_resume
    from .training_data import TrainingDataError, load_examples

    try:
        config = TrainConfig(steps=args.steps, lr=args.lr, rank=args.rank, alpha=args.alpha, dropout=args.dropout,
                             grad_accum=args.grad_accum, save_every=args.save_every, seed=args.seed)
        video_extra = {}
        if args.method == "grpo":
            video_extra["max_pixels"] = grpo_settings(args).max_pixels
        elif args.max_pixels is not None:
            raise ValueError("--max-pixels is a GRPO setting (the rollout's per-frame cap); SFT takes --total-pixels.")
        if args.adapter is not None:
            find_adapter(args.adapter)
        examples = load_examples(args.data_dir)
        check_out_dir(args.out_dir, args.data_dir)
        fps = args.fps if args.fps is not None else (
            float(RL_RECIPE["video fps"]) if args.method == "grpo" else float(BENCHMARK_FPS))
        max_visual_tokens_of(examples, fps, args.total_pixels)  # checks the video settings on each clip
        check_resume(args.out_dir, {"method": args.method, **asdict(config),
                                    **run_settings(examples, fps, args.total_pixels, args.adapter), **video_extra})
    except (ValueError, ModelLoadError) as exc:  # TrainingDataError is a ValueError
        kind = "data" if isinstance(exc, TrainingDataError) else "option"
        print(f"error ({kind}): {exc}", file=sys.stderr)
        return 2
    kinds = sorted({ex.answer_type for ex in examples})
    print(f"{args.data_dir}: {len(examples)} training questions ({', '.join(kinds)} answers), "
          f"{len({(e.datasource, e.source) for e in examples})} source clips")
    model_id = args.model or default_model()
    start = time.perf_counter()
    try:
        model, processor = load_model(model_id, args.quantization)
    except ModelLoadError as exc:
        print(f"error (model): {exc}", file=sys.stderr)
        return 2
    print(f"loaded {model_id} in {time.perf_counter() - start:.0f} s")
    try:
        _, result = METHODS[args.method](model, processor, examples, config, args.out_dir, args)
    except GPUMemoryError as exc:
        print(f"error (memory): {exc}", file=sys.stderr)
        return 3
    if result.resumed_from:
        print(f"resumed after step {result.resumed_from}")
    last = result.rows[-1] if result.rows else None
    print(f"{result.steps_done} steps done now, {result.resumed_from + result.steps_done} of {config.steps} in all"
          + (f"; last loss {last['loss']:.4f}" if last else "") + f". Adapter: {args.out_dir / 'adapter'}; "
          f"log: {args.out_dir / ('grpo_log.jsonl' if args.method == 'grpo' else 'train_log.jsonl')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
