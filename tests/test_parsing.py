from hypothesis import given
from hypothesis import strategies as st

from cosmos_nb_utils.parsing import extract_letter, parse_reasoning, parse_timestamps

no_tags = st.text().filter(lambda s: "<" not in s and ">" not in s)


def test_well_formed():
    assert parse_reasoning("<think>\nIt falls.\n</think>\n\n<answer>\nForward\n</answer>") == ("It falls.", "Forward")


def test_missing_answer_tag_uses_text_outside_think():
    assert parse_reasoning("<think>hmm</think> The answer is B.") == ("hmm", "The answer is B.")


def test_no_tags_at_all():
    assert parse_reasoning("Just B.") == ("", "Just B.")


def test_unclosed_tags():
    assert parse_reasoning("<think>I think it plays backward") == ("I think it plays backward", "")
    assert parse_reasoning("<think>x</think><answer> A") == ("x", "A")
    assert parse_reasoning("<think>still thinking <answer>C</answer>") == ("still thinking", "C")


def test_repeated_and_odd_tags():
    assert parse_reasoning("<answer>A</answer> wait <answer>B</answer>")[1] == "A"  # the first, as the scorers
    assert parse_reasoning("< THINK >a</ think ><Answer> yes </Answer>") == ("a", "yes")
    assert parse_reasoning("<think>a</think><think>b</think><answer>c</answer>") == ("a\nb", "c")


def test_empty_answer():
    assert parse_reasoning("<think>t</think><answer>  </answer>") == ("t", "")
    assert parse_reasoning("") == ("", "")
    assert parse_reasoning(None) == ("", "")


@given(st.text())
def test_never_raises(text):
    think, answer = parse_reasoning(text)
    assert isinstance(think, str) and isinstance(answer, str)
    extract_letter(text)
    parse_timestamps(text)


@given(no_tags, no_tags)
def test_round_trip(think, answer):
    text = f"<think>\n{think}\n</think>\n\n<answer>\n{answer}\n</answer>"
    assert parse_reasoning(text) == (think.strip(), answer.strip())


def test_extract_letter_official_rule():
    assert extract_letter("<think>..</think><answer>(B) place it in the cart</answer>") == "B"
    assert extract_letter("<answer>b</answer>") is None  # first *capital* letter, as the official scorer
    assert extract_letter("<answer>option C</answer>") == "C"
    assert extract_letter("<answer>C") is None  # reasoning mode needs a closed block
    assert extract_letter("I choose C", "letter") == "I"  # letter mode: the reply's first capital


def test_opening_tag_in_the_prompt():
    assert parse_reasoning("The car slows down.</think>\nB") == ("The car slows down.", "B")
    assert parse_reasoning("a</think>\n\n<answer>B</answer>") == ("a", "B")


def test_nested_answer_tags_are_not_merged():
    assert parse_reasoning("<answer>A <answer>B</answer></answer>")[1] == "A"


def test_parse_timestamps():
    text = "The can appears (Frame 0.0). It opens at 3.5 s. The logo shows at 0:09. Nothing else."
    found = parse_timestamps(text)
    assert [t for t, _ in found] == [0.0, 3.5, 9.0]
    assert found[1][1] == "It opens at 3.5 s."


def test_parse_timestamps_formats():
    times = [t for t, _ in parse_timestamps("At 1:02:03 and 12:30. Stamps 3.50s, 4 sec, t=2, 10 seconds.")]
    assert times == [3723.0, 750.0, 3.5, 4.0, 2.0, 10.0]
    assert parse_timestamps("42 apples, version 1.2.3, 7:99, score 3.5.") == []
