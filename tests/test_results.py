"""Measured figures live in benchmarks/RESULTS.md, traceable to raw JSON; every repository path the docs name exists."""

import re
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from cosmos_nb_utils import results

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "RESULTS.md",
        ROOT / "assets" / "README.md"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CONFIGS = [ROOT / "pyproject.toml", ROOT / "environment.yml", ROOT / "Makefile"]
TOP = ("notebooks", "cosmos_nb_utils", "assets", "tests", "benchmarks", "docs", "scripts")
# a path starting at a top-level folder of this repository, or leaving the folder it is written in
REPO_PATH = re.compile(rf"(?<![\w./~-])((?:\.\./)+[\w./*-]+|(?:{'|'.join(TOP)})/[\w./*-]*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Paths in nvidia-cosmos/cosmos-reason1 that the docs name: its inference script (--timestamp) and sample clip.
ELSEWHERE = {"scripts/inference.py", "assets/sample.mp4"}


def named_paths(text: str) -> set[str]:
    found = {m.rstrip(".") for m in REPO_PATH.findall(text)}
    found |= {link for link in LINK.findall(text) if not re.match(r"[a-z]+:|#", link)}
    return found


def exists(path: str, folder) -> bool:
    """``path`` (a glob allowed) exists relative to the folder it is written in, or to the repository root."""
    path = path.split("#")[0]
    return any(list(base.glob(path)) if "*" in path else (base / path).exists() for base in (folder, ROOT))


def text_of(doc) -> str:
    """A document's text; a notebook's markdown cells only."""
    if doc.suffix == ".ipynb":
        return "\n".join(c.source for c in nbformat.read(doc, as_version=4).cells if c.cell_type == "markdown")
    return doc.read_text()


@pytest.mark.parametrize("doc", DOCS + CONFIGS + NOTEBOOKS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_repository_path_named_exists(doc):
    name, folder = doc.relative_to(ROOT).as_posix(), doc.parent
    paths = named_paths(text_of(doc))
    missing = sorted(p for p in paths - ELSEWHERE if not exists(p, folder))
    assert not missing, f"{name} names paths that are not in the repository: {missing}"
    outside = sorted(p for p in paths if not (folder / p.split("#")[0]).resolve().is_relative_to(ROOT)
                     and not (ROOT / p).resolve().is_relative_to(ROOT))
    assert not outside, f"{name} names files outside the repository: {outside}"


def test_path_check_catches_a_missing_file():
    assert named_paths("see `tests/test_pins.py` and [notes](../shared/field-notes.md)") == {
        "tests/test_pins.py", "../shared/field-notes.md"}
    assert not exists("tests/test_pins.py", ROOT)
    assert exists("notebooks/*.ipynb", ROOT)


def test_results_tables_come_from_the_raw_json():
    """Each table of RESULTS.md is exactly what benchmarks/tables.py makes from benchmarks/results/*.json."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_notebook_figures_read_the_raw_json():
    memory = {r["loading"]: r for r in results.memory_by_loading()}
    default = memory["nf4, vision quantized (default)"]
    assert default["whole ~8k-token budget, GiB in use"] == 8.53  # RESULTS.md, run E, nf4, HD clip
    assert default["course scenarios, GiB in use"] == "7.03-7.36"
    speeds = {r["scenario"]: r for r in results.decode_speeds()}
    assert speeds["02 road_turn"]["speed-up"] == "4.6x" and speeds["8k-token HD clip"]["speed-up"] == "3.1x"
