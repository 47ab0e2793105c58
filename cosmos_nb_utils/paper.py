"""What the Cosmos-Reason1 paper says: its ontologies, training data and results, each with its table or section.

Data and tiny accessors only. Every accessor returns a list of dict rows with a ``source`` field (the paper's
table or section, or another named source), ready for ``display.show_table``.

**How the paper was read** (``provenance()`` has one row per source label, with its status, to show a learner).
The text of arXiv v3 could not be read from here: the project's search tools hold only its opening (abstract and
introduction). So each number below comes from one of these, and its row in ``provenance()`` says which:

- **primary**: NVIDIA's project page (``PROJECT_PAGE``: its physical-common-sense table, all seven rows), NVIDIA's
  repository at the commit ``official.py`` cites, and the Hugging Face pages of the benchmark dataset and the model;
- **a verbatim copy of arXiv v1**: its HTML (LaTeXML), copied in ``V1_HTML_COPY``. It gives the wording of Tables 1
  and 2 and the counts of Table 6. v1's models were the 8B and 56B, and some v1 counts differ from v3's (named in
  ``provenance()``), so no v1 result and no v1 count that v3 changed is used;
- **secondary notes on v3**, public Markdown files on GitHub found through the project's source index, which does
  not name their repositories: ``NOTE_A`` transcribes v3's HTML (its figures link arxiv.org/html/2503.15558v3);
  ``NOTE_B`` is built from a PDF extraction of v3 and quotes the extracted tables verbatim in hidden anchors. They
  read different renderings of v3 (HTML, PDF: only B's Table 10 came out with merged cells). A number in both is
  marked "two v3 notes agree"; a number in one only is marked so. ``NOTE_C``, a generated model dossier, says
  which rows it read on the project page. None of them is the paper: treat their numbers as cross-checked
  transcriptions, not as citations.

A number that none of these gave is left out. The ontologies' wording is paraphrased, not copied.

The course's own comparison (notebook 07) is the base model against the *released* checkpoint, which went
through SFT and RL: it cannot separate the two stages. The paper's Tables 7-10 can, for the paper's checkpoints.
"""

from __future__ import annotations

from .official import REASON1

ARXIV_ID = "2503.15558"
ARXIV_VERSION = "v3"
CITATION = ("NVIDIA et al., \"Cosmos-Reason1: From Physical Common Sense To Embodied Reasoning\", "
            f"arXiv:{ARXIV_ID}{ARXIV_VERSION} (2025)")
PAPER_URL = f"https://arxiv.org/abs/{ARXIV_ID}{ARXIV_VERSION}"
PROJECT_PAGE = "https://research.nvidia.com/labs/cosmos-lab/cosmos-reason1"
V1_HTML_COPY = "github.com/deep-diver/ai-paper-reviewer content/2025-03-21/2503.15558/index.md (arXiv v1 HTML)"
NOTE_A = ("note A: a Markdown reading note titled 'Cosmos-Reason1: From Physical Common Sense To Embodied Reasoning' "
          "(front matter 'rating: 2', 'date_added: 2026-04-16'), transcribing v3's HTML tables and settings")
NOTE_B = ("note B: a Chinese 'deep reading' of the paper with its knowledge package "
          "ai_package/2026-06-08_CosmosReason1_2503.15558/ara/ (an experiments file E1-E4), built from a PDF "
          "extraction of v3 whose tables it quotes verbatim in URL-encoded anchors")
NOTE_C = ("note C: a generated model dossier on Cosmos-Reason1-7B (with an 'Independent audit' section) listing "
          "the intuitive-physics rows it read on the project page")
