"""cosmos_nb_utils.paper: the paper's facts, each with its source, and consistent with each other."""

from collections import Counter
from pathlib import Path

import pytest

from cosmos_nb_utils import paper

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ACCESSORS = [paper.provenance, paper.physical_ai_ontology, paper.embodied_ontology, paper.course_map,
             paper.training_data, paper.rl_settings, paper.benchmark_results, paper.seven_b_vs_base,
             paper.hub_benchmark]


def test_citation_names_the_paper_its_arxiv_id_and_version():
    assert "Cosmos-Reason1: From Physical Common Sense To Embodied Reasoning" in paper.CITATION
    assert "2503.15558v3" in paper.CITATION
    assert paper.PAPER_URL.endswith("2503.15558v3")


@pytest.mark.parametrize("accessor", ACCESSORS, ids=lambda f: f.__name__)
def test_every_row_has_a_source_and_the_same_keys(accessor):
    rows = accessor()
    assert rows
    for row in rows:
        assert isinstance(row["source"], str) and row["source"].strip()
        assert list(row) == list(rows[0])  # show_table takes its columns from the first row


@pytest.mark.parametrize("accessor", ACCESSORS[1:], ids=lambda f: f.__name__)
def test_every_source_label_says_how_it_was_read(accessor):
    known = [r["source"] for r in paper.provenance()]
    for row in accessor():
        for label in row["source"].split("; "):
            assert any(label.startswith(k) for k in known), f"{label!r} has no provenance row"


def test_physical_common_sense_has_3_categories_and_16_subcategories():
    rows = paper.physical_ai_ontology()
    assert len(rows) == 16
    assert len({r["subcategory"] for r in rows}) == 16
    assert Counter(r["category"] for r in rows) == {"Space": 4, "Time": 5, "Fundamental Physics": 7}


def test_embodied_ontology_has_5_agent_types_4_capabilities_3_tasks():
    rows = paper.embodied_ontology()
    by = Counter(r["dimension"] for r in rows)
    assert by == {"agent type": 5, "capability": 4, "task": 3}
    agents = {r["name"] for r in rows if r["dimension"] == "agent type"}
    assert agents == {"humans", "animals", "robot arms", "humanoid robots", "autonomous vehicles"}
    tested = [r["name"] for r in rows if r["dimension"] == "capability" and r["tested"]]
    assert len(tested) == 3 and "Learn from Interactions" not in tested


def test_course_map_names_only_notebooks_that_exist_or_are_planned():
    existing = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert set(paper.PLANNED_NOTEBOOKS) == {"08_inside_the_model", "09_finetune_sft", "10_grpo_video"}
    named = {r["notebook"] for r in paper.course_map()}
    assert named <= existing | set(paper.PLANNED_NOTEBOOKS), named - existing - set(paper.PLANNED_NOTEBOOKS)
    assert {"02_decision_making", "03_arrow_of_time", "04_action_prediction", "05_explain_ad"} <= named


def test_course_map_rows_are_rows_of_the_ontologies():
    subcategories = {f"{r['category']}: {r['subcategory']}" for r in paper.physical_ai_ontology()}
    embodied = {r["name"] for r in paper.embodied_ontology()}
    intuitive = {"arrow of time", "spatial puzzles", "object permanence"}
    for row in paper.course_map():
        if row["ontology"] == "physical common sense":
            assert row["row"] in subcategories
        elif row["ontology"] == "embodied reasoning":
            for part in row["row"].split("; "):
                kind, _, name = part.partition(": ")
                if kind in ("task", "agent"):
                    assert name in embodied, name
        else:
            assert row["ontology"].startswith("intuitive physics") and row["row"] in intuitive


def _accuracies(source, model):
    return {r["part"]: r["accuracy %"] for r in paper.benchmark_results()
            if r["source"] == source and r["model"] == model}


def test_every_average_is_the_mean_of_its_parts():
    for source in ("Table 7", "Table 8", "Table 9", "Table 10"):
        for row in paper.results_table(source):
            acc = _accuracies(source, row["model"])
            parts = [v for k, v in acc.items() if k != "Avg."]
            assert abs(sum(parts) / len(parts) - acc["Avg."]) <= 0.1, (source, row["model"])
            assert row["Avg."] == f"{acc['Avg.']:.1f}"  # printed with the paper's one decimal


