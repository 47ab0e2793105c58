"""The benchmark runner: official layout and schema, resume, skipped clips, malformed entries, statistics."""

import io
import json
import math
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cosmos_nb_utils import evaluation as ev
from cosmos_nb_utils import stats
from cosmos_nb_utils.loading import ModelFacts
from cosmos_nb_utils.official import benchmark_retry_sampling


def facts(tiny: bool) -> ModelFacts:
    """What load_model records on a model, for a stand-in model."""
    return ModelFacts(name="stand-in", tiny=tiny, quantization="none", compute_dtype=torch.float32,
                      vision_quantized=False)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    return ev.make_fixture(tmp_path_factory.mktemp("bench") / "benchmark")


# ---------------------------------------------------------------- statistics, against hand-computed values


def test_wilson_interval_hand_values():
    assert stats.wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert stats.wilson_interval(0, 10) == pytest.approx((0.0, 0.27754), abs=1e-5)
    assert stats.wilson_interval(10, 10) == pytest.approx((0.72246, 1.0), abs=1e-5)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


def test_paired_difference_hand_values():
    # d = [0, 1, 1, 0, -1]: mean 0.2, sample sd sqrt(0.7), half-width 1.96 * sqrt(0.7 / 5) = 0.73337
    diff = stats.paired_difference([1, 1, 1, 0, 0], [1, 0, 0, 0, 1])
    assert (diff.n, diff.only_a, diff.only_b) == (5, 2, 1)
    assert diff.difference == pytest.approx(0.2)
    assert (diff.low, diff.high) == pytest.approx((0.2 - 0.733365, 0.2 + 0.733365), abs=1e-5)
    with pytest.raises(ValueError):
        stats.paired_difference([1, 0], [1])


def test_paired_bootstrap_agrees_with_normal_interval():
    a = [i % 3 != 0 for i in range(300)]  # 2/3 right
    b = [i % 2 == 0 for i in range(300)]  # 1/2 right
    normal = stats.paired_difference(a, b)
    low, high = stats.paired_bootstrap(a, b, seed=1)
    assert low == pytest.approx(normal.low, abs=0.02) and high == pytest.approx(normal.high, abs=0.02)


def test_questions_needed_hand_value():
    # 3 points apart, disagreeing on 20% of questions: 1.96^2 * (0.2 - 0.0009) / 0.0009 = 849.9
    assert stats.questions_needed(0.03, 0.2) == 850
    assert stats.questions_needed(0.10, 0.2) == math.ceil(3.8416 * 0.19 / 0.01)
    with pytest.raises(ValueError):
        stats.questions_needed(0.3, 0.2)


# ---------------------------------------------------------------- the official scorer, through score_letter


def test_score_letter_uses_official_rules():
    assert ev.score_letter("<think>x</think>\n\n<answer>(B) the cart</answer>", "b")
    assert not ev.score_letter("<think>x</think><answer>the cart</answer>", "B")  # no capital letter inside
    assert not ev.score_letter("<answer>B", "B")  # an unclosed block is no answer
    assert ev.score_letter("<answer>A</answer><answer>B</answer>", "A")  # the first block counts
    assert ev.score_letter("B. the cart", "B", answer_type="letter")


# ---------------------------------------------------------------- reading the layout


def test_fixture_layout_and_reports(fixture_dir):
    bench = ev.read_benchmark(fixture_dir)
    assert [v.name for v in bench.videos] == ["toy_driving/road_turn", "toy_robot/agent_pick",
                                              "toy_robot/ball_bounce"]
    assert bench.num_questions == 5
    assert [v.name for v in bench.missing] == ["toy_driving/night_drive"]
    assert len(bench.problems) == 1 and "entry 2" in bench.problems[0]
    road = bench.videos[0]
    assert [q.correct_answer for q in road.questions] == ["A", "A"]  # 'answer' and 'correct_answer' keys
    assert "night_drive" in bench.describe()


