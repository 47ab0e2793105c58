"""Every rule the course calls "official", transcribed from NVIDIA's code with its source.

The course writes its own code; ``tests/test_official.py`` transcribes the behaviour of
each rule case by case. Sources, read at these commits:

- ``REASON1``: github.com/nvidia-cosmos/cosmos-reason1 at commit 3e7f1cb11128bb424e2a8e85a4aafc7ee9b8bb34
  (2026-01-05), unless a line names an older commit.
- ``COSMOS_RL``: github.com/nvidia-cosmos/cosmos-rl at commit 89f2e5b5c817d99a240f1194ce37239ceb6f058a
  (2026-07-31).
- ``TRL``: huggingface/trl release 1.16.0, ``trl/trainer/grpo_trainer.py`` (for comparison only).

Two rules that look alike are kept apart on purpose: the **benchmark scorer** (the first
capital letter inside the first closed ``<answer>`` block) and the **RL accuracy reward**
(the whole stripped content of that block must equal the reference). ``<answer>(B) the
cart</answer>`` earns the benchmark point for key ``B`` but not the reward.

Every text function here is total (never raises, any input) and runs in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REASON1 = "nvidia-cosmos/cosmos-reason1@3e7f1cb11128bb424e2a8e85a4aafc7ee9b8bb34"
COSMOS_RL = "nvidia-cosmos/cosmos-rl@89f2e5b5c817d99a240f1194ce37239ceb6f058a"

# --- How to ask the model to reason -------------------------------------------------------------
# REASON1 README.md at commit 41c173f298c4084d724b930b6393e82c6c1304ff (the inference example of the
# model release; the Hugging Face model card is reported to give the same recipe, not re-read here),
# this system prompt, video at fps 4.
REASONING_SYSTEM = (
    "You are a helpful assistant. Answer the question in the following format: "
    "<think>\nyour reasoning\n</think>\n\n<answer>\nyour answer\n</answer>."
)
# The assistant prompt Qwen2.5-VL's chat template uses when no system turn is given.
PLAIN_SYSTEM = "You are a helpful assistant."

# --- Video sampling ------------------------------------------------------------------------------
# REASON1 configs/vision_config.yaml: fps 4 and total_pixels 6422528 = 8192 * 28 * 28 (8192 visual tokens).
VIDEO_FPS = 4.0
VIDEO_TOTAL_PIXELS = 8192 * 28 * 28

# --- Sampling settings: four official sources that disagree ----------------------------------------
# Each is a dict of keyword arguments for ``generation.ask`` (transformers' names; vLLM's
# ``max_tokens`` is ``max_new_tokens``, ``top_k=0`` means off as vLLM's -1 does).
SAMPLING_SOURCES = {
    # REASON1 README.md at commit 41c173f2 (the release's inference example; see REASONING_SYSTEM)
    "release example": {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.05,
                   "max_new_tokens": 4096},
    # REASON1 configs/sampling_params.yaml (the repository's current scripts/inference.py): near-greedy, seed 42;
    # top_p and repetition_penalty are vLLM's defaults there
    "repository": {"do_sample": True, "temperature": 0.01, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0,
                   "max_new_tokens": 4096},
    # REASON1 examples/benchmark/configs/evaluate.yaml + tools/eval/evaluate.py (reasoning answers)
    "benchmark": {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.0,
                  "max_new_tokens": 1024},
    # REASON1 examples/post_training/configs/rl.toml ([train.train_policy] temperature, [rollout]
    # max_response_length); COSMOS_RL cosmos_rl/policy/config SamplingConfig defaults for the rest
    "rl rollout": {"do_sample": True, "temperature": 0.9, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0,
                   "max_new_tokens": 6144},
}
# What ``ask`` uses unless told otherwise: the recipe the release documented for chat.
DEFAULT_SAMPLING = "release example"

# --- NVIDIA's RL example (GRPO) -----------------------------------------------------------------
# REASON1 examples/post_training/configs/rl.toml and tools/dataset/cosmos_grpo.py (FPS, MAX_PIXELS). That config
# fine-tunes the *released* nvidia/Cosmos-Reason1-7B further, on the robovqa subset of
# nvidia/Cosmos-Reason1-RL-Dataset: NVIDIA's example of more RL on the finished model, not the run that produced
# it. The paper's settings for that run differ (9 answers a question, KL penalty 0.005): paper.PAPER_RL_SETTINGS.
# (The name RL_RECIPE stays: other modules import it.)
RL_RECIPE = {
    "group size (n_generation)": 8,
    "temperature": 0.9,
    "clip epsilon (low, high)": (0.2, 0.2),
    "kl_beta": 0.0,
    "max_response_length": 6144,
    "video fps": 1,
    "max_pixels per frame": 81920,
    "rewards": ("single_choice", "format"),
}
# COSMOS_RL cosmos_rl/dispatcher/algo/grpo.py: (r - mean) / (np.std(r) + eps), population std, eps 1e-6,
# float32; `unbiased=True` only centres. cosmos_rl/policy/config: loss_type "token-mean" by default.
COSMOS_RL_ADVANTAGE = {"std": "population", "eps": 1e-6}
# TRL 1.16.0: scale_rewards="group" (default), Bessel-corrected std (nanstd), eps 1e-4; loss_type "dapo" default.
TRL_ADVANTAGE = {"std": "sample", "eps": 1e-4}

# --- Finding tagged blocks, in linear time ---------------------------------------------------------


def first_block(text: str, tag: str) -> str | None:
    """Content of the first closed ``<tag>...</tag>`` block, as ``re.search(r"<tag>(.*?)</tag>", re.DOTALL)``.

    The regex search takes quadratic time on text with many unclosed opening tags; this
    returns the same result in linear time: if the first opening tag has no closing tag
    after it, no later one has either.
    """
    if not isinstance(text, str):
        return None
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = text.find(opening)
    if start < 0:
        return None
    end = text.find(closing, start + len(opening))
    return None if end < 0 else text[start + len(opening):end]


_CAPITAL = re.compile(r"[A-Z]")


def first_capital(text: str) -> str:
    """The first capital letter A-Z of ``text`` ("" if none): the benchmark's letter rule."""
    match = _CAPITAL.search(text) if isinstance(text, str) else None
    return match.group(0) if match else ""


