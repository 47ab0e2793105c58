"""The graph decoder's loop, run on the CPU without the graph: it must pick exactly the tokens ``generate`` picks.

The tiny model is loaded on the CPU on every machine (conftest), so these tests mean the
same with or without a GPU. The CUDA graph itself only replays the kernels of this loop:
one test checks that on a GPU (skipped without one), and benchmarks/check_graph_decoder.py
on the random 7B.
"""

import pytest
import torch
from transformers import TextStreamer, set_seed

from cosmos_nb_utils.decoding import DecodeStep, graph_capturable, logits_processors, static_generate
from cosmos_nb_utils.generation import ask, compare_decoders, prepare_inputs
from cosmos_nb_utils.prompts import build_messages


@pytest.fixture(scope="module")
def video_inputs(tiny, make_clip):
    _, processor = tiny
    return prepare_inputs(processor, build_messages("Is it safe to turn right?", make_clip(fps=25, seconds=4)))


def _text_inputs(processor, text="Describe a ball bouncing."):
    messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return processor(text=[prompt], return_tensors="pt")


GREEDY = {"do_sample": False, "repetition_penalty": 1.05}


@pytest.mark.parametrize("n", [1, 2, 40])
def test_greedy_tokens_equal_generate_with_video(tiny, video_inputs, n):
    model, _ = tiny
    settings = {**GREEDY, "min_new_tokens": n, "max_new_tokens": n}
    expected = model.generate(**video_inputs, **settings)
    got = static_generate(model, video_inputs, **settings)
    assert got.shape == expected.shape == (1, video_inputs["input_ids"].shape[1] + n)
    assert torch.equal(got, expected)


def test_video_shifts_positions(tiny, video_inputs):
    """With a video the decode positions are not the token count (rope_deltas != 0), so the equality
    test above fails if the decoder ignores them (checked by breaking it on purpose)."""
    model, _ = tiny
    static_generate(model, video_inputs, max_new_tokens=2, **GREEDY)
    assert int(model.model.rope_deltas) != 0


def test_greedy_tokens_equal_generate_text_only(tiny, video_inputs):
    model, processor = tiny
    static_generate(model, video_inputs, max_new_tokens=2, **GREEDY)  # leaves the video's rope_deltas behind
    inputs = _text_inputs(processor)
    settings = {**GREEDY, "min_new_tokens": 30, "max_new_tokens": 30}
    assert torch.equal(static_generate(model, inputs, **settings), model.generate(**inputs, **settings))


def test_stops_at_an_end_token_like_generate(tiny, video_inputs):
    model, _ = tiny
    eos = int(model.generation_config.eos_token_id[0])
    # make the third greedy token an end token: both must stop right there and keep it
    n = video_inputs["input_ids"].shape[1]
    third = int(static_generate(model, video_inputs, max_new_tokens=3, **GREEDY)[0, n + 2])
    out = static_generate(model, video_inputs, eos_token_ids=[third], max_new_tokens=20, **GREEDY)
    assert torch.equal(out, model.generate(**video_inputs, eos_token_id=[third], max_new_tokens=20, **GREEDY))
    assert int(out[0, -1]) == third and third not in out[0, n:-1].tolist()
    # min_new_tokens forbids the end tokens until then, as in generate
    settings = {**GREEDY, "max_new_tokens": 12, "min_new_tokens": 12}
    out = static_generate(model, video_inputs, eos_token_ids=[eos], **settings)
    assert eos not in out[0, video_inputs["input_ids"].shape[1]:].tolist()


def test_suppressed_tokens_never_appear(tiny, video_inputs):
    model, _ = tiny
    n = video_inputs["input_ids"].shape[1]
    free = static_generate(model, video_inputs, min_new_tokens=20, max_new_tokens=20, **GREEDY)[0, n:]
    banned = sorted(set(free.tolist()))[:3]
    out = static_generate(model, video_inputs, min_new_tokens=20, max_new_tokens=20, suppress_tokens=banned,
                          **GREEDY)[0, n:]
    assert not set(out.tolist()) & set(banned)


