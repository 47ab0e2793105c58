from cosmos_nb_utils import display as display_module


def test_show_table_formats_numbers_and_missing_values(monkeypatch):
    shown = []
    monkeypatch.setattr(display_module, "display", shown.append)
    display_module.show_table([{"decoder": "graph", "tok/s": 112.345, "peak GPU GiB": None}], caption="a <b>")
    html = shown[0].data
    assert "<td>112.345</td>" in html and "<td>n/a</td>" in html
    assert "<caption>a &lt;b&gt;</caption>" in html  # escaped


def test_show_table_keeps_a_column_only_later_rows_have(monkeypatch):
    """inside.trace's rows: the attention split is a key of the vision blocks only, not of the first row."""
    shown = []
    monkeypatch.setattr(display_module, "display", shown.append)
    display_module.show_table([{"stage": "patch_embed"}, {"stage": "blocks.0", "attention": "12 groups"}])
    html = shown[0].data
    assert "<th>stage</th><th>attention</th>" in html
    assert "<tr><td>patch_embed</td><td></td></tr>" in html and "<td>12 groups</td>" in html


def test_token_budget_plot_hides_no_series(make_clip, monkeypatch):
    """Budgets that do not bind give equal lines: each keeps its own marker and dashes, and says which it equals."""
    monkeypatch.setattr(display_module.plt, "show", lambda: None)
    fig = display_module.plot_token_budget(make_clip(fps=25, seconds=4), budgets=(256, 2048, 4096, 8192))
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    assert len({(line.get_marker(), line.get_linestyle()) for line in lines}) == 4
    ys = [tuple(line.get_ydata()) for line in lines]
    for i, line in enumerate(lines):
        equal_before = [j for j in range(i) if ys[j] == ys[i]]
        assert ("same as" in line.get_label()) == bool(equal_before), line.get_label()
    assert any("same as" in line.get_label() for line in lines)  # this short clip: the larger budgets coincide


def test_footprint_chart_units_agree(monkeypatch):
    monkeypatch.setattr(display_module.plt, "show", lambda: None)
    fig = display_module.plot_footprints({"bf16": 15.4, "nf4": 5.4})
    ax = fig.axes[0]
    assert "GiB" in ax.get_ylabel()
    labels = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert labels == {"6 GiB card": 6, "8 GiB card": 8, "12 GiB card": 12, "16 GiB card": 16}
