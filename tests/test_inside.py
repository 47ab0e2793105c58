"""Tracing one clip through the model (cosmos_nb_utils.inside), checked against the processor and the config."""

from collections import Counter

import numpy as np
import pytest
import torch

from cosmos_nb_utils import inside
from cosmos_nb_utils.architecture import reason1_7b_config
from cosmos_nb_utils.facts import quantized_modules
from cosmos_nb_utils.memory import parameter_groups
from cosmos_nb_utils.video import plan_sampling

VISION_7B = reason1_7b_config().vision_config


@pytest.fixture(scope="module")
def traced(tiny, make_clip):
    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    model, processor = tiny
    clip = make_clip(fps=12, seconds=3, size=(252, 448))
    inputs = prepare_inputs(processor, build_messages("What happens?", clip, fps=4))
    return model, inputs, inside.trace(model, inputs), plan_sampling(clip, 4)


def test_trace_measures_every_stage_in_order(traced):
    model, inputs, tr, plan = traced
    vision, text = model.config.vision_config, model.config.text_config
    names = [r["stage"] for r in tr.rows]
    assert names == list(inside.stages(model))
    assert len(names) == vision.depth + text.num_hidden_layers + 5
    t, h, w = plan.grid_thw
    patches, tokens = t * h * w, plan.visual_tokens
    rows = {r["stage"]: r for r in tr.rows}
    assert rows["model.visual.patch_embed"]["input"] == f"{patches}x{3 * 2 * 14 * 14}"
    assert rows["model.visual.merger"]["output"] == f"{tokens}x{vision.out_hidden_size}"
    seq = inputs["input_ids"].shape[1]
    assert rows["model.language_model.norm"]["output"] == f"1x{seq}x{text.hidden_size}"
    assert rows["lm_head"]["input"] == f"1x1x{text.hidden_size}"  # the last position only, as generation does
    assert rows["lm_head"]["output"] == f"1x1x{text.vocab_size}"


def test_trace_keeps_no_cache_and_scores_one_position(tiny, make_clip):
    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    model, processor = tiny
    inputs = prepare_inputs(processor, build_messages("q", make_clip(fps=12, seconds=2, size=(252, 448)), fps=4))
    seen = {}
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: seen.update(kwargs), with_kwargs=True)
    try:
        inside.trace(model, inputs)
    finally:
        handle.remove()
    assert seen["use_cache"] is False and seen["logits_to_keep"] == 1


def test_full_attention_blocks_attend_per_temporal_step_and_the_others_per_window(traced):
    model, inputs, tr, plan = traced
    t, h, w = plan.grid_thw
    windows = len(np.unique(inside.window_ids(plan.grid_thw, model.config.vision_config)))
    for i, row in enumerate(r for r in tr.rows if r["stage"].startswith("model.visual.blocks.")):
        if i in model.config.vision_config.fullatt_block_indexes:
            assert row["attention"] == f"{t} groups of at most {h * w} patches"
        else:
            assert row["attention"] == f"{windows} groups of at most 64 patches"


def test_video_features_are_spliced_at_the_video_pads(traced):
    model, inputs, tr, plan = traced
    ids = inputs["input_ids"][0]
    assert tr.video_features.shape[0] == int((ids == model.config.video_token_id).sum()) == plan.visual_tokens
    assert tr.spliced(ids, model.config.video_token_id)
    assert not tr.spliced(ids.roll(1), model.config.video_token_id)


def test_window_partition_of_the_7b():
    """112-px windows are 4x4 merged tokens; a 9-row grid leaves a last row of 1-token-high windows."""
    ids = inside.window_ids((2, 18, 32), VISION_7B)
    assert ids.shape == (2, 9, 16)
    sizes = Counter(ids.ravel().tolist())
    assert len(sizes) == 2 * 3 * 4
    assert sorted(set(sizes.values())) == [4, 16]
    assert set(ids[1].ravel()) == set(range(12, 24))  # each temporal step has its own windows


