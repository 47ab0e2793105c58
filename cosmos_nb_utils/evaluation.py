"""Score a model on multiple-choice video questions the official way: your own items, or the Cosmos-Reason1 benchmark.

Every official rule (prompt, scorer, sampling, retries of empty answers) comes from
:mod:`cosmos_nb_utils.official`; this module reads and writes the official harness's
files (nvidia-cosmos/cosmos-reason1 at commit 3e7f1cb11128bb424e2a8e85a4aafc7ee9b8bb34,
``examples/benchmark/tools/eval/evaluate.py``, ``utils/input.py``, ``utils/output.py``):

- data: ``<data_dir>/<datasource>/<datasource>_benchmark_qa_pairs.json`` (a list of
  ``{"video": "clips/<id>.<ext>", "qa_pairs": [...] or {...}}``) and the clips in
  ``<data_dir>/<datasource>/clips/``. ``data_dir`` is the folder that holds the
  datasource folders: the official ``data/benchmark`` (the official script takes
  ``data`` and appends ``/benchmark`` itself).
- results: ``<results_dir>/<model>/<answer_type>/<datasource>/<video_id>.json``, a list
  with one object per question holding exactly :data:`RESULT_KEYS`.

Differences from the official harness, on purpose: a clip listed in the JSON but
missing (or unreadable) is reported by name and counted as skipped (the official code
silently leaves it out); malformed entries are reported with their position; each
video's file is written atomically as soon as it is answered, so a run can resume.
Run it from a shell::

    python -m cosmos_nb_utils.evaluation --data-dir data/benchmark --results-dir results \\
        [--model tiny|cosmos|qwen|PATH] [--answer-type reasoning|letter] [--limit N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .loading import model_facts
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
    format_reward,
    parse_benchmark_answer,
)
from .stats import paired_bootstrap, paired_difference, wilson_interval
from .video import DEFAULT_TOTAL_PIXELS, BudgetError, VideoError

BENCHMARK_REPO = "nvidia/Cosmos-Reason1-Benchmark"
# A commit of the dataset repository ("Update README.md"), from the hub's commit page
# https://huggingface.co/datasets/nvidia/Cosmos-Reason1-Benchmark/commit/299f918539820c2be6844ae7cd15bd7da47587ae
# (the newest commit seen on the hub's file page was dc73eea, "Update license terms"; its full hash
# could not be found from here). `download_slice` lists the files at this revision before downloading.
BENCHMARK_REVISION = "299f918539820c2be6844ae7cd15bd7da47587ae"
RESULT_KEYS = ("datasource", "video_id", "prompt", "correct_answer", "reasoning", "answer", "full_response",
               "is_correct")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov")  # the extensions evaluate.py lists
AV_SUFFIX = ".camera_front_wide_120fov"  # input.py adds it to the av_meta_actions clips
TIMINGS_FILE = "course_timings.jsonl"  # not *.json, so calculate_accuracy.py's glob never reads it
_OPTION_LINE = re.compile(r"^\(([A-Z])\) ", re.M)


class BenchmarkDataError(ValueError):
    """The benchmark folder is missing or holds no questions; the message says what to pass instead."""


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


def score_letter(text: str, key: str, answer_type: str = "reasoning") -> bool:
    """The official MCQ scorer (``utils/output.py``, via :mod:`.official`).

    Reasoning mode: the first capital letter inside the first closed ``<answer>`` block;
    letter mode: the first capital letter of the whole reply; compared with ``key``
    ignoring case. An answer with no letter is wrong.
    """
    answer, _ = parse_benchmark_answer(text, answer_type)
    return bool(answer) and benchmark_is_correct(answer, key.strip())


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


# ---------------------------------------------------------------- reading the official layout


@dataclass
class Question:
    datasource: str
    video_id: str
    index: int  # position in the video's qa_pairs (and in its result file)
    question: str
    index2ans: dict[str, str]
    correct_answer: str
    reasoning: str = ""  # the optional "reasoning" field (the course's extension: trained as the <think> block)


@dataclass
class Video:
    datasource: str
    video_id: str
    clip: Path | None  # None: listed in the JSON, not in clips/
    questions: list[Question]

    @property
    def name(self) -> str:
        return f"{self.datasource}/{self.video_id}"


@dataclass
class Benchmark:
    """What a benchmark folder holds: the videos to answer, the listed-but-missing ones, and the problems found."""

    data_dir: Path
    videos: list[Video]
    missing: list[Video]
    problems: list[str]

    @property
    def num_questions(self) -> int:
        return sum(len(v.questions) for v in self.videos)

    def describe(self) -> str:
        lines = [f"{self.data_dir}: {len(self.videos)} videos, {self.num_questions} questions"]
        lines += [f"  missing clip (skipped): {v.name} ({len(v.questions)} questions)" for v in self.missing]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def qa_file(data_dir: str | os.PathLike, datasource: str) -> Path:
    return Path(data_dir) / datasource / f"{datasource}_benchmark_qa_pairs.json"


def find_datasources(data_dir: str | os.PathLike) -> list[str]:
    """The datasource folders of ``data_dir``; raises :class:`BenchmarkDataError` saying what to pass instead."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchmarkDataError(
            f"No benchmark folder at {data_dir}. Pass the folder that holds the datasource folders "
            "(e.g. data/benchmark, with robovqa/robovqa_benchmark_qa_pairs.json inside); download a slice with "
            "download_slice(), or build the course's small fixture with make_fixture()."
        )
    found = sorted(d.name for d in data_dir.iterdir() if d.is_dir() and qa_file(data_dir, d.name).is_file())
    if found:
        return found
    hint = ""
    if (data_dir / "benchmark").is_dir():
        hint = (f" It holds a 'benchmark' folder: pass {data_dir / 'benchmark'} (the official script takes "
                f"the parent and adds /benchmark itself; this one takes the benchmark folder).")
    raise BenchmarkDataError(
        f"{data_dir} holds no questions: no <datasource>/<datasource>_benchmark_qa_pairs.json in it.{hint}"
    )


