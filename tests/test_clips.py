"""Clips a learner brings: variable frame rate, rotation, files the model's reader cannot read, odd arguments.

Each synthetic clip writes its own frame number into its pixels (8 black/white blocks along the top), so
every frame read back anywhere (plan, model input, trims, reversal) can be matched to its true time.
"""

import math
import re
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

import cosmos_nb_utils.video as video
from cosmos_nb_utils.video import (
    BudgetError,
    VideoError,
    plan_sampling,
    probe_video,
    read_frames,
    reencode_video,
    reverse_video,
    sampled_frames,
    trim_video,
    write_video,
)
from cosmos_nb_utils.video import edits as video_edits
from cosmos_nb_utils.video import probe as video_probe

BITS = 8  # frame number: 8 black/white blocks across the top fifth of the frame


def coded_frame(k: int, height=120, width=192, mark=None) -> np.ndarray:
    frame = np.full((height, width, 3), 60, np.uint8)
    band, block = height // 5, width // BITS
    for b in range(BITS):
        frame[:band, b * block:(b + 1) * block] = 255 if k >> b & 1 else 0
    if mark is not None:  # an asymmetric mark: red square at the bottom left
        frame[-30:, :30] = (255, 0, 0)
    return frame


def read_code(frame: np.ndarray) -> int:
    """The frame number written by coded_frame, from a frame of any size (rescaled)."""
    h, w = frame.shape[:2]
    band = frame[: max(1, int(h / 5 * 0.7)), :, :].mean(axis=(0, 2))
    block = w / BITS
    return sum(int(band[int((b + 0.25) * block): int((b + 0.75) * block)].mean() > 128) << b for b in range(BITS))


def local_interval(t: float) -> float:
    """The source's frame interval around time t (one frame interval, where the rate varies)."""
    i = int(np.searchsorted(VFR_TIMES, t))
    neighbours = VFR_TIMES[max(0, i - 1): i + 2]
    return max(np.diff(neighbours).max(), 1 / 30)


