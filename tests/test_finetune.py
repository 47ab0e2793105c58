"""Fine-tuning (issue 19): data in the benchmark layout, the answer-only loss, LoRA, the loop, resume, the command."""

import json
import shutil

import pytest
import torch

from cosmos_nb_utils import finetune, training, training_data, training_memory
from cosmos_nb_utils.benchmark_data import qa_file
from cosmos_nb_utils.generation import GPUMemoryError
from cosmos_nb_utils.loading import ModelLoadError, find_adapter, load_model
from cosmos_nb_utils.official import format_reward
from cosmos_nb_utils.sft import answer_loss, build_sft_inputs, target_text, train_sft
from cosmos_nb_utils.training import (
    LOG_FILE,
    TrainConfig,
    add_lora,
    data_order,
    lora_parameter_count,
    run_training,
)
from cosmos_nb_utils.training_data import (
    Example,
    TrainingDataError,
    build_arrow_of_time,
    load_examples,
    read_examples,
    split_by_source,
)
from cosmos_nb_utils.training_memory import check_training_memory, predict_training_memory

SMALL = {"fps": 2.0}  # 112x200 clips of 2 s: 56 visual tokens each


@pytest.fixture(scope="module")
def arrow(make_clip, tmp_path_factory):
    """An arrow-of-time set from three small synthetic clips: six questions, three source clips."""
    src = tmp_path_factory.mktemp("sources")
    for i, fps in enumerate((8.0, 10.0, 12.0)):
        shutil.copyfile(make_clip(fps=fps, seconds=2.0), src / f"clip{i}.mp4")
    return build_arrow_of_time(src, tmp_path_factory.mktemp("arrow"))


def fresh_tiny():
    return load_model("tiny", device="cpu")  # add_lora changes the model: never the shared fixture


# ---------------------------------------------------------------- data


def test_arrow_of_time_gives_each_clip_and_its_reversed_twin(arrow):
    examples = load_examples(arrow)
    assert len(examples) == 6
    by_source = {}
    for ex in examples:
        by_source.setdefault(ex.source, []).append(ex)
        assert ex.index2ans == {"A": "forward", "B": "backward"} and ex.answer_type == "letter"
        assert ex.key == ("A" if ex.video_id.endswith("forward") else "B")
    assert sorted(by_source) == ["clip0", "clip1", "clip2"]
    assert all(sorted(e.key for e in group) == ["A", "B"] for group in by_source.values())


def test_split_keeps_a_clip_and_its_twin_together_and_repeats_with_the_seed(arrow, tmp_path):
    train, held = split_by_source(arrow, tmp_path / "a" / "train", tmp_path / "a" / "held", heldout_fraction=0.34,
                                  seed=3)
    tr, ho = load_examples(train), load_examples(held)
    assert len(tr) + len(ho) == 6 and ho
    assert not {e.source for e in tr} & {e.source for e in ho}
    again = split_by_source(arrow, tmp_path / "b" / "train", tmp_path / "b" / "held", heldout_fraction=0.34, seed=3)
    assert sorted(e.video_id for e in load_examples(again[1])) == sorted(e.video_id for e in ho)


def _write(data_dir, entries, clips=()):
    folder = data_dir / "mine" / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    for name, src in clips:
        shutil.copyfile(src, folder / name)
    qa_file(data_dir, "mine").write_text(json.dumps(entries))
    return data_dir


