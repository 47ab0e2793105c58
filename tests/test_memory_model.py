"""The memory model: its prediction, the ``fits`` predicate, and ``ask`` refusing before the model runs.

No GPU here: the GPU's free memory is replaced by a number, and the tiny model is
made to look like it sits on a GPU. The coefficients themselves were measured on
the GPU (benchmarks/RESULTS.md); these tests check how they are used.
"""

import re

import pytest
import torch

from cosmos_nb_utils import generation, memory
from cosmos_nb_utils.architecture import reason1_7b_config
from cosmos_nb_utils.generation import GPUMemoryError, ask, check_gpu_memory
from cosmos_nb_utils.loading import load_model, run_vision_in_fp32
from cosmos_nb_utils.memory import (
    MARGIN_GIB,
    MEMORY_MODEL,
    fits,
    fits_predicate,
    fitting_settings,
    kv_bytes_per_token,
    largest_prompt,
    memory_mode,
    predict_question,
)
from cosmos_nb_utils.video import plan_sampling

CLIP = "assets/road_turn.mp4"


def test_kv_cache_bytes_of_the_7b():
    # keys and values, 28 layers, 4 KV heads of 128, 2 bytes
    assert kv_bytes_per_token(reason1_7b_config()) == 2 * 28 * 4 * 128 * 2 == 57_344


@pytest.fixture(scope="module")
def tiny_bf16():
    return load_model("tiny", "bf16", device="cpu")  # a CPU model on every machine; on_gpu fakes the GPU


@pytest.fixture
def on_gpu(monkeypatch, tiny_bf16):
    """The tiny bf16 model seen as a CUDA model with ``free`` GiB available (set ``state['free']``)."""
    model, _ = tiny_bf16
    state = {"free": 100.0}
    monkeypatch.setattr(type(model), "device", property(lambda self: torch.device("cuda")))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a, **k: 0)
    monkeypatch.setattr(memory, "free_gpu_gib", lambda: state["free"])
    return state


def test_modes_covered():
    cpu32, _ = load_model("tiny", device="cpu")
    assert memory_mode(cpu32) is None  # float32: not fitted, so no prediction and no refusal
    assert predict_question(cpu32, 1000) is None
    assert fits(cpu32, plan_sampling(CLIP))  # no GPU: nothing to check
    bf16, _ = load_model("tiny", "bf16", device="cpu")
    assert memory_mode(bf16) == "vision 16-bit"
    run_vision_in_fp32(bf16)
    assert memory_mode(bf16) == "vision fp32"


def test_prediction_follows_the_fitted_terms(tiny_bf16):
    model, _ = tiny_bf16
    c = MEMORY_MODEL["vision 16-bit"]
    kv = kv_bytes_per_token(model.config) / 2**30
    p = predict_question(model, visual_tokens=8000, prompt_tokens=8100, max_new_tokens=4096)
    assert p.prefill == pytest.approx(c["prefill_per_token"] * 8100 + c["prefill_base"])
    assert p.vision == pytest.approx(c["vision_per_token"] * 8000 + c["vision_base"])
    assert p.decode == pytest.approx(kv * (8100 + 4096) + c["decode_base"])
    assert p.peak == max(p.prefill, p.vision, p.decode)
    # more tokens never cost less; without a prompt count, the text around the video is allowed for
    assert predict_question(model, 9000).peak > predict_question(model, 8000).peak
    assert predict_question(model, 8000).prefill > predict_question(model, 8000, prompt_tokens=8000).prefill


def test_largest_prompt_is_the_boundary(tiny_bf16):
    model, _ = tiny_bf16
    for room in (0.4, 1.0, 2.5):
        n = largest_prompt(model, room)
        assert predict_question(model, n, n).peak <= room + 1e-9
        assert predict_question(model, n + 2, n + 2).peak > room


def test_fits_uses_free_memory_and_margin(on_gpu, tiny_bf16):
    model, _ = tiny_bf16
    plan = plan_sampling(CLIP)
    need = predict_question(model, plan.visual_tokens).peak
    on_gpu["free"] = need + MARGIN_GIB + 0.01
    assert fits(model, plan) and fits_predicate(model)(plan)
    on_gpu["free"] = need + MARGIN_GIB - 0.01
    assert not fits(model, plan) and not fits_predicate(model)(plan)
    assert fits(model, plan, margin_gib=0.0)