HUB_DATASET = "huggingface.co/datasets/nvidia/Cosmos-Reason1-Benchmark"
# Places whose section number could not be read: named by their heading.
RL_EXPERIMENTS = "Experiments, 'Physical AI RL'"
INTUITIVE_BENCH = "Experiments, intuitive physics benchmark"
EMBODIED_SECTION = "Sec. 2, embodied reasoning"
_REPO, _COMMIT = REASON1.split("@")
REASON1_SHORT = f"{_REPO.split('/')[1]}@{_COMMIT[:7]}"  # cosmos-reason1@3e7f1cb: the commit official.py cites
RL_TOML = f"{REASON1_SHORT} examples/post_training/configs/rl.toml"

# --- Where each source label was read, and how sure that is --------------------------------------------------
PRIMARY = "primary"
V1_COPY = "verbatim copy of arXiv v1"
TWO_NOTES = "secondary: two v3 notes agree"
ONE_NOTE = "secondary: one v3 note"
STATUSES = (PRIMARY, V1_COPY, TWO_NOTES, ONE_NOTE)
_V1 = f"v1 HTML ({V1_HTML_COPY})"
_PROVENANCE = [
    ("Table 1", V1_COPY, f"{_V1}, Table 1; notes A and B give the same 3 categories and 16 subcategories"),
    ("Table 2", V1_COPY, f"{_V1}, Table 2; notes A and B give the same 4 capabilities and 5 agent types"),
    (EMBODIED_SECTION, TWO_NOTES, "notes A and B: the paper studies the first three capabilities (learning from "
     "interactions is left for future work) through three tasks; v1's HTML puts Tables 1-2 in its Section 2"),
    ("Table 4", ONE_NOTE, "note B's verbatim quote of the extracted v3 table (every cell); note A gives the same "
     "understanding column, the physical-common-sense reasoning cells and the intuitive sets' 11K / 30K / 10K. "
     "v1's table differs (embodied rows, e.g. RoboVQA 221.9K / 930K, totals 1.82M / 1.94M): not used"),
    ("Sec. 5.1.3", TWO_NOTES, "notes A and B: spatial puzzles, arrow of time, object permanence, how each is made; "
     "the section number from note B"),
    ("Table 5", ONE_NOTE, "note B (every count); note A gives the total 30,304; v1's table has the same counts "
     "except RoboVQA 250 (total 30,302)"),
    ("Sec. 5.2", ONE_NOTE, "note B's verbatim quote: 5133 human-annotated binary and multiple-choice questions from "
     "1989 videos"),
    ("Eq. 1", TWO_NOTES, "notes A and B: A_i = (R(o_i) - mean(G)) / std(G); neither says which std or any eps"),
    ("Table 6", V1_COPY, f"{_V1}, Table 6; note B gives the same seven counts, note A the same totals (604 + 610 "
     "= 1,214)"),
    (RL_EXPERIMENTS, TWO_NOTES, "notes A and B agree on batch 128, 9 answers a question, 6144 tokens, lr 4e-6, "
     "KL 0.005, 500 iterations, GRPO with accuracy and format rewards; the on-the-fly option shuffle and the "
     "start from the SFT checkpoint are said in note B (note A only orders the stages); the section's number "
     "could not be read"),
    (INTUITIVE_BENCH, ONE_NOTE, "note B: 100 questions per task, decontaminated from the training data"),
    ("Table 7", PRIMARY, f"NVIDIA's project page ({PROJECT_PAGE}), all seven rows; the same in notes A and B, and "
     "v1's copy has the same five rows that are not Cosmos-Reason1"),
    ("Table 8", TWO_NOTES, "note B's verbatim quote of the extracted table and note A's transcription agree on every "
     "cell (the project page has an embodied-reasoning table too, cut off in the stored copy). v1's Qwen2.5-VL-7B "
     "row differs (34.0 85.5 44.0 43.0 39.0 63.0 51.4): not used"),
    ("Table 9", TWO_NOTES, "note B's verbatim quote (one header cell merged, the values whole) and note A agree"),
    ("Table 10", TWO_NOTES, "note A's transcription; note B's extraction merged some cells and the note rebuilt the "
     "rows from their averages, to the same values; note C reads both 7B rows on the project page; v1's copy has "
     "the same four rows above Qwen2.5-VL-7B"),
    ("hub", PRIMARY, f"{HUB_DATASET}: its file listing (folders agibot, bridgev2, holoassist, robofail, robovqa) and "
     "its README's configs at commit 299f918 (the same five and av)"),
    (REASON1_SHORT, PRIMARY, f"{REASON1}: README, examples/benchmark/README.md and configs/evaluate.yaml"),
    (RL_TOML, PRIMARY, f"the file at {REASON1}: it starts from nvidia/Cosmos-Reason1-7B, RoboVQA subset"),
]


