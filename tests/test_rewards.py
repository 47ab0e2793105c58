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


def test_default_is_cosmos_rl_convention_and_trl_is_the_labelled_comparison():
    """Issue 22.4: the course teaches cosmos-rl's convention, so the default must be it."""
    import inspect

    from cosmos_nb_utils.official import COSMOS_RL_ADVANTAGE, TRL_ADVANTAGE

    r = [1.0, 0.0, 0.0, 0.0]  # mean 0.25; population std 0.4330, sample std 0.5
    assert np.allclose(group_advantages(r), (np.array(r) - 0.25) / (0.4330127 + 1e-6))
    assert np.array_equal(group_advantages(r), group_advantages(r, **COSMOS_RL_ADVANTAGE))
    assert np.allclose(group_advantages(r, **TRL_ADVANTAGE), (np.array(r) - 0.25) / (0.5 + 1e-4))
    defaults = {k: p.default for k, p in inspect.signature(group_advantages).parameters.items()}
    assert {"std": defaults["std"], "eps": defaults["eps"]} == COSMOS_RL_ADVANTAGE


def test_the_toy_training_and_the_explorer_use_the_same_default():
    import inspect

    from cosmos_nb_utils.grpo import train_toy_policy
    from cosmos_nb_utils.official import COSMOS_RL_ADVANTAGE

    toy = inspect.signature(train_toy_policy).parameters
    assert {"std": toy["std"].default, "eps": toy["eps"].default} == COSMOS_RL_ADVANTAGE


@pytest.mark.parametrize("std", ["sample", "population"])
@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("rewards", [[0.5, 0.5, 0.5], [[1.0, 1.0], [1.0, 1.0]], [3.0], [[0.0], [2.0]], [0.0, 0.0]])
def test_equal_rewards_with_no_eps_give_zero_not_nan(rewards, std, scale):
    """The docstring's promise, eps=0 included: 0 / 0 must not leak out as NaN."""
    with np.errstate(all="raise"):  # no division by zero happens on the way either
        adv = group_advantages(rewards, std=std, scale=scale, eps=0.0)
    assert np.all(adv == 0)


def test_eps_zero_still_normalises_groups_that_differ():
    adv = group_advantages([[1.0, 0.0], [0.5, 0.5]], eps=0.0)
    assert np.array_equal(adv, [[1.0, -1.0], [0.0, 0.0]])


@pytest.mark.parametrize(("bad", "match"), [
    (["1", "0"], "real numbers"),
    ([1.0, "0"], "real numbers"),
    (np.array(["1", "0"]), "real numbers"),
    ([b"1", b"0"], "real numbers"),
    ([1 + 2j, 0], "real numbers"),
    ([1.0, None], r"rewards\[1\] is None"),
    ([[1.0, 0.0], [1.0, object()]], r"rewards\[1\]\[1\]"),
    ([10**400, 0], r"rewards\[0\] is an integer too large"),
    ([[0, 0], [-(10**309), 1]], r"rewards\[1\]\[0\] is an integer too large"),
])
def test_non_numbers_and_overflowing_ints_are_refused_naming_the_reward(bad, match):
    with pytest.raises(ValueError, match=match):
        group_advantages(bad)


def test_big_python_ints_that_fit_a_float_are_fine():
    assert np.allclose(group_advantages([10**300, 0]), [1.0, -1.0])
    assert np.allclose(group_advantages([2**70, 0, 2**70, 0]), [1, -1, 1, -1])


def test_tensor_rewards_are_read_and_a_tensor_with_grad_is_refused():
    import torch

    assert np.allclose(group_advantages(torch.tensor([1.0, 0.0])), [1.0, -1.0], atol=1e-5)
    assert np.allclose(group_advantages(torch.tensor([1, 0])), [1.0, -1.0], atol=1e-5)
    with pytest.raises(ValueError, match="requires grad.*detach"):
        group_advantages(torch.tensor([1.0, 0.0], requires_grad=True))


@pytest.mark.parametrize("eps", [True, float("inf")])
def test_eps_must_be_a_real_finite_number(eps):
    with pytest.raises(ValueError, match="eps"):
        group_advantages([1.0, 0.0], eps=eps)


@given(st.lists(st.lists(st.integers(-(10**30), 10**30), min_size=1, max_size=6), min_size=1, max_size=3)
       .filter(lambda g: len({len(x) for x in g}) == 1),
       st.sampled_from(["sample", "population"]), st.sampled_from(["group", "batch", "none"]),
       st.sampled_from([0.0, 1e-6, 1e-4]))
def test_advantages_are_always_finite_floats(groups, std, scale, eps):
    adv = group_advantages(groups, std=std, scale=scale, eps=eps)
    assert adv.dtype == np.float64 and np.all(np.isfinite(adv))


def test_advantage_explorer_starts_on_cosmos_rl_and_switches_to_trl_with_its_eps():
    import matplotlib

    matplotlib.use("Agg")
    from cosmos_nb_utils.display import advantage_explorer

    box = advantage_explorer([1, 0, 0, 0])
    assert np.allclose(box.advantages, group_advantages([1, 0, 0, 0]))  # population std, eps 1e-6
    std_buttons = box.children[0].children[1].children[0]
    std_buttons.value = "sample"
    assert np.allclose(box.advantages, [1.5 / 1.0002, -0.5 / 1.0002, -0.5 / 1.0002, -0.5 / 1.0002], rtol=1e-6)