def test_sampling_is_seeded_and_follows_top_k(tiny, video_inputs):
    model, _ = tiny
    n = video_inputs["input_ids"].shape[1]
    sample = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "repetition_penalty": 1.05,
              "min_new_tokens": 15, "max_new_tokens": 15}
    set_seed(5)
    a = static_generate(model, video_inputs, **sample)
    set_seed(5)
    b = static_generate(model, video_inputs, **sample)
    assert torch.equal(a, b)
    # top_k=1 leaves one candidate: sampling must then agree with greedy decoding
    greedy = static_generate(model, video_inputs, **{**sample, "do_sample": False})
    assert torch.equal(static_generate(model, video_inputs, **{**sample, "top_k": 1})[0, n:], greedy[0, n:])


def test_streamer_receives_the_answer(tiny, video_inputs):
    model, processor = tiny
    pieces = []

    class Keep(TextStreamer):
        def on_finalized_text(self, text, stream_end=False):
            pieces.append(text)

    ids = static_generate(model, video_inputs, streamer=Keep(processor.tokenizer, skip_prompt=True),
                          min_new_tokens=10, max_new_tokens=10, **GREEDY)
    n = video_inputs["input_ids"].shape[1]
    assert "".join(pieces) == processor.tokenizer.decode(ids[0, n:])


def test_unsupported_settings_say_what_to_do(tiny, video_inputs):
    model, _ = tiny
    with pytest.raises(ValueError, match="decoder='generate'"):
        static_generate(model, video_inputs, max_new_tokens=2, num_beams=3)
    with pytest.raises(ValueError, match="at least 1"):
        static_generate(model, video_inputs, max_new_tokens=0)
    with pytest.raises(ValueError, match="one prompt at a time"):
        batch = {k: torch.cat([v, v]) if k == "input_ids" else v for k, v in video_inputs.items()}
        static_generate(model, batch, max_new_tokens=2)


def test_processors_follow_generate_settings():
    names = [type(p).__name__ for p in logits_processors(10, [2], do_sample=True, temperature=0.6, top_k=0,
                                                             top_p=0.95, repetition_penalty=1.05,
                                                             min_new_tokens=4)]
    assert names == ["RepetitionPenaltyLogitsProcessor", "MinNewTokensLengthLogitsProcessor",
                     "TemperatureLogitsWarper", "TopPLogitsWarper"]
    greedy = [type(p).__name__ for p in logits_processors(10, [2], do_sample=False, temperature=0.6, top_p=0.9)]
    assert greedy == []


def test_rewind_restores_the_state_after_the_prompt(tiny, video_inputs):
    """Graph capture warms up with real steps and then rewinds: the next step must see the prompt only."""
    from cosmos_nb_utils.decoding import prefill_into_static_cache

    model, _ = tiny
    n = video_inputs["input_ids"].shape[1]
    with torch.inference_mode():
        _, cache = prefill_into_static_cache(model, video_inputs, n + 8)
        step = DecodeStep(model, cache, n, model.model.rope_deltas, n + 8)
        step.token.fill_(5)
        first = step().clone()
        step()
        step()
        step.rewind()
        assert int(cache.layers[0].cumulative_length) == n and int(step.mask.sum()) == n
        assert torch.equal(step(), first)


def test_no_graph_for_a_model_on_the_cpu(tiny):
    model, _ = tiny  # on the CPU on every machine (conftest)
    assert model.device.type == "cpu" and not graph_capturable(model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="records a CUDA graph: needs a CUDA GPU")
def test_graph_replays_exactly_the_loop_on_a_gpu(tiny_dir, video_inputs):
    """On a GPU the graph must give the tokens of the same loop run without it (same kernels, replayed)."""
    from cosmos_nb_utils.loading import load_model

    model, _ = load_model("tiny", device="cuda", compute_dtype=torch.float32)
    inputs = video_inputs.to("cuda")
    settings = {**GREEDY, "min_new_tokens": 24, "max_new_tokens": 24}
    assert graph_capturable(model)
    graph = static_generate(model, inputs, use_cuda_graph=True, **settings)
    assert torch.equal(graph, static_generate(model, inputs, use_cuda_graph=False, **settings))


def test_ask_decoders_agree(tiny, make_clip):
    model, processor = tiny
    clip = make_clip(fps=25, seconds=4)
    answers = compare_decoders(model, processor, "What happens?", clip, new_tokens=16)
    assert list(answers) == ["graph", "generate"]
    assert answers["graph"].text == answers["generate"].text
    assert answers["graph"].new_tokens == answers["generate"].new_tokens == 16
    assert all(a.decode_tokens_per_s > 0 for a in answers.values())
    with pytest.raises(ValueError, match="decoder must be one of"):
        ask(model, processor, "What happens?", clip, decoder="fast")