def provenance() -> list[dict]:
    """One row per source label used in this module: its status (``STATUSES``) and what it was read from."""
    return [{"source": k, "status": st, "read from": v} for k, st, v in _PROVENANCE]


# --- Physical common sense: 3 categories, 16 subcategories (Table 1, Fig. 2) ------------------------------
# (category, subcategory, what the capability is, paraphrased)
_COMMON_SENSE = [
    ("Space", "Relationship", "where objects are relative to each other, from a stated point of view"),
    ("Space", "Plausibility", "whether a spatial arrangement is possible at all"),
    ("Space", "Affordance", "how objects can be used by people, animals or robots"),
    ("Space", "Environment", "what the scene or surroundings are"),
    ("Time", "Actions", "describe actions, their goal, subtasks, and whether a task was completed"),
    ("Time", "Order", "when events happen and in which order (timestamps)"),
    ("Time", "Causality", "whether one event causes another"),
    ("Time", "Camera", "how the camera is placed and moves, and scene transitions"),
    ("Time", "Planning", "a plan for the future from what was observed"),
    ("Fundamental Physics", "Attributes", "an object's physical properties: size, material, mass, solidity..."),
    ("Fundamental Physics", "States", "an object's state and its changes (ice to water, raw to cooked)"),
    ("Fundamental Physics", "Object Permanence", "objects persist, and which properties may change"),
    ("Fundamental Physics", "Mechanics", "statics, kinematics and dynamics (gravity, collisions, friction...)"),
    ("Fundamental Physics", "Electromagnetism", "optics (light, shadow, reflection...), electricity, magnetism"),
    ("Fundamental Physics", "Thermodynamics", "heat, temperature change, evaporation, thermal expansion"),
    ("Fundamental Physics", "Anti-Physics", "what defies physics: anti-gravity, time reversed, sudden disappearance"),
]


def physical_ai_ontology() -> list[dict]:
    """The physical common sense ontology: 3 categories, 16 subcategories, each with its capability."""
    return [{"category": c, "subcategory": s, "capability": d, "source": "Table 1"} for c, s, d in _COMMON_SENSE]


# --- Embodied reasoning: 4 capabilities x 5 agent types (Table 2) -----------------------------------------
_AGENTS = [("humans", "natural agents"), ("animals", "natural agents"), ("robot arms", "robotic systems"),
           ("humanoid robots", "robotic systems"), ("autonomous vehicles", "robotic systems")]
_CAPABILITIES = [
    ("Process Complex Sensory Inputs", "make sense of what the senses deliver (a car sees a stop sign)", True),
    ("Predict Action Effects", "anticipate what an action will do (a robot estimates a weight before lifting)", True),
    ("Respect Physical Constraints", "act within physical limits (a gripper limits its force)", True),
    ("Learn from Interactions", "improve from feedback (a car refines its braking distances)", False),
]
# The paper's three embodied-reasoning tasks (EMBODIED_SECTION; the benchmark and the SFT data are built on them).
_TASKS = [
    ("task-completion verification", "did the agent complete the task?"),
    ("action affordance", "can the agent do this action here and now?"),
    ("next plausible action prediction", "what is the most plausible next action or subtask?"),
]