def write_timed(path, times, rotation=0, make=coded_frame):
    """Write frames 0..n-1 at the given presentation times (seconds), optionally with a rotation tag."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        frame0 = make(0)
        stream.width, stream.height, stream.pix_fmt = frame0.shape[1], frame0.shape[0], "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for k, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(make(k), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# A phone-like timeline: 30 fps, then 10 fps in the dark, then back to 30 fps, 7 s in all.
VFR_TIMES = [i / 30 for i in range(60)] + [2 + i / 10 for i in range(30)] + [5 + i / 30 for i in range(60)]


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    return write_timed(tmp_path_factory.mktemp("vfr") / "phone.mp4", VFR_TIMES)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSMOS_NB_CACHE", str(tmp_path / "cache"))
    video_probe._PROBED.clear()


def true_times(frames) -> np.ndarray:
    return np.array([VFR_TIMES[read_code(f)] for f in frames])


# ---------------------------------------------------------------------------------------- variable frame rate


def test_vfr_plan_and_model_frames_follow_presentation_times(vfr_clip, capsys):
    plan = plan_sampling(vfr_clip, fps=4)
    assert "variable frame rate" in capsys.readouterr().out
    frames, times = sampled_frames(vfr_clip, fps=4)
    interval = 1 / plan.info.fps
    assert plan.info.source == vfr_clip and plan.info.fps == pytest.approx(30)
    assert plan.info.duration == pytest.approx(VFR_TIMES[-1], abs=2 * interval)
    assert np.allclose(plan.timestamps, times)
    # frame i as the model gets it really shows the time the plan says, within one frame interval
    for shown, said in zip(true_times(frames), plan.timestamps):
        assert abs(shown - said) <= local_interval(said) + 1e-6
    # the old way (index / average rate) was off by far more: the test would catch it
    average = (len(VFR_TIMES) - 1) / VFR_TIMES[-1]
    assert max(abs(VFR_TIMES[i] - i / average) for i in range(len(VFR_TIMES))) > 0.5


def test_vfr_time_step_told_to_the_model(tiny, vfr_clip):
    from cosmos_nb_utils.generation import prepare_inputs
    from cosmos_nb_utils.prompts import build_messages

    _, processor = tiny
    plan = plan_sampling(vfr_clip, fps=2)
    inputs = prepare_inputs(processor, build_messages("Q", plan.info.path, fps=2))
    frames, _ = sampled_frames(vfr_clip, fps=2)
    truth = true_times(frames)
    # the frames given are evenly spaced in real time (index sampling of the original: 3x wider in the dark part)
    gaps = np.diff(truth)
    assert np.abs(gaps - gaps.mean()).max() <= 0.1 + 1 / 30 + 1e-6  # one source interval in the dark part
    # and the step the model is told is qwen-vl-utils' uniform one for the clip's real duration
    real_duration = VFR_TIMES[-1] + 1 / 30
    told = inputs["second_per_grid_ts"].item()
    assert told == pytest.approx(2 * real_duration / plan.num_frames, abs=2 / plan.info.fps)
    assert tuple(inputs["video_grid_thw"][0].tolist()) == plan.grid_thw


def test_vfr_notice_once_and_copy_reused(vfr_clip, capsys):
    first = probe_video(vfr_clip)
    probe_video(vfr_clip)
    assert capsys.readouterr().out.count("variable frame rate") == 1
    video_probe._PROBED.clear()  # a new session: the copy is reused, not rewritten
    stamp = first.path.stat().st_mtime_ns
    assert probe_video(vfr_clip).path == first.path and first.path.stat().st_mtime_ns == stamp


def test_vfr_trim_follows_presentation_times(vfr_clip, tmp_path):
    frames, fps = read_frames(trim_video(vfr_clip, tmp_path / "cut.mp4", 1.5, 4.0))
    truth = true_times(frames)
    assert truth[0] == pytest.approx(1.5, abs=1 / 30 + 1e-6)
    assert truth[-1] == pytest.approx(4.0, abs=0.1 + 1e-6)  # the source shows one frame every 0.1 s there
    assert np.all(np.diff(truth) >= 0)
    assert len(frames) / fps == pytest.approx(2.5, abs=1 / fps)


def test_vfr_reversal_keeps_real_timing(vfr_clip, tmp_path):
    back = reverse_video(vfr_clip, tmp_path / "back.mp4")
    info = probe_video(back)
    frames, fps = read_frames(back)
    truth = true_times(frames)
    duration = info.duration
    # frame i of the reversed clip shows the moment duration - i / fps of the original (within a frame)
    expected = (len(frames) - 1 - np.arange(len(frames))) / fps
    for shown, said in zip(truth, expected):
        assert abs(shown - said) <= local_interval(said) + 1 / fps + 1e-6
    assert duration == pytest.approx(VFR_TIMES[-1], abs=2 / fps)


# ---------------------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("degrees", [90, 180, -90])
def test_rotation_honoured_everywhere(tmp_path, degrees):
    import decord

    clip = write_timed(tmp_path / f"portrait{degrees}.mp4", [i / 10 for i in range(20)], rotation=degrees,
                       make=lambda k: coded_frame(k, height=144, mark=True))
    seen_by_reader = decord.VideoReader(str(clip)).get_batch([0]).asnumpy()[0]  # the model's reader rotates
    plan = plan_sampling(clip, fps=4)
    assert (plan.info.height, plan.info.width) == seen_by_reader.shape[:2]
    upright = np.rot90(coded_frame(0, height=144, mark=True), round(degrees / 90) % 4)
    frames, _ = read_frames(clip)
    assert np.abs(frames[0].astype(int) - upright).mean() < 8
    model_frames, _ = sampled_frames(clip, fps=4)
    assert model_frames.shape[1:3] == (plan.height, plan.width)
    small = np.asarray(Image.fromarray(upright).resize((plan.width, plan.height), Image.BICUBIC))
    assert np.abs(model_frames[0].astype(int) - small).mean() < 12
    for edited in (reverse_video(clip, tmp_path / "rev.mp4"), trim_video(clip, tmp_path / "cut.mp4", 0, 1)):
        with av.open(str(edited)) as container:
            assert next(container.decode(video=0)).rotation == 0  # upright pixels, no tag left to lose
        assert read_frames(edited)[0].shape[1:3] == upright.shape[:2]
    turns = round(degrees / 90) % 4
    assert [read_code(np.rot90(f, -turns)) for f in read_frames(tmp_path / "rev.mp4")[0]] == list(range(19, -1, -1))


# ---------------------------------------------------------------------------------------- the model's reader


def _gif(path):
    images = [Image.fromarray(coded_frame(k, height=96)) for k in range(12)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def _tiny_clip(side):
    def make(path):
        return write_video(np.stack([coded_frame(k)[:side, :side] for k in range(20)]), path, 10)
    return make


def _damaged(path):
    """A clip whose middle packet has garbage where its length field was (a half-copied file looks like this)."""
    write_video(np.stack([coded_frame(k) for k in range(40)]), path, 10)
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    position = packets[len(packets) // 2][0]
    data[position:position + 4] = b"\x7f\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("name", "make"), [("anim.gif", _gif), ("s16.mp4", _tiny_clip(16)),
                                            ("s48.mp4", _tiny_clip(48)), ("damaged.mp4", _damaged)])
def test_unreadable_for_the_model_is_refused_with_a_fix_that_works(tiny, tmp_path, monkeypatch, name, make):
    import cosmos_nb_utils.generation as generation

    clip = make(tmp_path / name)
    monkeypatch.setattr(generation, "prepare_inputs", lambda *a, **k: pytest.fail("the model's input was built"))
    with pytest.raises(VideoError, match=rf"{re.escape(name)}.*reencode_video\(") as refused:
        generation.ask(*tiny, "What happens?", clip, stream=False)
    advice = re.search(r"(reencode_video\(.*?\.mp4'\))", str(refused.value)).group(1)
    fixed = eval(advice, {"reencode_video": reencode_video, "work_dir": video.work_dir})  # followed literally
    frames, times = sampled_frames(fixed, fps=2)
    assert len(frames) >= 2 and times == sorted(times)


def test_a_clip_the_models_reader_counts_differently_is_converted(make_clip, monkeypatch, capsys):
    clip = make_clip(fps=10, seconds=2, name="odd.mp4")
    real = video_probe._check_model_reader

    def disagrees_on_originals(info):
        return "the model's reader (decord) sees 19 frames" if info.source is None else real(info)

    monkeypatch.setattr(video_probe, "_check_model_reader", disagrees_on_originals)
    info = probe_video(clip)
    assert info.source == clip and info.path != clip and info.num_frames == 20
    assert "odd.mp4: the model's reader (decord) sees 19 frames; the course uses" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("given", [None, 3, "", "   "])
def test_video_argument_is_named(given):
    with pytest.raises(ValueError, match="^video "):
        probe_video(given)



@pytest.mark.parametrize(("kwargs", "named"), [
    ({"fps": "4"}, "fps"), ({"fps": float("nan")}, "fps"), ({"fps": float("inf")}, "fps"), ({"fps": -2}, "fps"),
    ({"fps": True}, "fps"), ({"fps": None}, "fps"),
    ({"total_pixels": float("nan")}, "total_pixels"), ({"total_pixels": "8192"}, "total_pixels"),
    ({"total_pixels": 10}, "total_pixels"), ({"total_pixels": float("inf")}, "total_pixels"),
    ({"max_visual_tokens": float("nan")}, "max_visual_tokens"), ({"max_visual_tokens": 0}, "max_visual_tokens"),
    ({"fits": 3}, "fits"),
])
def test_plan_arguments_are_checked_and_named(make_clip, kwargs, named):
    with pytest.raises(ValueError, match=rf"^{named}\b"):
        plan_sampling(make_clip(), **kwargs)


def test_ask_checks_arguments_before_the_model_runs(tiny, make_clip, monkeypatch):
    import cosmos_nb_utils.generation as generation

    monkeypatch.setattr(generation, "generate", lambda *a, **k: pytest.fail("the model ran"))
    for kwargs, named in [({"fps": "4"}, "fps"), ({"total_pixels": float("nan")}, "total_pixels"),
                          ({"decoder": "fast"}, "decoder")]:
        with pytest.raises(ValueError, match=named):
            generation.ask(*tiny, "What happens?", make_clip(), stream=False, **kwargs)


@pytest.mark.parametrize(("start", "end", "named"), [
    (0, float("inf"), "end"), (float("nan"), 1, "start"), (-1, 1, "start"), ("1", 2, "start"), (0, -1, "end"),
    (2, 1, "start < end"), (1, 1, "start < end"),
])
def test_trim_arguments(make_clip, tmp_path, start, end, named):
    with pytest.raises(ValueError, match=named):
        trim_video(make_clip(), tmp_path / "x.mp4", start, end)


def test_trim_to_the_end(make_clip, tmp_path):
    assert probe_video(trim_video(make_clip(fps=10, seconds=4), tmp_path / "tail.mp4", 3)).num_frames == 10


@pytest.mark.parametrize("edit", ["reverse", "trim", "burn"])
def test_edits_never_overwrite_their_source(make_clip, tmp_path, edit):
    src = tmp_path / "mine.mp4"
    src.write_bytes(make_clip(fps=10, seconds=2).read_bytes())
    before = src.read_bytes()
    call = {"reverse": video.reverse_video, "trim": lambda s, d: trim_video(s, d, 0, 1),
            "burn": video.burn_timestamps}[edit]
    for dst in (src, str(src), tmp_path / "." / "mine.mp4"):
        with pytest.raises(ValueError, match="never overwrites its source"):
            call(src, dst)
    assert src.read_bytes() == before


@pytest.mark.parametrize("name", ["out.gif", "out.webm", "out", "out.txt"])
def test_destinations_the_writer_cannot_make(make_clip, tmp_path, name):
    with pytest.raises(ValueError, match=r"dst=.*\.mp4"):
        reverse_video(make_clip(), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_failed_edit_leaves_nothing_and_keeps_the_old_file(make_clip, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    dst = tmp_path / "out" / "out.mp4"
    dst.write_bytes(b"earlier result")
    real = video_edits._iter_frames

    def breaks(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 5:
                raise RuntimeError("disk full")
            yield item

    monkeypatch.setattr(video_edits, "_iter_frames", breaks)
    with pytest.raises(RuntimeError, match="disk full"):
        video.burn_timestamps(make_clip(fps=10, seconds=2), dst)
    assert dst.read_bytes() == b"earlier result"
    assert [p.name for p in dst.parent.iterdir()] == ["out.mp4"]


def test_write_video_values(tmp_path):
    ramp = np.linspace(0, 1, 8 * 64 * 64 * 3).reshape(8, 64, 64, 3) * 0 + 0.5
    frames, _ = read_frames(write_video(ramp, tmp_path / "half.mp4", 10))  # floats 0-1 are scaled, not blacked out
    assert abs(frames.mean() - 127.5) < 3
    frames, _ = read_frames(write_video(np.full((4, 64, 64, 3), 200.0), tmp_path / "f255.mp4", 10))
    assert abs(frames.mean() - 200) < 3
    for bad, match in [(np.full((4, 64, 64, 3), 300), "0-255"), (np.full((4, 64, 64, 3), -1.0), "0-255"),
                       (np.full((4, 64, 64, 3), np.nan), "NaN"), (np.zeros((4, 64, 64, 3), bool), "dtype"),
                       ([np.zeros((64, 64, 3)), np.zeros((32, 64, 3))], "same shape")]:
        with pytest.raises(ValueError, match=match):
            write_video(bad, tmp_path / "bad.mp4", 10)
    for fps in (0, -1, float("nan"), "10", None):
        with pytest.raises(ValueError, match="fps"):
            write_video(np.zeros((4, 64, 64, 3), np.uint8), tmp_path / "bad.mp4", fps)
    assert not (tmp_path / "bad.mp4").exists()


# ---------------------------------------------------------------------------------------- budget and fps="auto"


def test_auto_picks_four_fps_for_every_course_clip(capsys):
    from conftest import ASSETS

    for clip in sorted(ASSETS.glob("*.mp4")):
        plan = plan_sampling(clip, "auto")
        assert plan.fps == 4, plan.summary()
        assert plan.frame_indices == plan_sampling(clip, 4).frame_indices
    assert capsys.readouterr().out == ""  # the official rate: nothing to say


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    frames = np.zeros((10 * 60 * 5, 64, 96, 3), np.uint8)
    frames[:, :, :, 1] = (np.arange(len(frames)) % 256)[:, None, None]
    return write_video(frames, tmp_path_factory.mktemp("long") / "lecture.mp4", 5)


def test_budget_advice_works_when_followed(ten_minutes, tmp_path, capsys):
    with pytest.raises(BudgetError) as over:
        plan_sampling(ten_minutes, fps=4)
    advice = str(over.value)
    rate = float(re.search(r"fps=([\d.]+) fits", advice).group(1))
    assert plan_sampling(ten_minutes, fps=rate).visual_tokens <= video.MAX_VISUAL_TOKENS
    # the per-frame floor dominates: lowering total_pixels would change nothing, so it is not offered
    assert "total_pixels=" not in advice
    for tokens in (4096, 1024):
        with pytest.raises(BudgetError):
            plan_sampling(ten_minutes, fps=4, total_pixels=tokens * 28 * 28)
    seconds = float(re.search(r"trim the clip to ([\d.]+) s", advice).group(1))
    part = trim_video(ten_minutes, tmp_path / "part.mp4", 0, seconds)
    assert plan_sampling(part, fps=4).visual_tokens <= video.MAX_VISUAL_TOKENS
    assert plan_sampling(ten_minutes, "auto").fps == rate
    assert f'fps="auto": {rate:g} fps for lecture.mp4 (the highest rate that fits' in capsys.readouterr().out


def test_total_pixels_advice_works_when_followed(make_clip):
    clip = make_clip(fps=25, seconds=6, size=(720, 1280), name="hd.mp4")
    with pytest.raises(BudgetError) as over:
        plan_sampling(clip, fps=4, max_visual_tokens=3000)
    budget = re.search(r"total_pixels=(\d+) \* 28 \* 28 fits", str(over.value))
    assert budget, str(over.value)
    assert plan_sampling(clip, fps=4, total_pixels=int(budget.group(1)) * 28 * 28, max_visual_tokens=3000)


def test_fits_hook(make_clip, capsys):
    clip = make_clip(fps=25, seconds=8)
    seen = []

    def gpu_has_room(plan):
        seen.append(plan.fps)
        return plan.num_frames <= 12

    plan = plan_sampling(clip, "auto", fits=gpu_has_room)
    assert plan.num_frames <= 12 and seen[0] == 4 and plan.fps == seen[-1] and plan.fps < 4
    assert f'fps="auto": {plan.fps:g} fps' in capsys.readouterr().out
    with pytest.raises(BudgetError, match="gpu_has_room"):
        plan_sampling(clip, 4, fits=gpu_has_room)
    assert plan_sampling(clip, plan.fps, fits=gpu_has_room) == plan


# ---------------------------------------------------------------------------------------- bounded memory


def test_reverse_holds_a_bounded_number_of_frames(tmp_path, monkeypatch):
    frames = np.stack([coded_frame(k, height=240, width=320) for k in range(90)])  # 90 frames of 225 KiB
    clip = write_video(frames, tmp_path / "long.mp4", 30)
    frame_bytes = frames[0].nbytes
    monkeypatch.setattr(video_edits, "EDIT_MEMORY_BYTES", 8 * frame_bytes)
    probe_video(clip)
    tracemalloc.start()
    try:
        back = reverse_video(clip, tmp_path / "back.mp4")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * frame_bytes < frames.nbytes / 4  # the old code held all 90 (and a copy)
    assert [read_code(f) for f in read_frames(back)[0]] == list(range(89, -1, -1))
    assert math.isclose(probe_video(back).fps, 30)


# ---------------------------------------------------------------------------------------- model argument


@pytest.mark.parametrize("model", ["", "   ", 7])
def test_load_model_names_a_bad_model_argument(model):
    from cosmos_nb_utils.loading import load_model

    with pytest.raises(ValueError, match="^model must be"):
        load_model(model)


@pytest.mark.parametrize("value", ["TINY", "Tiny", " tiny "])
def test_tiny_alias_ignores_case_like_the_others(monkeypatch, value):
    from cosmos_nb_utils.loading import TINY, default_model

    monkeypatch.setenv("COSMOS_NB_MODEL", value)
    assert default_model() == TINY


def test_a_reader_that_hangs_is_stopped_with_a_clear_error(make_clip, monkeypatch):
    """decord is asked in a child process with a time limit: a file it hangs on gets an error, not a hang."""
    monkeypatch.setattr(video_probe, "READER_TIMEOUT_S", 1)
    monkeypatch.setattr(video_probe, "_DECORD_VIEW", "import time\ntime.sleep(60)\n")
    clip = make_clip(fps=10, seconds=1.5, name="hangs.mp4")
    with pytest.raises(VideoError, match=r"hangs\.mp4 cannot be read .*did not finish reading it within 1 s"):
        video.probe_video(clip)


def test_the_readers_own_error_is_shown(make_clip, monkeypatch):
    monkeypatch.setattr(video_probe, "_DECORD_VIEW", "raise SystemExit('DECORDError: cannot open this file')\n")
    with pytest.raises(VideoError, match="DECORDError: cannot open this file"):
        video.probe_video(make_clip(fps=10, seconds=1.5, name="broken_for_decord.mp4"))