def test_table_9_repeats_the_sft_numbers_of_tables_7_and_8():
    sft, t7, t8 = (_accuracies(t, "Cosmos-Reason1-7B") for t in ("Table 9", "Table 7", "Table 8"))
    assert sft["Common Sense"] == t7["Avg."]
    for part in ("BridgeData V2", "RoboVQA", "AgiBot", "HoloAssist", "AV", "RoboFail"):
        assert sft[part] == t8[part]


def test_seven_b_vs_base_has_no_number_the_paper_does_not_give():
    rows = paper.seven_b_vs_base()
    embodied_avg = next(r for r in rows if r["benchmark"] == "embodied reasoning" and r["part"] == "Avg.")
    assert embodied_avg["after SFT + RL"] is None  # Table 9's average includes common sense
    space = next(r for r in rows if r["part"] == "Space")
    assert space["after SFT + RL"] is None
    aot = next(r for r in rows if r["part"] == "Arrow of Time")
    got = (aot["Qwen2.5-VL-7B (base)"], aot["Cosmos-Reason1-7B after SFT"], aot["after SFT + RL"])
    assert got == ("50.2", "56.0", "64.5")


def test_results_table_refuses_an_unknown_table_or_model():
    with pytest.raises(ValueError, match="Table 7"):
        paper.results_table("Table 3")
    with pytest.raises(ValueError, match="lists the models"):
        paper.results_table("Table 8", ("Qwen2.5-VL-72B",))


def _count(text):
    """'129.2K' -> 129200, '1.81M' -> 1810000 (Table 4's notation)."""
    scale = {"K": 1e3, "M": 1e6}[text[-1].upper()]
    return float(text[:-1]) * scale


def test_table_4_cells_add_up_to_its_printed_totals():
    rows = [r for r in paper.SFT_TABLE if r[0] != "total"]
    total = next(r for r in paper.SFT_TABLE if r[0] == "total")
    for column in (2, 3):  # understanding, reasoning
        cells = sum(_count(r[column]) for r in rows if r[column] is not None)
        assert abs(cells - _count(total[column])) <= 5e3, (column, cells)  # totals are printed to 0.01M


def test_provenance_says_how_sure_each_source_is():
    status = {r["source"]: r["status"] for r in paper.provenance()}
    assert set(status.values()) <= set(paper.STATUSES)
    for label in ("Table 7", "hub", paper.RL_TOML):
        assert status[label] == paper.PRIMARY
    # v3's text was not read: nothing from its tables or settings may be called primary except Table 7
    for label in ("Table 4", "Table 5", "Table 8", "Table 9", "Table 10", paper.RL_EXPERIMENTS, "Eq. 1"):
        assert status[label].startswith("secondary"), label


def test_data_counts_add_up():
    assert sum(paper.RL_TABLE.values()) == paper.RL_TOTAL == 30304
    q = paper.BENCHMARK_QUESTIONS
    assert sum(v for k, v in q.items() if k != "physical common sense") == 610
    assert sum(q.values()) == 1214


def test_rl_settings_keep_the_paper_apart_from_the_example():
    shown = {r["setting"]: r for r in paper.rl_settings()}
    assert shown["learning rate"]["paper (trained Cosmos-Reason1-7B)"] == "4e-06"  # not show_table's "0.000"
    assert all(isinstance(v, str) for r in shown.values() for v in r.values())
    assert paper.PAPER_RL_SETTINGS["answers sampled per question"] == 9
    assert paper.PAPER_RL_SETTINGS["KL penalty coefficient"] == 0.005
    assert "released" in paper.EXAMPLE_RL_SETTINGS["starts from"]
    assert "robovqa" in paper.EXAMPLE_RL_SETTINGS["data"]


def test_no_sft_only_checkpoint_is_implied():
    assert paper.SFT_ONLY_CHECKPOINT_PUBLIC is False
    assert "No SFT-only checkpoint" in paper.CHECKPOINT_NOTE


def test_the_example_settings_agree_with_official_rl_recipe():
    from cosmos_nb_utils.official import RL_RECIPE

    ex = paper.EXAMPLE_RL_SETTINGS
    assert ex["n_generation"] == RL_RECIPE["group size (n_generation)"]
    assert ex["max_response_length"] == RL_RECIPE["max_response_length"]
    assert ex["kl_beta"] == RL_RECIPE["kl_beta"]


def test_course_map_names_only_clips_the_course_has():
    import re

    assets = {p.name for p in (NOTEBOOKS.parent / "assets").glob("*.mp4")}
    for row in paper.course_map():
        for clip in re.findall(r"[\w-]+\.mp4", row["scenario"]):
            assert clip in assets, (row["notebook"], clip)
