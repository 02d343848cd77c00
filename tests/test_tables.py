"""Interactive tables: offline HTML served from the book's _static, formatted numbers, no index; the
neuron browser's rows; the card anchors they link to; the Sphinx extension writing the bundle."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.render import cards, sphinx_ext, tables
from clipneuron_utils.data.snli import LABELS


@pytest.fixture
def frame():
    return pd.DataFrame({
        "unit": [3, 1, 2],
        "formula": ["(hyp:tok:sleeping AND NOT pre:tok:sleeping)", "pre:tag:NN", "hyp:tok:<b>&"],
        "iou": [0.123456, np.nan, 1.23456e-5],
        "p": [1.0, 0.047619, 0.5],
    }, index=[10, 11, 12])


def dt_args(html: str) -> dict:
    """The arguments the page passes to DataTables (the JSON in the module script)."""
    match = re.search(r"let dt_args = (\{.*?\n\s*\});", html, re.S)
    assert match, "no dt_args in the table's HTML"
    return json.loads(match.group(1))


def test_significant_digits():
    assert [tables.significant(v) for v in (0.123456, 1234.5, 1.23456e-5, -0.0004, 0.0, np.nan, None, 3)] == \
        ["0.123", "1.23e+03", "1.23e-05", "-0.0004", "0", "", "", "3"]
    out = tables.format_numbers(pd.DataFrame({"a": [0.98765, np.nan], "n": [1, 2], "s": ["x", "y"]}, index=[5, 6]))
    assert out.to_dict("list") == {"a": ["0.988", ""], "n": [1, 2], "s": ["x", "y"]}
    assert list(out.index) == [0, 1]


def test_interactive_table_is_served_from_static_not_a_cdn(frame):
    table = tables.interactive(frame, caption="demo", page_length=5)
    html = table.html
    assert f'<table id="{table.table_id}"' in html and table.table_id.startswith("itables-")
    assert f"from '{tables.BUNDLE_URL}'" in html and tables.BUNDLE_URL == "./_static/itables/dt_bundle.js"
    assert 'href="./_static/itables/dt_bundle.css"' in html
    assert "unpkg" not in html and "cdn" not in html.lower() and "https://" not in html.split("<script")[-1]
    # the preview is swapped for the table only by the script that imported the bundle
    assert html.count("removeAttribute") == 1
    module = html[html.index('<script type="module">'):]
    assert module.index("import {") < module.index("removeAttribute") < module.index("new ITable")
    args = dt_args(html)
    assert args["pageLength"] == 5 and args["scrollX"] is True
    assert "caption" not in args and html.startswith('<p class="clipneuron-table-caption"><em>demo</em></p>')


def test_interactive_formats_numbers_and_drops_the_index(frame):
    table = tables.interactive(frame)
    rows = json.loads(dt_args(table.html)["data_json"])
    assert rows[0] == [3, "(hyp:tok:sleeping AND NOT pre:tok:sleeping)", "0.123", "1"]
    assert rows[1][2:] == ["", "0.0476"] and rows[2][2] == "1.23e-05"
    header = re.findall(r"<th[^>]*>([^<]*)</th>", dt_args(table.html)["table_html"])
    assert header == ["unit", "formula", "iou", "p"], "no index column"
    assert not any(str(i) in {"10", "11", "12"} for row in rows for i in row[:1])
    assert table.text.startswith("<Interactive table: 3 rows × 4 columns>\n")
    assert "0.0476" in table.text and "10" not in table.text.splitlines()[1]
    assert table._repr_mimebundle_() == {"text/html": table.html, "text/plain": table.text}


def test_interactive_is_deterministic_and_wraps_long_text(frame):
    a, b = tables.interactive(frame, caption="c"), tables.interactive(frame, caption="c")
    assert a.html == b.html and a.table_id == b.table_id
    assert tables.interactive(frame, caption="other").table_id != a.table_id
    args = dt_args(a.html)
    assert {"targets": [1], "className": "clipneuron-wrap"} in args["columnDefs"]
    assert f"#{a.table_id}_wrapper td.clipneuron-wrap" in args["table_style"]


def test_html_columns_allow_links_and_escape_the_rest(frame):
    linked = frame.assign(card=['<a href="07_qualitative_neurons.html#card-lstm-3">card</a>', "", ""])
    table = tables.interactive(linked, html_columns=["card"])
    rows = json.loads(dt_args(table.html)["data_json"])
    assert rows[0][-1] == '<a href="07_qualitative_neurons.html#card-lstm-3">card</a>'
    assert rows[2][1] == "hyp:tok:&lt;b&gt;&amp;", "text cells are escaped once HTML is allowed"
    assert "<a href" not in table.text and "card" in table.text.splitlines()[2]
    with pytest.raises(KeyError, match="not columns"):
        tables.interactive(frame, html_columns=["nope"])
    # without HTML columns itables escapes the text itself: the same cells either way
    assert json.loads(dt_args(tables.interactive(frame).html)["data_json"])[2][1] == rows[2][1]


def test_notebook_mode_uses_itables_offline_html(frame, monkeypatch):
    monkeypatch.setattr(tables, "_NOTEBOOK_MODE", True)
    html = tables.interactive(frame).html
    assert tables.BUNDLE_URL not in html and "unpkg" not in html


def test_sphinx_extension_writes_both_bundles_into_static(tmp_path, monkeypatch):
    monkeypatch.setattr(sphinx_ext.charts, "write_bundle", lambda static: (static / "vega-bundle.js").write_text("v"))
    app = SimpleNamespace(builder=SimpleNamespace(format="html"), outdir=str(tmp_path))
    sphinx_ext._write_bundle(app, None)
    js, css = tmp_path / "_static" / "itables" / "dt_bundle.js", tmp_path / "_static" / "itables" / "dt_bundle.css"
    assert js.stat().st_size > 100_000 and css.stat().st_size > 10_000
    assert "export" in js.read_text(encoding="utf-8")[-5000:] and "unpkg" not in js.read_text(encoding="utf-8")
    assert (tmp_path / "_static" / "vega-bundle.js").is_file()
    other = tmp_path / "latex"
    sphinx_ext._write_bundle(SimpleNamespace(builder=SimpleNamespace(format="latex"), outdir=str(other)), None)
    assert not other.exists()


def results_of(n_units=4, max_length=2):
    rows = []
    for length in range(1, max_length + 1):
        for unit in range(n_units):
            explained = unit != n_units - 1
            rows.append({"encoder": "lstm", "encoding": "standard", "seed": 0, "max_length": length, "neuron": unit,
                         "formula": (f"hyp:tok:sleeping AND pre:tok:u{unit}" if length > 1 else f"pre:tok:u{unit}")
                         if explained else None,
                         "iou": 0.1 * (unit + 1) + 0.01 * length if explained else 0.0, "n_fires": 50 + unit,
                         "explained": explained, "excess_iou": 0.05 if explained else np.nan,
                         "null_mean_iou": 0.1 * (unit + 1) + 0.01 * length - 0.05 if explained else np.nan,
                         "null_sd_iou": 0.025 if unit != 1 else 0.0,
                         "p_value": 0.047619 if explained else np.nan, "acc_when_firing": 0.8})
    return pd.DataFrame(rows)


def test_browser_rows_one_per_unit_with_cards_linked():
    weights = np.array([[1.0, -1, 0, -0.5], [0, 2, 0, -0.1], [-1, 0, 3, -0.2]])
    out = tables.browser_rows(results_of(), "lstm", weights, card_units=[1])
    assert list(out.columns) == ["unit", "fires on", "formula, length 1", "formula, length ≤ 2", "IoU", "excess IoU",
                                 "excess (null SDs)", "accuracy when firing", "largest output weight", "card"]
    assert out["unit"].tolist() == [0, 1, 2, 3] and out["fires on"].tolist() == [50, 51, 52, 53]
    assert out["largest output weight"].tolist() == [LABELS[0], LABELS[1], LABELS[2], f"{LABELS[1]} (all < 0)"]
    np.testing.assert_allclose(out["excess (null SDs)"].iloc[[0, 2]], [2.0, 2.0])  # 0.05 over a null SD of 0.025
    assert np.isnan(out["excess (null SDs)"].iloc[1])  # a null with no spread has no SD to count in
    unexplained = out.iloc[3]
    assert unexplained["formula, length 1"] == "" and unexplained["formula, length ≤ 2"] == ""
    assert np.isnan(unexplained["IoU"]) and np.isnan(unexplained["excess (null SDs)"])
    assert out["card"].tolist() == ["", f'<a href="07_qualitative_neurons.html#{tables.card_anchor("lstm", 1)}">card</a>', "", ""]
    assert tables.card_anchor("lstm", 1) == "card-lstm-1"
    # searching a concept finds every unit whose formula mentions it (DataTables matches substrings of cells)
    text = out.drop(columns="card").map(str).apply(" ".join, axis=1)
    assert out.loc[text.str.contains("hyp:tok:sleeping", regex=False), "unit"].tolist() == [0, 1, 2]


def test_browser_rows_checks_its_inputs():
    weights = np.zeros((3, 4))
    with pytest.raises(ValueError, match="no search result"):
        tables.browser_rows(results_of(), "clip", weights)
    with pytest.raises(KeyError, match="acc_when_firing"):
        tables.browser_rows(results_of().drop(columns="acc_when_firing"), "lstm", weights)
    with pytest.raises(ValueError, match="2 seeds"):
        tables.browser_rows(pd.concat([results_of(), results_of().assign(seed=1)]), "lstm", weights)
    with pytest.raises(ValueError, match="do not fit"):
        tables.browser_rows(results_of(), "lstm", np.zeros((3, 2)))
    single = tables.browser_rows(results_of(max_length=1), "lstm", weights)
    assert "formula, length 1" not in single.columns and "formula, length ≤ 1" in single.columns


def test_card_show_emits_its_anchor_as_html_only(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    card = cards.NeuronCard(encoder="lstm", encoding="standard", neuron=7,
                            row=pd.Series({"explained": False, "n_fires": 3, "max_length": 2}),
                            weights=pd.DataFrame({"class": list(LABELS), "weight": [0.1, 0.2, -0.3]}),
                            top=pd.DataFrame(), conditional=None, spectrum=pd.DataFrame())
    monkeypatch.setattr(cards.unit_plots, "activation_spectrum", lambda *a, **k: "chart")
    card.show()
    (first,), options = shown[0]
    assert first == {"text/html": '<a id="card-lstm-7" class="clipneuron-card-anchor"></a>'} and options == {"raw": True}


def test_compact_formats_for_reading_and_shows_the_same_table_as_text():
    frame = pd.DataFrame({"units": [1024, 7], "explained": [1024.0, 3.0], "mean_iou": [0.412345, np.nan],
                          "formula": ["pre:tok:man", "hyp:tag:NN"]}, index=[5, 9])
    table = tables.compact(frame, caption="units")
    # no index column, thousands separators, whole floats as integers, 3 significant digits, NaN blank
    assert table.frame.to_dict("list") == {"units": ["1,024", "7"], "explained": ["1,024", "3"],
                                           "mean_iou": ["0.412", ""], "formula": ["pre:tok:man", "hyp:tag:NN"]}
    assert 'class="dataframe"' not in table.html and "<caption>units</caption>" in table.html
    assert ">1,024<" in table.html and ">5<" not in table.html
    # nbval compares the text: the values, not a Styler's address
    assert repr(table).splitlines()[0] == "units" and "0.412" in repr(table) and "0x" not in repr(table)
    assert table._repr_mimebundle_()["text/plain"] == repr(table)
    # the same table gives the same HTML (no random ids in the committed notebooks)
    assert tables.compact(frame, caption="units").html == table.html
    # a meaningful index becomes a column
    assert list(tables.compact(frame.rename_axis("seed"), keep_index=True).frame.columns)[0] == "seed"
