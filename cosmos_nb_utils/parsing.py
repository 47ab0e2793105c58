"""Read a model's reply for display: the ``<think>`` reasoning, the ``<answer>``, a direction, cited times.

These are the course's lenient readers, for showing a reply to a person. Scoring uses the
official rules in :mod:`cosmos_nb_utils.official` (``extract_letter`` below is one of them).
Every function here is total (never raises, any input) and runs in linear time.
"""

from __future__ import annotations

import math
import re

from .official import parse_benchmark_answer

# <think>, </think>, <answer>, </answer>, also with stray spaces or capitals ("< Answer >").
# Possessive quantifiers (``*+``, Python 3.11+): a whitespace run is read once and never split between
# two ``\s*`` (``<\s*(/?)\s*`` backtracked quadratically on "<" followed by a long run of spaces).
_TAG = re.compile(r"<\s*+(/?)\s*+(think|answer)\s*+>", re.I)


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


# A cited time, found in one pass: an optional label right before the number ("t = ", "Frame "), the number
# (digits with optional ".digits" or ":digits" groups: 0:07, 1:02:03, 3.50) and an optional unit right after
# it ("s", "sec", "seconds", as a whole word). Every quantifier is possessive (``++``, ``*+``, Python 3.11+)
# or bounded, and no two can match the same characters: no backtracking, and no Python call per number that
# is not a time (one regex call per number ran at about 10 us, 3 s for a megabyte of "1s ").
_GAP = 8  # at most this many spaces between a label or a unit and its number
_CITED = re.compile(
    rf"(?P<label>\bt\s{{0,{_GAP}}}+=\s{{0,{_GAP}}}+|\bframes?\s{{1,{_GAP}}}+)?+"
    r"(?P<number>\d++(?:[.:]\d++)*+)"
    rf"(?P<unit>\s{{0,{_GAP}}}+(?:s|secs?|seconds?)(?!\w))?+",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s++")


def _seconds(token: str, labelled: bool) -> float | None:
    """The time ``token`` stands for, or ``None`` if it is not a time (``labelled``: a label or unit goes with it)."""
    if ":" in token:
        if token.count(":") > 2:  # counted before splitting: a 1 MB "1:1:1:..." is not split into parts
            return None
        parts = token.split(":")
        if any("." in p for p in parts[:-1]) or parts[-1].count(".") > 1:
            return None
        if any(len(p.split(".")[0]) != 2 or float(p) >= 60 for p in parts[1:]):
            return None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
        return seconds if math.isfinite(seconds) else None
    if not labelled or token.count(".") > 1:
        return None
    seconds = float(token)  # fast for any length (a megabyte of digits: 2 ms)
    return seconds if math.isfinite(seconds) else None  # 400 digits are not a time


def parse_timestamps(text: str) -> list[tuple[float, str]]:
    """Times (seconds) cited in ``text``, each with the sentence that cites it, in order.

    Reads ``3.5 s``, ``3.50s``, ``12 seconds``, ``t=4.2``, ``Frame 6.63``, ``0:07`` and
    ``1:02:03`` (hours); a bare number is not a time.
    """
    if not isinstance(text, str):
        return []
    found: list[tuple[float, str]] = []
    # One pass over the text, walking the sentence ends alongside (no time can span one: a sentence end is
    # [.!?] and whitespace, which no label, number or unit contains). A sentence is copied once, when it
    # first cites a time, and shared by all its citations.
    ends = _SENTENCE_END.finditer(text)
    begin, end, sentence = 0, next(ends, None), None
    for m in _CITED.finditer(text):
        while end is not None and end.start() <= m.start():
            begin, end, sentence = end.end(), next(ends, None), None
        label, number, unit = m.group("label", "number", "unit")
        seconds = _seconds(number, bool(label or unit))
        if seconds is not None:
            if sentence is None:
                sentence = text[begin:end.start() if end is not None else len(text)].strip()
            found.append((seconds, sentence))
    return found


_REVERSE = re.compile(r"\breverse")


def parse_direction(text: str) -> str | None:
    """``"forward"`` or ``"backward"`` as the answer says it (``None`` if it says neither or both)."""
    _, answer = parse_reasoning(text)
    words = answer.lower()
    said = {d for d in ("forward", "backward") if d in words}
    if not said and _REVERSE.search(words):
        said = {"backward"}
    return said.pop() if len(said) == 1 else None
