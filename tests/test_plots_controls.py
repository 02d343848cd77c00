"""Charts of the controls (matched null, excess IoU, firing count): structure, page weight, rendering."""

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.render import null_plots
from test_plots import check_common, mark, render_svg, units, walk

ENCODERS = ("clip", "lstm", "bow")
MIN_PANEL_WIDTH = 260


# ---------------------------------------------------------------------------------------- data


def make_scored(encoders=ENCODERS, seeds=(0, 1), encodings=("standard", "wordnet"), lengths=(1, 2, 3), n_units=40,
                share_explained=0.9, seed=0):
    """One row per encoder × seed × encoding × max_length × unit, as the pipeline scores them.

    Best IoU lies in 0.45–0.8, the matched null in 0.3–0.45 growing with firing count, accuracy when
    firing in 0.45–0.8 falling with excess IoU.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for encoder in encoders:
        for s in seeds:
            for encoding in encodings:
                for length in lengths:
                    n_fires = rng.integers(5, 4000, n_units)
                    null = 0.3 + 0.15 * np.log(n_fires) / np.log(4000)
                    iou = np.clip(null + 0.12 + 0.03 * length + rng.normal(0, 0.05, n_units), 0.45, 0.8)
                    explained = rng.random(n_units) < share_explained
                    acc = np.clip(0.7 - 0.4 * (iou - null) + rng.normal(0, 0.04, n_units), 0.45, 0.8)
                    atom = "(hyp:tok:man AND NOT pre:tok:woman)"
                    formula = " OR ".join([atom] * length)  # > 80 characters at length 3
                    parts.append(pd.DataFrame(dict(
                        encoder=encoder, seed=s, encoding=encoding, max_length=length, neuron=np.arange(n_units),
                        iou=np.where(explained, iou, np.nan), explained=explained, n_fires=n_fires,
                        acc_when_firing=acc, null_mean_iou=np.where(explained, null, np.nan),
                        excess_iou=np.where(explained, iou - null, np.nan),
                        formula=np.where(explained, formula, None),
                    )))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def scored():
    return make_scored()


@pytest.fixture(scope="module")
def summary(scored):
    """The long frame of ``analysis.iou_summary``: mean and 95% CI per encoder × encoding × max_length × measure."""
    explained = scored[scored["explained"]].copy()
    explained["iou_paper"] = explained["iou"]
    rows = []
    for (encoder, encoding, length), sub in explained.groupby(["encoder", "encoding", "max_length"]):
        for measure in ("iou", "null_mean_iou", "excess_iou", "iou_paper"):
            v = sub[measure].to_numpy(float)
            sem = v.std(ddof=1) / np.sqrt(len(v))
            rows.append(dict(encoder=encoder, encoding=encoding, max_length=length, measure=measure, mean=v.mean(),
                             ci_low=v.mean() - 1.96 * sem, ci_high=v.mean() + 1.96 * sem,
                             seed_sd=sub.groupby("seed")[measure].mean().std(), n_seeds=sub["seed"].nunique(),
                             n_explained=len(v), n_units=80))
    return pd.DataFrame(rows)


P_HOLM = {"clip": 3.2e-05, "lstm": 0.0123, "bow": 0.5}


@pytest.fixture(scope="module")
def correlations(scored):
    """The long frame of ``analysis.firing_confound``; only the Pearson "excess IoU ~ accuracy" rows are drawn."""
    rows = []
    explained = scored[scored["explained"]]
    for (encoder, encoding, length), sub in explained.groupby(["encoder", "encoding", "max_length"]):
        r = float(np.corrcoef(sub["excess_iou"], sub["acc_when_firing"])[0, 1])
        for test in ("IoU ~ accuracy", "excess IoU ~ accuracy", "IoU ~ log firing count"):
            for method in ("pearson", "spearman"):
                drawn = test == "excess IoU ~ accuracy" and method == "pearson"
                value = r if drawn else 0.987
                rows.append(dict(encoder=encoder, encoding=encoding, max_length=length, test=test, method=method,
                                 r=value, ci_low=value - 0.05, ci_high=value + 0.05, p=P_HOLM[encoder] / 3,
                                 p_holm=P_HOLM[encoder] if drawn else 0.999, n=len(sub)))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------- helpers


def data_fields(spec):
    return {k for rows in spec["datasets"].values() for row in rows for k in row}


def used_fields(spec):
    """Fields a spec draws, shows in a tooltip, facets, sorts, flattens or filters on."""
    used = set()
    for node in walk({k: v for k, v in spec.items() if k != "datasets"}):
        if isinstance(node, dict):
            if isinstance(node.get("field"), str):
                used.add(node["field"])
            for key in ("flatten", "groupby"):
                if isinstance(node.get(key), list):
                    used.update(node[key])
        elif isinstance(node, str):
            used.update(re.findall(r"datum\.(\w+)", node))
    return used


def check_controls(chart):
    """Common checks plus: a tooltip on every mark, only drawn fields inline, panels wide enough, legends whole."""
    spec = check_common(chart)
    for unit in units(spec):
        assert "tooltip" in unit.get("encoding", {}), f"{mark(unit)} mark without tooltip"
    extra = data_fields(spec) - used_fields(spec)
    assert not extra, f"inline data carry fields that are not drawn: {extra}"
    assert spec["facet"]["field"] == "encoder" and spec["columns"] == 3
    assert spec["spec"]["width"] >= MIN_PANEL_WIDTH
    assert spec["facet"]["header"]["labelLimit"] == 0
    for node in walk(spec):
        if isinstance(node, dict) and isinstance(node.get("legend"), dict):
            assert node["legend"].get("labelLimit") == 0, "legend labels must never be truncated"
    return spec


def layer_marks(spec):
    return [mark(u) for u in spec["spec"]["layer"]]


def channel_legends(spec):
    return [(ch, enc) for u in units(spec) for ch, enc in u.get("encoding", {}).items()
            if ch in ("color", "strokeDash", "shape", "size", "opacity") and isinstance(enc, dict) and "field" in enc]


def axis_range(svg, axis):
    """(low, high) of the first ``axis`` ("X"/"Y") axis in a rendered SVG, from its aria label."""
    number = r"([-\u2212\d.,]+)"  # Vega writes negative numbers with a minus sign (U+2212)
    found = re.search(rf"{axis}-axis titled '.*?' for a (?:linear|log) scale with values from {number} to {number}", svg)
    assert found, f"no {axis} axis"
    return tuple(float(v.replace(",", "").replace("\u2212", "-")) for v in found.groups())


def rendered(svg, kind):
    """Number of items drawn by chart marks (not legends or axes) of ``kind`` ("symbol", "line", ...)."""
    root = ET.fromstring(svg)
    return sum(len(list(g)) for g in root.iter("{http://www.w3.org/2000/svg}g")
               if g.get("class", "").startswith(f"mark-{kind} role-mark"))


def selected(frame, max_length=1, encoding="standard"):
    return frame[(frame.max_length == max_length) & (frame.encoding == encoding) & frame.explained]


# -------------------------------------------------------------------------- IoU against the null


def test_iou_against_null_structure(summary):
    spec = check_controls(null_plots.iou_against_null(summary))
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert sorted(layer_marks(spec)) == ["area", "line", "point", "point", "rule"]
    area, line = spec["spec"]["layer"][:2]
    assert mark(area) == "area" and area["encoding"]["y"]["field"] == "ci_low"
    assert area["encoding"]["y2"]["field"] == "ci_high" and area["mark"]["opacity"] < 0.3
    assert "matched null" in json.dumps(area["transform"])
    assert line["encoding"]["color"]["field"] == "encoding" and line["encoding"]["strokeDash"]["field"] == "series"
    for unit in units(spec):
        assert unit["encoding"]["color"]["field"] == "encoding"
        assert unit["encoding"]["y"]["scale"]["zero"] is False if "scale" in unit["encoding"]["y"] else True
    bars = next(u for u in units(spec) if mark(u) == "rule")
    assert {"encoder", "encoding", "max_length", "mean", "ci_low", "ci_high", "n_seeds"} <= {
        t["field"] for t in bars["encoding"]["tooltip"]}
    assert all(enc.get("legend") is None or enc["legend"]["labelLimit"] == 0 for _, enc in channel_legends(spec))
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "matched null" in subtitle and "95%" in subtitle and "shaded" in subtitle

    rows = [r for rows in spec["datasets"].values() for r in rows]
    assert len(rows) == 3 * 2 * 3 * 2  # encoders × encodings × lengths × (real, null): other measures dropped
    assert {r["series"] for r in rows} == {"real units", "matched null"}


def test_iou_against_null_renders_with_fitted_axes(summary):
    svg = render_svg(null_plots.iou_against_null(summary).to_dict())
    for encoder in ENCODERS:
        assert f">{encoder}<" in svg
    low, high = axis_range(svg, "Y")
    assert 0.25 <= low < 0.45 and high <= 0.85  # fitted to real (≈ 0.5–0.8) and null (≈ 0.35–0.45), not 0–1
    assert rendered(svg, "area") == 3 * 2 and rendered(svg, "rule") == 3 * 2 * 3


def test_iou_against_null_needs_both_measures(summary):
    with pytest.raises(ValueError, match="null_mean_iou"):
        null_plots.iou_against_null(summary[summary.measure != "null_mean_iou"])
    with pytest.raises(ValueError, match="ci_high"):
        null_plots.iou_against_null(summary.drop(columns="ci_high"))


# ---------------------------------------------------------------------- accuracy vs excess IoU


def test_acc_vs_excess_iou_structure(scored, correlations):
    spec = check_controls(null_plots.acc_vs_excess_iou(scored, correlations))
    assert layer_marks(spec) == ["rule", "circle", "line"]
    rule, dots, fit = spec["spec"]["layer"]
    assert rule["encoding"]["x"]["datum"] == 0
    assert dots["encoding"]["x"]["field"] == "excess_iou" and dots["encoding"]["y"]["field"] == "acc_when_firing"
    assert dots["encoding"]["y"]["scale"]["zero"] is False
    assert dots["encoding"]["color"]["field"] == "seed" and dots["encoding"]["color"]["legend"]["labelLimit"] == 0
    assert dots["mark"]["opacity"] < 0.5
    assert {"neuron", "seed", "formula", "iou", "excess_iou", "acc_when_firing", "n_fires"} <= {
        t["field"] for t in dots["encoding"]["tooltip"]}
    assert spec["transform"] == [{"flatten": ["neuron", "formula", "iou", "excess_iou", "acc_when_firing", "n_fires"]}]

    # the header carries each panel's own Pearson r [CI] and Holm-adjusted p; other tests/methods are ignored
    header = spec["facet"]["header"]["labelExpr"]
    assert "0.987" not in header and "0.999" not in header
    drawn = correlations[(correlations.test == "excess IoU ~ accuracy") & (correlations.method == "pearson")
                         & (correlations.max_length == 1) & (correlations.encoding == "standard")]
    for _, row in drawn.iterrows():
        assert f"Pearson r = {row['r']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" in header
        assert f"p_holm = {row['p_holm']:.1e}, n = {row['n']}" in header

    # one record per encoder × seed (units as arrays) and two fit records per encoder
    records = next(iter(spec["datasets"].values()))
    units_drawn = sum(len(r["neuron"]) for r in records if "fit" not in r)
    assert units_drawn == len(selected(scored))
    assert sum(1 for r in records if "fit" in r) == 3
    assert max(len(f) for r in records for f in r["formula"]) <= 80


def test_acc_vs_excess_iou_renders(scored, correlations):
    svg = render_svg(null_plots.acc_vs_excess_iou(scored, correlations, max_length=2, encoding="wordnet").to_dict())
    assert "p_holm = 3.2e-05" in svg and "Pearson r = " in svg
    assert rendered(svg, "symbol") == len(selected(scored, 2, "wordnet"))
    assert rendered(svg, "line") == 3 and rendered(svg, "rule") == 3
    low, high = axis_range(svg, "Y")
    assert 0.35 <= low <= 0.5 and high <= 0.85  # accuracy in 0.45–0.8: fitted, not from 0
    x_low, _ = axis_range(svg, "X")
    assert x_low < 0  # the rule at excess 0 is in view, clear of the axis


def test_acc_vs_excess_iou_single_seed_and_no_correlations(scored):
    one_seed = scored[scored.seed == 0]
    spec = check_controls(null_plots.acc_vs_excess_iou(one_seed))
    dots = spec["spec"]["layer"][1]
    assert "value" in dots["encoding"]["color"]  # one colour
    header = spec["facet"]["header"]["labelExpr"]
    assert "Pearson r = " in header and "p_holm" not in header


def test_acc_vs_excess_iou_errors(scored, correlations):
    with pytest.raises(ValueError, match="max_length 7"):
        null_plots.acc_vs_excess_iou(scored, correlations, max_length=7)
    with pytest.raises(ValueError, match="'glove'"):
        null_plots.acc_vs_excess_iou(scored, correlations, encoding="glove")
    with pytest.raises(ValueError, match="excess_iou"):
        null_plots.acc_vs_excess_iou(scored.drop(columns="excess_iou"))
    with pytest.raises(ValueError, match="p_holm"):
        null_plots.acc_vs_excess_iou(scored, correlations.drop(columns="p_holm"))


def test_acc_vs_excess_iou_page_weight():
    """3 encoders × 2 seeds × 1,024 units stay under 600 kB of inline data."""
    big = make_scored(seeds=(0, 1), encodings=("standard",), lengths=(1,), n_units=1024, share_explained=1.0)
    spec = null_plots.acc_vs_excess_iou(big).to_dict()
    size = len(json.dumps(spec["datasets"]))
    assert size < 600_000, size
    records = next(iter(spec["datasets"].values()))
    assert sum(len(r["neuron"]) for r in records if "fit" not in r) == 3 * 2 * 1024


# ------------------------------------------------------------------------- IoU vs firing count


def test_iou_vs_firing_structure(scored):
    spec = check_controls(null_plots.iou_vs_firing(scored))
    assert layer_marks(spec) == ["circle", "line"]  # the null is drawn over the points
    dots, null = spec["spec"]["layer"]
    assert dots["encoding"]["x"]["field"] == "n_fires" and dots["encoding"]["x"]["scale"]["type"] == "log"
    assert dots["encoding"]["y"]["field"] == "iou" and dots["encoding"]["y"]["scale"]["zero"] is False
    assert null["encoding"]["y"]["field"] == "null_mean_iou" and null["encoding"]["order"]["field"] == "n_fires"
    assert {"neuron", "seed", "iou", "null_mean_iou", "n_fires"} <= {t["field"] for t in dots["encoding"]["tooltip"]}
    records = next(iter(spec["datasets"].values()))
    curves = [r for r in records if "curve" in r]
    assert len(curves) == 3
    for curve in curves:
        assert curve["n_fires"] == sorted(curve["n_fires"]) and not curve["neuron"]
    assert sum(len(r["neuron"]) for r in records if "curve" not in r) == len(selected(scored))


def test_iou_vs_firing_renders(scored):
    svg = render_svg(null_plots.iou_vs_firing(scored, max_length=3).to_dict())
    assert rendered(svg, "symbol") == len(selected(scored, 3)) and rendered(svg, "line") == 3
    low, _ = axis_range(svg, "Y")
    assert low >= 0.2
    assert re.search(r"X-axis titled '.*?' for a log scale", svg)


def test_iou_vs_firing_errors(scored):
    with pytest.raises(ValueError, match="max_length 4"):
        null_plots.iou_vs_firing(scored, max_length=4)
    with pytest.raises(ValueError, match="'glove'"):
        null_plots.iou_vs_firing(scored, encoding="glove")
    with pytest.raises(ValueError, match="null_mean_iou"):
        null_plots.iou_vs_firing(scored.drop(columns="null_mean_iou"))