def test_ask_refuses_before_the_model_runs_and_names_the_setting(on_gpu, tiny_bf16, monkeypatch, capsys):
    model, processor = tiny_bf16
    calls = []
    monkeypatch.setattr(generation, "generate", lambda *a, **k: calls.append(1))
    on_gpu["free"] = MARGIN_GIB + 0.35
    with pytest.raises(GPUMemoryError, match="Nothing was run") as err:
        ask(model, processor, "Is it safe to turn right?", CLIP, fps=4)
    assert calls == []  # the model never ran
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"road_turn\.mp4: 32 frames, [\d,]+ prompt tokens \(2,304 visual\), predicted peak "
                        r"[\d.]+ GiB \([\d.]+ GiB for this question, 0\.85 GiB free\)", line), line
    # each setting it suggests does fit (checked the way fps="auto" will check a plan); this clip is small
    # already, so only fewer frames can help
    message = str(err.value)
    assert "(predicted to fit)" in message and "total_pixels=" not in message
    fps = float(re.search(r"Pass fps=([\d.]+)", message).group(1))
    assert fps < 4
    assert fits(model, plan_sampling(CLIP, fps))
    assert not fits(model, plan_sampling(CLIP))


def test_auto_fps_picks_a_rate_that_fits_the_memory(on_gpu, tiny_bf16, capsys):
    """ask's default fps="auto" plans with the memory check as its hook: on a card with little free memory it
    samples fewer frames instead of refusing."""
    from cosmos_nb_utils.generation import build_inputs
    from cosmos_nb_utils.memory import fits_predicate

    model, processor = tiny_bf16
    on_gpu["free"] = MARGIN_GIB + 0.35
    plan, _ = build_inputs(processor, "Q?", CLIP, fps="auto", fits=fits_predicate(model))
    assert plan.fps < 4 and fits(model, plan)
    assert "fps=\"auto\"" in capsys.readouterr().out  # it says what it chose
    on_gpu["free"] = 40.0
    assert build_inputs(processor, "Q?", CLIP, fps="auto", fits=fits_predicate(model))[0].fps == 4


def test_ask_check_passes_when_it_fits(on_gpu, tiny_bf16, capsys):
    model, _ = tiny_bf16
    plan = plan_sampling(CLIP)
    check_gpu_memory(model, plan, plan.visual_tokens + 100, 4096)  # no error
    assert "predicted peak" in capsys.readouterr().out


def test_nothing_left_to_lower(on_gpu, tiny_bf16):
    model, _ = tiny_bf16
    on_gpu["free"] = 0.1
    with pytest.raises(GPUMemoryError, match=r"Trim the clip .* or free the GPU"):
        check_gpu_memory(model, plan_sampling(CLIP), 2400, 4096)


def test_fitting_settings_see_that_fewer_frames_get_more_pixels(tiny_bf16):
    """A 30 s 720p clip at fps 4 is at qwen-vl-utils' minimum frame size (7,200 tokens whatever total_pixels);
    fps 2 and 1 cost more (7,920 and 7,905), fps 0.5 less (5,040)."""
    from pathlib import Path

    from cosmos_nb_utils.video import VideoInfo

    model, _ = tiny_bf16
    plan = plan_sampling(VideoInfo(Path("hd.mp4"), 1280, 720, 30.0, 900), 4.0, 8192 * 28 * 28)
    assert plan.visual_tokens == 7200
    assert fitting_settings(model, plan, predict_question(model, 7000, 7256).peak, 8192 * 28 * 28) == {"fps": 0.5}
    # too little room even for fps 0.5: both knobs together
    found = fitting_settings(model, plan, predict_question(model, 4000, 4256).peak, 8192 * 28 * 28)
    assert found["together"] and found["fps"] < 4 and found["total_pixels"] < 8192 * 28 * 28
    tokens = plan_sampling(plan.info, found["fps"], found["total_pixels"], None).visual_tokens
    assert predict_question(model, tokens, tokens + 256).peak <= predict_question(model, 4000, 4256).peak
    assert fitting_settings(model, plan, 0.01, 8192 * 28 * 28) == {}
