from cosmos_nb_utils import display as display_module


def test_show_table_formats_numbers_and_missing_values(monkeypatch):
    shown = []
    monkeypatch.setattr(display_module, "display", shown.append)
    display_module.show_table([{"decoder": "graph", "tok/s": 112.345, "peak GPU GiB": None}], caption="a <b>")
    html = shown[0].data
    assert "<td>112.345</td>" in html and "<td>n/a</td>" in html
    assert "<caption>a &lt;b&gt;</caption>" in html  # escaped
