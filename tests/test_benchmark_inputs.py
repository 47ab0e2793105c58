"""The benchmark harness under attack: paths, options, resumed files, foreign files, the network (issue 22)."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cosmos_nb_utils import benchmark_data as bd
from cosmos_nb_utils import evaluation as ev
from cosmos_nb_utils import scoring
from cosmos_nb_utils.facts import ModelFacts

STAND_IN = SimpleNamespace(cosmos_nb_facts=ModelFacts(name="stand-in", tiny=True, quantization="none",
                                                       compute_dtype=torch.float32, vision_quantized=False))


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    return bd.make_fixture(tmp_path_factory.mktemp("bench") / "benchmark")


@pytest.fixture
def answers_a(monkeypatch):
    """The model's answer is always "A"; every question asked is counted."""
    from cosmos_nb_utils import generation

    asked = []

    def fake_ask(model, processor, question, video, **kwargs):
        asked.append(Path(video).stem)
        return SimpleNamespace(text="A", total_s=0.1, new_tokens=1)

    monkeypatch.setattr(generation, "ask", fake_ask)
    return asked


@pytest.fixture
def never_asked(monkeypatch):
    from cosmos_nb_utils import generation

    monkeypatch.setattr(generation, "ask", lambda *a, **k: pytest.fail("the model was asked"))


def run(data, results, **kwargs):
    options = {"model_name": "m", "answer_type": "letter", "max_retries": 0, "progress": False, **kwargs}
    return ev.run_benchmark(STAND_IN, None, data, results, **options)


# ---------------------------------------------------------------- item 8: results stay inside the results folder


@pytest.mark.parametrize("name", ["/", "//", "..", "a/../..", "", ".", "./", "x/.."])
def test_a_model_name_that_names_no_folder_is_refused(name, fixture_dir, tmp_path, never_asked):
    with pytest.raises(ValueError, match="model_name=.*names no results folder"):
        bd.results_folder(tmp_path, name, "letter")
    with pytest.raises(ValueError, match="names no results folder"):
        run(fixture_dir, tmp_path / "res", model_name=name)
    assert not (tmp_path / "res").exists() and not Path("/letter").exists()


@pytest.mark.parametrize("name, label", [("/abs/models/Cosmos-Reason1-7B", "Cosmos-Reason1-7B"),
                                         ("nvidia/Cosmos-Reason1-7B/", "Cosmos-Reason1-7B"), ("..x", "..x")])
def test_model_names_with_a_base_name_stay_inside(name, label, tmp_path):
    folder = bd.results_folder(tmp_path, name, "reasoning")
    assert folder == tmp_path / label / "reasoning" and folder.resolve().is_relative_to(tmp_path.resolve())


def test_a_linked_model_folder_leading_outside_is_refused(tmp_path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "m").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ValueError, match="leads outside the results folder"):
        bd.results_folder(tmp_path / "res", "m", "letter")


def test_an_unknown_answer_type_never_becomes_a_folder(tmp_path):
    with pytest.raises(ValueError, match="answer_type must be one of"):
        bd.results_folder(tmp_path, "m", "../../etc")


# ---------------------------------------------------------------- item 9: every option checked where it enters


@pytest.mark.parametrize("option, value", [
    ("max_retries", -1), ("max_retries", True), ("max_retries", 1.5), ("max_retries", "2"), ("max_retries", None),
    ("limit", 0), ("limit", -3), ("limit", True), ("limit", 2.0), ("limit", "3"),
    ("seed", -1), ("seed", "1"), ("seed", 0.5), ("max_new_tokens", 0), ("max_new_tokens", "64"),
    ("fps", 0), ("fps", "4"), ("fps", float("nan")), ("total_pixels", 10), ("answer_type", "Letter"),
    ("datasources", "toy_robot"), ("datasources", [1]), ("model_name", 7), ("on_video_done", "print"),
])
def test_bad_options_are_refused_before_anything_is_asked(option, value, fixture_dir, tmp_path, never_asked):
    with pytest.raises(ValueError, match=option):
        run(fixture_dir, tmp_path / "res", **{option: value})
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("value", [0, True, -1, 1.5, "2"])
def test_read_benchmark_checks_its_limit(value, fixture_dir):
    with pytest.raises(ValueError, match="limit must be a whole number of at least 1"):
        bd.read_benchmark(fixture_dir, limit=value)