def embodied_ontology() -> list[dict]:
    """The embodied reasoning ontology: its 5 agent types, 4 capabilities (which the paper tests), 3 tasks."""
    rows = [{"dimension": "agent type", "name": a, "detail": g, "tested": True, "source": "Table 2"}
            for a, g in _AGENTS]
    rows += [{"dimension": "capability", "name": c, "detail": d, "tested": t,
              "source": "Table 2" if t else f"Table 2; {EMBODIED_SECTION}"} for c, d, t in _CAPABILITIES]
    rows += [{"dimension": "task", "name": n, "detail": d, "tested": True, "source": EMBODIED_SECTION}
             for n, d in _TASKS]
    return rows


# --- The course, mapped to the ontology rows it exercises ------------------------------------------------
PLANNED_NOTEBOOKS = ("08_inside_the_model", "09_finetune_sft", "10_grpo_video")
_COURSE = [
    ("02_decision_making", "Is it safe to turn right? (road_turn.mp4)", "embodied reasoning",
     "task: action affordance; agent: autonomous vehicles", "the car must respect the light and the pedestrian"),
    ("02_decision_making", "Is it safe to turn right? (road_turn.mp4)", "physical common sense",
     "Space: Environment", "reading the traffic scene around the car"),
    ("03_arrow_of_time", "forward or backward? (ball_bounce, ball_roll, ink_spread and reversed twins)",
     "physical common sense", "Fundamental Physics: Anti-Physics",
     "a reversed clip is time running backward, which Table 1 lists under anti-physics"),
    ("03_arrow_of_time", "forward or backward? (reversed twins)", "intuitive physics (SFT and RL data)",
     "arrow of time", "the paper's self-supervised task: a clip and its reversal, labels for free (Sec. 5.1.3)"),
    ("04_action_prediction", "next subtask of a gripper (agent_pick.mp4)", "embodied reasoning",
     "task: next plausible action prediction; agent: robot arms", "the next immediate subtask towards a goal"),
    ("04_action_prediction", "next subtask of a gripper (agent_pick.mp4)", "physical common sense",
     "Time: Actions", "subtask and goal decomposition"),
    ("05_explain_ad", "explain a multi-shot ad with timestamps (ad_fizz.mp4)", "physical common sense",
     "Time: Order", "when each event happens, cited as stamped times"),
    ("05_explain_ad", "explain a multi-shot ad with timestamps (ad_fizz.mp4)", "physical common sense",
     "Time: Camera", "shots and scene transitions"),
    ("06_grpo_advantage", "an RL-format MCQ on ball_bounce.mp4 (forward or backward)",
     "intuitive physics (RL data)", "arrow of time", "the RL stage used arrow-of-time MCQs (Table 5)"),
    ("07_benchmark_eval", "a slice of the hub benchmark (RoboVQA by default)", "embodied reasoning",
     "benchmark part: RoboVQA (robots and humans)", "one column of Table 8; the questions test the three tasks"),
    ("09_finetune_sft", "QLoRA SFT on an arrow-of-time set from the course clips", "intuitive physics (SFT data)",
     "arrow of time", "the self-supervised SFT data of Sec. 5.1.3, at course scale"),
    ("10_grpo_video", "GRPO steps on the video model, arrow-of-time MCQs by default", "intuitive physics (RL data)",
     "arrow of time", "the RL data of Table 5 include arrow-of-time MCQs"),
]


def course_map() -> list[dict]:
    """Each notebook and scenario of the course, with the ontology row it exercises and why.

    ``source`` names the table that defines the row. Notebooks 00, 01 and 08 exercise no ontology row
    (setup, loading, the model's inside); 09 and 10 are planned (``PLANNED_NOTEBOOKS``).
    """
    table = {"physical common sense": "Table 1", "embodied reasoning": "Table 2"}
    return [{"notebook": nb, "scenario": sc, "ontology": on, "row": row, "why": why,
             "source": table.get(on, "Sec. 5.1.3; Table 5")} for nb, sc, on, row, why in _COURSE]


