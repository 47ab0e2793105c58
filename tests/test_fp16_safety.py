"""float16 safety: an overflow stops the answer with a clear error instead of streaming gibberish.

The tiny model runs in float16 on the CPU; overflows are provoked by weights that
float16 cannot carry (the vision encoder) or by inf injected into the logits.
"""

import pytest
import torch

from cosmos_nb_utils.decoding import NonFiniteError, static_generate
from cosmos_nb_utils.generation import _logits_guard, ask, prepare_inputs
from cosmos_nb_utils.loading import load_model, model_facts, run_vision_in_fp32
from cosmos_nb_utils.prompts import build_messages

QUESTION = "Is it safe to turn right?"


@pytest.fixture
def tiny16():
    return load_model("tiny", "fp16", vision_fp32=False, device="cpu")


def _overflow_vision(model) -> None:
    """Make the last vision block add 2 x 65,000 to the residual stream: inf in float16, fine in float32."""
    block = model.model.visual.blocks[-1]
    with torch.no_grad():
        block.attn.proj.bias.fill_(65000.0)
        block.mlp.down_proj.bias.fill_(65000.0)


class _Recorder:
    """A streamer that keeps every new token it is given."""

    def __init__(self):
        self.tokens, self.prompt_seen, self.ended = [], False, False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.tokens += value.flatten().tolist()

    def end(self):
        self.ended = True


def _inject_inf(model, from_call: int):
    """Put inf into the raw logits from the ``from_call``-th lm_head call on (call 1 reads the prompt)."""
    calls = 0

    def hook(module, args, output):
        nonlocal calls
        calls += 1
        if calls >= from_call:
            output = output.clone()
            output[..., 7] = float("inf")
            return output

    return model.lm_head.register_forward_hook(hook)


def test_vision_overflow_in_fp16_stops_before_decoding(tiny16, make_clip, capsys):
    model, processor = tiny16
    _overflow_vision(model)
    for decoder in ("graph", "generate"):
        with pytest.raises(NonFiniteError, match=r"vision encoder.*vision_fp32=True"):
            ask(model, processor, QUESTION, make_clip(), decoder=decoder, max_new_tokens=8)
    streamed = [line for line in capsys.readouterr().out.splitlines() if "predicted peak" not in line]
    assert streamed == []  # not one character of an answer was streamed (on a GPU, only the memory line)


def test_vision_in_fp32_fixes_that_overflow(tiny16, make_clip):
    model, processor = tiny16
    _overflow_vision(model)
    run_vision_in_fp32(model)
    assert model.model.visual.dtype == torch.float32
    assert model.model.language_model.embed_tokens.weight.dtype == torch.float16
    answer = ask(model, processor, QUESTION, make_clip(), stream=False, temperature=0, max_new_tokens=4)
    assert answer.new_tokens >= 1


def test_fp32_features_too_large_for_fp16_language_model(tiny16, make_clip):
    """Features computed in float32 overflow where they are cast to the float16 language model."""
    model, processor = tiny16
    run_vision_in_fp32(model)
    with torch.no_grad():
        model.model.visual.merger.mlp[-1].bias.fill_(1e6)
    with pytest.raises(NonFiniteError, match=r"vision encoder.*compute_dtype=torch.float32"):
        ask(model, processor, QUESTION, make_clip(), stream=False, max_new_tokens=4)


@pytest.mark.parametrize("decoder", ["graph", "generate"])
def test_logits_overflow_stops_at_the_token_where_it_appears(tiny16, make_clip, decoder):
    model, processor = tiny16
    inputs = prepare_inputs(processor, build_messages(QUESTION, make_clip()))
    settings = {"do_sample": False, "min_new_tokens": 10, "max_new_tokens": 10}
    clean = static_generate(model, inputs, **settings)[0, inputs["input_ids"].shape[1]:].tolist()
    recorder = _Recorder()
    handle = _inject_inf(model, from_call=3)  # the prompt, token 2, then inf for token 3
    try:
        with pytest.raises(NonFiniteError, match=r"new token 3\b.*float16.*compute_dtype=torch.float32"):
            if decoder == "graph":
                static_generate(model, inputs, streamer=recorder, **settings)
            else:
                with _logits_guard(model):
                    model.generate(**inputs, streamer=recorder, **settings)
    finally:
        handle.remove()
    assert recorder.tokens == clean[:2]  # the two good tokens came through, nothing after them


@pytest.mark.parametrize("decoder", ["graph", "generate"])
def test_logits_overflow_in_the_prompt_streams_nothing(tiny16, make_clip, decoder, capsys):
    model, processor = tiny16
    handle = _inject_inf(model, from_call=1)
    try:
        with pytest.raises(NonFiniteError, match="new token 1"):
            ask(model, processor, QUESTION, make_clip(), decoder=decoder, max_new_tokens=8)
    finally:
        handle.remove()
    assert capsys.readouterr().out.strip() == ""  # nothing but the closing newline
    # and the guard of the generate path is gone once the answer has stopped
    assert not model.lm_head._forward_hooks


def test_bf16_overflow_message_does_not_blame_fp16(make_clip):
    model, processor = load_model("tiny", device="cpu")  # float32 on the CPU
    handle = _inject_inf(model, from_call=1)
    try:
        with pytest.raises(NonFiniteError, match="float32, which should not overflow") as err:
            ask(model, processor, QUESTION, make_clip(), max_new_tokens=4, stream=False)
    finally:
        handle.remove()
    assert "vision_fp32" not in str(err.value)


def test_vision_fp32_on_a_4bit_model(make_clip):
    """4-bit vision layers keep 4-bit weights and compute in float32; the language model stays float16."""
    pytest.importorskip("bitsandbytes")
    model, processor = load_model("tiny", "nf4", compute_dtype=torch.float16, vision_fp32=True, device="cpu")
    layers = [m for m in model.model.visual.modules() if type(m).__name__ == "Linear4bit"]
    assert layers and all(m.compute_dtype == torch.float32 for m in layers)
    assert all(m.weight.dtype == torch.uint8 for m in layers)
    assert model_facts(model).vision_fp32
    answer = ask(model, processor, QUESTION, make_clip(), stream=False, temperature=0, max_new_tokens=3)
    assert answer.new_tokens >= 1


def test_vision_fp32_is_off_by_default_on_cpu():
    model, _ = load_model("tiny", "fp16", device="cpu")
    assert model_facts(model).vision_fp32 is False
    assert model.model.visual.dtype == torch.float16