def test_good_options_still_run(fixture_dir, tmp_path, answers_a):
    report = run(fixture_dir, tmp_path / "res", limit=1, seed=0, max_retries=2, max_new_tokens=8, fps=2)
    assert report.answered == ["toy_driving/road_turn", "toy_robot/agent_pick"]


@pytest.fixture
def no_model_load(monkeypatch):
    from cosmos_nb_utils import loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))


@pytest.mark.parametrize("args, says", [(["--max-retries", "-1"], "--max-retries must be 0 or more"),
                                        (["--limit", "0"], "--limit must be at least 1"),
                                        (["--limit", "-2"], "--limit must be at least 1"),
                                        (["--limit", "1.5"], "invalid int value"),
                                        (["--seed", "-4"], "--seed must be 0 or more"),
                                        (["--quantization", "4bit"], "invalid choice: '4bit'")])
def test_cli_refuses_bad_options_before_loading(args, says, fixture_dir, tmp_path, no_model_load, capsys):
    with pytest.raises(SystemExit) as stop:
        ev.main(["--data-dir", str(fixture_dir), "--results-dir", str(tmp_path), "--model", "tiny", *args])
    assert stop.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("model", ["/", "..", "a/../.."])
def test_cli_refuses_a_model_that_names_no_folder_before_loading(model, fixture_dir, tmp_path, no_model_load, capsys):
    code = ev.main(["--data-dir", str(fixture_dir), "--results-dir", str(tmp_path / "res"), "--model", model])
    assert code == 2 and "names no results folder" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


def test_answer_question_checks_its_options_too(fixture_dir, never_asked):
    video = bd.read_benchmark(fixture_dir).videos[0]
    with pytest.raises(ValueError, match="max_retries"):
        ev.answer_question(STAND_IN, None, video.questions[0], video.clip, "letter", max_retries=-1)


@pytest.mark.parametrize("key", ["A.", "(A)", "yes", "C", 1])
def test_own_items_with_a_key_that_can_never_score_are_refused(key, never_asked):
    item = ev.MCQItem("assets/road_turn.mp4", "Safe to turn?", ["yes", "no"], key, name="turn")
    with pytest.raises(ValueError, match=r"turn: key=.* is not one of its option letters \['A', 'B'\]"):
        ev.evaluate_mcq(STAND_IN, None, [item])


@pytest.mark.parametrize("items, reasoning", [("clip.mp4", True), ([object()], True), ([], "yes")])
def test_evaluate_mcq_checks_its_arguments(items, reasoning, never_asked):
    with pytest.raises(ValueError, match="items must be|reasoning must be"):
        ev.evaluate_mcq(STAND_IN, None, items, reasoning=reasoning)


# ---------------------------------------------------------------- item 10: resume checks what it finds


def valid_rows(data, results):
    run(data, results)
    return json.loads((results / "m" / "letter" / "toy_driving" / "road_turn.json").read_text())


