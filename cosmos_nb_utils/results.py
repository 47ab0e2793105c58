"""The course's measured GPU figures, read from the raw JSON in ``benchmarks/results/``.

``benchmarks/RESULTS.md`` describes each file (card, versions, the command that made
it). Notebooks show measured numbers through these functions instead of copying them.
"""

from __future__ import annotations

import json
from pathlib import Path

# loading -> (raw file, mode in that file); see benchmarks/RESULTS.md
MEMORY_RUNS = {
    "nf4, vision quantized (default)": ("h100-runE.json", "nf4"),
    "nf4, vision in 16 bit": ("h100-runD.json", "nf4-vision16"),
    "int8": ("h100-runC.json", "int8"),
    "bf16": ("h100-runE.json", "bf16"),
}
WHOLE_BUDGET = "8k-token HD clip"  # the scenario that fills the official ~8k-token budget
SPEED_RUN = "h100-runE.json"


def results_dir() -> Path:
    """``benchmarks/results``, searched from the current folder upward, then from this package's folder."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, *Path(__file__).resolve().parents):
        if (folder / "benchmarks" / "results").is_dir():
            return folder / "benchmarks" / "results"
    raise FileNotFoundError(f"No benchmarks/results folder above {here}: run the notebooks from the repository.")


def load_rows(name: str, **match) -> list[dict]:
    """The rows of ``benchmarks/results/<name>`` whose fields equal ``match``."""
    data = json.loads((results_dir() / name).read_text())
    return [r for r in data["rows"] if all(r.get(k) == v for k, v in match.items())]


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def memory_by_loading() -> list[dict]:
    """GPU memory in use (CUDA context included) per way of loading the 7B, as measured on an H100."""
    table = []
    for loading, (name, mode) in MEMORY_RUNS.items():
        rows = load_rows(name, mode=mode)
        scenarios = [r["gpu_used_gib"] for r in rows if r["scenario"] != WHOLE_BUDGET]
        whole = next(r["gpu_used_gib"] for r in rows if r["scenario"] == WHOLE_BUDGET)
        table.append({"loading": loading, "weights GiB": rows[0]["weights_gib"],
                      "course scenarios, GiB in use": _span(scenarios),
                      "whole ~8k-token budget, GiB in use": whole})
    return table


def decode_speeds() -> list[dict]:
    """Decode tokens/s of the article's plain ``generate`` and of the course's graph decoder, per scenario."""
    article = {r["scenario"]: r["decode_tok_s"] for r in load_rows(SPEED_RUN, mode="article")}
    return [{"scenario": r["scenario"], "visual tokens": r["visual_tokens"], "article tok/s": article[r["scenario"]],
             "graph decoder tok/s": r["decode_tok_s"], "speed-up": f"{r['decode_tok_s'] / article[r['scenario']]:.1f}x"}
            for r in load_rows(SPEED_RUN, mode="nf4")]