# --- Training data (Tables 4 and 5, Sec. 5) ---------------------------------------------------------------
# Table 4, physical AI SFT: (group, source, understanding samples, reasoning samples); None: "-" in the table.
SFT_TABLE = [
    ("physical common sense VQA", "free-form", "99K", "59.4K"),
    ("physical common sense VQA", "MCQ", "1.2M", "605.0K"),
    ("embodied reasoning", "BridgeData V2", "129.2K", "129.1K"),
    ("embodied reasoning", "RoboVQA", "218.5K", "920.0K"),
    ("embodied reasoning", "AgiBot", "19.4K", "19.4K"),
    ("embodied reasoning", "HoloAssist", "136.3K", "136.3K"),
    ("embodied reasoning", "AV", "12.4K", "12.3K"),
    ("intuitive physics", "spatial puzzles", None, "11.0K"),
    ("intuitive physics", "arrow of time", None, "30.0K"),
    ("intuitive physics", "object permanence", None, "10.0K"),
    ("total", "", "1.81M", "1.93M"),
]
# Table 5, physical AI RL: MCQs per source (the sum is 30,304).
RL_TABLE = {"physical common sense": 5133, "BridgeData V2": 240, "RoboVQA": 252, "AgiBot": 200, "HoloAssist": 200,
            "AV": 200, "spatial puzzles": 3998, "arrow of time": 9994, "object permanence": 10087}
RL_TOTAL = 30304
_INTUITIVE = {
    "spatial puzzles": "frames cut into 2x2 patches and shuffled; the model says where a patch belongs",
    "arrow of time": "a clip and its reversal; the model says which way it plays",
    "object permanence": "simulated robot clips; the model says whether an object vanished",
}


def training_data() -> list[dict]:
    """The SFT and RL data as the paper gives them: source, size, how it was made, and which stage used it."""
    rows = []
    for group, name, und, rea in SFT_TABLE:
        how = _INTUITIVE.get(name, "self-supervised: labels come from the data itself" if group == "intuitive physics"
                             else "human annotation and captions; reasoning traces distilled from DeepSeek-R1")
        rows.append({"stage": "SFT", "group": group, "data": name, "understanding": und or "-",
                     "reasoning": rea or "-", "how it was made": how if group != "total" else "",
                     "source": "Table 4" if group != "intuitive physics" else "Table 4; Sec. 5.1.3"})
    for name, n in RL_TABLE.items():
        group = ("intuitive physics" if name in _INTUITIVE else
                 "physical common sense" if name == "physical common sense" else "embodied reasoning")
        how = ("human-annotated binary and multiple-choice questions from 1,989 videos"
               if name == "physical common sense"
               else _INTUITIVE.get(name, "SFT data turned into single-answer MCQs, checked by people"))
        rows.append({"stage": "RL", "group": group, "data": name, "understanding": "-", "reasoning": f"{n:,} MCQs",
                     "how it was made": how, "source": "Table 5; Sec. 5.2"})
    rows.append({"stage": "RL", "group": "total", "data": "", "understanding": "-",
                 "reasoning": f"{RL_TOTAL:,} MCQs", "how it was made": "", "source": "Table 5"})
    return rows


# --- The RL settings that trained Cosmos-Reason1-7B (RL_EXPERIMENTS), and the public example ---------------------
# Read from two v3 notes that agree, not from the paper's text (provenance()); rl.toml was read itself.
PAPER_RL_SETTINGS = {
    "algorithm": "GRPO, rule-based accuracy and format rewards",
    "advantage": "(R - mean) / std over the answers to one question (Eq. 1)",
    "global batch (questions)": 128,
    "answers sampled per question": 9,
    "max response length (tokens)": 6144,
    "learning rate": 4e-6,
    "KL penalty coefficient": 0.005,
    "iterations": 500,
    "MCQ options shuffled on the fly": True,
}
# What examples/post_training/configs/rl.toml does at REASON1: further RL on the *released* model.
EXAMPLE_RL_SETTINGS = {"starts from": "nvidia/Cosmos-Reason1-7B (the released model)",
                       "data": "nvidia/Cosmos-Reason1-RL-Dataset, subset robovqa", "n_generation": 8,
                       "train_batch_per_replica": 128, "max_response_length": 6144, "optm_lr": 2e-6,
                       "kl_beta": 0.0, "epoch": 80}


