import math

import numpy as np
import pytest
import torch

from cosmos_nb_utils.grpo import (
    TOY_ANSWERS,
    clipped_surrogate_loss,
    completion_logprobs,
    toy_rewards,
    train_toy_policy,
)
from cosmos_nb_utils.rewards import format_reward


def test_surrogate_clips_the_ratio():
    logp_old = torch.log(torch.tensor([[0.5], [0.5]]))
    logp_new = torch.log(torch.tensor([[0.8], [0.2]]))  # ratios 1.6 and 0.4
    adv = torch.tensor([1.0, -1.0])
    # first: min(1.6 * 1, 1.2 * 1) = 1.2 ; second: min(0.4 * -1, 0.8 * -1) = -0.8 -> loss = -(1.2 - 0.8) / 2
    loss = clipped_surrogate_loss(logp_new, logp_old, adv, clip_eps=0.2)
    assert loss.item() == pytest.approx(-0.2)
    unclipped = clipped_surrogate_loss(logp_new, logp_old, adv, clip_eps=10.0)
    assert unclipped.item() == pytest.approx(-(1.6 - 0.4) / 2)


def test_kl_term_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.log(torch.tensor([[0.3, 0.6]]))
    adv = torch.tensor([0.0])
    assert clipped_surrogate_loss(logp, logp, adv, kl_coef=0.1, logp_ref=logp).item() == pytest.approx(0.0)
    ref = torch.log(torch.tensor([[0.5, 0.5]]))
    assert clipped_surrogate_loss(logp, logp, adv, kl_coef=0.1, logp_ref=ref).item() > 0


def test_toy_policy_learns():
    history = train_toy_policy(steps=25, seed=0)
    assert history[0].p_good == pytest.approx(sum(toy_rewards() == 2) / len(TOY_ANSWERS))
    assert history[-1].p_good > 0.8 > history[0].p_good + 0.5
    assert history[-1].mean_reward > history[0].mean_reward + 0.8


def test_toy_candidates_cover_every_reward_case():
    rewards = toy_rewards()
    assert list(rewards) == [2, 1, 1, 1, 1, 0, 2, 0]
    assert any(format_reward(a) == 1 and r == 1 for a, r in zip(TOY_ANSWERS, rewards))  # formatted but wrong
    hedge = TOY_ANSWERS[6]
    assert hedge.count("<answer>") == 2 and rewards[6] == 2  # the reward-hacking case notebook 06 discusses


def test_dr_grpo_convention_trains_too():
    history = train_toy_policy(steps=25, seed=0, scale="none")
    assert history[-1].p_good > history[0].p_good + 0.5


