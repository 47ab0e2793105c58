import pytest
import torch

from cosmos_nb_utils.generation import GPUMemoryError, ask, sampling_settings
from cosmos_nb_utils.prompts import REASONING_SYSTEM, build_messages, format_mcq
from cosmos_nb_utils.video import BudgetError, VideoError


def test_ask_returns_measured_answer(tiny, make_clip, capsys):
    model, processor = tiny
    result = ask(model, processor, "Is it safe to turn right?", make_clip(fps=25, seconds=4), seed=1,
                 max_new_tokens=12)
    assert result.is_tiny
    assert 1 <= result.new_tokens <= 12  # fewer only if an end token came first
    assert result.visual_tokens == result.plan.visual_tokens > 0
    assert result.prompt_tokens > result.visual_tokens
    assert result.time_to_first_token_s > 0 and result.total_s >= result.time_to_first_token_s
    assert result.peak_gpu_allocated_gib is None or result.peak_gpu_allocated_gib > 0
    assert capsys.readouterr().out.strip() == result.text.strip()  # the text was streamed as it came


def test_seed_makes_runs_repeatable(tiny, make_clip):
    model, processor = tiny
    clip = make_clip(fps=25, seconds=4)
    a = ask(model, processor, "What happens?", clip, seed=3, stream=False, max_new_tokens=10)
    b = ask(model, processor, "What happens?", clip, seed=3, stream=False, max_new_tokens=10)
    assert a.text == b.text


def test_sampling_defaults_are_official_and_overridable(tiny):
    model, _ = tiny
    s = sampling_settings(model)
    assert (s["temperature"], s["top_p"], s["repetition_penalty"]) == (0.6, 0.95, 1.05)
    assert s["max_new_tokens"] < 4096  # shortened for the tiny model only
    assert sampling_settings(model, max_new_tokens=7)["max_new_tokens"] == 7
    assert s["top_k"] == 0  # off, as in the official settings: a checkpoint's own top_k must not apply
    greedy = sampling_settings(model, temperature=0)
    assert greedy["do_sample"] is False and greedy["temperature"] is None


def test_bad_video_fails_before_the_model_runs(tiny, tmp_path, monkeypatch):
    model, processor = tiny
    monkeypatch.setattr(model, "forward", lambda *a, **kw: pytest.fail("the model must not run"))
    with pytest.raises(VideoError, match="No such video"):
        ask(model, processor, "Q?", tmp_path / "missing.mp4")


def test_over_budget_is_refused_before_the_model_runs(tiny, make_clip, monkeypatch):
    model, processor = tiny
    monkeypatch.setattr(model, "forward", lambda *a, **kw: pytest.fail("the model must not run"))
    with pytest.raises(BudgetError, match="fps"):
        ask(model, processor, "Q?", make_clip(fps=25, seconds=20, size=(480, 640)), fps=8, max_visual_tokens=2000)


def test_out_of_memory_is_explained(tiny, make_clip, monkeypatch):
    model, processor = tiny

    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "forward", boom)
    with pytest.raises(GPUMemoryError, match="lower fps"):
        ask(model, processor, "Q?", make_clip(fps=25, seconds=4), stream=False)
    monkeypatch.undo()
    assert ask(model, processor, "Q?", make_clip(fps=25, seconds=4), stream=False, max_new_tokens=2).new_tokens > 0


def test_messages_layout(make_clip):
    clip = make_clip()
    messages = build_messages("  Is it safe?  ", clip, fps=2)
    assert messages[0] == {"role": "system", "content": REASONING_SYSTEM}
    assert messages[1]["content"][0]["fps"] == 2 and messages[1]["content"][1]["text"] == "Is it safe?"
    assert build_messages("Q", clip, reasoning=False)[0]["content"] == "You are a helpful assistant."
    with pytest.raises(ValueError, match="question is empty"):
        build_messages(" ", clip)


def test_mcq_format_is_official():
    text = format_mcq("What next?", ["Put it in the cart", "Drop it"])
    assert text == ("What next?\n(A) Put it in the cart\n(B) Drop it\n"
                    "Answer with the option's letter from the given choices directly.")
    for bad in (["only one"], "AB", ["a", ""], ["a", 3]):
        with pytest.raises(ValueError, match="option"):
            format_mcq("Q?", bad)


def test_presets_and_timestamps(tiny, make_clip):
    model, processor = tiny
    assert sampling_settings(model, "benchmark")["repetition_penalty"] == 1.0
    with pytest.raises(ValueError, match="preset"):
        sampling_settings(model, "card")
    clip = make_clip(fps=25, seconds=4)
    plain = ask(model, processor, "Q?", clip, stream=False, max_new_tokens=2)
    stamped = ask(model, processor, "Q?", clip, stream=False, max_new_tokens=2, timestamps=True)
    t, h, w = plain.plan.grid_thw
    assert stamped.visual_tokens == t * (h + 2) * w // 4  # the 28-px band is one more row of merged patches


def test_comparison_path_runs_without_gpu(tiny_dir, make_clip, monkeypatch):
    from cosmos_nb_utils.generation import ask_other_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # without a GPU, on any machine (no download)

    result = ask_other_model("qwen", "Is it safe?", make_clip(), reasoning=False, stream=False, max_new_tokens=4)
    assert result.is_tiny and result.new_tokens >= 1
