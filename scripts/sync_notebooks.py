"""Normalise the course notebooks from pyproject.toml: Colab badge, install cell, metadata, slides.

    python scripts/sync_notebooks.py          # rewrite notebooks/*.ipynb in place
    python scripts/sync_notebooks.py --check  # exit 1 if any notebook is out of date (tests use it)

Every notebook gets (1) an "Open in Colab" badge pointing at itself at the release tag,
(2) a Colab-only install cell that clones the repository at that tag and pip-installs it,
so the packages come from the one pin table in pyproject.toml, (3) Colab metadata asking
for a GPU, (4) reveal.js slide types derived from the headings, (5) no outputs, and (6) the
text several notebooks share, written once in notebooks/shared/: a cell whose metadata has
``"shared": {"name": "why_cosmos.md"}`` gets that file's text, with ``{name}`` fields filled
from ``"args"`` (for example ``{"question": "QUESTION", "video": "CLIP"}``).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHARED = ROOT / "notebooks" / "shared"

INSTALL = '''\
# Colab only: install the course at its release tag (its packages are pinned in pyproject.toml;
# Colab keeps its own torch). Anywhere else this cell does nothing.
import os
import subprocess
import sys

REPO, TAG = "{repo}", "{tag}"
if "google.colab" in sys.modules:
    clone = "/content/" + REPO.rstrip("/").split("/")[-1]
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", TAG, REPO, clone], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", clone], check=True)
    os.chdir(clone + "/notebooks")
    from cosmos_nb_utils.system import colab_check

    colab_check()'''


def settings() -> tuple[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return meta["project"]["urls"]["Repository"].rstrip("/"), "v" + meta["project"]["version"]


def badge_url(repo: str, tag: str, name: str) -> str:
    path = repo.split("github.com/")[-1]
    return f"https://colab.research.google.com/github/{path}/blob/{tag}/notebooks/{name}"


def slide_type(cell) -> str:
    tags = cell.metadata.get("tags", [])
    if "colab" in tags or "solution" in tags:
        return "skip"
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith(("# ", "## ")):
            return "slide"
        if first.startswith("### "):
            return "subslide"
    return "-"


def shared_text(cell, path: Path) -> str:
    """The text of a shared cell, from notebooks/shared/, with its ``args`` filled in."""
    spec = cell.metadata["shared"]
    source = SHARED / spec["name"]
    if not source.is_file():
        raise SystemExit(f"{path.name}: shared cell names {source}, which does not exist")
    return source.read_text().rstrip("\n").format(**spec.get("args", {}))


def normalise(path: Path, repo: str, tag: str) -> str:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "colab" not in c.metadata.get("tags", [])]
    for cell in cells:
        if "shared" in cell.metadata:
            cell.source = shared_text(cell, path)
    badge_svg = "https://colab.research.google.com/assets/colab-badge.svg"
    badge = nbformat.v4.new_markdown_cell(f"[![Open In Colab]({badge_svg})]({badge_url(repo, tag, path.name)})")
    install = nbformat.v4.new_code_cell(INSTALL.format(repo=repo, tag=tag))
    for cell, cell_id in ((badge, "colab-badge"), (install, "colab-install")):
        cell.id = cell_id
        cell.metadata["tags"] = ["colab"]
    nb.cells = [badge, install, *cells]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell)}
    nb.metadata = {
        "accelerator": "GPU",
        "colab": {"gpuType": "T4", "provenance": []},
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nbformat.writes(nb) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that would change")
    args = parser.parse_args()
    repo, tag = settings()
    stale = []
    for path in NOTEBOOKS:
        text = normalise(path, repo, tag)
        if text != path.read_text():
            stale.append(path.name)
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print("out of date (run `make sync`):", ", ".join(stale))
        return 1
    print(f"{len(NOTEBOOKS)} notebooks {'checked' if args.check else 'synced'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