@pytest.mark.parametrize("damage, says", [
    (lambda rows: [], "0 result(s) for the video's 2 question(s)"),
    (lambda rows: rows[:1], "1 result(s) for the video's 2 question(s)"),
    (lambda rows: rows + rows[:1], "3 result(s)"),
    (lambda rows: [{k: v for k, v in r.items() if k != "full_response"} for r in rows], "row 0: no full_response"),
    (lambda rows: [{**r, "is_correct": "false"} for r in rows], "'is_correct' must be true or false"),
    (lambda rows: [{**r, "video_id": "other"} for r in rows], "not the result of this video's question 0"),
    (lambda rows: [{**r, "correct_answer": "B"} for r in rows], "not the result of this video's question 0"),
    (lambda rows: {"rows": rows}, "a dict, not a list of results"),
    (lambda rows: b"\xff\xfe not utf-8", "not readable JSON (UnicodeDecodeError)"),
    (lambda rows: b"[" * 100_000 + b"]" * 100_000, "not readable JSON (RecursionError)"),
])
def test_a_result_file_that_does_not_match_its_video_is_redone(damage, says, fixture_dir, tmp_path, answers_a):
    results = tmp_path / "res"
    rows = valid_rows(fixture_dir, results)
    target = results / "m" / "letter" / "toy_driving" / "road_turn.json"
    bad = damage(rows)
    target.write_bytes(bad if isinstance(bad, bytes) else json.dumps(bad).encode())
    asked = len(answers_a)
    report = run(fixture_dir, results)
    assert report.answered == ["toy_driving/road_turn"] and len(answers_a) == asked + 2
    assert any(str(target) in p and says in p and "answered again" in p for p in report.problems), report.problems
    assert json.loads(target.read_text()) == rows and len(report.rows) == 5


def test_a_matching_result_file_is_trusted(fixture_dir, tmp_path, answers_a):
    results = tmp_path / "res"
    valid_rows(fixture_dir, results)
    asked = len(answers_a)
    report = run(fixture_dir, results)
    assert len(report.resumed) == 3 and len(answers_a) == asked and not report.problems[1:]


# ---------------------------------------------------------------- item 11: the results folder is tried first


@pytest.mark.parametrize("where", ["a_file", "a_file/below", "/proc/cosmos-results"])
def test_an_unwritable_results_folder_fails_before_the_model_runs(where, fixture_dir, tmp_path, never_asked,
                                                                  no_model_load, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    results = tmp_path / where if not where.startswith("/") else Path(where)
    with pytest.raises(ValueError, match="Cannot write results into"):
        run(fixture_dir, results)
    code = ev.main(["--data-dir", str(fixture_dir), "--results-dir", str(results), "--model", "tiny"])
    assert code == 2 and "error: Cannot write results into" in capsys.readouterr().err


# ---------------------------------------------------------------- item 12: foreign and bad files


def write_questions(root: Path, pairs: list) -> Path:
    data = root / "data"
    (data / "ds" / "clips").mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "assets" / "road_turn.mp4", data / "ds" / "clips" / "v.mp4")
    (data / "ds" / "ds_benchmark_qa_pairs.json").write_text(json.dumps([{"video": "clips/v.mp4", "qa_pairs": pairs}]))
    return data


@pytest.mark.parametrize("key", ["A.", "(A)", "yes", "E", " A", "AB"])
def test_answer_keys_that_can_never_score_are_reported(key, tmp_path):
    good = {"question": "Q?", "index2ans": {"A": "x", "B": "y"}, "answer": "B"}
    data = write_questions(tmp_path, [good, {**good, "answer": key}])
    bench = bd.read_benchmark(data)
    assert bench.num_questions == 1
    assert any(repr(key) in p and "could ever score" in p for p in bench.problems), bench.problems


def test_lowercase_key_still_scores_and_odd_option_letters_are_reported(tmp_path):
    data = write_questions(tmp_path, [{"question": "Q?", "index2ans": {"A": "x", "B": "y"}, "answer": "b"},
                                      {"question": "Q?", "index2ans": {"a)": "x", "b)": "y"}, "answer": "a)"}])
    bench = bd.read_benchmark(data)
    assert bench.num_questions == 1 and any("keys must be capital letters" in p for p in bench.problems)


@pytest.mark.parametrize("content, says", [(b"\xff\xfe[]", "not UTF-8 text"),
                                           (b"[" * 100_000 + b"]" * 100_000, "nested too deeply")])
def test_a_question_file_that_cannot_be_read_is_reported(content, says, tmp_path):
    data = write_questions(tmp_path, [])
    (data / "ds" / "ds_benchmark_qa_pairs.json").write_bytes(content)
    bench = bd.read_benchmark(data)
    assert bench.videos == [] and any(says in p for p in bench.problems), bench.problems


