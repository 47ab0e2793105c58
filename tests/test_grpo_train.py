"""GRPO on the video model (issue 20): a real step on the tiny model, its metrics, and bad input."""

import numpy as np
import pytest
import torch
from conftest import ASSETS

from cosmos_nb_utils.grpo import sample_group
from cosmos_nb_utils.grpo_train import GRPOSettings, grpo_step, k3_kl, policy_of
from cosmos_nb_utils.training import LANGUAGE_TARGETS, add_lora
from cosmos_nb_utils.training_data import ARROW_OPTIONS, ARROW_QUESTION, Example


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    from cosmos_nb_utils.video import write_video

    frames = np.zeros((8, 112, 112, 3), np.uint8)
    for i in range(8):
        frames[i, :, i * 12: i * 12 + 10] = 255
    return write_video(frames, tmp_path_factory.mktemp("grpo") / "bar.mp4", 4)


def fresh_tiny():
    from cosmos_nb_utils.loading import load_model

    return load_model("tiny", device="cpu")


def example(clip) -> Example:
    return Example("arrow_of_time", clip.stem, 0, clip, ARROW_QUESTION, dict(ARROW_OPTIONS), "A")


def starts_with_capital(text: str, key: str) -> float:
    """A task the tiny model can learn in letter mode: answer with a capital letter first."""
    return float(text.lstrip()[:1].isupper())


def test_mean_reward_rises_and_only_the_adapter_moves(small_clip):
    from cosmos_nb_utils.generation import build_inputs
    from cosmos_nb_utils.official import RL_SYSTEM

    model, processor = fresh_tiny()
    torch.manual_seed(0)
    # the tiny model's output layer is too small for its hidden state alone to move the first token (a
    # supervised loss on the projections only saturates at 0.087): the test adapts lm_head too
    peft_model = add_lora(model, 8, 16.0, 0.0, LANGUAGE_TARGETS + "|lm_head")
    base_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if not p.requires_grad}
    lora_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=0.1)
    settings = GRPOSettings(group_size=8, max_new_tokens=1, reasoning=False, measure_kl=False, fps=1.0)
    ex = example(small_clip)
    _, inputs = build_inputs(processor, ARROW_QUESTION + "\n(A) forward\n(B) backward\nAnswer with the option's "
                             "letter from the given choices directly.", small_clip, fps=1.0, system=RL_SYSTEM,
                             reasoning=False)
    tok = processor.tokenizer
    capital = torch.tensor([tok.decode([i]).lstrip()[:1].isupper() for i in range(len(tok))])

    def expected_reward() -> float:  # exact: the probability of a capital first token at the rollout temperature
        policy = policy_of(peft_model)
        policy.eval()
        with torch.no_grad():
            logits = policy(**inputs, logits_to_keep=1).logits[0, -1]
        return float(torch.softmax(logits / 0.9, -1)[capital].sum())

    before = expected_reward()
    rewards = [grpo_step(peft_model, processor, optimizer, [ex], settings, step=s, seed=0,
                         reward_fn=starts_with_capital).metrics["reward_mean"] for s in range(16)]
    after = expected_reward()
    assert before < 0.1 and after > 0.5, (before, after)
    assert np.mean(rewards[-4:]) > np.mean(rewards[:4]) + 0.5
    assert all(torch.equal(p, base_before[n]) for n, p in peft_model.named_parameters() if not p.requires_grad)
    moved = [n for n, p in peft_model.named_parameters() if p.requires_grad and not torch.equal(p, lora_before[n])]
    assert any("lora_B" in n for n in moved)