def rl_settings() -> list[dict]:
    """The paper's RL settings for Cosmos-Reason1-7B next to NVIDIA's public RL example (rl.toml), as text."""
    paper, ex = PAPER_RL_SETTINGS, EXAMPLE_RL_SETTINGS
    rows = [
        ("starts from", "the Physical AI SFT checkpoint", ex["starts from"]),
        ("data", f"{RL_TOTAL:,} MCQs (Table 5)", ex["data"]),
        ("answers per question", str(paper["answers sampled per question"]), f"{ex['n_generation']} (n_generation)"),
        ("batch", f"{paper['global batch (questions)']} questions",
         f"{ex['train_batch_per_replica']} (train_batch_per_replica)"),
        ("max response tokens", str(paper["max response length (tokens)"]), str(ex["max_response_length"])),
        ("learning rate", f"{paper['learning rate']:g}", f"{ex['optm_lr']:g} (optm_lr)"),
        ("KL coefficient", f"{paper['KL penalty coefficient']:g}", f"{ex['kl_beta']:g} (kl_beta)"),
        ("length", f"{paper['iterations']} iterations", f"{ex['epoch']} epochs"),
        ("advantage", paper["advantage"], "cosmos-rl's GRPO (official.COSMOS_RL_ADVANTAGE)"),
    ]
    first = {"data": "Table 5", "advantage": "Eq. 1"}
    return [{"setting": name, "paper (trained Cosmos-Reason1-7B)": p, "rl.toml (further RL on the released model)": e,
             "source": f"{first.get(name, RL_EXPERIMENTS)}; {RL_TOML}"} for name, p, e in rows]


# --- Checkpoints that are public ------------------------------------------------------------------------
# The repository's README (REASON1) lists one model, nvidia/Cosmos-Reason1-7B (its older READMEs: "post-trained
# with Physical AI SFT, and Physical AI reinforcement learning"), and the project page says it releases that one
# model. No SFT-only checkpoint was found there or on the model card (Model Versions: this one model). The
# README's news also says the checkpoint was updated after the paper (2025-06-11 physical plausibility,
# 2025-08-01 spatial-temporal reasoning): today's hub weights need not score the paper's numbers.
SFT_ONLY_CHECKPOINT_PUBLIC = False
CHECKPOINT_NOTE = ("Public: nvidia/Cosmos-Reason1-7B (SFT + RL), updated since the paper. No SFT-only checkpoint "
                   f"was found ({REASON1_SHORT} README; the model card's Model Versions list this one model). "
                   "The 56B model is not released.")


