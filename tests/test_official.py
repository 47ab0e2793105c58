"""The official rules, transcribed case by case from NVIDIA's code (sources in cosmos_nb_utils/official.py)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_nb_utils import official as o
from cosmos_nb_utils.parsing import extract_letter, parse_direction, parse_reasoning, parse_timestamps
from cosmos_nb_utils.prompts import format_mcq

# --- cosmos-rl format_reward_fn ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>a</think>\n\n<answer>B</answer>", 1.0),
    ("<think>\na\n</think>\n\n<answer>\nB\n</answer>", 1.0),
    ("<think>a</think>\n\n<answer>B</answer>\n", 1.0),  # Python's $ allows one final newline
    ("<think>a</think>\n\n<answer>B</answer>\n\n", 0.0),
    ("<think>a</think>\n\n<answer></answer>", 1.0),  # an empty answer is still the format
    ("<think></think>\n\n<answer>B</answer>", 1.0),
    ("<think>a</think><answer>B</answer>", 0.0),  # no blank line
    ("<think>a</think>\n<answer>B</answer>", 0.0),  # one newline
    ("<think>a</think> <answer>B</answer>", 0.0),  # a space
    ("<think>a</think>\n\n\n<answer>B</answer>", 0.0),  # three newlines
    (" <think>a</think>\n\n<answer>B</answer>", 0.0),  # a leading space
    ("\n<think>a</think>\n\n<answer>B</answer>", 0.0),
    ("<think>a</think>\n\n<answer>B</answer> ", 0.0),  # a trailing space
    ("<think>a</think>\n\n<answer>B</answer> done", 0.0),
    ("<think>a <think>b</think>\n\n<answer>B</answer>", 0.0),  # a nested think tag
    ("<think>a </think> b</think>\n\n<answer>B</answer>", 0.0),
    ("<think>x < y and <b> bold</think>\n\n<answer>B</answer>", 1.0),  # other tags are fine
    ("<think>a</think>\n\n<answer>B</answer> <answer>C</answer>", 1.0),  # the hedge passes the format
    ("<THINK>a</THINK>\n\n<ANSWER>B</ANSWER>", 0.0),  # tags are case-sensitive
    ("<answer>B</answer>", 0.0),
    ("<think>a</think>", 0.0),
    ("", 0.0),
])
def test_format_reward_transcribes_cosmos_rl(text, expected):
    assert o.format_reward(text) == expected


# --- cosmos-rl single_choice_reward_fn and the benchmark scorer, side by side --------------------
# (reply, key, RL accuracy reward, benchmark letter in reasoning mode)
DISAGREE = [
    ("<think>x</think>\n\n<answer>B</answer>", "B", 1.0, "B"),
    ("<answer> b </answer>", "B", 1.0, ""),  # the reward ignores case; the scorer wants a capital
    ("<answer>(B) the cart</answer>", "B", 0.0, "B"),  # the scorer's point, not the reward's
    ("<answer>Backward</answer>", "B", 0.0, "B"),  # a word starting with a capital is letter B
    ("<answer>Backward</answer>", "backward", 1.0, "B"),
    ("<answer>B</answer> <answer>A</answer>", "B", 1.0, "B"),  # the first block counts for both
    ("<answer>B</answer> <answer>A</answer>", "A", 0.0, "B"),
    ("<answer>A", "A", 0.0, ""),  # unclosed: the reward compares the whole text, the scorer finds nothing
    ("A", "A", 1.0, ""),  # no tags: the whole text is the reward's answer
    ("The answer is A", "A", 0.0, ""),
    ("<answer>the cart</answer>", "A", 0.0, ""),
    ("<answer></answer>", "A", 0.0, ""),
    ("<think>C looks right</think><answer>D</answer>", "D", 1.0, "D"),
    ("<answer>A <answer>B</answer></answer>", "A", 0.0, "A"),
]


@pytest.mark.parametrize(("text", "key", "reward", "letter"), DISAGREE)
def test_reward_and_benchmark_scorer(text, key, reward, letter):
    assert o.single_choice_reward(text, key) == reward
    assert o.parse_benchmark_answer(text, "reasoning")[0] == letter
    if len(key) == 1:
        assert o.benchmark_is_correct(letter, key) == (letter.lower() == key.lower() != "")


def test_reward_reads_the_reference_like_the_reply():
    assert o.single_choice_reward("<answer>A</answer>", "<think>r</think><answer> a </answer>") == 1.0
    assert o.single_choice_reward("A", "  A\n") == 1.0


def test_benchmark_parsers():
    text = "<think> It falls. </think> <answer> (C) down </answer> <think>later</think>"
    assert o.parse_benchmark_answer(text, "reasoning") == ("C", "It falls.")
    assert o.parse_benchmark_answer("I pick b, no, C.", "letter") == ("I", "")  # letter mode: first capital
    assert o.parse_benchmark_answer("b", "letter") == ("", "")
    assert o.parse_benchmark_answer("<think>unclosed <answer>A</answer>", "reasoning") == ("A", "")
    with pytest.raises(ValueError, match="answer_type"):
        o.parse_benchmark_answer("A", "letters")


def test_benchmark_is_case_insensitive_equality():
    assert o.benchmark_is_correct("b", "B") and not o.benchmark_is_correct("", "B")
    assert not o.benchmark_is_correct("B", None)


def test_benchmark_prompt_is_the_harness_text():
    choices = {"A": "Turn left", "B": " keep going "}
    assert o.benchmark_prompt("What next?", choices, "letter") == (
        "What next?\n(A) Turn left\n(B)  keep going \n"
        "Answer with the option's letter from the given choices directly.")
    assert o.benchmark_prompt("What next?", choices, "reasoning").endswith(
        "directly.\nPlease answer the question in the following format: <think> your reasoning </think> "
        "<answer> your single letter answer </answer>.")
    assert o.BENCHMARK_SYSTEM == "Answer the questions."
    assert format_mcq("What next?", ["Turn left", " keep going "], reasoning=True) == o.benchmark_prompt(
        "What next?", choices, "reasoning")
    for bad in (["Turn left", "Go"], {"A": 3}, None):
        with pytest.raises(ValueError, match="index2ans"):
            o.benchmark_prompt("What next?", bad)


def test_benchmark_sampling_and_retries():
    reasoning, letter = o.BENCHMARK_SAMPLING["reasoning"], o.BENCHMARK_SAMPLING["letter"]
    assert (reasoning["temperature"], reasoning["top_p"], reasoning["repetition_penalty"],
            reasoning["max_new_tokens"]) == (0.6, 0.95, 1.0, 1024)
    assert letter["do_sample"] is False and letter["max_new_tokens"] == 10
    first, tenth = o.benchmark_retry_sampling("reasoning", 1), o.benchmark_retry_sampling("reasoning", 10)
    assert (first["max_new_tokens"], first["temperature"]) == (1280, pytest.approx(0.65))
    assert (tenth["max_new_tokens"], tenth["temperature"]) == (3584, 0.9)  # capped at 0.9
    assert o.benchmark_retry_sampling("letter", 2) == {**letter, "max_new_tokens": 1536}
    with pytest.raises(ValueError, match="retry"):
        o.benchmark_retry_sampling("reasoning", 0)


def test_sampling_sources_are_distinct_and_complete():
    keys = {"do_sample", "temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens"}
    assert all(set(s) == keys for s in o.SAMPLING_SOURCES.values())
    assert o.SAMPLING_SOURCES["release example"]["repetition_penalty"] == 1.05
    assert o.SAMPLING_SOURCES["repository"]["temperature"] == 0.01
    assert o.SAMPLING_SOURCES["rl rollout"]["temperature"] == o.RL_RECIPE["temperature"] == 0.9


def test_overlay_label():
    assert o.overlay_label(0, 4.0) == "0.00s" and o.overlay_label(5, 4.0) == "1.25s"


# --- total, and linear in time -------------------------------------------------------------------
TEXT_RULES = [
    o.format_reward,
    lambda t: o.single_choice_reward(t, "A"),
    lambda t: o.parse_benchmark_answer(t, "reasoning"),
    lambda t: o.parse_benchmark_answer(t, "letter"),
    parse_reasoning,
    extract_letter,
    parse_timestamps,
    parse_direction,
]
tagged = st.text(alphabet=st.sampled_from(list("<>/ thinkaswerA:.0129sf=\n")), max_size=60)


@given(st.one_of(st.text(), tagged))
def test_every_rule_is_total(text):
    for rule in TEXT_RULES:
        rule(text)
    assert o.format_reward(text) in (0.0, 1.0)
    assert o.single_choice_reward(text, text) == 1.0


def test_rules_accept_non_strings():
    for value in (None, 3, b"<answer>A</answer>"):
        assert o.format_reward(value) == 0.0 and o.single_choice_reward(value, "A") == 0.0
        assert o.parse_benchmark_answer(value) == ("", "")


@given(tagged)
def test_first_block_equals_the_official_regex(text):
    for tag in ("answer", "think"):
        m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        assert o.first_block(text, tag) == (m.group(1) if m else None)


# Linear time and memory on inputs built from each pattern's structure: tests/test_text_linear.py.
