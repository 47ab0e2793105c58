"""Read a model's text: the ``<think>`` reasoning, the ``<answer>``, a chosen letter, cited times."""

from __future__ import annotations

import re

_THINK = re.compile(r"<\s*think\s*>(.*?)(?:<\s*/\s*think\s*>|$)", re.S | re.I)
_ANSWER = re.compile(r"<\s*answer\s*>(.*?)(?:<\s*/\s*answer\s*>|$)", re.S | re.I)
_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.I)
_LETTER = re.compile(r"[A-Z]")
# "3.5 s", "12.00s", "t=4.2", "Frame 6.63", "at 0:07", "(9.97 seconds)"
_TIME = re.compile(
    r"(?:(?P<m>\d{1,2}):(?P<s>\d{2}(?:\.\d+)?))"
    r"|(?:(?:t\s*=\s*|frames?\s+)(?P<a>\d+(?:\.\d+)?))"
    r"|(?:(?P<b>\d+(?:\.\d+)?)\s*(?:s\b|sec\b|secs\b|seconds?\b))",
    re.I,
)


def parse_reasoning(text: str) -> tuple[str, str]:
    """Split a reply into ``(think, answer)``; never raises.

    - the last ``<answer>`` block wins (an unclosed one runs to the end of the text);
    - all ``<think>`` blocks are joined; an unclosed one stops at ``<answer>``;
    - with no ``<answer>`` tag, the text outside any ``<think>`` block is the answer;
    - tags are matched case-insensitively and with stray spaces (``< answer >``).
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    answers = _ANSWER.findall(text)
    answer_start = next((m.start() for m in _ANSWER.finditer(text)), len(text))
    head = text[:answer_start]
    thinks = [t for t in _THINK.findall(head)]
    think = "\n".join(t.strip() for t in thinks if t.strip())
    if answers:
        answer = _TAG.sub("", answers[-1]).strip()
    else:
        outside = _THINK.sub("", text)
        answer = _TAG.sub("", outside).strip()
    return think, answer


def extract_letter(text: str) -> str | None:
    """The chosen option as the official MCQ scorer reads it: the first capital letter of the answer."""
    _, answer = parse_reasoning(text)
    match = _LETTER.search(answer)
    return match.group(0) if match else None


def parse_timestamps(text: str) -> list[tuple[float, str]]:
    """Times (seconds) cited in ``text``, each with the sentence that cites it, in order."""
    found: list[tuple[float, str]] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for m in _TIME.finditer(sentence):
            if m.group("m") is not None:
                seconds = int(m.group("m")) * 60 + float(m.group("s"))
            else:
                seconds = float(m.group("a") or m.group("b"))
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
