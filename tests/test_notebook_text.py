"""Text several notebooks share is written once (notebooks/shared/) and placed by `make sync`."""

import nbformat
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHARED = ROOT / "notebooks" / "shared"


def shared_cells():
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if "shared" in cell.metadata:
                yield path, cell


def test_every_shared_text_is_used_by_several_notebooks():
    users = {}
    for path, cell in shared_cells():
        users.setdefault(cell.metadata["shared"]["name"], set()).add(path.name)
    assert sorted(users) == sorted(p.name for p in SHARED.iterdir())
    assert all(len(names) >= 2 for names in users.values()), users


def test_shared_cells_hold_exactly_their_text():
    for path, cell in shared_cells():
        spec = cell.metadata["shared"]
        expected = (SHARED / spec["name"]).read_text().rstrip("\n").format(**spec.get("args", {}))
        assert cell.source == expected, f"{path.name}: run `make sync`"


def test_no_notebook_copies_shared_text_by_hand():
    """A paragraph of a shared text may appear only in the cells that make sync fills."""
    paragraphs = [p for f in SHARED.iterdir() for p in f.read_text().split("\n\n") if len(p) > 80 and "{" not in p]
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if "shared" not in cell.metadata:
                assert not any(p in cell.source for p in paragraphs), f"{path.name} copies shared text"