# --- The benchmark: prompt, scorer, retries ------------------------------------------------------
# REASON1 examples/benchmark/tools/eval/utils/input.py `get_prompt`.
ANSWER_TYPES = ("reasoning", "letter")
BENCHMARK_SYSTEM = "Answer the questions."
BENCHMARK_LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
BENCHMARK_REASONING_INSTRUCTION = (
    "Please answer the question in the following format: "
    "<think> your reasoning </think> <answer> your single letter answer </answer>."
)
# REASON1 examples/benchmark/configs/evaluate.yaml (evaluation: fps 4, seed 1; generation: max_retries 10).
BENCHMARK_FPS = 4
BENCHMARK_SEED = 1
BENCHMARK_MAX_RETRIES = 10
# tools/eval/evaluate.py `run_model`: letter answers greedy (temperature 0, top_k 1) with 10 tokens;
# reasoning answers sampled with the config's settings.
BENCHMARK_SAMPLING = {
    "reasoning": SAMPLING_SOURCES["benchmark"],
    "letter": {"do_sample": False, "repetition_penalty": 1.0, "max_new_tokens": 10},
}


def _check_answer_type(answer_type: str) -> None:
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}.")


def benchmark_prompt(question: str, index2ans: Mapping[str, str], answer_type: str = "reasoning") -> str:
    """The user text of one benchmark question, exactly as ``get_prompt`` builds it.

    The question, a newline, one ``(A) choice`` line per option in the order given, the
    letter instruction, and in reasoning mode the format instruction. Nothing is stripped.
    """
    _check_answer_type(answer_type)
    if not isinstance(index2ans, Mapping) or not all(isinstance(v, str) for v in index2ans.values()):
        raise ValueError(f"index2ans must map option letters to option texts, like {{'A': 'turn left'}}; "
                         f"got {index2ans!r}.")
    text = str(question) + "\n"
    text += "\n".join(f"({letter}) {choice}" for letter, choice in index2ans.items())
    text += "\n" + BENCHMARK_LETTER_INSTRUCTION
    if answer_type == "reasoning":
        text += "\n" + BENCHMARK_REASONING_INSTRUCTION
    return text