def _clip_index(clips_dir: Path) -> dict[str, Path]:
    """video_id -> clip, as evaluate.py lists them (the name without its last extension)."""
    if not clips_dir.is_dir():
        return {}
    return {f.name.rsplit(".", 1)[0]: f for f in sorted(clips_dir.iterdir())
            if f.is_file() and f.name.endswith(VIDEO_EXTENSIONS)}


def _parse_pair(qa, where: str, problems: list[str]) -> tuple[str, dict, str, str] | None:
    if not isinstance(qa, dict):
        problems.append(f"{where}: a question must be an object, got {type(qa).__name__}; skipped.")
        return None
    question, options = qa.get("question"), qa.get("index2ans")
    answer = qa.get("answer", qa.get("correct_answer"))  # input.py's order
    if not isinstance(question, str) or not question.strip():
        problems.append(f"{where}: no 'question' text; skipped.")
    elif not isinstance(options, dict) or not options:
        problems.append(f"{where}: no 'index2ans' options ({{'A': ..., 'B': ...}}); skipped.")
    elif not isinstance(answer, str) or not answer.strip():
        problems.append(f"{where}: no 'answer' (or 'correct_answer') letter; skipped.")
    else:
        reasoning = qa.get("reasoning")
        return question, {str(k): str(v) for k, v in options.items()}, answer, \
            reasoning.strip() if isinstance(reasoning, str) else ""
    return None


def read_datasource(data_dir: Path, datasource: str, problems: list[str]) -> list[Video]:
    """Every well-formed video entry of one datasource, in the order of its video ids (evaluate.py sorts clips)."""
    path = qa_file(data_dir, datasource)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                        "datasource skipped.")
        return []
    if not isinstance(entries, list):
        problems.append(f"{path}: the top level must be a list of entries, got {type(entries).__name__}; skipped.")
        return []
    clips = _clip_index(data_dir / datasource / "clips")
    by_id: dict[str, Video] = {}
    first_seen: dict[str, int] = {}
    for pos, entry in enumerate(entries):
        where = f"{path.name} entry {pos}"
        video = entry.get("video") if isinstance(entry, dict) else None
        if not isinstance(video, str) or not video.startswith("clips/") or "." not in video:
            problems.append(f"{where}: 'video' must look like \"clips/<id>.mp4\", got {video!r}; skipped.")
            continue
        video_id = video.split("/")[-1].rsplit(".", 1)[0]
        pairs = entry.get("qa_pairs")
        pairs = [pairs] if isinstance(pairs, dict) else pairs
        if not isinstance(pairs, list) or not pairs:
            problems.append(f"{where} ({video}): 'qa_pairs' must be a list or one object; skipped.")
            continue
        questions = []
        for idx, qa in enumerate(pairs):
            parsed = _parse_pair(qa, f"{where} ({video}) question {idx}", problems)
            if parsed:
                questions.append(Question(datasource, video_id, len(questions), *parsed))
        if not questions:
            continue
        if video_id in by_id:
            problems.append(f"{where}: repeats {video} of entry {first_seen[video_id]}; the later one is used, "
                            "as the official harness does.")
        first_seen[video_id] = pos
        clip = clips.get(video_id) or clips.get(video_id + AV_SUFFIX)
        by_id[video_id] = Video(datasource, video_id, clip, questions)
    return [by_id[k] for k in sorted(by_id)]


