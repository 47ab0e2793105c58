"""Build one reveal.js slide deck per notebook: python scripts/build_slides.py [OUT_DIR]

Uses the executed copy from build/notebooks/ when `make run` made one (slides then show
plots and answers), else the committed notebook. Cells tagged as solutions and the Colab
cells are skipped (their slide metadata, written by scripts/sync_notebooks.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "slides"
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        executed = ROOT / "build" / "notebooks" / source.name
        notebook = executed if executed.exists() else source
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--log-level", "WARN",
                        "--CoalesceStreamsPreprocessor.enabled=True",
                        "--output-dir", str(out), str(notebook)], check=True)
    decks = sorted(out.glob("*.slides.html"))
    print(f"{len(decks)} decks in {out}")
    return 0 if decks else 1


if __name__ == "__main__":
    sys.exit(main())
