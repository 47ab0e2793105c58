import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_nb_utils.rewards import accuracy_reward, format_reward, group_advantages


def test_rewards_are_the_official_rules():
    """rewards.py re-exports cosmos-rl's rules from official.py; tests/test_official.py transcribes them."""
    from cosmos_nb_utils import official

    assert format_reward is official.format_reward
    assert accuracy_reward is official.single_choice_reward


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


@pytest.mark.parametrize("bad", [None, 3.0, "0.5", [[1.0, 2.0], [1.0]], [1.0, float("nan")], [float("inf"), 0.0], []])
def test_bad_rewards_are_refused_with_the_reason(bad):
    with pytest.raises(ValueError, match="rewards"):
        group_advantages(bad)


def test_huge_rewards_keep_their_signal():
    assert np.allclose(group_advantages([1e200, 0.0], std="population", eps=0.0), [1.0, -1.0])
    assert np.allclose(group_advantages([[1e300, -1e300]], scale="batch", std="population", eps=0.0), [[1, -1]])


@pytest.mark.parametrize("eps", [-1e-4, float("nan"), "1e-4"])
def test_bad_eps_is_refused(eps):
    with pytest.raises(ValueError, match="eps"):
        group_advantages([1.0, 0.0], eps=eps)
