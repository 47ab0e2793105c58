"""The scenario notebooks' questions do not give their answers away (issue 22.1).

A question (or goal) that repeats the right option's words tests string matching, not reasoning about the video;
a hint that names the cues that decide the answer does the same more quietly. The names are read from the
notebooks' code cells as the learner sees them.
"""

import ast
import re

import nbformat
import pytest
from conftest import ROOT

STOPWORDS = {"the", "a", "an", "of", "in", "on", "to", "is", "it", "and", "or", "you", "your", "for", "this", "at",
             "into", "now", "what", "which", "with", "from", "be", "are"}


def literals(notebook: str) -> dict[str, object]:
    """Every ``NAME = <literal>`` (or parenthesised string concatenation) in the notebook's code cells."""
    found = {}
    for cell in nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells:
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("%", "!")):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    found[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass  # not a literal (an f-string, a call)
    return found


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


def test_action_goal_does_not_name_the_next_subtask():
    nb = literals("04_action_prediction.ipynb")
    goal, options, key = nb["GOAL"], nb["OPTIONS"], nb["KEY"]
    right = options["ABCD".index(key)]
    assert not words(goal) & words(right), f"the goal {goal!r} repeats the answer {right!r}"
    # matching the goal's words must not find the key either
    shared = [len(words(goal) & words(o)) for o in options]
    assert shared.index(max(shared)) != "ABCD".index(key) or max(shared) == 0


def test_the_old_goal_would_have_failed():
    """The check above is not vacuous: the goal 04 had before named the key option."""
    old = "put the green package into the shopping cart"
    right = literals("04_action_prediction.ipynb")["OPTIONS"][0]
    assert words(old) & words(right)


@pytest.mark.parametrize("name", ["QUESTION", "FIRST_PERSON"])
def test_driving_questions_do_not_name_the_deciding_cues(name):
    """The clip's red light and crossing pedestrian decide the answer: the question must leave them to the video."""
    text = literals("02_decision_making.ipynb")[name]
    assert not words(text) & {"light", "red", "pedestrian", "pedestrians", "people", "crossing"}, text


def test_driving_options_do_not_describe_the_scene():
    options = literals("02_decision_making.ipynb")["OPTIONS"]
    assert not set().union(*map(words, options)) & {"light", "red", "pedestrian", "pedestrians", "people"}


def test_ad_question_gives_no_example_time():
    """An example like "3.50s 6.00s" could be copied, and 6.00 s is one of the ad's shot boundaries."""
    question = literals("05_explain_ad.ipynb")["QUESTION"]
    assert not re.search(r"\d", question), question


def test_arrow_question_names_both_directions():
    question = literals("03_arrow_of_time.ipynb")["QUESTION"].lower()
    assert "forward" in question and "backward" in question