def test_loss_aggregations_weigh_long_answers_differently():
    # answer 0: 4 tokens with advantage +1; answer 1: 1 token with advantage -1 (padding after it)
    logp = torch.zeros(2, 4)
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0]])
    adv = np.array([1.0, -1.0])
    assert clipped_surrogate_loss(logp, logp, adv, mask).item() == pytest.approx(-(4 - 1) / 5)
    assert clipped_surrogate_loss(logp, logp, adv, mask, aggregation="seq-mean-token-mean").item() == 0.0
    dr = clipped_surrogate_loss(logp, logp, adv, mask, aggregation="dr-grpo", max_tokens=8)
    assert dr.item() == pytest.approx(-(4 - 1) / (2 * 8))
    with pytest.raises(ValueError, match="max_tokens"):
        clipped_surrogate_loss(logp, logp, adv, mask, aggregation="dr-grpo")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"advantages": torch.tensor([1.0, 0.0, 1.0])}, "one per answer"),
    ({"logp_old": torch.zeros(2, 3)}, "must both be"),
    ({"mask": torch.ones(4, 2)}, "mask"),
    ({"clip_eps": -0.1}, "clip_eps"),
    ({"aggregation": "mean"}, "aggregation"),
])
def test_loss_refuses_mismatched_inputs(kwargs, match):
    args = {"logp_new": torch.zeros(2, 4), "logp_old": torch.zeros(2, 4), "advantages": torch.tensor([1.0, -1.0])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        clipped_surrogate_loss(**args)


def test_completion_logprobs_match_generate_scores(tiny):
    from conftest import ASSETS

    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    model, processor = tiny
    prompt = prepare_inputs(processor, build_messages("Forward or backward?", ASSETS / "ball_bounce.mp4"))
    torch.manual_seed(0)
    out = model.generate(**prompt, max_new_tokens=5, do_sample=True, num_return_sequences=3,
                         output_logits=True, return_dict_in_generate=True, temperature=1.0, top_p=1.0,
                         repetition_penalty=1.0)
    n = prompt["input_ids"].shape[1]
    with torch.no_grad():
        lp = completion_logprobs(model, out.sequences, n, **prompt)
    ref = torch.stack([torch.log_softmax(s.float(), -1) for s in out.logits], 1)
    ref = ref.gather(-1, out.sequences[:, n:].unsqueeze(-1)).squeeze(-1)
    assert lp.shape == (3, 5)
    assert torch.allclose(lp, ref, atol=1e-4)
    assert np.all(np.isfinite(lp.numpy())) and math.isfinite(lp.sum().item())


def test_chunked_logprobs_and_gradients_equal_the_full_logits_pass(tiny):
    from conftest import ASSETS

    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    model, processor = tiny
    prompt = prepare_inputs(processor, build_messages("Forward or backward?", ASSETS / "ball_bounce.mp4"))
    n = prompt["input_ids"].shape[1]
    torch.manual_seed(1)
    row = torch.cat([prompt["input_ids"], torch.randint(0, model.config.get_text_config().vocab_size, (1, 7))], dim=1)
    extra = {k: v for k, v in prompt.items() if k not in ("input_ids", "attention_mask")}
    extra["mm_token_type_ids"] = torch.cat([extra["mm_token_type_ids"], extra["mm_token_type_ids"].new_zeros(1, 7)],
                                           dim=1) if "mm_token_type_ids" in extra else None
    extra = {k: v for k, v in extra.items() if v is not None}
    params = [model.lm_head.weight, model.model.language_model.layers[0].self_attn.q_proj.weight]

    def grads(loss):
        for p in params:
            p.grad = None
        loss.backward()
        return [p.grad.detach().clone() for p in params]

    for p in params:
        p.requires_grad_(True)
    # The old way: full-vocabulary logits of the whole completion at once.
    logits = model(input_ids=row, attention_mask=torch.ones_like(row), logits_to_keep=8, **extra).logits[:, :-1]
    full = torch.log_softmax(logits.float() / 0.9, -1).gather(-1, row[:, n:, None]).squeeze(-1)
    weights = torch.linspace(-1, 1, 7)
    full_grads = grads((full * weights).sum())
    with pytest.raises(ValueError, match="chunk"):
        completion_logprobs(model, row, n, chunk=0, **prompt)
    for chunk in (1, 3, 128):  # 3 leaves a short last chunk; 128 is one chunk for these 7 tokens
        lp = completion_logprobs(model, row, n, temperature=0.9, chunk=chunk, **prompt)
        assert lp.shape == (1, 7) and lp.requires_grad
        assert torch.allclose(lp, full, atol=1e-5)
        for got, want in zip(grads((lp * weights).sum()), full_grads):
            assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        assert torch.allclose(completion_logprobs(model, row, n, temperature=0.9, chunk=2, **prompt), full, atol=1e-5)
    for p in params:
        p.grad = None


def test_sample_group_is_repeatable_and_scores(tiny):
    from conftest import ASSETS

    from cosmos_nb_utils.grpo import sample_group

    model, processor = tiny
    with pytest.raises(ValueError, match="group_size"):
        sample_group(model, processor, "Q?", ASSETS / "ball_bounce.mp4", group_size=0)
    a = sample_group(model, processor, "Forward or backward?", ASSETS / "ball_bounce.mp4", group_size=3,
                     max_new_tokens=6, seed=5)
    b = sample_group(model, processor, "Forward or backward?", ASSETS / "ball_bounce.mp4", group_size=3,
                     max_new_tokens=6, seed=5)
    assert a.texts == b.texts and len(a.texts) == 3
    assert a.sequences.shape == (3, a.prompt_len + a.mask.shape[1])
    assert torch.all(a.mask.sum(dim=1) >= 1)
    assert not torch.isin(a.sequences[:, a.prompt_len:], torch.tensor(model.config.video_token_id)).any()
    assert a.temperature == 0.9  # the official RL rollout's
    with torch.no_grad():
        lp = completion_logprobs(model, a.sequences, a.prompt_len, temperature=a.temperature, **a.prompt_inputs)
        cold = completion_logprobs(model, a.sequences, a.prompt_len, temperature=0.5, **a.prompt_inputs)
    assert lp.shape == a.mask.shape and torch.isfinite(lp[a.mask > 0]).all()
    assert not torch.allclose(lp, cold)  # the temperature reaches the scores


def _loss_args(**kwargs):
    args = {"logp_new": torch.zeros(2, 3), "logp_old": torch.zeros(2, 3), "advantages": [1.0, -1.0]}
    args.update(kwargs)
    return args


@pytest.mark.parametrize(("kwargs", "match"), [
    # no answers (or no tokens): the means would be 0 / 0
    ({"logp_new": torch.zeros(0, 3), "logp_old": torch.zeros(0, 3), "advantages": []}, "at least one answer"),
    ({"logp_new": torch.zeros(2, 0), "logp_old": torch.zeros(2, 0)}, "at least one answer"),
    # a KL weight with nothing to measure the KL against
    ({"kl_coef": 0.1}, "logp_ref is None"),
    ({"kl_coef": -0.1, "logp_ref": torch.zeros(2, 3)}, "kl_coef"),
    ({"kl_coef": float("nan"), "logp_ref": torch.zeros(2, 3)}, "kl_coef"),
    ({"kl_coef": "0.1", "logp_ref": torch.zeros(2, 3)}, "kl_coef"),
    # a reference that would broadcast
    ({"kl_coef": 0.1, "logp_ref": torch.zeros(1, 3)}, "logp_ref"),
    ({"kl_coef": 0.1, "logp_ref": torch.zeros(3)}, "logp_ref"),
    ({"kl_coef": 0.1, "logp_ref": np.zeros((2, 3))}, "logp_ref"),
    ({"logp_ref": torch.zeros(2, 1)}, "logp_ref"),  # checked even when kl_coef is 0
    # integers are not log-probabilities (they would make the advantages integers too)
    ({"logp_new": torch.zeros(2, 3, dtype=torch.long), "logp_old": torch.zeros(2, 3, dtype=torch.long)},
     "logp_new holds torch.int64"),
    ({"logp_old": torch.zeros(2, 3, dtype=torch.int32)}, "logp_old holds torch.int32"),
    ({"logp_new": torch.full((2, 3), float("nan"))}, "logp_new holds NaN"),
    # advantages that are not numbers
    ({"advantages": ["1", "0"]}, "advantages must be real numbers"),
    ({"advantages": None}, "advantages must be real numbers"),
    ({"advantages": [1.0, float("inf")]}, "finite"),
    # masks that are not 0/1 of the right shape
    ({"mask": np.ones((3, 2))}, "mask"),
    ({"mask": [[1, 1], [1, 1]]}, "mask"),
    ({"mask": [[1, 2, 0], [1, 0, 0]]}, "only 1 .* and 0"),
    ({"mask": [["1", "1", "1"], ["1", "1", "1"]]}, "mask"),
    ({"mask": "all"}, "mask"),
    # constants that would carry a gradient
    ({"logp_old": torch.zeros(2, 3, requires_grad=True)}, "logp_old requires grad"),
    ({"advantages": torch.tensor([1.0, -1.0], requires_grad=True)}, "advantages requires grad"),
    ({"mask": torch.ones(2, 3, requires_grad=True)}, "mask requires grad"),
    ({"kl_coef": 0.1, "logp_ref": torch.zeros(2, 3, requires_grad=True)}, "logp_ref requires grad"),
    ({"clip_eps": float("inf")}, "clip_eps"),
    ({"aggregation": "dr-grpo", "max_tokens": True}, "max_tokens"),
])
def test_loss_refuses_wrong_input_naming_the_parameter(kwargs, match):
    """Issue 22.15: each of these used to give NaN, a silent wrong loss, or a raw library error."""
    with pytest.raises(ValueError, match=match):
        clipped_surrogate_loss(**_loss_args(**kwargs))


@pytest.mark.parametrize("mask", [
    [[1, 1, 0], [1, 0, 0]],
    np.array([[1, 1, 0], [1, 0, 0]]),
    np.array([[True, True, False], [True, False, False]]),
    torch.tensor([[1, 1, 0], [1, 0, 0]]),
    torch.tensor([[1.0, 1, 0], [1, 0, 0]], dtype=torch.bfloat16),
])
def test_mask_as_list_array_or_any_tensor_gives_the_same_loss(mask):
    # ratio 1: per-token loss is -A; answer 0 has 2 tokens (A=+1), answer 1 one token (A=-1): (-2 + 1) / 3
    loss = clipped_surrogate_loss(**_loss_args(mask=mask))
    assert loss.item() == pytest.approx(-1 / 3)


def test_integer_advantages_stay_exact_on_float_log_probs():
    logp_new = torch.log(torch.tensor([[0.6], [0.5]]))
    logp_old = torch.log(torch.tensor([[0.5], [0.5]]))
    # ratio 1.2 and 1: the loss is -(1.2 * 1 + 1 * -1) / 2 = -0.1; integer advantages must not round anything
    for adv in ([1, -1], np.array([1, -1]), torch.tensor([1, -1])):
        assert clipped_surrogate_loss(logp_new, logp_old, adv, clip_eps=0.5).item() == pytest.approx(-0.1)


def test_kl_term_counts_when_asked_and_the_loss_keeps_its_gradient():
    logp_new = torch.log(torch.tensor([[0.3, 0.6]])).requires_grad_()
    ref = torch.log(torch.tensor([[0.5, 0.5]]))
    without = clipped_surrogate_loss(logp_new, logp_new.detach(), [0.0], kl_coef=0.0, logp_ref=ref)
    with_kl = clipped_surrogate_loss(logp_new, logp_new.detach(), [0.0], kl_coef=0.1, logp_ref=ref)
    assert without.item() == 0.0 and with_kl.item() > 0
    with_kl.backward()
    assert logp_new.grad is not None and torch.isfinite(logp_new.grad).all()
