"""Chat messages for Cosmos-Reason1: the reasoning format and multiple-choice questions.

The prompt texts themselves are official and live in :mod:`cosmos_nb_utils.official`.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence

from .official import PLAIN_SYSTEM, REASONING_SYSTEM, benchmark_prompt
from .video import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS

__all__ = ["PLAIN_SYSTEM", "REASONING_SYSTEM", "build_messages", "format_mcq", "options_dict"]


def build_messages(
    question: str,
    video: str | os.PathLike,
    *,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    system: str | None = None,
    reasoning: bool = True,
    max_pixels: int | None = None,
) -> list[dict]:
    """Chat messages asking ``question`` about ``video``.

    With ``reasoning=True`` (Cosmos-Reason1's way) the system prompt asks for
    ``<think>...</think>`` then ``<answer>...</answer>``; with ``False`` a plain
    assistant prompt is used (the way to ask the base Qwen2.5-VL). ``system``
    overrides either. ``max_pixels`` caps each frame (with the floor lowered to it: ``video.plan.frame_floor``),
    as NVIDIA's RL example asks. The video comes before the question, as the official benchmark
    harness puts it (``utils/input.py``; the release's README example put the text first).
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("The question is empty: write what you want to ask about the video.")
    if system is not None and not isinstance(system, str):
        raise ValueError(f"system must be a string (the system prompt), got {type(system).__name__}.")
    system = system if system is not None else (REASONING_SYSTEM if reasoning else PLAIN_SYSTEM)
    video_part = {"type": "video", "video": str(video), "fps": fps, "total_pixels": total_pixels}
    if max_pixels is not None:
        from .video.plan import frame_floor

        video_part.update(max_pixels=max_pixels, min_pixels=frame_floor(max_pixels))
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": [
                video_part,
                {"type": "text", "text": question.strip()},
            ],
        },
    ]


def options_dict(options: Sequence[str]) -> dict[str, str]:
    """``{"A": first option, "B": ...}``, the benchmark's ``index2ans``."""
    if isinstance(options, str) or not 2 <= len(options) <= 26:
        raise ValueError(f"Give between 2 and 26 options as a list of strings, got {options!r}.")
    if not all(isinstance(o, str) and o.strip() for o in options):
        raise ValueError("Every option must be a non-empty string.")
    return dict(zip(string.ascii_uppercase, options))


def format_mcq(question: str, options: Sequence[str], *, reasoning: bool = False) -> str:
    """A multiple-choice question exactly as the official benchmark writes it.

    The question, ``(A) option`` lines, "Answer with the option's letter from the given
    choices directly."; with ``reasoning=True`` the benchmark's reasoning line follows
    (``<think> your reasoning </think> <answer> your single letter answer </answer>``).
    The benchmark asks it under the system prompt ``official.BENCHMARK_SYSTEM``.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("The question is empty: write the question before the options.")
    return benchmark_prompt(question, options_dict(options), "reasoning" if reasoning else "letter")