def parse_benchmark_answer(text: str, answer_type: str = "reasoning") -> tuple[str, str]:
    """``(answer, reasoning)`` as ``utils/output.py`` reads a reply.

    Reasoning mode (``parse_reasoning_response``): the first capital letter inside the first
    closed ``<answer>`` block, and the first closed ``<think>`` block, stripped. Letter mode
    (``parse_letter_response``): the first capital letter of the whole reply, no reasoning.
    Missing pieces are empty strings.
    """
    _check_answer_type(answer_type)
    if not isinstance(text, str):
        return "", ""
    if answer_type == "letter":
        return first_capital(text), ""
    block = first_block(text, "answer")
    think = first_block(text, "think")
    return (first_capital(block) if block is not None else ""), (think.strip() if think is not None else "")


def benchmark_is_correct(answer: str, correct_answer: str) -> bool:
    """``answer.lower() == correct_answer.lower()`` (tools/eval/evaluate.py); False for non-strings."""
    return isinstance(answer, str) and isinstance(correct_answer, str) and answer.lower() == correct_answer.lower()


def benchmark_retry_sampling(answer_type: str, retry: int) -> dict:
    """Settings of retry number ``retry`` (1, 2, ...) for an empty answer, as ``run_model`` changes them.

    ``max_tokens`` becomes the config's 1024 + 256 * retry, temperature min(0.6 + 0.05 * retry, 0.9).
    In letter mode ``top_k=1`` stays, so the retry is still greedy, only longer.
    """
    _check_answer_type(answer_type)
    if not isinstance(retry, int) or retry < 1:
        raise ValueError(f"retry counts from 1, got {retry!r}.")
    base = SAMPLING_SOURCES["benchmark"]
    longer = base["max_new_tokens"] + 256 * retry
    if answer_type == "letter":
        return {**BENCHMARK_SAMPLING["letter"], "max_new_tokens": longer}
    return {**base, "max_new_tokens": longer, "temperature": min(base["temperature"] + 0.05 * retry, 0.9)}


# --- The RL prompt (what the rewards were applied to) --------------------------------------------
# REASON1 examples/post_training/tools/dataset/cosmos_grpo.py `__getitem__`: an empty system prompt; the
# user text is the benchmark's question and options, the letter instruction, then this format line.
RL_SYSTEM = ""
RL_FORMAT_INSTRUCTION = (
    "Please answer the question in the following format: "
    "<think> your reasoning </think> <answer> your answer </answer>."
)


def rl_prompt(question: str, index2ans: Mapping[str, str]) -> str:
    """The user text of one RL training question, as ``cosmos_grpo.py`` builds it."""
    return benchmark_prompt(question, index2ans, "letter") + "\n" + RL_FORMAT_INSTRUCTION


# --- The RL rewards (cosmos-rl) -----------------------------------------------------------------
# COSMOS_RL cosmos_rl/dispatcher/algo/reward.py `format_reward_fn`: the text starts with <think>, holds no
# other think tag before </think>, then exactly "\n\n", then one answer block, and nothing after it
# (Python's `$` also allows one final newline). Searched with re.DOTALL.
FORMAT_PATTERN = re.compile(
    r"^<think>([^<]*(?:<(?!/?think>)[^<]*)*)<\/think>\n\n<answer>([\s\S]*?)<\/answer>$", re.DOTALL
)




