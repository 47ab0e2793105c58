"""fps="auto" on a small card: smaller frames first (down to qwen-vl-utils' per-frame floor), then a lower rate."""

from pathlib import Path

import pytest

from cosmos_nb_utils.video import (
    DEFAULT_TOTAL_PIXELS,
    MAX_VISUAL_TOKENS,
    MIN_FRAME_PIXELS,
    BudgetError,
    VideoInfo,
    find_assets,
    plan_sampling,
)
from cosmos_nb_utils.video.plan import _highest_fitting

# A stand-in for the memory check of an 8 GB card: the 7B's questions fitted there up to about 4,800 visual
# tokens (benchmarks/RESULTS.md, small cards); a plain token cap keeps the test independent of any GPU.
ROOM = 4_800


def small_card(plan) -> bool:
    return plan.visual_tokens <= ROOM


def clip(seconds: float, width=1920, height=1080, fps=30) -> VideoInfo:
    return VideoInfo(path=Path(f"{seconds:g}s_{height}p.mp4"), width=width, height=height, fps=fps,
                     num_frames=round(seconds * fps))


@pytest.mark.parametrize("seconds", [60, 360])
def test_long_hd_clips_keep_more_frames_at_a_smaller_size(seconds, capsys):
    info = clip(seconds)
    old = _highest_fitting(info, DEFAULT_TOTAL_PIXELS, MAX_VISUAL_TOKENS, small_card)  # the rate-first order
    plan = plan_sampling(info, "auto", fits=small_card)
    assert small_card(plan) and plan.visual_tokens <= MAX_VISUAL_TOKENS
    assert plan.num_frames >= 4 * old.num_frames and plan.fps > old.fps
    assert plan.width * plan.height < old.width * old.height
    assert plan.width * plan.height <= 1.05 * MIN_FRAME_PIXELS  # frames shrank to the floor before the rate fell
    # a higher rate would not fit even at the smallest frames: the rate is the highest possible
    higher = [r for r in (4.0, 3.75, 3.5, 3.25, 3.0, 2.75, 2.5, 2.25, 2.0, 1.75, 1.5, 1.25, 1.0) if r > plan.fps]
    assert all(not small_card(plan_sampling(info, r, MIN_FRAME_PIXELS, None)) for r in higher)
    said = capsys.readouterr().out
    budget = int(plan.total_pixels) // 784
    assert (f'fps="auto": {plan.fps:g} fps and total_pixels={budget} * 28 * 28 for {info.name}' in said
            and f"{plan.num_frames} frames at {plan.width}x{plan.height}" in said), said
    # what it printed is repeatable: the same settings give the same plan
    assert plan_sampling(info, plan.fps, budget * 28 * 28, fits=small_card) == plan


def test_a_clip_that_fits_at_4_fps_keeps_4_fps_and_only_its_frames_shrink(capsys):
    info = clip(10)  # 40 frames; 7,800 visual tokens at the default budget
    plan = plan_sampling(info, "auto", fits=small_card)
    assert plan.fps == 4 and plan.num_frames == 40 and plan.total_pixels < DEFAULT_TOTAL_PIXELS
    assert small_card(plan)
    # the largest budget that fits: one step (128 tokens) more does not
    bigger = plan_sampling(info, 4, plan.total_pixels + 128 * 784, None)
    assert not small_card(bigger) or bigger.total_pixels > DEFAULT_TOTAL_PIXELS
    assert "fps=\"auto\": 4 fps and total_pixels=" in capsys.readouterr().out


def test_course_clips_are_untouched(capsys):
    """Every course clip keeps 4 fps at the official budget under fps="auto", with or without a small-card check."""
    for path in sorted(find_assets().glob("*.mp4")):
        for fits in (None, small_card):
            plan = plan_sampling(path, "auto", fits=fits)
            assert (plan.fps, plan.total_pixels) == (4, DEFAULT_TOTAL_PIXELS), path.name
            assert plan == plan_sampling(path, 4)
    assert 'fps="auto"' not in capsys.readouterr().out


def test_nothing_fits_says_so():
    info = clip(60)  # even 4 frames at the floor cost 240 visual tokens
    with pytest.raises(BudgetError, match=r"60s_1080p\.mp4 \(60 s\) does not fit .* even at the smallest frames"):
        plan_sampling(info, "auto", fits=lambda plan: plan.visual_tokens <= 200)
