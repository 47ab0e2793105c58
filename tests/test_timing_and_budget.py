"""The sampled frame rate must reach the processor, and the token budget must be predictable."""

import pytest
import torch

from cosmos_nb_utils.generation import prepare_inputs
from cosmos_nb_utils.prompts import build_messages
from cosmos_nb_utils.video import plan_sampling


def video_temporal_ids(model, inputs):
    position_ids, _ = model.model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
        second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"],
    )
    is_video = inputs["input_ids"][0] == model.config.video_token_id
    return torch.unique(position_ids[0, 0, is_video])


@pytest.mark.parametrize("source_fps", [25.0, 29.97])
@pytest.mark.parametrize("fps", [1.0, 2.0, 4.0])
def test_second_per_grid_ts_and_temporal_positions(tiny, make_clip, source_fps, fps):
    model, processor = tiny
    clip = make_clip(fps=source_fps, seconds=8)
    inputs = prepare_inputs(processor, build_messages("What happens?", clip, fps=fps))
    plan = plan_sampling(clip, fps)
    # temporal_patch_size / sampled fps; the sampled fps is the asked fps up to rounding to whole frames
    assert inputs["second_per_grid_ts"].item() == pytest.approx(2 / plan.sampled_fps, rel=1e-4)
    assert inputs["second_per_grid_ts"].item() == pytest.approx(2 / fps, rel=0.01)
    ids = video_temporal_ids(model, inputs)
    step = model.config.vision_config.tokens_per_second * 2 / fps  # position units per grid step
    assert len(ids) == plan.grid_thw[0]
    assert torch.all(torch.diff(ids) == int(step))


def test_article_way_mistimes_the_video(tiny, make_clip):
    """Without the sampling metadata, transformers 5 assumes 24 fps (the pitfall notebook 03 teaches):
    0.083 s per grid step instead of 0.5, and the position is (step * 0.083 * 2).long(), so six
    consecutive steps (3 s of video) share one temporal position."""
    from cosmos_nb_utils.generation import compare_timing

    model, processor = tiny
    timing = compare_timing(model, processor, build_messages("What happens?", make_clip(fps=25, seconds=10), fps=4))
    article, right = timing["article (frames only)"], timing["with sampling metadata"]
    assert article["seconds_per_step"] == pytest.approx(2 / 24, rel=0.01)  # not 0.5
    assert right["seconds_per_step"] == pytest.approx(0.5)
    steps = len(right["positions"])
    assert steps == 20 and right["positions"] == list(range(steps))  # one position per 0.5 s step
    assert article["positions"] == [step // 6 for step in range(steps)]


@pytest.mark.parametrize(("fps", "budget"), [(1, 8192), (2, 2048), (4, 8192), (4, 1024), (8, 16384)])
def test_plan_matches_processor(tiny, make_clip, fps, budget):
    model, processor = tiny
    clip = make_clip(fps=25, seconds=6, size=(360, 640))
    plan = plan_sampling(clip, fps, budget * 28 * 28, max_visual_tokens=None)
    inputs = prepare_inputs(processor, build_messages("Q", clip, fps=fps, total_pixels=budget * 28 * 28))
    assert tuple(inputs["video_grid_thw"][0].tolist()) == plan.grid_thw
    assert int((inputs["input_ids"] == model.config.video_token_id).sum()) == plan.visual_tokens


def test_official_budget_on_assets():
    from conftest import ASSETS

    for clip in sorted(ASSETS.glob("*.mp4")):
        plan = plan_sampling(clip)
        assert plan.visual_tokens <= 8192 * 1.01, plan.summary()
