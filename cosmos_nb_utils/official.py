"""TEMPORARY STUB on branch h-eval (the lead's real module replaces it at merge; delete before reporting)."""

from __future__ import annotations

import re

BENCHMARK_SYSTEM = "Answer the questions."
BENCHMARK_MAX_RETRIES = 10
BENCHMARK_FPS = 4
BENCHMARK_SEED = 1
BENCHMARK_SAMPLING: dict[str, dict] = {
    "reasoning": {"temperature": 0.6, "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.0, "max_new_tokens": 1024},
    "letter": {"temperature": 0, "top_k": 1, "max_new_tokens": 10},
}
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_LETTER = re.compile(r"[A-Z]")
_FORMAT = re.compile(r"^<think>([^<]*(?:<(?!/?think>)[^<]*)*)<\/think>\n\n<answer>([\s\S]*?)<\/answer>$", re.DOTALL)


def benchmark_prompt(question: str, index2ans: dict[str, str], answer_type: str) -> str:
    text = question + "\n" + "\n".join(f"({k}) {v}" for k, v in index2ans.items())
    text += "\nAnswer with the option's letter from the given choices directly."
    if answer_type == "reasoning":
        text += ("\nPlease answer the question in the following format: <think> your reasoning </think> "
                 "<answer> your single letter answer </answer>.")
    return text


def parse_benchmark_answer(text: str, answer_type: str) -> tuple[str, str]:
    if answer_type == "letter":
        m = _LETTER.search(text)
        return (m.group(0) if m else ""), ""
    answer = ""
    a = _ANSWER.search(text)
    if a:
        m = _LETTER.search(a.group(1))
        answer = m.group(0) if m else ""
    t = _THINK.search(text)
    return answer, (t.group(1).strip() if t else "")


def benchmark_is_correct(answer: str, correct_answer: str) -> bool:
    return answer.lower() == correct_answer.lower()


def benchmark_retry_sampling(answer_type: str, retry: int) -> dict:
    base = dict(BENCHMARK_SAMPLING[answer_type])
    base["max_new_tokens"] = 1024 + 256 * retry
    base["temperature"] = min(base.get("temperature", 0) + 0.05 * retry, 0.9)
    return base


def format_reward(text: str) -> float:
    return 1.0 if _FORMAT.search(text) else 0.0
