"""Time and peak memory of every text helper on 1 MB of each adversarial family (CPU; issue 22.14).

    PYTHONPATH=. python benchmarks/text_helpers.py [--out benchmarks/results/text-helpers-1mb.json]

The families are those of tests/test_text_linear.py (built from each pattern's own pieces). Time is CPU time of
this process (``time.process_time``, best of 3), so other load on the machine does not count; memory is
tracemalloc's peak. Prints the slowest and the largest, and writes every row as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_text_linear import FAMILIES, RULES, build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/text-helpers-1mb.json"))
    args = parser.parse_args()
    rows = []
    for family, segments in FAMILIES.items():
        text = build(segments, args.chars)
        for name, rule in RULES.items():
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                rule(text)
                best = min(best, time.process_time() - start)
            tracemalloc.start()
            rule(text)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append({"family": family, "rule": name, "chars": len(text), "cpu_s": round(best, 4),
                         "peak_mib": round(peak / 2**20, 2), "bytes_per_char": round(peak / len(text), 1)})
    slowest = max(rows, key=lambda r: r["cpu_s"])
    largest = max(rows, key=lambda r: r["peak_mib"])
    print("slowest:", slowest)
    print("largest:", largest)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                    "python": platform.python_version(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