def format_matches(text: str) -> bool:
    r"""Whether ``FORMAT_PATTERN.search(text)`` finds a match, decided with a few ``str.find`` calls.

    Same result as the regex (``tests/test_official.py`` checks it on generated texts), but the regex
    keeps a backtracking record per ``<`` of the think block: about 150 bytes per character of memory
    (146 MB for ``"<think>" + "<" * 10**6``) in Python's ``re``. Read off the pattern:

    - ``^<think>``: the text starts with ``<think>`` (``^`` without MULTILINE: position 0 only);
    - ``([^<]*(?:<(?!/?think>)[^<]*)*)<\/think>``: no ``<think>`` and no ``</think>`` inside the group, so
      it ends at the first ``</think>``, with no ``<think>`` before it;
    - ``\n\n<answer>`` right after it;
    - ``([\s\S]*?)<\/answer>$``: the text ends with ``</answer>``, or ``</answer>`` and one newline (Python's
      ``$``), and that ``</answer>`` starts after the ``<answer>``.
    """
    if not isinstance(text, str) or not text.startswith("<think>"):
        return False
    close = text.find("</think>", 7)
    if close < 0 or text.find("<think>", 7, close) >= 0:
        return False
    answer = close + len("</think>")
    if not text.startswith("\n\n<answer>", answer):
        return False
    body = answer + len("\n\n<answer>")
    return any(text.endswith(tail) and len(text) - len(tail) >= body for tail in ("</answer>", "</answer>\n"))


def format_reward(text: str) -> float:
    """1.0 when ``text`` matches cosmos-rl's ``format_reward_fn`` pattern exactly, else 0.0.

    Evaluated by :func:`format_matches` (linear time, constant memory), which gives
    ``FORMAT_PATTERN.search``'s result.
    """
    return 1.0 if format_matches(text) else 0.0


def _answer_or_whole(text: str) -> str:
    block = first_block(text, "answer")
    return (block if block is not None else text).strip()


def single_choice_reward(text: str, reference: str) -> float:
    """cosmos-rl's ``single_choice_reward_fn``: 1.0 when the answers match, else 0.0.

    The whole content of the first closed ``<answer>`` block (or, with none, the whole
    text), stripped, must equal the reference's (read the same way), ignoring case.
    """
    if not isinstance(text, str) or not isinstance(reference, str):
        return 0.0
    return 1.0 if _answer_or_whole(text).lower() == _answer_or_whole(reference).lower() else 0.0


# --- Time-referenced captions -----------------------------------------------------------------------
# REASON1 scripts/inference.py joins prompts/addons/english.txt and a prompt file's system prompt with a
# blank line ("\n\n".join of the right-stripped parts); prompts/temporal_caption_text.yaml is the one for
# captions with timestamps, asked with --timestamp (the overlay below).
TEMPORAL_CAPTION_SYSTEM = (
    "Always respond in English.\n\n"
    "Please provide captions of all the events in the video with timestamps using the following format:\n"
    "<start time> <end time> caption of event 1.\n"
    "<start time> <end time> caption of event 2.\n\n"
    "At each frame, the timestamp is embedded at the bottom of the video. "
    "You need to extract the timestamp and answer the user question."
)
TEMPORAL_CAPTION_USER = "Describe the notable events in the provided video."

# --- The timestamp overlay (cosmos_reason1_utils) ------------------------------------------------
# REASON1 cosmos_reason1_utils/src/cosmos_reason1_utils/vision.py `overlay_text`, used by
# scripts/inference.py --timestamp on the frames qwen-vl-utils sampled, with the sampled fps.
OVERLAY = {"band_height": 28, "positions": 2, "font_family": "DejaVu Sans Mono", "font_size": 20}


def overlay_label(index: int, fps: float) -> str:
    """The text stamped on sampled frame ``index``: its time ``index / fps`` as ``"1.25s"``."""
    return f"{index / fps:.2f}s"
