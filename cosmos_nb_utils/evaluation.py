"""Score a model on your own labelled multiple-choice video questions, the official way."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .generation import ask
from .parsing import extract_letter
from .prompts import format_mcq


@dataclass
class MCQItem:
    """One labelled question: a video, the question, its options and the right letter."""

    video: str | os.PathLike
    question: str
    options: list[str]
    key: str
    name: str = ""
    extra: dict = field(default_factory=dict)


def score_letter(text: str, key: str) -> bool:
    """Official MCQ scoring: the first capital letter inside ``<answer>`` equals the key, ignoring case."""
    letter = extract_letter(text)
    return letter is not None and letter.lower() == key.strip().lower()


def evaluate_mcq(model, processor, items: list[MCQItem], *, reasoning: bool = True, stream: bool = False,
                 seed: int | None = 0, **ask_kwargs) -> tuple[list[dict], float]:
    """Ask every item, score it, and return (rows for a table, accuracy)."""
    from tqdm.auto import tqdm

    rows = []
    for item in tqdm(items, desc="questions"):
        prompt = format_mcq(item.question, item.options, reasoning=reasoning)
        result = ask(model, processor, prompt, item.video, reasoning=reasoning, stream=stream, seed=seed,
                     **ask_kwargs)
        letter = extract_letter(result.text)
        rows.append({
            "item": item.name or os.path.basename(str(item.video)),
            "key": item.key,
            "model letter": letter or "-",
            "correct": score_letter(result.text, item.key),
            "answer": result.answer[:60],
        })
    accuracy = sum(r["correct"] for r in rows) / len(rows) if rows else 0.0
    return rows, accuracy