def read_benchmark(data_dir: str | os.PathLike, datasources: Sequence[str] | None = None,
                   limit: int | None = None) -> Benchmark:
    """Read a benchmark folder (see the module docstring) without touching any model.

    ``limit``: as the official code does it, per datasource: whole videos are taken in
    order until at least ``limit`` questions are gathered. Missing clips do not count.
    """
    data_dir = Path(data_dir)
    found = find_datasources(data_dir)
    if datasources:
        unknown = sorted(set(datasources) - set(found))
        if unknown:
            raise BenchmarkDataError(f"{data_dir} has no datasource {unknown}; it has {found}.")
        found = [d for d in found if d in datasources]
    videos, missing, problems = [], [], []
    for datasource in found:
        gathered = 0
        for video in read_datasource(data_dir, datasource, problems):
            if limit and limit > 0 and gathered >= limit:
                break
            if video.clip is None:
                missing.append(video)
                continue
            videos.append(video)
            gathered += len(video.questions)
    return Benchmark(data_dir, videos, missing, problems)


# ---------------------------------------------------------------- running a model, resumably


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


def model_label(model_id: str | os.PathLike) -> str:
    """The results folder name of a model, as evaluate.py makes it: the base name of its id or path."""
    return os.path.basename(str(model_id).rstrip("/")) or str(model_id)


def adapter_label(adapter: str | os.PathLike) -> str:
    """A results-folder name for an adapter: its fine-tuning --out-dir's name (not the inner ``adapter``)."""
    from .loading import find_adapter

    folder = find_adapter(adapter).resolve()
    return folder.parent.name if folder.name == "adapter" else folder.name


def results_folder(results_dir: str | os.PathLike, model_name: str, answer_type: str) -> Path:
    """``<results_dir>/<basename(model_name)>/<answer_type>``, the official layout."""
    return Path(results_dir) / model_label(model_name) / answer_type


