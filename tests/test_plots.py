"""Charts: valid Vega-Lite (Altair validates in to_dict), the expected marks, tooltips, inline data."""

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.stats import compositionality, contribution, single_neurons
from clipneuron_utils.render import charts
from clipneuron_utils.render import numbers, plots, unit_plots
from clipneuron_utils.data.snli import LABELS

POINTED = {"point", "circle", "square", "bar", "rule", "tick"}


def units(spec):
    """Every unit (single-mark) spec inside a layered / faceted / concatenated spec."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key, []):
            yield from units(sub)
    if isinstance(spec.get("spec"), dict):
        yield from units(spec["spec"])


def mark(unit):
    return unit["mark"]["type"] if isinstance(unit["mark"], dict) else unit["mark"]


def tooltip_fields(unit):
    tips = unit.get("encoding", {}).get("tooltip", [])
    tips = tips if isinstance(tips, list) else [tips]
    return {t.get("field") for t in tips}


def walk(obj):
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def check_common(chart):
    """Validates, data inline (no URL anywhere), every point/bar mark has a tooltip; returns the spec."""
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["$schema"].endswith(f"{alt.SCHEMA_VERSION}.json")
    for node in walk(spec):
        if isinstance(node, dict):
            assert "url" not in node, "data must be inline"
    assert spec.get("datasets"), "data are embedded as top-level datasets"
    for node in walk({k: v for k, v in spec.items() if k != "datasets"}):
        if isinstance(node, dict) and isinstance(node.get("data"), dict):
            assert set(node["data"]) == {"name"} and node["data"]["name"] in spec["datasets"]
    for unit in units(spec):
        if mark(unit) in POINTED:
            assert tooltip_fields(unit), f"{mark(unit)} mark without tooltip"
    assert charts.fingerprint(spec).startswith("<Chart")
    return spec


def values(spec):
    """The rows a chart draws: its inline records, flattened like the chart's flatten transform."""
    rows = [row for rows in spec["datasets"].values() for row in rows]
    fields = [f for t in spec.get("transform", []) for f in t.get("flatten", [])]
    if not fields:
        return rows
    out = []
    for row in rows:
        n = max(len(row.get(f, [])) for f in fields)
        for i in range(n):
            out.append({**{k: v for k, v in row.items() if k not in fields},
                        **{f: row[f][i] for f in fields if i < len(row.get(f, []))}})
    return out


def render_svg(spec):
    vlc = pytest.importorskip("vl_convert")
    return vlc.vegalite_to_svg(spec)


# ---------------------------------------------------------------------------------------- data


@pytest.fixture
def results_with_accuracy():
    """Two encoders × two encodings × lengths 1–2; (clip, standard, 1) is perfectly anticorrelated."""
    rng = np.random.default_rng(0)
    rows = []
    for encoder in ("clip", "lstm"):
        for encoding in ("standard", "wordnet"):
            for length in (1, 2):
                for u in range(12):
                    explained = u < 10
                    iou = 0.03 * (u + 1) if (encoder, encoding, length) == ("clip", "standard", 1) else rng.random() * 0.5
                    rows.append(dict(encoder=encoder, encoding=encoding, max_length=length, neuron=u,
                                     formula="(hyp:tok:man AND NOT pre:tok:man)" if explained else None,
                                     iou=iou if explained else np.nan, length=length, n_fires=80 + u,
                                     explained=explained))
    frame = pd.DataFrame(rows)
    perfect = (frame.encoder == "clip") & (frame.encoding == "standard") & (frame.max_length == 1)
    frame["acc_when_firing"] = np.where(perfect, 1 - frame["iou"], rng.random(len(frame)))
    return frame


# ---------------------------------------------------------------------------------- acc vs IoU


def test_acc_vs_iou_facets_layers_and_stats_in_headers(results_with_accuracy):
    corr = contribution.iou_accuracy_correlation(results_with_accuracy)
    chart = plots.acc_vs_iou(results_with_accuracy, corr)
    spec = check_common(chart)
    assert spec["facet"]["field"] == "panel_order" and spec["columns"] == 2
    header = spec["facet"]["header"]["labelExpr"]
    inner = spec["spec"]
    assert [mark(u) for u in inner["layer"]] == ["circle", "line"]
    assert "data" not in inner and not any("data" in u for u in inner["layer"])
    dots, fit = inner["layer"]
    assert dots["encoding"]["x"]["field"] == "iou" and dots["encoding"]["y"]["field"] == "acc_when_firing"
    assert {"neuron", "formula", "iou", "acc_when_firing", "n_fires"} <= tooltip_fields(dots)
    assert tooltip_fields(fit)
    # axes fitted to the units, not 0-1
    assert dots["encoding"]["y"]["scale"]["zero"] is False and "domain" not in dots["encoding"]["y"]["scale"]

    rows = values(spec)
    assert len({r["panel_order"] for r in rows}) == len(corr) == 8
    for _, c in corr.iterrows():  # every panel's header names it and carries its own statistics
        label = f"r = {numbers.format_r(c['pearson_r'])}, p = {numbers.format_p(c['pearson_p'])}"
        name = json.dumps(f"{c['encoder']} · {c['encoding']} · max_length {c['max_length']}")  # as the expression holds it
        assert label in header and name in header
    assert "r = -1.000" in header
    # only explained units are points, carrying nothing their tooltip does not print (page weight)
    points = [r for r in rows if r["kind"] == "neuron"]
    assert len(points) == 8 * 10
    assert set().union(*points) <= {"neuron", "formula", "iou", "acc_when_firing", "n_fires", "panel_order", "kind"}
    fits = [r for r in rows if r["kind"] == "fit" and "r = -1.000" in r["stats"]]
    assert len(fits) == 2 and all(r["acc_when_firing"] == pytest.approx(1 - r["iou"], abs=1e-6) for r in fits)