def test_bad_rows_are_reported_by_file_and_position_before_training(make_clip, tmp_path):
    good = make_clip(fps=8.0, seconds=2.0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    q = {"question": "Which way?", "index2ans": {"A": "forward", "B": "backward"}}
    data = _write(tmp_path / "data", [
        {"video": "clips/ok.mp4", "qa_pairs": [{**q, "answer": "A"}, {**q, "answer": "C"}]},
        {"video": "clips/gone.mp4", "qa_pairs": [{**q, "answer": "A"}]},
        {"video": "clips/bad.mp4", "qa_pairs": [{**q, "answer": "B"}]},
    ], [("ok.mp4", good), ("bad.mp4", broken)])
    with pytest.raises(TrainingDataError) as err:
        load_examples(data)
    text = str(err.value)
    # read_benchmark reports a key that names no option (issue 22, item 12) before training_data's own check
    assert ("mine_benchmark_qa_pairs.json entry 0 (clips/ok.mp4) question 1: the answer key 'C' is not one of its "
            "option letters ['A', 'B']") in text
    assert "video clips/gone" in text and "not in" in text
    assert "video bad, question 0: unreadable clip bad.mp4" in text
    assert "question 0: the answer" not in text  # the good row is not reported


def test_missing_or_empty_data_folder_exits_non_zero_with_a_message(tmp_path, capsys):
    assert finetune.main(["--data-dir", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "out"),
                          "--model", "tiny"]) == 2
    assert "No benchmark folder at" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert finetune.main(["--data-dir", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "out"),
                          "--model", "tiny"]) == 2
    assert "holds no questions" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses a bad option where it enters
        finetune.main(["--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "o"), "--lr", "-1"])


def test_reasoning_field_is_read_and_trained_in_the_official_format(make_clip, tmp_path):
    data = _write(tmp_path / "data", [{"video": "clips/a.mp4", "qa_pairs": [
        {"question": "Forward?", "index2ans": {"A": "yes", "B": "no"}, "answer": "A",
         "reasoning": "  The ball falls, then bounces lower.  "}]}], [("a.mp4", make_clip(fps=8.0, seconds=2.0))])
    (ex,), problems = read_examples(data)
    assert not problems and ex.reasoning == "The ball falls, then bounces lower." and ex.answer_type == "reasoning"
    assert target_text(ex) == "<think>The ball falls, then bounces lower.</think>\n\n<answer>A</answer>"
    assert format_reward(target_text(ex)) == 1.0


# ---------------------------------------------------------------- inputs and loss


def test_reply_tokens_extend_every_per_token_tensor_and_only_they_count(tiny, arrow):
    model, processor = tiny
    ex = load_examples(arrow, probe=False)[0]
    batch = build_sft_inputs(processor, ex, **SMALL)
    ids = batch.inputs["input_ids"]
    for key in ("attention_mask", "mm_token_type_ids"):
        assert batch.inputs[key].shape == ids.shape
    assert processor.tokenizer.decode(ids[0, batch.answer_start:]) == f"{ex.key}<|im_end|>"
    assert batch.visual_tokens > 0 and batch.answer_tokens == 2
    with torch.no_grad():  # the answer-only loss equals cross-entropy on the full logits at the reply positions
        full = model(**batch.inputs).logits[0, batch.answer_start - 1:-1].float()
        expected = torch.nn.functional.cross_entropy(full, ids[0, batch.answer_start:])
        assert torch.allclose(answer_loss(model, batch), expected, atol=1e-5)


def test_lora_trains_the_language_model_projections_only():
    model, _ = fresh_tiny()
    peft_model = add_lora(model, rank=4, alpha=8)
    trained = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n and ".language_model." in n for n in trained)
    assert not any(".visual." in n for n in trained)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trained} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert sum(p.numel() for p in peft_model.parameters() if p.requires_grad) == lora_parameter_count(model.config, 4)


def test_data_order_is_a_pure_function_of_seed_and_step():
    first = [i for s in range(6) for i in data_order(7, s, 2, 4)]
    assert first == [i for s in range(6) for i in data_order(7, s, 2, 4)]
    assert sorted(first[:4]) == [0, 1, 2, 3] and sorted(first[4:8]) == [0, 1, 2, 3]  # each epoch sees every example
    assert first != [i for s in range(6) for i in data_order(8, s, 2, 4)]


# ---------------------------------------------------------------- training, resume, the command


def test_training_loss_falls_on_the_tiny_model(arrow, tmp_path):
    """The tiny model memorises a few examples (its held-out accuracy stays chance: notebook 09)."""
    model, processor = fresh_tiny()
    examples = load_examples(arrow, probe=False)[:2]
    config = TrainConfig(steps=12, lr=1e-2, rank=8, alpha=16, dropout=0.0, grad_accum=1, save_every=100)
    _, result = train_sft(model, processor, examples, config, tmp_path / "run", progress=False, **SMALL)
    losses = [r["loss"] for r in result.rows]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < losses[0] - 0.4, losses


