"""The text helpers run in linear time and memory, on inputs built from each pattern's own structure.

Every rule that reads model text (official.py's rules, parsing.py's readers) is run on texts made of the
pieces its patterns are built from (tag openers, whitespace runs, digits and separators, units, labels,
sentence ends), with long runs and many near-matches. Complexity is asserted robustly under load: the
same structure at 1x and 8x its size, compared in CPU time (``time.process_time``: other processes on a
loaded machine do not count) with a generous ratio (linear: about 8; quadratic: 64), and peak memory per
input character (deterministic: tracemalloc). No wall-clock bound.
The rewritten rules are also checked against the plain (backtracking) patterns they replace, on short
texts where those are fast.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_nb_utils import official as o
from cosmos_nb_utils import parsing
from cosmos_nb_utils.parsing import extract_letter, parse_direction, parse_reasoning, parse_timestamps

RULES = {
    "format_reward": o.format_reward,
    "single_choice_reward": lambda t: o.single_choice_reward(t, "A"),
    "benchmark reasoning": lambda t: o.parse_benchmark_answer(t, "reasoning"),
    "benchmark letter": lambda t: o.parse_benchmark_answer(t, "letter"),
    "parse_reasoning": parse_reasoning,
    "extract_letter": extract_letter,
    "parse_timestamps": parse_timestamps,
    "parse_direction": parse_direction,
}

# The pieces the patterns are made of: tags and their parts (parsing._TAG, FORMAT_PATTERN, first_block),
# whitespace, numbers and their separators, units and labels (parsing._CITED), sentence ends, the
# direction words, capitals (first_capital).
PIECES = ["<", "</", "/", ">", "< /", "<think>", "</think>", "<answer>", "</answer>", "< Answer >", "think",
          "answer", "THINK", "think>", "/think>", "answer>", " ", "\t", "\n", "\n\n", "1", "12", "0", ".", ":",
          "s", "sec", "seconds", "t", "=", "t = ", "frame", "frames ", ". ", "!", "?", "forward", "backward",
          "reverse", "A", "a", "x"]
piece = st.sampled_from(PIECES)
# A structure: segments of one piece repeated; at scale k each segment is repeated k times as often, so a
# single "<" followed by a run of spaces keeps its shape (one opener, a run k times longer).
segment = st.tuples(st.lists(piece, min_size=1, max_size=3).map("".join), st.integers(1, 40))
structure = st.lists(segment, min_size=1, max_size=5)


def build(segments, chars: int) -> str:
    """``segments`` scaled so that the text has about ``chars`` characters."""
    per_unit = sum(len(p) * n for p, n in segments)
    k = max(1, chars // per_unit)
    return "".join(p * (n * k) for p, n in segments)


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _abort_after(seconds: float):
    """Stop the block after ``seconds`` of this process's CPU time (Python's re checks for signals while it
    matches), so that a super-linear rule fails in seconds instead of running for minutes. Main thread on
    Unix only."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(*_):
        raise _TooSlow

    previous = signal.signal(signal.SIGVTALRM, stop)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def best_time(rule, text: str, repeats: int = 3, limit: float | None = None) -> float:
    """The fastest of ``repeats`` runs, in CPU seconds of this process (not wall-clock: on a loaded machine a
    long run is preempted more often than a short one, which would skew the ratio); ``inf`` as soon as one
    run passes ``limit``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        try:
            with _abort_after(limit) if limit else contextlib.nullcontext():
                rule(text)
        except _TooSlow:
            return float("inf")
        best = min(best, time.process_time() - start)
    return best


SMALL, RATIO, GENEROUS = 4_000, 8, 30  # linear ~8x, quadratic ~64x; 30 leaves room for a loaded machine
FLOOR_S = 0.05  # CPU seconds: an 8x run this fast cannot hide a quadratic rule (the old one took 18 s on 20 KB)


def assert_linear(name: str, rule, small: str, large: str) -> None:
    """``large`` is ``small``'s structure at 8x: its time must not grow like a square. Measured twice
    before failing; a run is stopped once it is past the ratio (a quadratic rule would otherwise run for
    minutes)."""
    for _ in range(2):
        allowed = max(FLOOR_S, GENEROUS * best_time(rule, small))
        t_large = best_time(rule, large, limit=allowed)  # past it, this attempt has failed: stop
        if t_large < allowed:
            return
    pytest.fail(f"{name}: {len(large):,} characters took {t_large:.3f} s, over {GENEROUS}x the time of "
                f"{len(small):,} (super-linear); text starts {large[:60]!r}")


# The classes of issue 22 and earlier reviews, named; the property test below generates others.
FAMILIES = {
    "opener then a whitespace run": [("<", 1), (" ", 2000)],
    "closing opener then a whitespace run": [("< /", 1), (" ", 2000)],
    "opener, run, name, run": [("<", 1), (" ", 1000), ("think", 1), (" ", 1000)],
    "many openers with short runs": [("< ", 1000)],
    "only openers": [("<", 2000)],
    "think then openers": [("<think>", 1), ("<", 2000)],
    "unclosed think with near-matches": [("<think>", 1), ("a<a", 700), ("</think>\n\n<answer>", 1)],
    "many closing answers": [("<think></think>\n\n<answer>", 1), ("</answer>x", 200)],
    "many unclosed answers": [("<answer>", 300)],
    "many tags": [("<think></think>", 150)],
    "one sentence citing many times": [("1s ", 700)],
    "many cited sentences": [("1s. ", 500)],
    "a number and a long run before its unit": [("1", 1), (" ", 2000), ("s", 1)],
    "colons": [("1:", 1000)],
    "dots": [("1.", 1000), (" s", 1)],
    "one long number": [("1", 2000), (" s", 1)],
    "labels without numbers": [("t= ", 700), ("frame ", 300)],
    "labelled numbers": [("frame 1 ", 300)],
    "sentence ends": [(". ", 1000)],
    "newlines": [("\n", 2000)],
    "direction words": [("reverse", 300)],
    "plain text": [("x", 2000)],
}


@pytest.mark.parametrize("family", FAMILIES, ids=list(FAMILIES))
def test_named_adversarial_families_are_linear(family):
    small = build(FAMILIES[family], SMALL)
    large = build(FAMILIES[family], SMALL * RATIO)
    for name, rule in RULES.items():
        assert_linear(f"{name} on {family!r}", rule, small, large)


@settings(max_examples=12, deadline=None)
@given(structure)
def test_generated_structures_are_linear(segments):
    small, large = build(segments, SMALL), build(segments, SMALL * RATIO)
    for name, rule in RULES.items():
        assert_linear(name, rule, small, large)


BYTES_PER_CHAR = 100  # the largest measured is about 35 (one citation per 4 characters: the output itself)


@pytest.mark.parametrize("family", FAMILIES, ids=list(FAMILIES))
def test_memory_is_bounded_per_input_character(family):
    """parse_timestamps kept a copy of a long sentence per citation (100 KB: 2.9 GB); the format regex
    kept a backtracking record per "<" (about 150 bytes per character)."""
    text = build(FAMILIES[family], 200_000)
    for name, rule in RULES.items():
        # Stopped far past linear growth from a 4k run (the time is checked above; this keeps a quadratic
        # rule from running for half an hour here).
        limit = max(2.0, 100 * best_time(rule, build(FAMILIES[family], SMALL)))
        tracemalloc.start()
        try:
            with _abort_after(limit):
                rule(text)
            peak = tracemalloc.get_traced_memory()[1]
        except _TooSlow:
            pytest.fail(f"{name}: {len(text):,} characters of {family!r} ran past {limit:.1f} s (super-linear)")
        finally:
            tracemalloc.stop()
        assert peak <= BYTES_PER_CHAR * len(text) + 2**20, f"{name}: {peak / 2**20:.1f} MB for {len(text):,} chars"


def test_citations_share_their_sentence():
    text = "It moves at " + ", ".join(f"{i} s" for i in range(1000)) + "."
    found = parse_timestamps(text)
    assert len(found) == 1000 and len({id(s) for _, s in found}) == 1


# --- The rewritten rules give the results of the plain patterns they replace ---------------------------

short = st.lists(piece, max_size=12).map("".join)
starts_with_think = short.map(lambda s: "<think>" + s)


@settings(max_examples=400)
@given(st.one_of(short, starts_with_think, st.text(max_size=30)))
def test_format_reward_equals_cosmos_rl_regex(text):
    """official.format_matches decides FORMAT_PATTERN (cosmos-rl's regex, transcribed) without it."""
    assert o.format_matches(text) == bool(o.FORMAT_PATTERN.search(text))


@pytest.mark.parametrize("text", [
    "<think></think>\n\n<answer></answer>", "<think></think>\n\n<answer></answer>\n",
    "<think></think>\n\n<answer></answer>\n\n", "<think></think>\n\n<answer>", "<think></think>\n\n</answer>",
    "<think><</think>\n\n<answer>x</answer>", "<think></think></think>\n\n<answer>x</answer>",
    "<think><think></think>\n\n<answer>x</answer>", "<think></think>\n\n<answer></answer></answer>",
    "<think></think>\n\n<answer>\n</answer>\n", "<think>", "<think></think>\n\n<answer></answer",
])
def test_format_reward_equals_cosmos_rl_regex_at_the_edges(text):
    assert o.format_matches(text) == bool(o.FORMAT_PATTERN.search(text))


OLD_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.I)  # the backtracking pattern it replaces


