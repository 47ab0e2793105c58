"""Chat messages for Cosmos-Reason1: the reasoning format and multiple-choice questions."""

from __future__ import annotations

import os
import string
from collections.abc import Sequence

from .video import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS

# The official reasoning instruction: think first, then answer, each in its own tags.
REASONING_SYSTEM = (
    "You are a helpful assistant. Answer the question in the following format: "
    "<think>\nyour reasoning\n</think>\n\n<answer>\nyour answer\n</answer>."
)
PLAIN_SYSTEM = "You are a helpful assistant."
# The official MCQ benchmark's closing instruction.
MCQ_INSTRUCTION = "Answer with the option's letter from the given choices directly."


def build_messages(
    question: str,
    video: str | os.PathLike,
    *,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    system: str | None = None,
    reasoning: bool = True,
) -> list[dict]:
    """Chat messages asking ``question`` about ``video``.

    With ``reasoning=True`` (Cosmos-Reason1's way) the system prompt asks for
    ``<think>...</think>`` then ``<answer>...</answer>``; with ``False`` a plain
    assistant prompt is used (the way to ask the base Qwen2.5-VL). ``system``
    overrides either. The video comes before the question, as in the official examples.
    """
    if not question or not question.strip():
        raise ValueError("The question is empty: write what you want to ask about the video.")
    system = system if system is not None else (REASONING_SYSTEM if reasoning else PLAIN_SYSTEM)
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": [
                {"type": "video", "video": str(video), "fps": fps, "total_pixels": total_pixels},
                {"type": "text", "text": question.strip()},
            ],
        },
    ]


def format_mcq(question: str, options: Sequence[str], *, reasoning: bool = False) -> str:
    """The official benchmark layout: the question, ``(A) option`` lines, then the instruction.

    The reasoning variant asks for a single letter inside the ``<answer>`` tags.
    """
    if not 2 <= len(options) <= 26:
        raise ValueError(f"Give between 2 and 26 options, got {len(options)}.")
    lines = [question.strip()]
    lines += [f"({letter}) {option.strip()}" for letter, option in zip(string.ascii_uppercase, options)]
    if reasoning:
        lines.append("Answer with the option's letter from the given choices inside <answer></answer>, "
                     "after your reasoning in <think></think>.")
    else:
        lines.append(MCQ_INSTRUCTION)
    return "\n".join(lines)
