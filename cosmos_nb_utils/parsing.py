"""Read a model's reply for display: the ``<think>`` reasoning, the ``<answer>``, a direction, cited times.

These are the course's lenient readers, for showing a reply to a person. Scoring uses the
official rules in :mod:`cosmos_nb_utils.official` (``extract_letter`` below is one of them).
Every function here is total (never raises, any input) and runs in linear time.
"""

from __future__ import annotations

import re

from .official import parse_benchmark_answer

# <think>, </think>, <answer>, </answer>, also with stray spaces or capitals ("< Answer >").
_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.I)


def _tags(text: str) -> list[tuple[int, int, bool, str]]:
    """(start, end, is_closing, name) of every think/answer tag, in order."""
    return [(m.start(), m.end(), bool(m.group(1)), m.group(2).lower()) for m in _TAG.finditer(text)]


def _untag(text: str) -> str:
    return _TAG.sub("", text).strip()


def parse_reasoning(text: str) -> tuple[str, str]:
    """Split a reply into ``(think, answer)``; never raises.

    - the answer is the first ``<answer>`` block: from its opening tag to the next answer tag
      (a closing one, or a nested opening one), or to the end of the text if none follows;
    - the reasoning is every ``<think>`` block before the answer, joined; a ``</think>`` with
      no opening tag before it (the opening tag was in the prompt) closes a block that
      starts at the beginning of the text;
    - with no ``<answer>`` tag, the answer is the text after the last ``</think>`` (or, with
      no think block, the whole text), tags removed;
    - tags are matched case-insensitively and with stray spaces (``< answer >``).
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    tags = _tags(text)
    first_answer = next((i for i, t in enumerate(tags) if t[3] == "answer" and not t[2]), None)
    head_end = tags[first_answer][0] if first_answer is not None else len(text)

    thinks: list[str] = []
    opened: int | None = None
    last_think_end = 0
    for start, end, closing, name in tags:
        if start >= head_end:
            break
        if name != "think":
            continue
        if not closing:
            if opened is None:
                opened = end
        else:
            begin = opened if opened is not None else (0 if not thinks else None)
            if begin is not None:
                thinks.append(text[begin:start])
            opened, last_think_end = None, end
    if opened is not None:  # an unclosed <think> runs up to the answer (or the end)
        thinks.append(text[opened:head_end])
        last_think_end = head_end
    think = "\n".join(t for t in (_untag(x) for x in thinks) if t)

    if first_answer is not None:
        begin = tags[first_answer][1]
        following = next((t for t in tags[first_answer + 1:] if t[3] == "answer"), None)
        answer = text[begin:following[0] if following else len(text)]
    else:
        answer = text[last_think_end:]
    return think, _untag(answer)


def extract_letter(text: str, answer_type: str = "reasoning") -> str | None:
    """The chosen option as the official benchmark scorer reads it, or ``None``.

    Reasoning mode: the first capital letter inside the first closed ``<answer>`` block
    (no closed block: no letter). Letter mode: the first capital letter of the reply.
    See :func:`cosmos_nb_utils.official.parse_benchmark_answer`.
    """
    letter, _ = parse_benchmark_answer(text, answer_type)
    return letter or None


# A number: digits with optional ".digits" or ":digits" groups (0:07, 1:02:03, 3.50).
_NUMBER = re.compile(r"\d+(?:[.:]\d+)*")
_UNIT_AFTER = re.compile(r"\s*(?:s|secs?|seconds?)\b", re.I)
_LABEL_BEFORE = re.compile(r"(?:\bt\s*=\s*|\bframes?\s+)$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WINDOW = 16  # characters looked at around a number: keeps the scan linear


def _seconds(token: str, text: str, start: int, end: int) -> float | None:
    """The time ``token`` stands for, or ``None`` if it is not a time."""
    if ":" in token:
        parts = token.split(":")
        if len(parts) > 3 or any("." in p for p in parts[:-1]) or parts[-1].count(".") > 1:
            return None
        if any(len(p.split(".")[0]) != 2 or float(p) >= 60 for p in parts[1:]):
            return None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
        return seconds
    if token.count(".") > 1:
        return None
    if _UNIT_AFTER.match(text, end, min(len(text), end + _WINDOW)) or _LABEL_BEFORE.search(
        text, max(0, start - _WINDOW), start
    ):
        return float(token)
    return None


def parse_timestamps(text: str) -> list[tuple[float, str]]:
    """Times (seconds) cited in ``text``, each with the sentence that cites it, in order.

    Reads ``3.5 s``, ``3.50s``, ``12 seconds``, ``t=4.2``, ``Frame 6.63``, ``0:07`` and
    ``1:02:03`` (hours); a bare number is not a time.
    """
    if not isinstance(text, str):
        return []
    found: list[tuple[float, str]] = []
    for sentence in _SENTENCE_END.split(text):
        for m in _NUMBER.finditer(sentence):
            seconds = _seconds(m.group(0), sentence, m.start(), m.end())
            if seconds is not None:
                found.append((seconds, sentence.strip()))
    return found


def parse_direction(text: str) -> str | None:
    """``"forward"`` or ``"backward"`` as the answer says it (``None`` if it says neither or both)."""
    _, answer = parse_reasoning(text)
    words = answer.lower()
    said = {d for d in ("forward", "backward") if d in words}
    if not said and re.search(r"\breverse", words):
        said = {"backward"}
    return said.pop() if len(said) == 1 else None