def write_json_atomic(path: Path, data) -> None:
    """Write ``data`` as JSON (indent 4, as output.py) to a temporary file in the same folder, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_done(path: Path) -> list[dict] | None:
    """A finished video's results, or None if the file is absent or not a result list."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return rows if isinstance(rows, list) and all(isinstance(r, dict) for r in rows) else None


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
    result file is already there is not asked again (so an interrupted run resumes).
    A clip that is missing, unreadable or over the visual-token budget is reported by name
    and skipped, not scored. Any other error (out of GPU memory, Ctrl-C) stops the run:
    what was written stays, and the same call resumes after it.
    ``model_name`` names the results folder (default: the model's own name). The vision
    budget is the course's ``total_pixels`` (8 GB cards); the official run sets none.
    """
    from tqdm.auto import tqdm

    from .video import probe_video

    bench = read_benchmark(data_dir, datasources, limit)
    if not bench.videos and not bench.missing:
        raise BenchmarkDataError(f"{data_dir} holds no usable questions:\n" + bench.describe())
    name = model_name or getattr(model, "name_or_path", "") or "model"
    out_dir = results_folder(results_dir, name, answer_type)
    report = RunReport(out_dir, problems=list(bench.problems))
    report.skipped += [(v.name, f"clip not found in {v.datasource}/clips/") for v in bench.missing]
    bar = tqdm(bench.videos, desc=f"{model_label(name)} · {answer_type}", unit="video", disable=not progress)
    for video in bar:
        target = out_dir / video.datasource / f"{video.video_id}.json"
        done = _read_done(target) if target.exists() else None
        if done is not None:
            report.resumed.append(video.name)
            report.rows += done
            continue
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


# ---------------------------------------------------------------- loading results (the course's or the official ones)


def load_results(results_dir: str | os.PathLike, problems: list[str] | None = None) -> list[dict]:
    """Every result object under ``results_dir``, at any depth (as calculate_accuracy.py globs ``**/*.json``).

    Each row gets ``_model`` and ``_answer_type`` (from ``<model>/<answer_type>/<datasource>/``
    when the path has them; the answer type is otherwise read from the prompt), ``_index``
    (its position in its file) and ``_seconds`` when the course's timing file is there.
    Files that are not result lists are reported in ``problems``.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"No results folder at {root}: run run_benchmark() or the official harness first.")
    problems = [] if problems is None else problems
    timings = _load_timings(root)
    rows = []
    for path in sorted(root.glob("**/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: not readable JSON ({exc}); skipped.")
            continue
        if not isinstance(data, list):
            problems.append(f"{path}: expected a list of results, got {type(data).__name__}; skipped.")
            continue
        parts = path.relative_to(root).parts
        model, answer_type = (parts[-4], parts[-3]) if len(parts) >= 4 else ("", "")
        for index, item in enumerate(data):
            if not isinstance(item, dict) or "is_correct" not in item:
                continue
            row = dict(item)
            row["_model"] = model or "model"
            row["_answer_type"] = answer_type or _answer_type_of(item.get("prompt"))
            row["_index"] = index
            row["_file"] = str(path)
            key = (str(path.parent.parent), item.get("datasource"), item.get("video_id"), index)
            if key in timings:
                row["_seconds"] = timings[key]
            rows.append(row)
    return rows


def _load_timings(root: Path) -> dict[tuple, float]:
    found = {}
    for path in root.glob(f"**/{TIMINGS_FILE}"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                t = json.loads(line)
                found[(str(path.parent), t["datasource"], t["video_id"], t["index"])] = float(t["seconds"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line cut by an interruption
    return found


def _prompt_text(prompt) -> str:
    """The user text of a stored prompt (the chat list of the official run, or a plain string)."""
    if isinstance(prompt, str):
        return prompt
    texts = []
    for message in prompt or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and message.get("role") == "user":
            texts.append(content)
        elif isinstance(content, list):
            texts += [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(texts)


def _answer_type_of(prompt) -> str:
    return "reasoning" if "<think>" in _prompt_text(prompt) else "letter"


def option_letters(prompt) -> set[str]:
    """The option letters a stored prompt offered (its ``(A) ...`` lines)."""
    return set(_OPTION_LINE.findall(_prompt_text(prompt)))


def pair_results(rows_a: list[dict], rows_b: list[dict]) -> tuple[list[bool], list[bool]]:
    """The correctness of A and B on the questions both answered, matched by (datasource, video, position)."""
    def key(r):
        return r["datasource"], r["video_id"], r["_index"]

    b_by_key = {key(r): bool(r["is_correct"]) for r in rows_b}
    pairs = [(bool(r["is_correct"]), b_by_key[key(r)]) for r in rows_a if key(r) in b_by_key]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def select(rows: list[dict], model: str | None = None, answer_type: str | None = None) -> list[dict]:
    """The loaded results of one model (its results-folder name) and/or one answer type."""
    return [r for r in rows if (model is None or r["_model"] == model_label(model))
            and (answer_type is None or r["_answer_type"] == answer_type)]


def compare_models(rows: list[dict], model_a: str, model_b: str, answer_type: str) -> dict:
    """A table row: both accuracies on the questions both answered, A - B with its normal and bootstrap intervals."""
    a, b = pair_results(select(rows, model_a, answer_type), select(rows, model_b, answer_type))
    if len(a) < 2:
        raise ValueError(f"{model_label(model_a)} and {model_label(model_b)} share {len(a)} {answer_type} "
                         "question(s): run both on the same folder first.")
    diff = paired_difference(a, b)
    low, high = paired_bootstrap(a, b)
    return {"mode": answer_type, "questions": diff.n, f"{model_label(model_a)}": f"{100 * sum(a) / diff.n:.1f}%",
            f"{model_label(model_b)}": f"{100 * sum(b) / diff.n:.1f}%",
            "A - B (points)": round(100 * diff.difference, 1),
            "95% normal": f"{100 * diff.low:+.0f} to {100 * diff.high:+.0f}",
            "95% bootstrap": f"{100 * low:+.0f} to {100 * high:+.0f}",
            "only A right": diff.only_a, "only B right": diff.only_b}


def summarize(rows: list[dict]) -> list[dict]:
    """One table row per (model, mode, datasource) plus an "all" row per (model, mode).

    Columns: questions, accuracy % and its 95% Wilson interval; format failures (share of
    replies the official format reward scores 0; reasoning mode only); no letter (the
    scorer found none); letter not an option; mean reasoning length in words; mean
    seconds per question (course runs only: the official harness does not time questions).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for ds in (r["datasource"], "all"):
            groups.setdefault((r["_model"], r["_answer_type"], ds), []).append(r)
    table = []
    for (model, answer_type, ds), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                   kv[0][2] == "all", kv[0][2])):
        n = len(group)
        correct = sum(bool(r["is_correct"]) for r in group)
        low, high = wilson_interval(correct, n)
        answered = [r for r in group if r.get("answer")]
        off = sum(1 for r in answered if option_letters(r.get("prompt")) and
                  r["answer"].upper() not in option_letters(r.get("prompt")))
        reasoning = [len(str(r.get("reasoning", "")).split()) for r in group]
        seconds = [r["_seconds"] for r in group if "_seconds" in r]
        fmt = (f"{100 * sum(format_reward(r.get('full_response', '')) == 0 for r in group) / n:.0f}%"
               if answer_type == "reasoning" else "n/a")
        table.append({
            "model": model, "mode": answer_type, "datasource": ds, "questions": n,
            "accuracy": f"{100 * correct / n:.1f}%", "95% interval": f"{100 * low:.0f}-{100 * high:.0f}%",
            "format failures": fmt,
            "no letter": f"{100 * (n - len(answered)) / n:.0f}%",
            "letter not an option": f"{100 * off / n:.0f}%",
            "reasoning words": round(sum(reasoning) / n, 1),
            "s / question": round(sum(seconds) / len(seconds), 2) if seconds else None,
        })
    return table


def plot_comparison(rows: list[dict], model_a: str, model_b: str, answer_type: str = "reasoning"):
    """Accuracy per datasource of two models (bars, 95% Wilson intervals) and their paired difference."""
    import matplotlib.pyplot as plt

    a, b = select(rows, model_a, answer_type), select(rows, model_b, answer_type)
    model_a, model_b = model_label(model_a), model_label(model_b)
    datasources = sorted({r["datasource"] for r in a + b})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.38
    for shift, (label, group) in zip((-width / 2, width / 2), ((model_a, a), (model_b, b))):
        xs, ys, errs = [], [], [[], []]
        for i, ds in enumerate(datasources):
            mine = [r for r in group if r["datasource"] == ds]
            if not mine:
                continue
            k, n = sum(bool(r["is_correct"]) for r in mine), len(mine)
            low, high = wilson_interval(k, n)
            xs.append(i + shift)
            ys.append(100 * k / n)
            errs[0].append(100 * (k / n - low))
            errs[1].append(100 * (high - k / n))
        ax1.bar(xs, ys, width, yerr=errs, capsize=4, label=label)
    ax1.set_xticks(range(len(datasources)), datasources)
    ax1.set_ylabel("accuracy (% of questions)")
    ax1.set_ylim(0, 100)
    ax1.set_title(f"{answer_type} mode, 95% Wilson intervals")
    ax1.legend(fontsize=8)
    pa, pb = pair_results(a, b)
    if len(pa) >= 2:
        diff = paired_difference(pa, pb)
        ax2.errorbar([0], [100 * diff.difference], yerr=[[100 * (diff.difference - diff.low)],
                                                         [100 * (diff.high - diff.difference)]],
                     fmt="o", capsize=6)
        ax2.set_title(f"paired difference, n = {diff.n}")
    ax2.axhline(0, color="grey", lw=1)
    ax2.set_xticks([0], [f"{model_a}\nminus {model_b}"], fontsize=8)
    ax2.set_ylabel("difference (percentage points)")
    fig.tight_layout()
    plt.show()
    return fig


# ---------------------------------------------------------------- a fixture from the course clips

# Two datasources, questions about the course's own clips, plus what real folders contain:
# a listed-but-missing clip, a malformed entry, both answer keys, qa_pairs as a list and as one object.
_FIXTURE = {
    "toy_driving": {
        "clips": {"road_turn": "road_turn.mp4"},
        "entries": [
            {"video": "clips/road_turn.mp4", "qa_pairs": [
                {"question": "What should the driver do next?",
                 "index2ans": {"A": "Stop and wait at the crossing", "B": "Turn right without stopping",
                               "C": "Speed up"}, "answer": "A"},
                {"question": "Is someone on the crosswalk?", "index2ans": {"A": "Yes", "B": "No"},
                 "correct_answer": "A"}]},
            {"video": "clips/night_drive.mp4", "qa_pairs": {
                "question": "Is the road wet?", "index2ans": {"A": "Yes", "B": "No"}, "answer": "B"}},
            {"qa_pairs": {"question": "An entry without a video.", "index2ans": {"A": "x", "B": "y"},
                          "answer": "A"}},
        ],
    },
    "toy_robot": {
        "clips": {"agent_pick": "agent_pick.mp4", "ball_bounce": "ball_bounce.mp4"},
        "entries": [
            {"video": "clips/agent_pick.mp4", "qa_pairs": {
                "question": "What is the most plausible next immediate subtask?",
                "index2ans": {"A": "Place the green package into the shopping cart",
                              "B": "Put the package back on the shelf", "C": "Drop the package on the floor",
                              "D": "Push the shopping cart away"}, "answer": "A"}},
            {"video": "clips/ball_bounce.mp4", "qa_pairs": [
                {"question": "Is the video playing forward or backward?",
                 "index2ans": {"A": "forward", "B": "backward"}, "answer": "A"},
                {"question": "Is each bounce higher or lower than the one before?",
                 "index2ans": {"A": "higher", "B": "lower"}, "answer": "B"}]},
        ],
    },
}


def make_fixture(dest: str | os.PathLike, assets: str | os.PathLike | None = None, seconds: float = 3.0) -> Path:
    """Write a tiny benchmark folder in the official layout into ``dest`` and return ``dest``.

    Two datasources (``toy_driving``, ``toy_robot``) built from the course's own clips,
    trimmed to ``seconds``; 5 answerable questions, one listed clip that is missing
    (``toy_driving/night_drive``) and one malformed entry (no ``video``). The questions
    are the course's; none comes from the real benchmark.
    """
    from .video import find_assets, trim_video

    dest, assets = Path(dest), Path(assets) if assets else find_assets()
    for datasource, spec in _FIXTURE.items():
        clips = dest / datasource / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        for video_id, source in spec["clips"].items():
            target = clips / f"{video_id}.mp4"
            if not target.exists():
                trim_video(assets / source, target, 0, seconds)
        write_json_atomic(qa_file(dest, datasource), spec["entries"])
    return dest


# ---------------------------------------------------------------- a real slice from the hub


def slice_files(datasource: str, revision: str = BENCHMARK_REVISION, api=None) -> dict[str, int]:
    """The files of one datasource at ``revision`` with their sizes in bytes (one metadata call, no download)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    info = api.dataset_info(BENCHMARK_REPO, revision=revision, files_metadata=True)
    files = {s.rfilename: int(s.size or 0) for s in info.siblings if s.rfilename.startswith(f"{datasource}/")}
    if f"{datasource}/{datasource}_benchmark_qa_pairs.json" not in files:
        raise BenchmarkDataError(
            f"{BENCHMARK_REPO} at revision {revision[:12]} has no {datasource}/{datasource}_benchmark_qa_pairs.json. "
            f"Its folders: {sorted({s.rfilename.split('/')[0] for s in info.siblings if '/' in s.rfilename})}."
        )
    return files


def extract_clips(archive: str | os.PathLike, names: Sequence[str], dest: str | os.PathLike) -> list[Path]:
    """Unpack only the clips called ``names`` (file names) from a .tar.gz into ``dest``; returns what was written.

    Each clip is written under its own file name, so no path in the archive can escape ``dest``.
    """
    dest, wanted, written = Path(dest), set(names), []
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if member.isfile() and base in wanted:
                with tar.extractfile(member) as src, open(dest / base, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(dest / base)
                wanted.discard(base)
                if not wanted:
                    break
    return written


def choose_entries(entries: list, n_videos: int) -> list[dict]:
    """The first ``n_videos`` well-formed entries in video order (deterministic, so the slice is repeatable)."""
    good = [e for e in entries if isinstance(e, dict) and isinstance(e.get("video"), str)
            and e["video"].startswith("clips/")]
    return sorted(good, key=lambda e: e["video"])[:n_videos]


def download_slice(dest: str | os.PathLike, datasource: str = "robovqa", n_videos: int = 10, *,
                   revision: str = BENCHMARK_REVISION, confirm: bool = True, api=None) -> Path:
    """Download a small slice of the official benchmark into ``dest`` (official layout); return ``dest``.

    Lists the files and their sizes first (and asks before downloading when ``confirm``),
    downloads the datasource's question file, keeps its first ``n_videos`` videos, then
    fetches only their clips (``allow_patterns``) or, where the clips come as one archive,
    that archive, unpacking only the chosen clips. Needs internet access (and, for some
    datasources, accepted terms on the hub).
    """
    from huggingface_hub import snapshot_download

    files = slice_files(datasource, revision, api)
    qa_name = f"{datasource}/{datasource}_benchmark_qa_pairs.json"
    loose = {f: s for f, s in files.items() if f.startswith(f"{datasource}/clips/")}
    archives = {f: s for f, s in files.items() if f.startswith(f"{datasource}/clips") and f.endswith(".tar.gz")}
    print(f"{BENCHMARK_REPO} @ {revision[:12]}, {datasource}: question file {files[qa_name] / 1e6:.2f} MB; "
          f"clips: {len(loose)} loose files ({sum(loose.values()) / 1e6:.0f} MB), "
          f"{len(archives)} archive(s) ({sum(archives.values()) / 1e6:.0f} MB)")
    common = {"repo_id": BENCHMARK_REPO, "repo_type": "dataset", "revision": revision}
    local = Path(snapshot_download(allow_patterns=[qa_name], **common))
    chosen = choose_entries(json.loads((local / qa_name).read_text(encoding="utf-8")), n_videos)
    wanted = [f"{datasource}/{e['video']}" for e in chosen]
    if loose:
        patterns = [w for w in wanted if w in loose]
        size = sum(loose[w] for w in patterns)
    else:
        patterns = sorted(archives)
        size = sum(archives.values())
    print(f"{len(chosen)} videos chosen; about to download {size / 1e6:.1f} MB ({len(patterns)} file(s)).")
    if confirm and input("Download? [y/N] ").strip().lower() not in ("y", "yes"):
        raise SystemExit("Nothing downloaded.")
    local = Path(snapshot_download(allow_patterns=[qa_name, *patterns], **common))
    clips = Path(dest) / datasource / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    names = [os.path.basename(e["video"]) for e in chosen]
    if loose:
        for name in names:
            src = local / datasource / "clips" / name
            if src.exists():
                shutil.copy2(src, clips / name)
    else:
        for archive in patterns:
            extract_clips(local / archive, names, clips)
    write_json_atomic(qa_file(dest, datasource), chosen)
    return Path(dest)


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--quantization", default="auto", help="auto (nf4 on a GPU), nf4, int8, bf16, ...")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter saved by `python -m "
                        "cosmos_nb_utils.finetune` (its --out-dir), applied over the model")
    args = parser.parse_args(argv)

    try:
        bench = read_benchmark(args.data_dir, args.datasources, args.limit)
    except BenchmarkDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(bench.describe())
    if not bench.videos:
        print(f"error: {args.data_dir} holds no question with a clip to answer.", file=sys.stderr)
        return 2

    from .loading import ALIASES, ModelLoadError, default_model, find_adapter, load_model

    if args.adapter is not None:
        try:
            find_adapter(args.adapter)
        except ModelLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    model_id = args.model or default_model()
    model_id = ALIASES.get(model_id.lower(), model_id)
    start = time.perf_counter()
    model, processor = load_model(model_id, args.quantization, adapter=args.adapter)
    adapter_note = f" with adapter {args.adapter}" if args.adapter else ""
    print(f"loaded {model_id}{adapter_note} in {time.perf_counter() - start:.0f} s"
          + (" (the tiny random model: its accuracy is chance)" if model_facts(model).tiny else ""))
    name = model_id if args.adapter is None else f"{model_label(model_id)}+{adapter_label(args.adapter)}"
    report = run_benchmark(model, processor, args.data_dir, args.results_dir, model_name=name,
                           answer_type=args.answer_type, limit=args.limit, datasources=args.datasources,
                           seed=args.seed, max_retries=args.max_retries)
    print(report.summary())
    return 0 if report.rows else 1


if __name__ == "__main__":
    sys.exit(main())