def test_acc_vs_iou_renders_with_the_statistics(results_with_accuracy):
    chart = plots.acc_vs_iou(results_with_accuracy)  # correlations computed when not given
    svg = render_svg(chart.to_dict())
    assert "r = -1.000" in svg and "clip · standard · max_length 1" in svg
    assert svg.count("<path") > 10


def test_acc_vs_iou_single_panel_puts_stats_in_title(results_with_accuracy):
    one = results_with_accuracy[(results_with_accuracy.encoder == "clip") & (results_with_accuracy.encoding == "standard")
                                & (results_with_accuracy.max_length == 1)].drop(columns=["encoder", "encoding", "max_length"])
    spec = check_common(plots.acc_vs_iou(one))
    assert "r = -1.000" in spec["title"]["subtitle"] and "p = " in spec["title"]["subtitle"]


def test_acc_vs_iou_needs_accuracy(results_with_accuracy):
    with pytest.raises(ValueError, match="acc_when_firing"):
        plots.acc_vs_iou(results_with_accuracy.drop(columns="acc_when_firing"))


# ------------------------------------------------------------------------------ IoU by length


def test_mean_iou_by_length_chart(results_with_accuracy):
    table = compositionality.mean_iou_by_length(results_with_accuracy)
    spec = check_common(plots.mean_iou_by_length(table))
    marks = [mark(u) for u in units(spec)]
    assert sorted(marks) == ["line", "point", "rule"]
    line = next(u for u in units(spec) if mark(u) == "line")
    assert line["encoding"]["color"]["field"] == "encoder"
    assert line["encoding"]["strokeDash"]["field"] == "encoding"
    assert line["encoding"]["x"]["field"] == "max_length"
    rule = next(u for u in units(spec) if mark(u) == "rule")
    assert rule["encoding"]["y"]["field"] == "iou_low" and rule["encoding"]["y2"]["field"] == "iou_high"
    assert {"mean_iou", "sem", "n_explained"} <= tooltip_fields(next(u for u in units(spec) if mark(u) == "point"))
    render_svg(spec)


def test_iou_histogram(results_with_accuracy):
    spec = check_common(plots.iou_histogram(results_with_accuracy))
    assert spec["encoding"]["row"]["field"] == "encoder" and spec["encoding"]["column"]["field"] == "encoding"
    rows = values(spec)
    assert sum(r["n_units"] for r in rows) == 4 * 10  # explained units at the largest max_length
    render_svg(spec)


# ------------------------------------------------------------------------------------ one neuron


@pytest.fixture
def unit():
    rng = np.random.default_rng(2)
    acts = np.maximum(rng.normal(size=300), 0)
    concept = acts > 1.0
    masks = {"hyp:tok:man": concept, "pre:tag:NN": rng.random(300) < 0.5}
    masks["(hyp:tok:man OR pre:tag:NN)"] = masks["hyp:tok:man"] | masks["pre:tag:NN"]
    pairs = pd.DataFrame({"pair_id": range(300), "premise": "a man", "hypothesis": "a person",
                          "label": np.array(LABELS)[rng.integers(0, 3, 300)]})
    return acts, masks, pairs, rng.integers(0, 3, 300)


def test_conditional_probability_chart(unit):
    acts, masks, _, _ = unit
    frame = single_neurons.conditional_probability(acts, masks)
    spec = check_common(unit_plots.conditional_probability(frame, "unit 7: (hyp:tok:man OR pre:tag:NN)"))
    assert spec["title"]["text"] == "unit 7: (hyp:tok:man OR pre:tag:NN)"
    top, bottom = spec["vconcat"]
    assert sorted(mark(u) for u in units(top)) == ["line", "point"]
    point = next(u for u in units(top) if mark(u) == "point")
    assert point["encoding"]["y"]["field"] == "share" and point["encoding"]["color"]["field"] == "concept"
    assert {"concept", "bin_label", "share", "n_pairs"} <= tooltip_fields(point)
    assert mark(bottom) == "bar" and bottom["encoding"]["y"]["field"] == "n_pairs"
    rows = values(spec)
    assert {r["concept"] for r in rows} == set(masks)
    assert any(r["bin_label"] == single_neurons.ZERO_BIN_LABEL and r["x_high"] == 0 for r in rows)
    render_svg(spec)


def test_activation_spectrum_chart(unit):
    acts, _, pairs, pred = unit
    frame = single_neurons.activation_spectrum(acts, pairs, pred)
    spec = check_common(unit_plots.activation_spectrum(frame, "unit 7"))
    top, bottom = spec["vconcat"]
    assert mark(top) == "bar" and mark(bottom) == "bar"
    assert bottom["encoding"]["color"]["field"] == "gold"
    assert {"gold", "n_pairs", "accuracy"} <= tooltip_fields(bottom)
    rows = values(spec)
    assert sum(r["n_pairs"] for r in rows) == len(acts)  # every pair counted once
    zero = [r for r in rows if not r["firing"]]
    assert sum(r["n_pairs"] for r in zero) == np.count_nonzero(acts == 0)
    render_svg(spec)


def test_charts_do_not_depend_on_altair_global_settings(results_with_accuracy):
    big = pd.concat([results_with_accuracy] * 80, ignore_index=True)  # 6,400 points: past Altair's default limit
    big["neuron"] = np.arange(len(big))
    with alt.data_transformers.enable("default", max_rows=5000):
        spec = plots.acc_vs_iou(big).to_dict()
    assert len(values(spec)) > 5000
