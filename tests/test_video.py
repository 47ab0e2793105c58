import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from cosmos_nb_utils.video import (
    BudgetError,
    VideoError,
    burn_timestamps,
    plan_sampling,
    probe_video,
    read_frames,
    reverse_video,
    trim_video,
    write_video,
)


def test_probe_reads_clip(make_clip):
    info = probe_video(make_clip(fps=25, seconds=4))
    assert (info.width, info.height, info.num_frames) == (200, 112, 100)
    assert info.fps == pytest.approx(25)
    assert info.duration == pytest.approx(4.0)


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="No such video file.*nope.mp4"):
        probe_video(tmp_path / "nope.mp4")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(VideoError, match="empty.mp4 is empty"):
        probe_video(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.mp4 is not a readable video"):
        probe_video(path)


def test_truncated_file(make_clip, tmp_path):
    data = make_clip(fps=25, seconds=4).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut.mp4"):
        probe_video(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="notes.mp4 is not a readable video"):
        probe_video(path)


def test_image_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path)
    with pytest.raises(VideoError, match="photo.png .*(image|not a usable video)"):
        probe_video(path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(VideoError, match="sound.m4a holds no video stream .*audio"):
        probe_video(path)


def test_single_frame_video(make_clip):
    path = make_clip(fps=25, seconds=0.04, name="one.mp4")
    with pytest.raises(VideoError, match="one.mp4 has 1 frame"):
        probe_video(path)


@pytest.mark.parametrize("fps", [0, -1])
def test_bad_fps(make_clip, fps):
    with pytest.raises(VideoError, match="fps must be a positive"):
        plan_sampling(make_clip(), fps=fps)


def test_fps_above_source(make_clip):
    with pytest.raises(VideoError, match=r"above the frame rate .*\(25 fps\)"):
        plan_sampling(make_clip(fps=25), fps=30)


def test_unreachable_url():
    with pytest.raises(VideoError, match="Could not download http://127.0.0.1:9/clip.mp4"):
        probe_video("http://127.0.0.1:9/clip.mp4")


def test_budget_refusal_names_the_knob(make_clip):
    long_clip = make_clip(fps=25, seconds=60, size=(480, 640), name="long.mp4")
    with pytest.raises(BudgetError, match="Lower fps"):
        plan_sampling(long_clip, fps=8, max_visual_tokens=8192)
    assert plan_sampling(long_clip, fps=1).visual_tokens <= 8192 * 1.01


def test_reverse_reverses(make_clip, tmp_path):
    src = make_clip(fps=10, seconds=2)
    frames, _ = read_frames(src)
    back, fps = read_frames(reverse_video(src, tmp_path / "rev.mp4"))
    assert fps == pytest.approx(10) and len(back) == len(frames)
    # the red ramp marks time: it must now go down
    ramp = back[:, :5, :, 0].mean(axis=(1, 2))
    assert ramp[0] > 200 and ramp[-1] < 50
    assert np.all(np.diff(ramp) < 5)


def test_trim_keeps_the_span(make_clip, tmp_path):
    src = make_clip(fps=10, seconds=4)
    info = probe_video(trim_video(src, tmp_path / "cut.mp4", 1.0, 2.5))
    assert info.num_frames == 15
    with pytest.raises(VideoError, match="past the end"):
        trim_video(src, tmp_path / "x.mp4", 9, 10)


def test_burn_timestamps_draws_in_corner(make_clip, tmp_path):
    src = make_clip(fps=10, seconds=1, size=(224, 400))
    plain, _ = read_frames(src)
    stamped, _ = read_frames(burn_timestamps(src, tmp_path / "ts.mp4"))
    assert stamped.shape == plain.shape
    corner = (slice(0, 50), slice(0, 120))
    assert (np.abs(stamped[0][corner].astype(int) - plain[0][corner]) > 60).mean() > 0.03  # white text drawn
    assert np.abs(stamped[0][150:, 200:].astype(int) - plain[0][150:, 200:]).mean() < 3
    assert not np.array_equal(stamped[0][corner], stamped[9][corner])  # the label changes


def test_written_video_is_decoded_by_decord(make_clip):
    code = "import decord,sys; print(len(decord.VideoReader(sys.argv[1])))"
    out = subprocess.run([sys.executable, "-c", code, str(make_clip(fps=10, seconds=2))],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "20"


def test_write_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_video(np.zeros((3, 10, 10)), tmp_path / "x.mp4", 10)
