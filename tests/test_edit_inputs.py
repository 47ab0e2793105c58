"""Edits given odd arguments name the argument and the fix, never a raw library error (issue 22, item 13)."""

import numpy as np
import pytest

from cosmos_nb_utils.video import (
    MAX_ENCODED_SIDE,
    VideoError,
    burn_timestamps,
    probe_video,
    reencode_video,
    reverse_video,
    trim_video,
    write_video,
)


@pytest.fixture
def clip(make_clip):
    return make_clip(fps=10, seconds=2)


@pytest.mark.parametrize("start", [1.95, 1.91])
def test_trim_from_near_the_end_to_the_end_says_so(clip, tmp_path, start):
    with pytest.raises(VideoError, match=rf"^{start:g} s to the end \(2\.00 s\) holds fewer than 2 frames"):
        trim_video(clip, tmp_path / "t.mp4", start)
    assert not (tmp_path / "t.mp4").exists()


def test_trim_to_the_end_still_works(clip, tmp_path):
    assert probe_video(trim_video(clip, tmp_path / "t.mp4", 1.5)).num_frames == 5


@pytest.mark.parametrize("edit", [trim_video, reverse_video, burn_timestamps, reencode_video])
@pytest.mark.parametrize("below", ["a_file/out.mp4", "a_file/deeper/out.mp4"])
def test_a_destination_under_a_regular_file_is_named(edit, below, clip, tmp_path):
    (tmp_path / "a_file").write_text("x")
    args = (0, 1) if edit is trim_video else ()
    with pytest.raises(ValueError, match=rf"dst=.*{below}.* cannot be written: .*a_file is a file, not a folder"):
        edit(clip, tmp_path / below, *args)
    assert (tmp_path / "a_file").read_text() == "x"


@pytest.mark.parametrize("dst", ["/proc/cosmos-edit.mp4", "/proc/self/cosmos/edit.mp4"])
def test_a_destination_that_cannot_be_written_is_named(clip, dst):
    with pytest.raises(ValueError, match=r"dst=.* cannot be written \("):
        trim_video(clip, dst, 0, 1)
    with pytest.raises(ValueError, match=r"dst=.* cannot be written"):
        write_video(np.zeros((2, 32, 32, 3), np.uint8), dst, 10)


@pytest.mark.parametrize("shape", [(2000, 2), (2, 2000), (4000, 16)])
def test_reencode_of_a_sliver_says_to_crop(shape, tmp_path):
    sliver = write_video(np.full((6, *shape, 3), 128, np.uint8), tmp_path / "sliver.mp4", 10)
    with pytest.raises(VideoError, match=r"sliver\.mp4 is \d+x\d+: more elongated than the model accepts"):
        reencode_video(sliver, tmp_path / "fixed.mp4")
    assert [p.name for p in tmp_path.iterdir()] == ["sliver.mp4"]


def test_reencode_that_would_grow_past_the_encoder_limit_says_so(tmp_path):
    # aspect exactly 200: allowed, but growing the 20-pixel side to 112 makes the other 22,400 pixels long
    tall = write_video(np.full((4, 4000, 20, 3), 128, np.uint8), tmp_path / "tall.mp4", 10)
    with pytest.raises(VideoError, match=rf"larger than H\.264 takes \({MAX_ENCODED_SIDE:,} pixels a side\)"):
        reencode_video(tall, tmp_path / "fixed.mp4")
    assert not (tmp_path / "fixed.mp4").exists()


def test_frames_too_large_for_the_encoder_are_refused_by_name(tmp_path):
    with pytest.raises(VideoError, match=r"big\.mp4: frames of 112x16400 pixels are larger than H\.264 takes"):
        write_video(np.zeros((2, 16400, 112, 3), np.uint8), tmp_path / "big.mp4", 10)
    assert list(tmp_path.iterdir()) == []
