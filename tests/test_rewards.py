import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_nb_utils.rewards import accuracy_reward, format_reward, group_advantages


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>a</think><answer>B</answer>", 1.0),
    ("<think>\na\n</think>\n\n<answer>\nB\n</answer>", 1.0),
    ("  <think>a</think> <answer>B</answer>\n", 1.0),
    ("<answer>B</answer>", 0.0),
    ("<think>a</think>", 0.0),
    ("<think>a</think><answer>B</answer> trailing text", 0.0),
    ("intro <think>a</think><answer>B</answer>", 0.0),
    ("<answer>B</answer><think>a</think>", 0.0),
    ("<think>a</think><answer>B</answer><answer>C</answer>", 0.0),
    ("", 0.0),
])
def test_format_reward(text, expected):
    assert format_reward(text) == expected


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("<think>x</think><answer>B</answer>", "B", 1.0),
    ("<think>x</think><answer>(B) put it in the cart</answer>", "b", 1.0),
    ("<answer>A</answer>", "B", 0.0),
    ("<answer>  Forward </answer>", "forward", 1.0),
    ("<answer>backward</answer>", "forward", 0.0),
    ("B", "B", 1.0),  # no tags: the whole text is the answer, as the parser says
    ("<answer></answer>", "A", 0.0),
    ("<answer>A</answer>", "", 0.0),
])
def test_accuracy_reward(text, key, expected):
    assert accuracy_reward(text, key) == expected


@given(st.text(), st.text())
def test_rewards_never_raise(text, key):
    assert format_reward(text) in (0.0, 1.0)
    assert accuracy_reward(text, key) in (0.0, 1.0)


def test_advantages_hand_computed():
    r = [1.0, 0.0, 0.0, 1.0]  # mean 0.5; population std 0.5; sample std 0.57735
    assert np.allclose(group_advantages(r, std="population", eps=1e-6), [1, -1, -1, 1], atol=1e-5)
    assert np.allclose(group_advantages(r, std="sample", eps=1e-4), [0.5 / 0.57745, -0.5 / 0.57745] * 1
                       + [-0.5 / 0.57745, 0.5 / 0.57745], atol=1e-4)
    assert np.allclose(group_advantages(r, scale="none"), [0.5, -0.5, -0.5, 0.5])


def test_batch_scaling_uses_one_std():
    groups = [[2.0, 0.0], [1.0, 1.0]]  # all rewards: mean 1, population std 0.7071
    adv = group_advantages(groups, std="population", scale="batch", eps=0.0)
    assert np.allclose(adv, [[1 / 0.70711, -1 / 0.70711], [0, 0]], atol=1e-4)


def test_equal_rewards_give_no_signal():
    for std in ("sample", "population"):
        for scale in ("group", "batch", "none"):
            adv = group_advantages([0.7, 0.7, 0.7], std=std, scale=scale)
            assert np.all(adv == 0) and np.all(np.isfinite(adv))
    assert np.all(group_advantages([1.0], std="sample") == 0)  # a group of one: no std, no signal


@given(st.lists(st.lists(st.floats(-10, 10), min_size=2, max_size=8), min_size=1, max_size=4)
       .filter(lambda g: len({len(x) for x in g}) == 1))
def test_advantages_sum_to_zero_per_group(groups):
    adv = group_advantages(groups)
    assert np.allclose(adv.sum(axis=1), 0, atol=1e-6)