def test_limit_is_per_datasource_in_whole_videos(fixture_dir):
    bench = ev.read_benchmark(fixture_dir, limit=1)
    assert [v.name for v in bench.videos] == ["toy_driving/road_turn", "toy_robot/agent_pick"]
    assert ev.read_benchmark(fixture_dir, datasources=["toy_robot"]).num_questions == 3
    with pytest.raises(ev.BenchmarkDataError, match="no datasource"):
        ev.read_benchmark(fixture_dir, datasources=["av"])


def test_data_dir_errors_say_what_to_pass(tmp_path, fixture_dir):
    with pytest.raises(ev.BenchmarkDataError, match="No benchmark folder"):
        ev.find_datasources(tmp_path / "nowhere")
    with pytest.raises(ev.BenchmarkDataError, match="holds no questions"):
        ev.find_datasources(tmp_path)
    with pytest.raises(ev.BenchmarkDataError, match=str(fixture_dir)):
        ev.find_datasources(fixture_dir.parent)  # the parent of benchmark/, as the official script takes


def _write_source(root: Path, name: str, text: str, clips: dict[str, bytes] | None = None) -> None:
    (root / name / "clips").mkdir(parents=True, exist_ok=True)
    (root / name / f"{name}_benchmark_qa_pairs.json").write_text(text)
    for clip, data in (clips or {}).items():
        (root / name / "clips" / clip).write_bytes(data)


def test_malformed_entries_are_reported_with_position(tmp_path):
    good = {"question": "q?", "index2ans": {"A": "x", "B": "y"}, "answer": "A"}
    entries = [{"video": "clips/a.mp4", "qa_pairs": [good, {"question": "no options", "answer": "A"}]},
               "not an object", {"video": "clips/b.mp4", "qa_pairs": 3}]
    _write_source(tmp_path, "src", json.dumps(entries), {"a.mp4": b"x"})
    _write_source(tmp_path, "broken", '[{"video": "clips/a.mp4",,}]')
    bench = ev.read_benchmark(tmp_path)
    text = "\n".join(bench.problems)
    assert "entry 0 (clips/a.mp4) question 1" in text and "index2ans" in text
    assert "entry 1" in text and "entry 2" in text
    assert "broken_benchmark_qa_pairs.json: not valid JSON (line 1, column" in text
    assert bench.num_questions == 1


def test_clip_names_as_the_official_lister_sees_them(tmp_path):
    q = {"question": "q?", "index2ans": {"A": "x", "B": "y"}, "answer": "A"}
    entries = [{"video": "clips/cam1.mp4", "qa_pairs": q}, {"video": "clips/other.mp4", "qa_pairs": q},
               {"video": "clips/notes.mp4", "qa_pairs": q}]
    _write_source(tmp_path, "av", json.dumps(entries),
                  {"cam1.camera_front_wide_120fov.mp4": b"x", "other.avi": b"x", "notes.txt": b"x"})
    bench = ev.read_benchmark(tmp_path)
    assert {v.video_id: v.clip.name for v in bench.videos} == {"cam1": "cam1.camera_front_wide_120fov.mp4",
                                                              "other": "other.avi"}
    assert [v.video_id for v in bench.missing] == ["notes"]


# ---------------------------------------------------------------- running: schema, atomic files, resume, skips