# --- Benchmark results (Tables 7-10), accuracy in % ---------------------------------------------------------
# stage: "base" (not trained by the paper), "SFT" (Cosmos-Reason1 after Physical AI SFT), "SFT + RL".
_PARTS = {
    "Table 7": ("physical common sense", ["Space", "Time", "Other Physics", "Avg."]),
    "Table 8": ("embodied reasoning", ["BridgeData V2", "RoboVQA", "AgiBot", "HoloAssist", "AV", "RoboFail", "Avg."]),
    "Table 9": ("common sense + embodied reasoning",
                ["Common Sense", "BridgeData V2", "RoboVQA", "AgiBot", "HoloAssist", "AV", "RoboFail", "Avg."]),
    "Table 10": ("intuitive physics", ["Arrow of Time", "Spatial Puzzle", "Object Permanence", "Avg."]),
}
_RESULTS = {
    "Table 7": [
        ("Gemini 2.0 Flash", "other", [53.8, 50.0, 46.9, 50.2]),
        ("GPT-4o", "other", [61.3, 54.7, 50.9, 55.6]),
        ("OpenAI o1", "other", [63.8, 58.1, 58.0, 59.9]),
        ("Qwen2.5-VL-7B", "base", [48.8, 56.4, 37.2, 47.4]),
        ("Nemotron-H-56B", "base", [61.3, 68.1, 45.1, 58.2]),
        ("Cosmos-Reason1-7B", "SFT", [54.2, 58.7, 50.0, 54.3]),
        ("Cosmos-Reason1-56B", "SFT", [61.3, 65.5, 53.9, 60.2]),
    ],
    "Table 8": [
        ("Gemini 2.0 Flash", "other", [25.0, 78.2, 29.0, 44.0, 37.0, 67.0, 46.7]),
        ("GPT-4o", "other", [42.0, 71.8, 32.0, 65.0, 46.0, 63.0, 53.3]),
        ("OpenAI o1", "other", [42.0, 80.0, 44.0, 63.0, 37.0, 61.0, 54.5]),
        ("Qwen2.5-VL-7B", "base", [38.0, 82.5, 40.4, 50.0, 36.0, 57.6, 50.8]),
        ("Nemotron-H-56B", "base", [37.0, 77.2, 37.0, 65.0, 41.0, 64.0, 53.5]),
        ("Cosmos-Reason1-7B", "SFT", [58.8, 83.8, 49.4, 63.0, 55.6, 60.0, 61.8]),
        ("Cosmos-Reason1-56B", "SFT", [65.0, 80.0, 47.6, 57.8, 65.8, 66.2, 63.7]),
    ],
    "Table 9": [
        ("Cosmos-Reason1-7B", "SFT", [54.3, 58.8, 83.8, 49.4, 63.0, 55.6, 60.0, 60.7]),
        ("Cosmos-Reason1-7B + Physical AI RL", "SFT + RL", [56.2, 73.5, 86.8, 54.2, 60.0, 67.0, 62.0, 65.7]),
    ],
    "Table 10": [
        ("Random Guess", "other", [50.0, 25.0, 50.0, 41.7]),
        ("Gemini 2.0 Flash", "other", [50.0, 31.0, 48.0, 43.0]),
        ("GPT-4o", "other", [50.0, 77.0, 48.0, 58.3]),
        ("OpenAI o1", "other", [51.0, 64.0, 49.0, 54.7]),
        ("Qwen2.5-VL-7B", "base", [50.2, 27.2, 48.8, 42.1]),
        ("Cosmos-Reason1-7B", "SFT", [56.0, 85.4, 82.0, 74.5]),
        ("Cosmos-Reason1-7B + Physical AI RL", "SFT + RL", [64.5, 94.0, 86.0, 81.5]),
    ],
}
# Benchmark sizes (Table 6); the intuitive physics benchmark has 100 questions per task (INTUITIVE_BENCH).
BENCHMARK_QUESTIONS = {"physical common sense": 604, "BridgeData V2": 100, "RoboVQA": 110, "RoboFail": 100,
                       "AgiBot": 100, "HoloAssist": 100, "AV": 100}
INTUITIVE_QUESTIONS_PER_TASK = 100


def benchmark_results() -> list[dict]:
    """Every accuracy of Tables 7-10, one row per model, benchmark part and table ("long" form)."""
    rows = []
    for table, entries in _RESULTS.items():
        benchmark, parts = _PARTS[table]
        for model, stage, values in entries:
            rows += [{"benchmark": benchmark, "part": p, "model": model, "stage": stage, "accuracy %": v,
                      "source": table} for p, v in zip(parts, values)]
    return rows


def _pct(value: float | None) -> str | None:
    """An accuracy as the paper prints it, one decimal (``show_table`` would print floats with three)."""
    return None if value is None else f"{value:.1f}"