def test_interrupted_run_resumes_with_no_step_lost_or_repeated(arrow, tmp_path):
    examples = load_examples(arrow, probe=False)[:3]
    config = TrainConfig(steps=4, lr=5e-3, rank=4, alpha=8, grad_accum=2, save_every=2)

    straight_model, processor = fresh_tiny()
    straight, _ = train_sft(straight_model, processor, examples, config, tmp_path / "straight", progress=False,
                            **SMALL)

    def stop_after_3(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    model, _ = fresh_tiny()
    with pytest.raises(KeyboardInterrupt):
        train_sft(model, processor, examples, config, tmp_path / "stopped", progress=False, on_step=stop_after_3,
                  **SMALL)
    assert [r["step"] for r in training.TrainLog(tmp_path / "stopped").read()] == [1, 2, 3]
    model, _ = fresh_tiny()
    resumed, result = train_sft(model, processor, examples, config, tmp_path / "stopped", progress=False, **SMALL)
    assert result.resumed_from == 2 and [r["step"] for r in result.rows] == [3, 4]
    log = [json.loads(line) for line in (tmp_path / "stopped" / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all({"step", "loss", "lr", "seconds", "tokens"} <= set(r) for r in log)
    want = {k: v for k, v in straight.state_dict().items() if "lora_" in k}
    got = {k: v for k, v in resumed.state_dict().items() if "lora_" in k}
    assert want.keys() == got.keys() and all(torch.allclose(want[k], got[k], atol=1e-6) for k in want)
    straight_log = [json.loads(line) for line in (tmp_path / "straight" / LOG_FILE).read_text().splitlines()]
    assert [r["loss"] for r in straight_log] == pytest.approx([r["loss"] for r in log], abs=1e-5)


def test_command_trains_saves_and_resumes_then_the_adapter_loads(arrow, tmp_path, capsys):
    out = tmp_path / "A"
    args = ["--data-dir", str(arrow), "--out-dir", str(out), "--model", "tiny", "--steps", "2", "--grad-accum", "1",
            "--save-every", "1", "--rank", "4", "--fps", "2"]
    assert finetune.main(args) == 0
    assert (out / "adapter" / "adapter_config.json").is_file() and len((out / LOG_FILE).read_text().splitlines()) == 2
    assert finetune.main(args) == 0  # everything done: nothing trained again
    assert "0 steps done now, 2 of 2" in capsys.readouterr().out
    model, _ = load_model("tiny", device="cpu", adapter=out)
    assert model.cosmos_nb_facts.adapter == str(find_adapter(out))
    assert any("lora_" in n for n, _ in model.named_parameters()) and not model.training
    with pytest.raises(ModelLoadError, match="No LoRA adapter"):
        load_model("tiny", device="cpu", adapter=tmp_path / "nowhere")
    from cosmos_nb_utils import evaluation

    assert evaluation.main(["--data-dir", str(arrow), "--results-dir", str(tmp_path / "r"), "--model", "tiny",
                            "--adapter", str(out), "--answer-type", "letter", "--max-retries", "0"]) == 0
    assert len(list((tmp_path / "r" / "tiny+A" / "letter" / "arrow_of_time").glob("*.json"))) == 6


def test_evaluation_command_refuses_a_bad_adapter_path(arrow, tmp_path, capsys):
    from cosmos_nb_utils import evaluation

    assert evaluation.main(["--data-dir", str(arrow), "--results-dir", str(tmp_path / "r"), "--model", "tiny",
                            "--adapter", str(tmp_path / "nowhere")]) == 2
    assert "No LoRA adapter" in capsys.readouterr().err


def test_out_of_memory_becomes_the_course_error_naming_what_to_lower(tmp_path):
    model, _ = fresh_tiny()
    peft_model = add_lora(model, rank=2, alpha=4)

    def oom(index):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(GPUMemoryError, match="Lower --total-pixels"):
        run_training(peft_model, 1, oom, TrainConfig(steps=1, grad_accum=1), tmp_path, progress=False)


# ---------------------------------------------------------------- the memory prediction (measured, RESULTS.md)


def test_training_memory_model_is_the_measured_fit():
    from cosmos_nb_utils.results import load_rows, results_dir

    fits = json.loads((results_dir() / "sft-memory.json").read_text())["fits"]
    for key, coef in training_memory.TRAINING_MEMORY.items():
        assert coef["per_visual_token"] == pytest.approx(fits[key]["per_visual_token"], rel=1e-3)
        assert coef["base"] == pytest.approx(fits[key]["base"], abs=1e-3)
    assert load_rows("sft-memory.json", path="bf16")


class _Stand:
    """A stand-in for the 4-bit 7B: its config and facts, no weights."""

    def __init__(self, dtype):
        from cosmos_nb_utils.architecture import reason1_7b_config
        from cosmos_nb_utils.facts import ModelFacts

        self.config = reason1_7b_config()
        self.cosmos_nb_facts = ModelFacts("stand-in", False, "nf4", dtype, True)


def test_prediction_keeps_what_ran_and_refuses_what_ran_out_of_memory_under_the_8gb_cap():
    """benchmarks/results/sft-memory.json, bf16 under the 8 GB cap: 1,200 visual tokens ran, 1,900 did not."""
    from cosmos_nb_utils.results import load_rows

    rows = load_rows("sft-memory.json", path="bf16", **{"pass": "capped 8 GiB"})
    ran = {r["visual_tokens"]: r["result"] for r in rows}
    assert ran[1200] == "ok" and ran[1900] == "OOM"
    free = rows[0]["allocator_cap_gib"] - rows[0]["weights_gib"]
    stand = _Stand(torch.bfloat16)
    assert check_training_memory(stand, 1200, 16, free_gib=free) is not None
    with pytest.raises(GPUMemoryError, match="Nothing was trained. Lower --total-pixels") as err:
        check_training_memory(stand, 1900, 16, free_gib=free)
    assert "--rank to" in str(err.value)
    assert predict_training_memory(stand, 1900, 16).lora_state == pytest.approx(0.602, abs=1e-3)


def test_no_prediction_for_a_compute_dtype_not_measured():
    assert predict_training_memory(_Stand(torch.float32), 5000, 16) is None
    assert check_training_memory(_Stand(torch.float32), 5000, 16, free_gib=0.1) is None


def test_config_refuses_bad_settings_by_name():
    for bad, name in (({"steps": 0}, "steps"), ({"lr": 0}, "lr"), ({"rank": 1.5}, "rank"), ({"dropout": 1}, "dropout"),
                      ({"grad_accum": -1}, "grad_accum"), ({"warmup_steps": 99, "steps": 5}, "warmup_steps"),
                      ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=name):
            TrainConfig(**bad)


def test_example_names_its_source():
    ex = Example("ds", "ball__s1__backward", 0, None, "q", {"A": "a", "B": "b"}, "B")
    assert ex.source == "ball" and ex.name == "ds/ball__s1__backward question 0"


def test_an_interrupted_save_leaves_a_complete_checkpoint(tmp_path):
    """A save interrupted between its renames leaves .adapter.old, which is used, and the next save replaces it."""
    model, _ = fresh_tiny()
    peft_model = add_lora(model, rank=2, alpha=4)
    opt = torch.optim.AdamW(training.trainable_parameters(peft_model), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    training.save_checkpoint(tmp_path, peft_model, opt, sched, 3)
    (tmp_path / "adapter").rename(tmp_path / ".adapter.old")  # as if stopped between the two renames
    assert training.checkpoint_dir(tmp_path) == tmp_path / ".adapter.old"
    assert training.load_checkpoint(tmp_path, peft_model, opt, sched)["step"] == 3
    training.save_checkpoint(tmp_path, peft_model, opt, sched, 4)
    assert training.checkpoint_dir(tmp_path) == tmp_path / "adapter" and not (tmp_path / ".adapter.old").exists()
    assert training.load_checkpoint(tmp_path, peft_model, opt, sched)["step"] == 4


def test_a_model_that_holds_an_adapter_is_not_wrapped_twice():
    model, _ = fresh_tiny()
    add_lora(model, rank=2, alpha=4)
    with pytest.raises(ValueError, match="already holds LoRA adapters"):
        add_lora(model, rank=2, alpha=4)


# ---------------------------------------------------------------- review of issue 19: input refused where it enters


def test_question_file_not_utf8_and_rows_off_the_schema_are_named(make_clip, tmp_path):
    good = make_clip(fps=8.0, seconds=2.0)
    q = {"question": "Which way?", "index2ans": {"A": "forward", "B": "backward"}}
    data = _write(tmp_path / "data", [
        {"video": "clips/ok.mp4", "qa_pairs": [{**q, "answer": "b"}, {**q, "answer": "A", "reasoning": ["x"]},
                                               {"question": "Odd letters?", "index2ans": {"1": "x", "2": "y"},
                                                "answer": "1"},
                                               {"question": "Lower?", "index2ans": {"a": "x", "b": "y"},
                                                "answer": "a"}]}], [("ok.mp4", good)])
    with pytest.raises(TrainingDataError) as err:
        load_examples(data)
    text = str(err.value)
    assert "entry 0 (clips/ok.mp4) question 1: 'reasoning' must be text" in text
    # read_benchmark reports odd option letters first, in its own words
    assert "got ['1', '2']" in text and "got ['a', 'b']" in text and "capital letters" in text
    assert "question 0" not in text  # "b" is option "B": the official harness compares case-insensitively
    assert read_examples(data)[0][0].key == "B"  # and it is trained as the option's own letter
    qa_file(data, "mine").write_bytes(b"\xff\xfe[]")
    assert finetune.main(["--data-dir", str(data), "--out-dir", str(tmp_path / "A"), "--model", "tiny"]) == 2
    with pytest.raises(TrainingDataError, match="mine_benchmark_qa_pairs.json: not UTF-8"):
        load_examples(data)


def test_command_refuses_bad_out_dir_and_video_settings_before_the_model_loads(arrow, tmp_path, capsys, monkeypatch):
    import cosmos_nb_utils.loading as loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    base = ["--data-dir", str(arrow), "--model", "tiny"]
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert finetune.main(base + ["--out-dir", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert finetune.main(base + ["--out-dir", str(arrow)]) == 2
    assert "inside --data-dir" in capsys.readouterr().err
    assert finetune.main(base + ["--out-dir", str(tmp_path / "A"), "--total-pixels", "1"]) == 2
    assert "total_pixels=1" in capsys.readouterr().err


def test_resuming_with_other_data_or_video_settings_is_refused_before_the_model_loads(arrow, tmp_path, capsys,
                                                                                      monkeypatch):
    out = tmp_path / "A"
    args = ["--data-dir", str(arrow), "--out-dir", str(out), "--model", "tiny", "--steps", "1", "--grad-accum", "1",
            "--rank", "4", "--fps", "2"]
    assert finetune.main(args) == 0
    import cosmos_nb_utils.loading as loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    assert finetune.main(args[:-1] + ["1"]) == 2
    assert "fps: 2.0 there, 1.0 now" in capsys.readouterr().err
    subset = training_data.write_examples(tmp_path / "sub", load_examples(arrow, probe=False)[:2])
    assert finetune.main(["--data-dir", str(subset)] + args[2:] + ["--steps", "2"]) == 2
    assert "examples: 6 there, 2 now" in capsys.readouterr().err
    assert finetune.main(args[:-1] + ["2", "--lr", "1e-3"]) == 2
    assert "lr: 0.0002 there, 0.001 now" in capsys.readouterr().err


def test_more_steps_continue_with_the_new_schedule_from_the_next_step(arrow, tmp_path, capsys):
    examples = load_examples(arrow, probe=False)[:2]
    lrs = {}
    for name, plan in (("straight", (6,)), ("extended", (3, 6))):
        for steps in plan:
            config = TrainConfig(steps=steps, lr=5e-3, rank=4, alpha=8, grad_accum=1, save_every=3)
            model, processor = fresh_tiny()
            train_sft(model, processor, examples, config, tmp_path / name, progress=False, **SMALL)
        lrs[name] = [r["lr"] for r in training.TrainLog(tmp_path / name).read()]
    assert "Continuing a run of 3 steps to 6" in capsys.readouterr().out
    assert lrs["extended"][3:] == pytest.approx(lrs["straight"][3:])  # step 4 used to keep the 3-step run's last lr
    assert [r["step"] for r in training.TrainLog(tmp_path / "extended").read()] == [1, 2, 3, 4, 5, 6]


def test_an_adapter_of_another_base_is_refused(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from cosmos_nb_utils.tiny_model import tiny_model_path

    for name, layers, hidden in (("deeper", 3, None), ("shallower", 1, None), ("wider", 2, 96)):
        config = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_path()).config
        text = config.text_config
        text.num_hidden_layers, text.layer_types = layers, [text.layer_types[0]] * layers
        text.hidden_size = hidden or text.hidden_size
        peft_model = add_lora(Qwen2_5_VLForConditionalGeneration(config), rank=4, alpha=8,
                              gradient_checkpointing=False)
        peft_model.save_pretrained(str(tmp_path / name))
        # peft alone loads the first two quietly (layers dropped, or left at their untrained init)
        with pytest.raises(ModelLoadError, match="was not trained on this model"):
            load_model("tiny", device="cpu", adapter=tmp_path / name)


def test_arrow_of_time_checks_every_source_first_and_encodes_both_twins_alike(make_clip, tmp_path):
    from cosmos_nb_utils.video.probe import probe_video

    src = tmp_path / "src"
    src.mkdir()
    odd = make_clip(fps=8.0, seconds=2.0, size=(113, 201), name="odd.mp4")  # x264 writes even sides only
    shutil.copyfile(odd, src / "my clip é.mp4")
    (src / "notes.txt").write_text("not a clip")
    forward, backward = (probe_video(tmp_path / "out" / "arrow_of_time" / "clips" / f"my clip é__{d}.mp4")
                         for d in ("forward", "backward") if build_arrow_of_time(src, tmp_path / "out"))
    assert (forward.width, forward.height, forward.num_frames) == (backward.width, backward.height,
                                                                   backward.num_frames)
    shutil.copyfile(odd, src / "my clip é.mov")  # the same twins' names
    (src / "broken.mp4").write_bytes(b"")
    with pytest.raises(TrainingDataError) as err:
        build_arrow_of_time(src, tmp_path / "out2")
    assert "broken.mp4" in str(err.value) and "my clip é.mov" in str(err.value)
    assert not (tmp_path / "out2").exists()  # nothing written


def test_split_never_puts_a_source_on_both_sides_for_any_seed(make_clip, tmp_path):
    clip = make_clip(fps=8.0, seconds=2.0)
    q = {"question": "Which way?", "index2ans": {"A": "forward", "B": "backward"}, "answer": "A"}
    names = [f"s{i}__{v}.mp4" for i in range(5) for v in ("forward", "backward", "x")]
    data = _write(tmp_path / "data", [{"video": f"clips/{n}", "qa_pairs": [q, q]} for n in names],
                  [(n, clip) for n in names])
    for seed in range(25):
        for fraction in (0.2, 0.5, 0.8):
            train, held = split_by_source(data, tmp_path / "t", tmp_path / "h", heldout_fraction=fraction, seed=seed)
            a, b = load_examples(train, probe=False), load_examples(held, probe=False)
            assert a and b and not {e.source for e in a} & {e.source for e in b}
            assert len(a) + len(b) == 30 and all(len([e for e in a + b if e.source == f"s{i}"]) == 6 for i in range(5))
    with pytest.raises(ValueError, match="comes from"):
        split_by_source(data, data, tmp_path / "h2")