@settings(max_examples=300)
@given(st.one_of(short, st.text(alphabet="< /thinkanswerTHINK>\t\n", max_size=30)))
def test_tag_pattern_finds_what_the_backtracking_one_found(text):
    old = [(m.start(), m.end(), bool(m.group(1)), m.group(2).lower()) for m in OLD_TAG.finditer(text)]
    assert parsing._tags(text) == old


def _timestamps_oracle(text: str) -> list[tuple[float, str]]:
    """parse_timestamps written the plain way: split into sentences, then look around each number."""
    gap = parsing._GAP
    unit = re.compile(rf"\s{{0,{gap}}}(?:s|secs?|seconds?)(?!\w)", re.I)
    label = re.compile(rf"(?:\bt\s{{0,{gap}}}=\s{{0,{gap}}}|\bframes?\s{{1,{gap}}})$", re.I)
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for m in re.finditer(r"\d+(?:[.:]\d+)*", sentence):
            labelled = bool(unit.match(sentence, m.end()) or label.search(sentence[:m.start()]))
            seconds = parsing._seconds(m.group(0), labelled)
            if seconds is not None:
                found.append((seconds, sentence.strip()))
    return found


@settings(max_examples=400)
@given(st.one_of(short, st.text(alphabet="0123456789.:sectondfram=!? \n", max_size=40)))
def test_timestamps_equal_the_plain_reading(text):
    assert parse_timestamps(text) == _timestamps_oracle(text)