def test_step_metrics(tiny, small_clip):
    model, processor = fresh_tiny()
    peft_model = add_lora(model, 4, 8.0, 0.0)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
    settings = GRPOSettings(group_size=2, max_new_tokens=3, fps=1.0)
    ex = example(small_clip)
    same = grpo_step(peft_model, processor, optimizer, [ex], settings, step=0, seed=0, reward_fn=lambda t, k: 1.0)
    m = same.metrics
    assert m["step"] == 1 and m["zero_signal_groups"] == 1.0 and m["reward_mean"] == 1.0 and m["loss"] == 0.0
    assert m["kl_to_reference"] == pytest.approx(0.0, abs=1e-6)  # a fresh adapter is the base model (B = 0)
    g = same.rollouts[0].group
    cut = [int(n) == 3 for n in g.mask.sum(dim=1)]
    assert g.truncated == cut and m["truncated"] == sum(cut) / 2
    assert m["completion_tokens_mean"] == float(g.mask.sum()) / 2
    calls = iter([1.0, 0.0])
    differ = grpo_step(peft_model, processor, optimizer, [ex, ex], settings, step=1, seed=0,
                       reward_fn=lambda t, k: next(calls, 0.0))
    assert differ.metrics["zero_signal_groups"] == 0.5  # the first group's answers differ, the second's do not
    assert np.allclose(differ.rollouts[0].advantages, [1.0, -1.0], atol=1e-5)  # population std, eps 1e-6
    assert set(differ.metrics) >= {"step", "reward_mean", "format_rate", "accuracy_rate", "zero_signal_groups",
                                   "truncated", "completion_tokens_mean", "loss", "kl_to_reference", "seconds"}


def test_sampling_pass_log_probs_are_the_old_policy(tiny):
    from cosmos_nb_utils.grpo import completion_logprobs

    model, processor = tiny
    g = sample_group(model, processor, "Forward or backward?", ASSETS / "ball_bounce.mp4", group_size=2,
                     max_new_tokens=5, seed=3, fps=1.0)
    with torch.no_grad():
        lp = completion_logprobs(model, g.sequences, g.prompt_len, temperature=g.temperature, **g.prompt_inputs)
    assert torch.allclose(lp * g.mask, g.logprobs * g.mask, atol=1e-4)
    assert g.max_new_tokens == 5 and len(g.truncated) == 2


def test_k3_is_zero_at_the_reference_and_positive_elsewhere():
    a = torch.log(torch.tensor([0.2, 0.5]))
    assert torch.allclose(k3_kl(a, a), torch.zeros(2))
    assert (k3_kl(a, torch.log(torch.tensor([0.4, 0.3]))) > 0).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"group_size": 1}, "group_size"), ({"group_size": True}, "group_size"), ({"max_new_tokens": 0}, "max_new"),
    ({"updates": 0}, "updates"), ({"clip_eps": -1}, "clip_eps"), ({"fps": 0}, "fps"),
    ({"kl_beta": float("nan")}, "kl_beta"), ({"max_pixels": 100}, "max_pixels"), ({"max_pixels": 1.5}, "max_pixels"),
])
def test_settings_refuse_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRPOSettings(**kwargs)


def test_bad_reward_and_empty_step_are_refused(small_clip):
    model, processor = fresh_tiny()
    peft_model = add_lora(model, 4, 8.0, 0.0)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
    settings = GRPOSettings(group_size=2, max_new_tokens=2, fps=1.0, measure_kl=False)
    with pytest.raises(ValueError, match="prompts is empty"):
        grpo_step(peft_model, processor, optimizer, [], settings, step=0)
    with pytest.raises(ValueError, match="finite"):
        grpo_step(peft_model, processor, optimizer, [example(small_clip)], settings, step=0,
                  reward_fn=lambda t, k: float("nan"))


def test_cli_refuses_a_bad_group_size_before_loading(tmp_path, capsys):
    from cosmos_nb_utils.finetune import main

    assert main(["--method", "grpo", "--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "A"),
                 "--group-size", "1"]) == 2
    assert "group_size" in capsys.readouterr().err


