"""Project hygiene: one pin table, notebooks in sync and clean, assets reproducible and documented."""

import os
import re
import subprocess
import sys
import tomllib

import nbformat
import numpy as np
import pytest
import yaml
from conftest import ASSETS, ROOT

from cosmos_nb_utils.video import read_frames

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def name_of(requirement: str) -> str:
    return re.split(r"[=<>!;\[ ]", requirement, maxsplit=1)[0].lower()


def pins() -> dict[str, str]:
    """Every requirement string of pyproject.toml by package; the `torch` extra's exact pins win."""
    table = {}
    for req in PYPROJECT["project"]["dependencies"] + sum(PYPROJECT["project"]["optional-dependencies"].values(), []):
        table.setdefault(name_of(req), []).append(req.split(";")[0].strip())
    return {k: next((v for v in vs if "==" in v), vs[0]) for k, vs in table.items()}


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {name_of(r): r for r in pip if not r.startswith("-e")}
    assert listed == pins()
    assert "-e ." in pip


def test_notebooks_list_in_readme_and_makefile_use_pyproject():
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet -e ".[torch,dev]"' in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "jupyter lab --allow-root" in makefile, "make lab must start as root too (containers, Colab-like machines)"
    readme = (ROOT / "README.md").read_text()
    for nb in NOTEBOOKS:
        assert nb.name in readme, f"README does not list {nb.name}"


def test_notebooks_are_in_sync_with_pyproject():
    """Badges, Colab install cells (repository + release tag), metadata and slide types (make sync)."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_complete(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored outputs: run `make sync`"
    repo, tag = PYPROJECT["project"]["urls"]["Repository"], "v" + PYPROJECT["project"]["version"]
    badge, install = nb.cells[0].source, nb.cells[1].source
    assert badge.endswith(f"/blob/{tag}/notebooks/{path.name})"), "the badge must open this very notebook"
    assert f'REPO, TAG = "{repo}", "{tag}"' in install and '"google.colab" in sys.modules' in install
    assert "==" not in install, "the Colab cell must take its pins from pyproject.toml, not list its own"
    assert nb.metadata["accelerator"] == "GPU"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for section in ("Objectives", "Teaching:", "Summary"):
        assert section in text, f"{path.name} lacks {section}"
    assert max(len(c.source.splitlines()) for c in code) <= 30, "a cell this long belongs in cosmos_nb_utils"
    solutions = [c for c in code if "solution" in c.metadata.get("tags", [])]
    if path.name >= "01":
        assert solutions, "exercises need runnable solutions"
    for cell in solutions:  # collapsed in JupyterLab and on Colab, as the README promises
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, f"{cell.id}: solution not collapsed"
        assert cell.metadata.get("cellView") == "form" and cell.source.startswith("# @title Solution"), cell.id


def test_assets_are_reproducible(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_assets.py"), str(tmp_path)], check=True,
                   capture_output=True)
    committed = sorted(p.name for p in ASSETS.glob("*.mp4"))
    assert committed == sorted(p.name for p in tmp_path.glob("*.mp4"))
    for name in committed:
        a, fps_a = read_frames(ASSETS / name)
        b, fps_b = read_frames(tmp_path / name)
        assert a.shape == b.shape and fps_a == fps_b
        assert np.abs(a.astype(int) - b).mean() < 1.0, name


def test_assets_are_documented_and_small():
    readme = (ASSETS / "README.md").read_text()
    total = 0
    for clip in ASSETS.glob("*.mp4"):
        assert clip.name in readme, f"assets/README.md does not describe {clip.name}"
        total += clip.stat().st_size
    assert total < 1_000_000


def test_slides_build(tmp_path):
    """`make slides` builds one reveal.js deck per notebook; solutions and Colab cells stay off the slides."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_slides.py"), str(tmp_path)], check=True,
                   capture_output=True)
    decks = sorted(tmp_path.glob("*.slides.html"))
    assert [d.name.split(".")[0] for d in decks] == [nb.stem for nb in NOTEBOOKS]
    html = decks[2].read_text()
    assert "reveal" in html.lower() and "Is it safe to turn right?" in html
    assert "@title Solution" not in html and "google.colab" not in html


def test_one_version_string():
    """pyproject.toml's version is the only one: the package reads it, the notebooks' tag is derived from it."""
    import cosmos_nb_utils

    version = PYPROJECT["project"]["version"]
    assert cosmos_nb_utils.__version__ == version
    for path in [*(ROOT / "cosmos_nb_utils").rglob("*.py"), ROOT / "environment.yml", ROOT / "Makefile"]:
        assert version not in path.read_text(), f"{path.name} writes the version again"


def test_first_names_are_at_the_top_and_modules_stay_reachable():
    import cosmos_nb_utils
    from cosmos_nb_utils import ask, find_assets, load_model
    from cosmos_nb_utils.generation import ask as ask_in_module
    from cosmos_nb_utils.loading import load_model as load_in_module

    assert ask is ask_in_module and load_model is load_in_module and find_assets().is_dir()
    assert os.environ.get("PYTORCH_CUDA_ALLOC_CONF") == "expandable_segments:True"
    assert cosmos_nb_utils.__all__ == ["__version__", "ask", "find_assets", "load_model"]


def test_every_subpackage_is_installed():
    """pyproject.toml lists packages by name: a subpackage it leaves out would be missing from an installed course."""
    found = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cosmos_nb_utils").rglob("__init__.py"))
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == found


def test_no_module_of_the_package_imports_itself_back():
    """No import cycle in cosmos_nb_utils, function-level imports included (they hid loading <-> memory once)."""
    import ast

    package = ROOT / "cosmos_nb_utils"
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in package.rglob("*.py")}
    graph = {}
    for name, path in names.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                target = f"{base}.{node.module}" if node.module else base
                candidates = [target] + [f"{target}.{a.name}" for a in node.names]
                deps |= {c for c in candidates if c in names and c != name}
            elif isinstance(node, ast.Import | ast.ImportFrom):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for target in [module] if module else [a.name for a in node.names]:
                    if target in names and target != name:
                        deps.add(target)
        graph[name] = deps - {n for n in deps if name.startswith(n + ".")}  # a module's own package face

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    return path + [start]
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
        return None

    cycles = [c for c in map(cycle_from, sorted(graph)) if c]
    assert not cycles, f"import cycles: {[' -> '.join(c) for c in cycles]}"