def test_frequency_axes_follow_the_mrope_sections():
    config = reason1_7b_config().text_config
    axes = inside.frequency_axes(config)
    counts = [axes.count(a) for a in ("time", "height", "width")]
    assert counts == config.rope_parameters["mrope_section"] == [16, 24, 24]
    assert axes == sorted(axes, key=("time", "height", "width").index)  # time first: the fastest frequencies


def test_positions_of_the_video_follow_time(traced):
    model, inputs, tr, plan = traced
    positions = inside.rope_positions(model, inputs)
    video = inputs["input_ids"][0] == model.config.video_token_id
    steps = positions[0, video].reshape(plan.grid_thw[0], -1)
    assert (steps == steps[:, :1]).all()  # one temporal id per step
    seconds = 2 / plan.sampled_fps
    expected = (torch.arange(plan.grid_thw[0]) * seconds * model.config.vision_config.tokens_per_second).long()
    assert (steps[:, 0] - steps[0, 0]).tolist() == expected.tolist()


def test_meta_quantization_matches_a_real_nf4_load(tiny_dir):
    from cosmos_nb_utils.loading import load_model

    loaded, _ = load_model("tiny", "nf4", device="cpu")
    assert quantized_modules(inside.meta_quantized(loaded.config)) == quantized_modules(loaded)


def test_parts_of_the_7b_add_up_and_only_lm_head_stays_16_bit():
    model = inside.meta_quantized()
    rows = inside.part_table(model)
    total = sum(parameter_groups(model).values())
    assert sum(r["parameters (M)"] for r in rows) == pytest.approx(total / 1e6, abs=0.5)
    unquantized = {r["part"]: r["Linear layers"] - r["4-bit"] for r in rows}
    assert unquantized["lm_head (next-token scores)"] == 1 and sum(unquantized.values()) == 1
    kept = inside.part_table(inside.meta_quantized(keep_vision=True))
    assert all(r["4-bit"] == 0 for r in kept if r["part"].startswith("vision"))


def test_linear_layers_name_the_lora_targets():
    rows = {r["name"]: r for r in inside.linear_layers(inside.meta_quantized())}
    q = rows["model.language_model.layers.*.self_attn.q_proj"]
    assert (q["count"], q["in"], q["out"], q["class"]) == (28, 3584, 3584, "Linear4bit")
    assert rows["model.visual.merger.mlp.2"]["out"] == 3584
    assert rows["lm_head"]["class"] == "Linear"


def test_text_after_a_long_video_resumes_below_its_last_time_ids(tiny, make_clip):
    """transformers 5.24's get_rope_index resumes the text at the video's start + max(h, w) / 2; the original
    Qwen2.5-VL code (huggingface/transformers#35569) resumed at the video's largest id + 1. For a 10 s clip at
    4 fps, 16 tokens wide, they differ (notebook 08 shows the check): this test fails when transformers changes it."""
    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    model, processor = tiny
    inputs = prepare_inputs(processor, build_messages("q", make_clip(fps=12, seconds=10, size=(252, 448)), fps=4))
    positions = inside.rope_positions(model, inputs)
    video = inputs["input_ids"][0] == model.config.video_token_id
    start, after = int(positions[0, video][0]), int(video.nonzero()[-1]) + 1
    _, h, w = inputs["video_grid_thw"][0].tolist()
    assert positions[:, after].tolist() == [start + max(h, w) // 2] * 3
    assert int(positions[:, video].max()) + 1 > start + max(h, w) // 2


def test_token_grid_is_filled_row_by_row_one_step_after_the_other(traced):
    model, inputs, tr, plan = traced
    positions = inside.rope_positions(model, inputs)
    ids = inputs["input_ids"][0]
    first = int((ids == model.config.video_token_id).nonzero()[0])
    _, h, w = plan.grid_thw
    per_step = (h // 2) * (w // 2)
    for step in (0, 1):
        grid = inside.token_grid(positions, ids, model.config.video_token_id, step)
        assert grid.shape == (h // 2, w // 2)
        assert (grid == first + step * per_step + np.arange(per_step).reshape(grid.shape)).all()
