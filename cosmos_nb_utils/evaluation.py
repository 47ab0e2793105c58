"""Score a model on multiple-choice video questions the official way: your own items, or the Cosmos-Reason1 benchmark.

This module runs the model: :func:`evaluate_mcq` on your own labelled items (notebooks 03, 04),
:func:`run_benchmark` on a benchmark folder (resumable), and the command line. Every official rule
(prompt, scorer, sampling, retries of empty answers) comes from :mod:`cosmos_nb_utils.official`;
the benchmark's files (data folder, result files, fixture, hub slice) are
:mod:`cosmos_nb_utils.benchmark_data`; reading results back and summarising them is
:mod:`cosmos_nb_utils.scoring`; the comparison plot is :func:`cosmos_nb_utils.display.plot_comparison`.

The public names of ``benchmark_data`` and ``scoring`` lived here before and are re-exported, so
``from cosmos_nb_utils.evaluation import load_results, summarize`` keeps working; new code imports
them from their own modules.

Differences from the official harness, on purpose: a clip that is missing or unreadable is reported
by name and counted as skipped; each video's file is written atomically as soon as it is answered,
so a run can resume. Run it from a shell::

    python -m cosmos_nb_utils.evaluation --data-dir data/benchmark --results-dir results \\
        [--model tiny|cosmos|qwen|PATH] [--answer-type reasoning|letter] [--limit N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .benchmark_data import (
    AV_SUFFIX,
    BENCHMARK_REPO,
    BENCHMARK_REVISION,
    RESULT_KEYS,
    TIMINGS_FILE,
    VIDEO_EXTENSIONS,
    Benchmark,
    BenchmarkDataError,
    HubUnavailable,
    Question,
    Video,
    adapter_label,
    check_datasources,
    check_limit,
    choose_entries,
    download_slice,
    extract_clips,
    find_datasources,
    make_fixture,
    model_label,
    qa_file,
    read_benchmark,
    read_datasource,
    results_folder,
    slice_files,
    whole_number,
    write_json_atomic,
)
from .facts import model_facts
from .official import (
    ANSWER_TYPES,
    BENCHMARK_FPS,
    BENCHMARK_MAX_RETRIES,
    BENCHMARK_SAMPLING,
    BENCHMARK_SEED,
    BENCHMARK_SYSTEM,
    benchmark_is_correct,
    benchmark_prompt,
    benchmark_retry_sampling,
    parse_benchmark_answer,
)
from .scoring import (
    compare_models,
    load_results,
    option_letters,
    pair_results,
    row_problem,
    score_letter,
    select,
    summarize,
)
from .stats import wilson_interval
from .video import DEFAULT_TOTAL_PIXELS, BudgetError, VideoError
from .video.checks import _check_total_pixels, _number, cannot_write

__all__ = [  # the harness, then the names re-exported from benchmark_data and scoring
    "MCQItem", "RunReport", "answer_question", "benchmark_settings", "check_run_options", "check_writable",
    "evaluate_mcq", "main", "run_benchmark",
    "AV_SUFFIX", "BENCHMARK_REPO", "BENCHMARK_REVISION", "RESULT_KEYS", "TIMINGS_FILE", "VIDEO_EXTENSIONS",
    "Benchmark", "BenchmarkDataError", "HubUnavailable", "Question", "Video", "check_datasources", "check_limit",
    "choose_entries", "download_slice", "extract_clips", "find_datasources", "make_fixture", "model_label", "qa_file",
    "read_benchmark", "read_datasource", "results_folder", "slice_files", "whole_number", "write_json_atomic",
    "compare_models", "load_results", "option_letters", "pair_results", "row_problem", "score_letter", "select",
    "summarize",
]


# ---------------------------------------------------------------- your own labelled items (notebooks 03, 04)


@dataclass
class MCQItem:
    """One labelled question: a video, the question, its options and the right letter."""

    video: str | os.PathLike
    question: str
    options: list[str]
    key: str
    name: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def index2ans(self) -> dict[str, str]:
        from .prompts import options_dict

        return options_dict(self.options)


def benchmark_settings(model, answer_type: str, retry: int = 0, max_new_tokens: int | None = None) -> dict:
    """The official sampling for ``answer_type`` (``retry`` > 0: the k-th retry of an empty answer).

    ``max_new_tokens`` caps the answer length (the tiny random model is capped at
    ``TINY_MAX_NEW_TOKENS``: its answers are noise and long noise only costs time).
    """
    from .generation import TINY_MAX_NEW_TOKENS

    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, not {answer_type!r}.")
    settings = dict(BENCHMARK_SAMPLING[answer_type])
    if retry:
        settings.update(benchmark_retry_sampling(answer_type, retry))
    caps = [c for c in (max_new_tokens, TINY_MAX_NEW_TOKENS if model_facts(model).tiny else None)
            if c]
    if caps:
        settings["max_new_tokens"] = min([settings["max_new_tokens"], *caps])
    return settings


def evaluate_mcq(model, processor, items: list[MCQItem], *, reasoning: bool = True, stream: bool = False,
                 seed: int | None = BENCHMARK_SEED, **ask_kwargs) -> tuple[list[dict], float]:
    """Ask every item with the official benchmark prompt and sampling, score it, return (rows, accuracy).

    Prompt: the official system prompt and user text (``utils/input.py``); sampling: the
    benchmark config (reasoning: temperature 0.6, top_p 0.95, 1024 tokens; letter: greedy,
    10 tokens); scorer: :func:`score_letter`. Empty answers are not retried here (see
    :func:`run_benchmark`). ``ask_kwargs`` (fps, total_pixels, sampling) override.
    """
    from tqdm.auto import tqdm

    from .generation import ask

    if not isinstance(reasoning, bool):
        raise ValueError(f"reasoning must be True or False, got {reasoning!r}.")
    whole_number(seed, "seed", minimum=0, allow_none=True)
    if isinstance(items, str | MCQItem) or not all(isinstance(i, MCQItem) for i in items):
        raise ValueError("items must be a list of MCQItem(video, question, options, key).")
    for item in items:  # every item checked before the model runs: a key no reply can match is refused
        letters = sorted(item.index2ans)
        if not isinstance(item.key, str) or item.key.strip().upper() not in letters:
            raise ValueError(f"{item.name or item.video}: key={item.key!r} is not one of its option letters "
                             f"{letters}, so no reply could ever score. Give the right option's letter.")
    answer_type = "reasoning" if reasoning else "letter"
    rows = []
    for item in tqdm(items, desc="questions"):
        prompt = benchmark_prompt(item.question, item.index2ans, answer_type)
        settings = {**benchmark_settings(model, answer_type), **ask_kwargs}
        result = ask(model, processor, prompt, item.video, system=BENCHMARK_SYSTEM, stream=stream, seed=seed,
                     preset="benchmark", **settings)
        letter, _ = parse_benchmark_answer(result.text, answer_type)
        rows.append({
            "item": item.name or os.path.basename(str(item.video)),
            "key": item.key,
            "model letter": letter or "-",
            "correct": bool(letter) and benchmark_is_correct(letter, item.key.strip()),
            "answer": (result.answer or result.text)[:60],
        })
    accuracy = sum(r["correct"] for r in rows) / len(rows) if rows else 0.0
    return rows, accuracy


# ---------------------------------------------------------------- running a benchmark, resumably


@dataclass
class RunReport:
    """What one call of :func:`run_benchmark` did."""

    out_dir: Path
    answered: list[str] = field(default_factory=list)  # videos answered by this call
    resumed: list[str] = field(default_factory=list)  # videos whose results were already there
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video, why): missing or unreadable clip
    problems: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # every result of the run's videos, resumed ones too

    @property
    def correct(self) -> int:
        return sum(bool(r["is_correct"]) for r in self.rows)

    def summary(self) -> str:
        n = len(self.rows)
        lines = [f"results in {self.out_dir}: {len(self.answered)} videos answered now, "
                 f"{len(self.resumed)} already done, {len(self.skipped)} skipped"]
        for name, why in self.skipped:
            lines.append(f"  skipped {name}: {why}")
        for problem in self.problems:
            lines.append(f"  problem: {problem}")
        if n:
            low, high = wilson_interval(self.correct, n)
            lines.append(f"accuracy {self.correct}/{n} = {100 * self.correct / n:.1f}% "
                         f"(95% Wilson interval {100 * low:.1f}-{100 * high:.1f}%)")
        else:
            lines.append("no question was answered")
        return "\n".join(lines)


def _read_done(path: Path, video: Video) -> tuple[list[dict] | None, str | None]:
    """A finished video's results, when the file holds one valid row per question of ``video``, in order.

    Returns (rows, None), or (None, why the file cannot be trusted), or (None, None) when there is no file.
    """
    if not path.exists():
        return None, None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"not readable JSON ({type(exc).__name__})"
    if not isinstance(rows, list):
        return None, f"a {type(rows).__name__}, not a list of results"
    if len(rows) != len(video.questions):
        return None, f"{len(rows)} result(s) for the video's {len(video.questions)} question(s)"
    for i, (row, question) in enumerate(zip(rows, video.questions)):
        why = row_problem(row)
        missing = [k for k in RESULT_KEYS if k not in row] if why is None else []
        if why or missing:
            return None, f"row {i}: {why or 'no ' + ', '.join(missing)}"
        if (row["datasource"], row["video_id"], row["correct_answer"]) != (
                video.datasource, video.video_id, question.correct_answer):
            return None, f"row {i} is not the result of this video's question {i}"
    return rows, None


def check_writable(folder: Path) -> Path:
    """Make ``folder`` and write a test file in it, before any model runs; a ValueError names it and what to do."""
    if (reason := cannot_write(folder)) is not None:
        raise ValueError(f"Cannot write results into {folder} ({reason}). Pass a "
                         "results folder you can write to (--results-dir / results_dir).")
    return folder


def check_run_options(*, answer_type: str, seed, max_retries, max_new_tokens, fps, total_pixels) -> None:
    """Refuse a bad option where it enters, naming it, before the benchmark is read or the model runs."""
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, not {answer_type!r}.")
    whole_number(max_retries, "max_retries", minimum=0,
                 hint=f" It counts retries of an empty answer (official: {BENCHMARK_MAX_RETRIES}; 0: none).")
    whole_number(max_new_tokens, "max_new_tokens", minimum=1, allow_none=True)
    whole_number(seed, "seed", minimum=0, allow_none=True)
    if _number(fps, "fps") <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r} "
                         f"(official: {BENCHMARK_FPS:g}).")
    _check_total_pixels(total_pixels)


def answer_question(model, processor, question: Question, clip: Path, answer_type: str, *,
                    seed: int | None = BENCHMARK_SEED, max_retries: int = BENCHMARK_MAX_RETRIES,
                    max_new_tokens: int | None = None, fps: float = BENCHMARK_FPS,
                    total_pixels: int = DEFAULT_TOTAL_PIXELS) -> tuple[dict, dict]:
    """Ask one benchmark question; return (its official result record, timing).

    An empty answer is retried up to ``max_retries`` times with the official retry
    sampling; a retry replaces the result only when it gives a non-empty answer.
    """
    from .generation import ask
    from .prompts import build_messages

    check_run_options(answer_type=answer_type, seed=seed, max_retries=max_retries, max_new_tokens=max_new_tokens,
                      fps=fps, total_pixels=total_pixels)
    text = benchmark_prompt(question.question, question.index2ans, answer_type)
    messages = build_messages(text, clip, fps=fps, total_pixels=total_pixels, system=BENCHMARK_SYSTEM)
    seconds, new_tokens, tries = 0.0, 0, 0
    reply, answer, reasoning = "", "", ""
    for retry in range(max_retries + 1):
        settings = benchmark_settings(model, answer_type, retry, max_new_tokens)
        result = ask(model, processor, text, clip, fps=fps, total_pixels=total_pixels, system=BENCHMARK_SYSTEM,
                     stream=False, seed=seed, preset="benchmark", **settings)
        seconds, new_tokens, tries = seconds + result.total_s, new_tokens + result.new_tokens, tries + 1
        got, why = parse_benchmark_answer(result.text, answer_type)
        if retry == 0 or got:
            reply, answer, reasoning = result.text, got, why
        if got:
            break
    record = {
        "datasource": question.datasource,
        "video_id": question.video_id,
        "prompt": messages,
        "correct_answer": question.correct_answer,
        "reasoning": reasoning,
        "answer": answer,
        "full_response": reply,
        "is_correct": benchmark_is_correct(answer, question.correct_answer),
    }
    timing = {"datasource": question.datasource, "video_id": question.video_id, "index": question.index,
              "seconds": round(seconds, 3), "new_tokens": new_tokens, "tries": tries}
    return record, timing


def run_benchmark(model, processor, data_dir: str | os.PathLike, results_dir: str | os.PathLike, *,
                  model_name: str | None = None, answer_type: str = "reasoning", limit: int | None = None,
                  datasources: Sequence[str] | None = None, seed: int | None = BENCHMARK_SEED,
                  max_retries: int = BENCHMARK_MAX_RETRIES, max_new_tokens: int | None = None,
                  fps: float = BENCHMARK_FPS, total_pixels: int = DEFAULT_TOTAL_PIXELS, progress: bool = True,
                  on_video_done: Callable[[Video], None] | None = None) -> RunReport:
    """Answer every question of the benchmark folder and write the official result files; resumable.

    Each video's results are written atomically when the video is done; a video whose
    result file is already there, with one valid row per question, is not asked again (so an
    interrupted run resumes); a result file that does not match its video is reported and redone.
    Every option is checked, and the results folder tried for writing, before the model runs.
    A clip that is missing, unreadable or over the visual-token budget is reported by name
    and skipped, not scored. Any other error (out of GPU memory, Ctrl-C) stops the run:
    what was written stays, and the same call resumes after it.
    ``model_name`` names the results folder (default: the model's own name). The vision
    budget is the course's ``total_pixels`` (8 GB cards); the official run sets none.
    """
    from tqdm.auto import tqdm

    from .video import probe_video

    check_run_options(answer_type=answer_type, seed=seed, max_retries=max_retries, max_new_tokens=max_new_tokens,
                      fps=fps, total_pixels=total_pixels)
    if on_video_done is not None and not callable(on_video_done):
        raise ValueError(f"on_video_done must be a function of the finished Video, got {on_video_done!r}.")
    if model_name is not None and not isinstance(model_name, str):
        raise ValueError(f"model_name must be text (it names the results folder), got {model_name!r}.")
    name = model_name if model_name is not None else getattr(model, "name_or_path", "") or "model"
    out_dir = results_folder(results_dir, name, answer_type)
    bench = read_benchmark(data_dir, datasources, limit)
    if not bench.videos and not bench.missing:
        raise BenchmarkDataError(f"{data_dir} holds no usable questions:\n" + bench.describe())
    check_writable(out_dir)
    report = RunReport(out_dir, problems=list(bench.problems))
    report.skipped += [(v.name, f"clip not found in {v.datasource}/clips/") for v in bench.missing]
    bar = tqdm(bench.videos, desc=f"{model_label(name)} · {answer_type}", unit="video", disable=not progress)
    for video in bar:
        target = out_dir / video.datasource / f"{video.video_id}.json"
        done, distrust = _read_done(target, video)
        if done is not None:
            report.resumed.append(video.name)
            report.rows += done
            continue
        if distrust:
            report.problems.append(f"{target}: {distrust}; the video is answered again and the file replaced.")
        try:
            probe_video(video.clip)
        except VideoError as exc:
            report.skipped.append((video.name, f"unreadable clip: {exc}"))
            continue
        records, timings = [], []
        try:
            for question in video.questions:
                record, timing = answer_question(model, processor, question, video.clip, answer_type, seed=seed,
                                                 max_retries=max_retries, max_new_tokens=max_new_tokens, fps=fps,
                                                 total_pixels=total_pixels)
                records.append(record)
                timings.append(timing)
        except (VideoError, BudgetError) as exc:  # a clip too long for the budget, or one the reader fails on
            report.skipped.append((video.name, f"{type(exc).__name__}: {exc}"))
            continue
        write_json_atomic(target, records)
        with open(out_dir / TIMINGS_FILE, "a", encoding="utf-8") as f:
            f.writelines(json.dumps(t) + "\n" for t in timings)
        report.answered.append(video.name)
        report.rows += records
        if report.rows:
            bar.set_postfix(accuracy=f"{report.correct / len(report.rows):.2f}")
        if on_video_done:
            on_video_done(video)
    return report


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    from .loading import ALIASES, QUANTIZATIONS, ModelLoadError, default_model, find_adapter, load_model

    parser = argparse.ArgumentParser(
        prog="python -m cosmos_nb_utils.evaluation",
        description="Score a model on Cosmos-Reason1-Benchmark questions (the official layout, prompt and "
                    "scorer); resumable, one result file per video.")
    parser.add_argument("--data-dir", required=True, type=Path,
                        help="the folder holding the datasource folders (the official data/benchmark)")
    parser.add_argument("--results-dir", required=True, type=Path,
                        help="results go to <results-dir>/<model>/<answer-type>/<datasource>/<video_id>.json")
    parser.add_argument("--model", default=None, help="tiny, cosmos, qwen or a local folder (default: "
                        "$COSMOS_NB_MODEL, else Cosmos-Reason1-7B on a GPU and tiny without one)")
    parser.add_argument("--answer-type", choices=ANSWER_TYPES, default="reasoning")
    parser.add_argument("--limit", type=int, default=None, help="questions per datasource (whole videos, as "
                        "the official script does)")
    parser.add_argument("--seed", type=int, default=BENCHMARK_SEED)
    parser.add_argument("--datasources", nargs="*", default=None, help="only these datasource folders")
    parser.add_argument("--max-retries", type=int, default=BENCHMARK_MAX_RETRIES,
                        help="retries of an empty answer (official: 10)")
    parser.add_argument("--quantization", default="auto", choices=QUANTIZATIONS, help="auto: nf4 on a GPU")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter saved by `python -m "
                        "cosmos_nb_utils.finetune` (its --out-dir), applied over the model")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1 question per datasource, got {args.limit} (leave it out for all).")
    if args.max_retries < 0:
        parser.error(f"--max-retries must be 0 or more, got {args.max_retries} (official: {BENCHMARK_MAX_RETRIES}).")
    if args.seed < 0:
        parser.error(f"--seed must be 0 or more, got {args.seed}.")

    model_id = args.model or default_model()
    model_id = ALIASES.get(model_id.lower(), model_id)
    try:
        if args.adapter is not None:
            find_adapter(args.adapter)
        # a fine-tuned model's results go to their own folder: <model>+<adapter's out-dir>
        name = model_id if args.adapter is None else f"{model_label(model_id)}+{adapter_label(args.adapter)}"
        bench = read_benchmark(args.data_dir, args.datasources, args.limit)
        if bench.videos:  # before the model loads: a results folder that cannot be written fails now, not after
            check_writable(results_folder(args.results_dir, name, args.answer_type))
    except (BenchmarkDataError, ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(bench.describe())
    if not bench.videos:
        print(f"error: {args.data_dir} holds no question with a clip to answer.", file=sys.stderr)
        return 2

    start = time.perf_counter()
    model, processor = load_model(model_id, args.quantization, adapter=args.adapter)
    adapter_note = f" with adapter {args.adapter}" if args.adapter else ""
    print(f"loaded {model_id}{adapter_note} in {time.perf_counter() - start:.0f} s"
          + (" (the tiny random model: its accuracy is chance)" if model_facts(model).tiny else ""))
    report = run_benchmark(model, processor, args.data_dir, args.results_dir, model_name=name,
                           answer_type=args.answer_type, limit=args.limit, datasources=args.datasources,
                           seed=args.seed, max_retries=args.max_retries)
    print(report.summary())
    return 0 if report.rows else 1


if __name__ == "__main__":
    sys.exit(main())