def test_run_writes_official_schema_and_resumes_after_interruption(tiny, fixture_dir, tmp_path):
    model, processor = tiny
    results = tmp_path / "results"
    kwargs = {"model_name": "org/my-model", "answer_type": "letter", "max_retries": 0, "progress": False}

    def stop_after_first(video):
        raise KeyboardInterrupt  # as Ctrl-C would, right after the first video's file is written

    with pytest.raises(KeyboardInterrupt):
        ev.run_benchmark(model, processor, fixture_dir, results, on_video_done=stop_after_first, **kwargs)
    out = results / "my-model" / "letter"
    first = out / "toy_driving" / "road_turn.json"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == ["toy_driving/road_turn.json"]
    before = first.stat().st_mtime_ns

    report = ev.run_benchmark(model, processor, fixture_dir, results, **kwargs)
    assert report.resumed == ["toy_driving/road_turn"]
    assert report.answered == ["toy_robot/agent_pick", "toy_robot/ball_bounce"]
    assert report.skipped[0][0] == "toy_driving/night_drive" and len(report.skipped) == 1
    assert first.stat().st_mtime_ns == before  # not redone
    assert len(report.rows) == 5
    assert not list(out.rglob("*.tmp"))
    timings = (out / ev.TIMINGS_FILE).read_text().splitlines()
    assert len(timings) == 5  # one line per question, none twice

    text = first.read_text()
    assert text.startswith("[\n    {")  # indent 4, as output.py writes
    records = json.loads(text)
    assert [tuple(r) for r in records] == [ev.RESULT_KEYS] * 2
    assert records[0]["prompt"][0] == {"role": "system", "content": "Answer the questions."}
    assert records[0]["prompt"][1]["content"][0]["fps"] == 4
    for r in records:
        assert r["is_correct"] == (r["answer"].lower() == r["correct_answer"].lower())

    again = ev.run_benchmark(model, processor, fixture_dir, results, **kwargs)
    assert again.answered == [] and len(again.resumed) == 3 and len(again.rows) == 5
    assert len(ev.load_results(results)) == 5