def result_row(**changes) -> dict:
    row = {"datasource": "ds", "video_id": "v", "prompt": "Q\n(A) x\n(B) y", "correct_answer": "A", "reasoning": "",
           "answer": "A", "full_response": "A", "is_correct": True}
    return {**row, **changes}


def test_foreign_rows_and_files_are_reported_not_fatal(tmp_path):
    folder = tmp_path / "res" / "m" / "letter" / "ds"
    folder.mkdir(parents=True)
    good = [result_row(video_id="v1"), result_row(video_id="v1", answer="B", is_correct=False)]
    (folder / "v1.json").write_text(json.dumps(good))
    (folder / "v2.json").write_text(json.dumps([
        result_row(video_id="v2", is_correct="false"), {k: v for k, v in result_row(video_id="v2").items()
                                                        if k != "datasource"},
        result_row(video_id="v2", answer=1), result_row(video_id="v2", prompt=5), result_row(video_id="v2",
                                                                                             full_response=None)]))
    (folder / "v3.json").write_bytes(b"\xff\xfe not utf-8")
    (folder / "v4.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (folder / "course_timings.jsonl").write_bytes(b"\xff\xfe")
    problems = []
    rows = scoring.load_results(tmp_path / "res", problems)
    assert [(r["video_id"], r["answer"]) for r in rows] == [("v1", "A"), ("v1", "B")]
    text = "\n".join(problems)
    assert "v2.json: 5 of its 5 rows do not follow the result schema" in text and "is_correct" in text
    assert "v3.json: not UTF-8" in text and "v4.json: JSON nested too deeply" in text
    table = scoring.summarize(rows)
    assert table[-1]["questions"] == 2 and table[-1]["accuracy"] == "50.0%"


def test_prompt_of_odd_shapes_gives_no_letters_not_an_error():
    assert scoring.option_letters(5) == set() and scoring.option_letters([{"content": [{"type": "text",
                                                                                         "text": 3}]}]) == set()


def test_the_same_run_in_two_folders_is_counted_once(fixture_dir, tmp_path, answers_a):
    run(fixture_dir, tmp_path / "res" / "a")
    shutil.copytree(tmp_path / "res" / "a", tmp_path / "res" / "b")
    problems = []
    rows = scoring.load_results(tmp_path / "res", problems)
    assert len(rows) == 5 and len(scoring.load_results(tmp_path / "res" / "a")) == 5
    assert any("a copy of the same run" in p for p in problems)
    assert scoring.summarize(rows)[-1]["questions"] == 5


# ---------------------------------------------------------------- item 17: no network


class NoNetworkApi:
    def dataset_info(self, *args, **kwargs):
        import httpx

        try:
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        except httpx.ConnectError as exc:
            raise RuntimeError("wrapped by the client") from exc


def test_no_network_is_one_clear_line():
    with pytest.raises(bd.HubUnavailable) as refused:
        bd.slice_files("robovqa", api=NoNetworkApi())
    message = str(refused.value)
    assert "\n" not in message and "Cannot reach the Hugging Face hub" in message
    assert "ConnectError: [Errno -3] Temporary failure in name resolution" in message and "make_fixture" in message
    assert isinstance(refused.value, bd.BenchmarkDataError) and refused.value.__suppress_context__


def test_offline_mode_during_the_download_is_one_clear_line(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import OfflineModeIsEnabled

    class Listing:
        def dataset_info(self, *args, **kwargs):
            sibling = SimpleNamespace(rfilename="ds/ds_benchmark_qa_pairs.json", size=10)
            return SimpleNamespace(siblings=[sibling])

    def offline(**kwargs):
        raise OfflineModeIsEnabled("Cannot reach the hub: offline mode is enabled (HF_HUB_OFFLINE=1).")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(bd.HubUnavailable, match="to download the question file .*OfflineModeIsEnabled"):
        bd.download_slice(tmp_path, "ds", 1, confirm=False, api=Listing())


def test_other_hub_errors_are_not_disguised_as_no_network():
    class Broken:
        def dataset_info(self, *args, **kwargs):
            raise KeyError("a bug")

    with pytest.raises(KeyError):
        bd.slice_files("robovqa", api=Broken())