def results_table(source: str, models: tuple[str, ...] | None = None) -> list[dict]:
    """One of Tables 7-10 as printed: one row per model (all, or those named), one column per part.

    The accuracies are strings with the paper's one decimal; ``benchmark_results()`` has them as numbers.
    """
    if source not in _RESULTS:
        raise ValueError(f"source must be one of {sorted(_RESULTS)}, got {source!r}.")
    parts = _PARTS[source][1]
    rows = [{"model": m, "stage": s, **{p: _pct(x) for p, x in zip(parts, v)}, "source": source}
            for m, s, v in _RESULTS[source] if models is None or m in models]
    if models is not None and len(rows) != len(set(models)):
        known = [m for m, _, _ in _RESULTS[source]]
        raise ValueError(f"{source} lists the models {known}; got {list(models)}.")
    return rows


_RL_7B = "Cosmos-Reason1-7B + Physical AI RL"


def seven_b_vs_base() -> list[dict]:
    """The 7B against its base, Qwen2.5-VL-7B, on every part the paper reports: base, after SFT, after RL.

    Accuracies as printed (strings, one decimal); ``None`` where the paper gives no number.
    """
    by = {(r["source"], r["part"], r["model"]): r["accuracy %"] for r in benchmark_results()}
    rows = []
    for table, sft_table in (("Table 7", "Table 9"), ("Table 8", "Table 9"), ("Table 10", "Table 10")):
        benchmark, parts = _PARTS[table]
        for part in parts:
            if table == "Table 7":  # Table 9 gives the common-sense benchmark as its average only
                rl = by[(sft_table, "Common Sense", _RL_7B)] if part == "Avg." else None
            elif table == "Table 8":  # Table 9's "Avg." includes common sense: no embodied-only average after RL
                rl = None if part == "Avg." else by[(sft_table, part, _RL_7B)]
            else:
                rl = by[(sft_table, part, _RL_7B)]
            both = table if rl is None or sft_table == table else f"{table}; {sft_table}"
            rows.append({"benchmark": benchmark, "part": part,
                         "Qwen2.5-VL-7B (base)": _pct(by[(table, part, "Qwen2.5-VL-7B")]),
                         "Cosmos-Reason1-7B after SFT": _pct(by[(table, part, "Cosmos-Reason1-7B")]),
                         "after SFT + RL": _pct(rl), "source": both})
    return rows


# --- What the hub's benchmark holds, and what the course's slice covers ------------------------------------
def hub_benchmark() -> list[dict]:
    """Which of the paper's benchmarks nvidia/Cosmos-Reason1-Benchmark holds (by folder), and its questions.

    ``clips`` says where the videos come from, as the official benchmark README (``REASON1_SHORT``) tells it.
    """
    folders = [("bridgev2", "BridgeData V2", "separate download (process_raw_data.py)"),
               ("robovqa", "RoboVQA", "in the download (the official README: clips for RoboVQA and AV)"),
               ("agibot", "AgiBot", "separate download (AgiBotWorld-Beta, gated)"),
               ("holoassist", "HoloAssist", "separate download (process_raw_data.py)"),
               ("robofail", "RoboFail", "not said: the official README does not name RoboFail"),
               ("av (not in the listing)", "AV",
                "the official README says its clips ship, but the hub's file listing has no av folder (its "
                "README's configs still name one)")]
    rows = [{"hub folder": f, "paper's part": p, "paper's questions": BENCHMARK_QUESTIONS[p], "clips": c,
             "source": f"hub; Table 6; {REASON1_SHORT} examples/benchmark/README.md"} for f, p, c in folders]
    rows.append({"hub folder": "(none)", "paper's part": "physical common sense (Table 7)",
                 "paper's questions": BENCHMARK_QUESTIONS["physical common sense"], "clips": "not on the hub",
                 "source": "hub; Table 6"})
    rows.append({"hub folder": "(none)", "paper's part": "intuitive physics (Table 10)",
                 "paper's questions": INTUITIVE_QUESTIONS_PER_TASK * 3, "clips": "not on the hub",
                 "source": f"hub; {INTUITIVE_BENCH}"})
    return rows
