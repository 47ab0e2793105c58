"""Every notebook on the GPU as a learner runs it: the random-weight 7B, one process per notebook, an 8 GB cap.

    python benchmarks/run_notebooks_gpu.py [--cap-gib 8] [--max-new-tokens 32] [--out notebooks-gpu.json]

Each notebook's code cells run in order in one IPython shell in a fresh process (like one kernel, without
Jupyter's messaging; widgets are created but nobody clicks them). ``COSMOS_NB_MODEL`` points at the random 7B
(``bench_inference.py``), ``COSMOS_NB_MAX_NEW_TOKENS`` caps every answer (read in
``generation.sampling_settings`` only). PyTorch's allocator is capped at the card's memory minus the 0.75 GiB
this process uses outside it (benchmarks/RESULTS.md, issue 15). Reports per notebook: passed or the first
failing cell, GPU in use at the peak, time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_GIB = 0.75  # CUDA context and kernels outside PyTorch's allocator (RESULTS.md, issue 15)


def run_one(notebook: Path, cap_gib: float) -> dict:
    """Run ``notebook``'s code cells in this process; return its row."""
    import torch
    from IPython.core.interactiveshell import InteractiveShell

    gib = 2**30
    total = torch.cuda.get_device_properties(0).total_memory / gib
    torch.cuda.set_per_process_memory_fraction((cap_gib - OUTSIDE_GIB) / total)
    cells = json.loads(notebook.read_text())["cells"]
    shell = InteractiveShell.instance()
    os.chdir(notebook.parent)
    row = {"notebook": notebook.name, "result": "passed", "cells": sum(c["cell_type"] == "code" for c in cells)}
    start = time.perf_counter()
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        result = shell.run_cell("".join(cell["source"]), store_history=True)
        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            row.update(result=f"failed at cell {index}", error=f"{type(error).__name__}: {error}"[:400])
            break
    row["time_s"] = round(time.perf_counter() - start, 1)
    free, total_b = torch.cuda.mem_get_info()
    outside = ((total_b - free) - torch.cuda.memory_reserved()) / gib
    row.update(peak_allocated_gib=round(torch.cuda.max_memory_allocated() / gib, 2),
               peak_reserved_gib=round(torch.cuda.max_memory_reserved() / gib, 2),
               gpu_in_use_at_peak_gib=round(torch.cuda.max_memory_reserved() / gib + outside, 2))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, help="(internal) run this notebook in this process")
    parser.add_argument("--row", type=Path, help="(internal) where --one writes its row")
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--timeout", type=int, default=240, help="seconds per notebook")
    parser.add_argument("--notebooks", nargs="*", type=Path, default=sorted((ROOT / "notebooks").glob("*.ipynb")))
    parser.add_argument("--out", type=Path, default=Path("notebooks-gpu.json"))
    args = parser.parse_args()
    if args.one:
        args.row.write_text(json.dumps(run_one(args.one.resolve(), args.cap_gib)))
        return
    from common import build_random_checkpoint, require_gpu

    require_gpu()
    ckpt = build_random_checkpoint(Path("/tmp/reason1-7b-random"))
    env = {**os.environ, "COSMOS_NB_MODEL": str(ckpt), "COSMOS_NB_MAX_NEW_TOKENS": str(args.max_new_tokens),
           "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    rows = []
    for notebook in args.notebooks:
        row_file = args.out.with_name(f"row-{notebook.stem}.json")
        log = args.out.with_name(f"log-{notebook.stem}.txt")
        start = time.perf_counter()
        with log.open("w") as out:
            try:
                subprocess.run([sys.executable, __file__, "--one", str(notebook.resolve()), "--row", str(row_file),
                                "--cap-gib", str(args.cap_gib)], env=env, stdout=out, stderr=subprocess.STDOUT,
                               timeout=args.timeout, check=False)
            except subprocess.TimeoutExpired:
                pass
        row = json.loads(row_file.read_text()) if row_file.exists() else {
            "notebook": notebook.name, "result": f"no result (crashed or over {args.timeout} s: see {log.name})"}
        row["process_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
        args.out.write_text(json.dumps({"cap_gib": args.cap_gib, "max_new_tokens": args.max_new_tokens,
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