def test_resume_continues_the_same_run(small_clip, tmp_path):
    import shutil

    from safetensors.torch import load_file

    from cosmos_nb_utils.grpo_train import GRPO_LOG, train_grpo
    from cosmos_nb_utils.training import TrainConfig, TrainLog
    from cosmos_nb_utils.training_data import build_arrow_of_time, load_examples

    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(small_clip, src / "bar.mp4")
    examples = load_examples(build_arrow_of_time(src, tmp_path / "data"))
    settings = GRPOSettings(group_size=2, max_new_tokens=2, fps=1.0, reasoning=False, measure_kl=False)

    class Interrupted(Exception):
        pass

    def stop_at(n):
        def on_step(row):
            if row["step"] == n:  # after step n is logged, before it is saved: it must be done again
                raise Interrupted

        return on_step

    def run(out, on_step=None):
        model, processor = fresh_tiny()
        config = TrainConfig(steps=3, lr=0.05, rank=4, grad_accum=1, save_every=1, seed=1, warmup_steps=0)
        train_grpo(model, processor, examples, config, out, settings, progress=False, reward_fn=starts_with_capital,
                   targets=LANGUAGE_TARGETS + "|lm_head", on_step=on_step)

    run(tmp_path / "straight")
    with pytest.raises(Interrupted):
        run(tmp_path / "resumed", stop_at(2))
    run(tmp_path / "resumed")  # the same command again: resumes after step 1, the last saved
    logs = [TrainLog(tmp_path / d, GRPO_LOG).read() for d in ("straight", "resumed")]
    assert [r["step"] for r in logs[1]] == [1, 2, 3]
    assert [r["reward_mean"] for r in logs[0]] == [r["reward_mean"] for r in logs[1]]
    a, b = (load_file(str(tmp_path / d / "adapter" / "adapter_model.safetensors")) for d in ("straight", "resumed"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="other settings"):
        model, processor = fresh_tiny()
        train_grpo(model, processor, examples, TrainConfig(steps=4, lr=0.05, rank=4, grad_accum=1, save_every=1,
                                                           seed=1, warmup_steps=0), tmp_path / "resumed",
                   GRPOSettings(group_size=3, max_new_tokens=2, fps=1.0, reasoning=False, measure_kl=False),
                   progress=False, reward_fn=starts_with_capital, targets=LANGUAGE_TARGETS + "|lm_head")


def test_a_setting_that_cannot_fit_is_refused_naming_what_to_lower(monkeypatch):
    from cosmos_nb_utils import grpo_train
    from cosmos_nb_utils.generation import GPUMemoryError

    # GiB above the weights by cap: the log-prob pass grows with the answers' length (their logits)
    monkeypatch.setattr(grpo_train, "predict_grpo_memory", lambda model, v, p, new, rank: grpo_train.GRPOPrediction(
        1.0, 0.5 + new / 512))
    settings = GRPOSettings(max_new_tokens=1024)
    with pytest.raises(GPUMemoryError, match=r"--max-new-tokens to 512.*--total-pixels or --fps") as info:
        grpo_train.check_grpo_memory(None, 1728, 1838, settings, 16, free_gib=2.2)
    assert "log-probability pass" in str(info.value) and "Nothing was run" in str(info.value)
    assert grpo_train.check_grpo_memory(None, 1728, 1838, GRPOSettings(max_new_tokens=256), 16, free_gib=2.2)


def test_rollout_video_defaults_are_the_rl_examples_and_the_cli_overrides_them():
    from cosmos_nb_utils.finetune import build_parser, grpo_settings
    from cosmos_nb_utils.official import RL_RECIPE

    s = GRPOSettings()
    assert (s.fps, s.max_pixels) == (RL_RECIPE["video fps"], RL_RECIPE["max_pixels per frame"]) == (1, 81920)
    base = ["--data-dir", "D", "--out-dir", "A", "--method", "grpo"]
    assert (grpo_settings(build_parser().parse_args(base)).fps, grpo_settings(build_parser().parse_args(base))
            .max_pixels) == (1, 81920)
    over = grpo_settings(build_parser().parse_args([*base, "--fps", "2", "--max-pixels", "50176"]))
    assert (over.fps, over.max_pixels) == (2, 50176)


def test_per_frame_cap_is_planned_as_the_processor_applies_it():
    """The plan's grid with max_pixels equals the grid the processor builds from the message it is sent with."""
    from cosmos_nb_utils.generation import build_inputs
    from cosmos_nb_utils.video import plan_sampling

    _, processor = fresh_tiny()
    clip = ASSETS / "ball_bounce.mp4"
    free = plan_sampling(clip, 1)
    plan, inputs = build_inputs(processor, "Q?", clip, fps=1, max_pixels=81920)
    assert plan.height * plan.width <= 81920 < free.height * free.width  # the cap binds on this clip
    assert tuple(inputs["video_grid_thw"][0].tolist()) == plan.grid_thw
    assert int((inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")).sum()) \
        == plan.visual_tokens
    with pytest.raises(ValueError, match="max_pixels"):
        plan_sampling(clip, 1, max_pixels=0)