def test_unreadable_clip_is_skipped_and_the_run_goes_on(tiny, fixture_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(fixture_dir, data)
    (data / "toy_robot" / "clips" / "agent_pick.mp4").write_bytes(b"not a video")
    report = ev.run_benchmark(*tiny, data, tmp_path / "res", model_name="tiny", answer_type="letter",
                              max_retries=0, progress=False)
    skipped = dict(report.skipped)
    assert "unreadable clip" in skipped["toy_robot/agent_pick"] and "toy_driving/night_drive" in skipped
    assert report.answered == ["toy_driving/road_turn", "toy_robot/ball_bounce"]
    assert len(report.rows) == 4
    assert "skipped toy_robot/agent_pick" in report.summary() and "Wilson" in report.summary()


def test_empty_answers_are_retried_the_official_way(monkeypatch, tmp_path):
    from cosmos_nb_utils import generation

    replies = iter(["<think>hm</think> no tags", "<think>a</think>\n\n<answer>B</answer>"])
    calls = []

    def fake_ask(model, processor, question, video, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(text=next(replies), total_s=1.5, new_tokens=7)

    monkeypatch.setattr(generation, "ask", fake_ask)
    q = ev.Question("ds", "v", 0, "Which?", {"A": "x", "B": "y"}, "B")
    model = SimpleNamespace(cosmos_nb_facts=facts(tiny=False))
    record, timing = ev.answer_question(model, None, q, tmp_path / "v.mp4", "reasoning")
    assert (record["answer"], record["reasoning"], record["is_correct"]) == ("B", "a", True)
    assert record["full_response"].endswith("</answer>")
    assert timing == {"datasource": "ds", "video_id": "v", "index": 0, "seconds": 3.0, "new_tokens": 14, "tries": 2}
    assert calls[1]["temperature"] == benchmark_retry_sampling("reasoning", 1)["temperature"]
    assert calls[1]["max_new_tokens"] == benchmark_retry_sampling("reasoning", 1)["max_new_tokens"]
    assert all(c["system"] == "Answer the questions." for c in calls)

    # a retry that is still empty does not replace the first reply
    replies = iter(["first, empty", "second, empty", "third, empty"])
    record, timing = ev.answer_question(model, None, q, tmp_path / "v.mp4", "reasoning", max_retries=2)
    assert record["full_response"] == "first, empty" and not record["is_correct"] and timing["tries"] == 3


def test_evaluate_mcq_still_scores_own_items(tiny):
    from conftest import ASSETS

    items = [ev.MCQItem(ASSETS / "ball_bounce.mp4", "Forward or backward?", ["forward", "backward"], "A")]
    rows, accuracy = ev.evaluate_mcq(*tiny, items, reasoning=False)
    assert rows[0]["correct"] == (rows[0]["model letter"] == "A") and accuracy == float(rows[0]["correct"])


# ---------------------------------------------------------------- loading results from either harness


def _record(ds, vid, answer, correct, response="", reasoning="", options="AB"):
    text = "Q?\n" + "\n".join(f"({o}) x" for o in options) + "\nAnswer with the option's letter"
    prompt = [{"role": "system", "content": "Answer the questions."},
              {"role": "user", "content": [{"type": "video", "video": "v.mp4", "fps": 4},
                                           {"type": "text", "text": text}]}]
    return {"datasource": ds, "video_id": vid, "prompt": prompt, "correct_answer": correct, "reasoning": reasoning,
            "answer": answer, "full_response": response, "is_correct": answer.lower() == correct.lower()}


def test_load_results_any_depth_and_summary(tmp_path):
    official = tmp_path / "Cosmos-Reason1-7B" / "reasoning" / "robovqa"
    official.mkdir(parents=True)
    good = "<think>two words</think>\n\n<answer>A</answer>"
    (official / "v1.json").write_text(json.dumps([_record("robovqa", "v1", "A", "A", good, "two words"),
                                                  _record("robovqa", "v1", "E", "B", "<answer>E</answer>")]))
    (official / "v2.json").write_text(json.dumps([_record("robovqa", "v2", "", "A", "nothing")]))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "v9.json").write_text(json.dumps([_record("av", "v9", "B", "B")]))
    (tmp_path / "flat" / "bad.json").write_text(json.dumps({"not": "a list"}))
    problems = []
    rows = ev.load_results(tmp_path, problems)
    assert len(rows) == 4 and len(problems) == 1 and "bad.json" in problems[0]
    flat = next(r for r in rows if r["datasource"] == "av")
    assert flat["_answer_type"] == "letter" and flat["_model"] == "model"

    table = {(t["model"], t["datasource"]): t for t in ev.summarize(rows)}
    robo = table[("Cosmos-Reason1-7B", "robovqa")]
    assert robo["questions"] == 3 and robo["accuracy"] == "33.3%"
    assert robo["95% interval"] == "6-79%"  # Wilson 1/3: 0.0615-0.7923
    assert robo["format failures"] == "67%" and robo["no letter"] == "33%"
    assert robo["letter not an option"] == "33%" and robo["reasoning words"] == pytest.approx(0.7)
    assert robo["s / question"] is None
    assert table[("model", "av")]["format failures"] == "n/a"


def test_pair_results_matches_the_same_questions():
    a = [dict(_record("d", "v", "A", "A"), _index=0), dict(_record("d", "v", "B", "A"), _index=1),
         dict(_record("d", "w", "A", "A"), _index=0)]
    b = [dict(_record("d", "v", "B", "A"), _index=1), dict(_record("d", "v", "A", "A"), _index=0)]
    assert ev.pair_results(a, b) == ([True, False], [True, False])


# ---------------------------------------------------------------- the hub slice, offline


def test_slice_files_and_extract_only_chosen_clips(tmp_path):
    siblings = [SimpleNamespace(rfilename=name, size=size) for name, size in [
        ("robovqa/robovqa_benchmark_qa_pairs.json", 1000), ("robovqa/clips.tar.gz", 5_000_000),
        ("av/av_benchmark_qa_pairs.json", 10), ("README.md", 5)]]
    api = SimpleNamespace(dataset_info=lambda repo, revision, files_metadata: SimpleNamespace(siblings=siblings))
    assert ev.slice_files("robovqa", api=api) == {"robovqa/robovqa_benchmark_qa_pairs.json": 1000,
                                                  "robovqa/clips.tar.gz": 5_000_000}
    with pytest.raises(ev.BenchmarkDataError, match="no holoassist"):
        ev.slice_files("holoassist", api=api)

    archive = tmp_path / "clips.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("clips/a.mp4", "clips/b.mp4", "../evil/c.mp4"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    written = ev.extract_clips(archive, ["b.mp4", "c.mp4"], tmp_path / "out")
    assert sorted(p.name for p in written) == ["b.mp4", "c.mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.mp4", "c.mp4"]  # nothing escapes dest
    entries = [{"video": "clips/z.mp4"}, {"video": "clips/a.mp4"}, {"no": "video"}, {"video": "clips/m.mp4"}]
    assert [e["video"] for e in ev.choose_entries(entries, 2)] == ["clips/a.mp4", "clips/m.mp4"]


# ---------------------------------------------------------------- the command line


def test_cli_exits_non_zero_with_a_clear_message(tmp_path, fixture_dir, capsys):
    assert ev.main(["--data-dir", str(tmp_path / "nope"), "--results-dir", str(tmp_path / "r")]) == 2
    assert "No benchmark folder" in capsys.readouterr().err
    assert ev.main(["--data-dir", str(fixture_dir.parent), "--results-dir", str(tmp_path / "r")]) == 2
    assert f"pass {fixture_dir}" in capsys.readouterr().err
    empty = tmp_path / "empty"
    _write_source(empty, "src", "[]")
    assert ev.main(["--data-dir", str(empty), "--results-dir", str(tmp_path / "r")]) == 2
    assert "no question" in capsys.readouterr().err


def test_cli_runs_on_the_fixture(tmp_path, fixture_dir, capsys, tiny_dir):
    code = ev.main(["--data-dir", str(fixture_dir), "--results-dir", str(tmp_path / "r"), "--model", "tiny",
                    "--answer-type", "letter", "--limit", "1", "--datasources", "toy_robot", "--max-retries", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in out and "95% Wilson interval" in out and "its accuracy is chance" in out
    assert [p.name for p in (tmp_path / "r" / "tiny" / "letter" / "toy_robot").iterdir()] == ["agent_pick.json"]


def test_compare_models_row():
    def rows(model, answers):
        return [dict(_record("d", "v", ans, "A"), _model=model, _answer_type="letter", _index=i)
                for i, ans in enumerate(answers)]

    data = rows("Cosmos-Reason1-7B", "AAAB") + rows("Qwen2.5-VL-7B-Instruct", "ABBB")
    row = ev.compare_models(data, "nvidia/Cosmos-Reason1-7B", "Qwen/Qwen2.5-VL-7B-Instruct", "letter")
    assert row["questions"] == 4 and row["A - B (points)"] == 50.0
    assert row["Cosmos-Reason1-7B"] == "75.0%" and (row["only A right"], row["only B right"]) == (2, 0)
    with pytest.raises(ValueError, match="share 0"):
        ev.compare_models(data, "Cosmos-Reason1-7B", "Qwen2.5-VL-7B-Instruct", "reasoning")


def test_a_clip_over_the_budget_is_skipped_not_fatal(monkeypatch, fixture_dir, tmp_path):
    from cosmos_nb_utils import generation
    from cosmos_nb_utils.video import BudgetError

    def fake_ask(model, processor, question, video, **kwargs):
        if "agent_pick" in str(video):
            raise BudgetError("agent_pick.mp4: 20,480 visual tokens, above the limit")
        return SimpleNamespace(text="A", total_s=0.1, new_tokens=1)

    monkeypatch.setattr(generation, "ask", fake_ask)
    stand_in = SimpleNamespace(cosmos_nb_facts=facts(tiny=True))
    report = ev.run_benchmark(stand_in, None, fixture_dir, tmp_path, model_name="m", answer_type="letter",
                              progress=False)
    assert "BudgetError" in dict(report.skipped)["toy_robot/agent_pick"]
    assert report.answered == ["toy_driving/road_turn", "toy_robot/ball_bounce"]
    assert not (tmp_path / "m" / "letter" / "toy_robot" / "agent_pick.json").exists()
    assert report.correct == 3  # every answer "A": right for 3 of the 4 questions answered
