"""Scoring: the official scorer of one reply, results read back (the course's or the official harness's), tables.

Result files are found as ``calculate_accuracy.py`` finds them (``**/*.json``), in the layout of
:mod:`cosmos_nb_utils.benchmark_data`; intervals come from :mod:`cosmos_nb_utils.stats`. The plot of two
models is :func:`cosmos_nb_utils.display.plot_comparison`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .benchmark_data import TIMINGS_FILE, model_label
from .official import benchmark_is_correct, format_reward, parse_benchmark_answer
from .stats import paired_bootstrap, paired_difference, wilson_interval

_OPTION_LINE = re.compile(r"^\(([A-Z])\) ", re.M)


def score_letter(text: str, key: str, answer_type: str = "reasoning") -> bool:
    """The official MCQ scorer (``utils/output.py``, via :mod:`.official`).

    Reasoning mode: the first capital letter inside the first closed ``<answer>`` block;
    letter mode: the first capital letter of the whole reply; compared with ``key``
    ignoring case. An answer with no letter is wrong.
    """
    answer, _ = parse_benchmark_answer(text, answer_type)
    return bool(answer) and benchmark_is_correct(answer, key.strip())


def load_results(results_dir: str | os.PathLike, problems: list[str] | None = None) -> list[dict]:
    """Every result object under ``results_dir``, at any depth (as calculate_accuracy.py globs ``**/*.json``).

    Each row gets ``_model`` and ``_answer_type`` (from ``<model>/<answer_type>/<datasource>/``
    when the path has them; the answer type is otherwise read from the prompt), ``_index``
    (its position in its file) and ``_seconds`` when the course's timing file is there.
    Files that are not result lists (not UTF-8, not JSON, too deeply nested) and rows that do not
    follow the result schema (:func:`row_problem`) are reported in ``problems`` and skipped; a question
    found again under another folder (the same run copied twice) is counted once, and reported.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"No results folder at {root}: run run_benchmark() or the official harness first.")
    problems = [] if problems is None else problems
    timings = _load_timings(root)
    rows, first_file = [], {}
    for path in sorted(root.glob("**/*.json")):
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: not readable JSON ({exc}); skipped.")
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 text (byte {exc.start}); skipped.")
            continue
        except RecursionError:
            problems.append(f"{path}: JSON nested too deeply to read; skipped.")
            continue
        if not isinstance(data, list):
            problems.append(f"{path}: expected a list of results, got {type(data).__name__}; skipped.")
            continue
        parts = path.relative_to(root).parts
        model, answer_type = (parts[-4], parts[-3]) if len(parts) >= 4 else ("", "")
        bad = [(index, why) for index, item in enumerate(data) if (why := row_problem(item))]
        if bad:
            index, why = bad[0]
            problems.append(f"{path}: {len(bad)} of its {len(data)} rows do not follow the result schema (row "
                            f"{index}: {why}); those rows skipped.")
        bad_rows = {index for index, _ in bad}
        for index, item in enumerate(data):
            if index in bad_rows:
                continue
            seen = (model or "model", answer_type or _answer_type_of(item.get("prompt")), item["datasource"],
                    item["video_id"], index)
            if seen in first_file:
                if first_file[seen] != path:
                    problems.append(f"{path}: the same model, mode and question as {first_file[seen]} (a copy of "
                                    "the same run?); counted once.")
                    first_file[seen] = path  # one message per file
                continue
            first_file[seen] = path
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


def row_problem(row) -> str | None:
    """Why ``row`` is not a result the scorer can count (the official schema's types), or None.

    ``is_correct`` must be true or false (the text "false" is not), ``datasource`` and ``video_id``
    text, and ``answer``, ``reasoning``, ``full_response`` text where present; ``prompt`` a chat list or text.
    """
    if not isinstance(row, dict):
        return f"a result must be an object, got {type(row).__name__}"
    if not isinstance(row.get("is_correct"), bool):
        return f"'is_correct' must be true or false, got {row.get('is_correct')!r}"
    for key in ("datasource", "video_id"):
        if not isinstance(row.get(key), str):
            return f"{key!r} must be text, got {row.get(key)!r}"
    for key in ("answer", "reasoning", "full_response"):
        if key in row and not isinstance(row[key], str):
            return f"{key!r} must be text, got {type(row[key]).__name__}"
    if "prompt" in row and not isinstance(row["prompt"], str | list):
        return f"'prompt' must be a chat list or text, got {type(row['prompt']).__name__}"
    return None


def _load_timings(root: Path) -> dict[tuple, float]:
    found = {}
    for path in root.glob(f"**/{TIMINGS_FILE}"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # timings are optional: a damaged file only loses the seconds column
        for line in text.splitlines():
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
    if not isinstance(prompt, list):
        return ""
    texts = []
    for message in prompt:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and message.get("role") == "user":
            texts.append(content)
        elif isinstance(content, list):
            texts += [c["text"] for c in content
                      if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)]
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


