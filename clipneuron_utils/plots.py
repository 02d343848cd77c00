"""Altair charts for the results chapters, drawn from the tidy frames of :mod:`.analysis`.

Every function returns a chart object (never shows or saves it). Data are embedded inline as plain
JSON records (``alt.InlineData``, NaN → null), so a chart needs no URL, no file and no
``max_rows`` setting, and Altair moves them to the spec's top-level ``datasets``. Every mark a reader
can point at has a tooltip.

Layout choices:

* :func:`acc_vs_iou` — one panel per encoder × concept encoding × ``max_length``: a wrapped facet
  with one column per ``max_length`` (so rows are encoder × encoding), because each panel's header
  must carry that panel's own r and p (row/column headers could only carry the row's or column's
  value). Points and the least-squares line are two layers over one top-level dataset (rows of
  ``kind`` ``"neuron"`` and ``"fit"``), which is what a faceted layer chart needs.
* :func:`conditional_probability`, :func:`activation_spectrum` — two panels sharing the activation axis;
  counts on a symlog axis (the not-firing bin is usually far larger than the others). That bin has no
  width on the activation axis, so it is drawn as a half-bin slot just left of 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from . import analysis

KEYS = ("encoder", "encoding", "max_length")
LABEL_COLORS = {"entailment": "#1b9e77", "neutral": "#7570b3", "contradiction": "#d95f02"}
_POINT_TOOLTIPS = {
    "neuron": alt.Tooltip("neuron:Q", title="neuron"),
    "formula": alt.Tooltip("formula:N", title="formula"),
    "iou": alt.Tooltip("iou:Q", format=".3f", title="IoU"),
    "acc_when_firing": alt.Tooltip("acc_when_firing:Q", format=".3f", title="accuracy when firing"),
    "n_fires": alt.Tooltip("n_fires:Q", title="fires on (pairs)"),
}
_MULTILINE = "split(datum.value, '\\n')"  # header labels hold "\n" between lines


def _inline(frame: pd.DataFrame) -> alt.InlineData:
    """Inline records; JSON via pandas turns NaN/NA into null, numpy scalars into numbers.

    Six decimals are far beyond what a chart draws or a tooltip prints (at most four), and nulls are
    left out: both keep pages with thousands of points light.
    """
    records = json.loads(frame.to_json(orient="records", double_precision=6))
    # a missing field reads as null in Vega: layers with other columns (points vs fitted lines) need not carry them
    return alt.InlineData(values=[{k: v for k, v in r.items() if v is not None} for r in records])


def _present(frame: pd.DataFrame, keys: Sequence[str] = KEYS) -> list[str]:
    return [k for k in keys if k in frame.columns]


_need = analysis._columns  # one check of a frame's columns for the tables and the charts


def format_r(r: float) -> str:
    return "n/a" if r is None or not math.isfinite(r) else f"{r:.3f}"


def format_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def stats_label(row) -> str:
    """``r = -0.213, p = 0.004 (n = 120)`` from a correlation row."""
    return f"r = {format_r(row['pearson_r'])}, p = {format_p(row['pearson_p'])} (n = {int(row['n'])})"


def _key_tooltip(key: str) -> alt.Tooltip:
    return alt.Tooltip(f"{key}:{'O' if key == 'max_length' else 'N'}")


def _key_text(key: str, value) -> str:
    return f"max_length {value}" if key == "max_length" else str(value)


# ------------------------------------------------------------------------------ accuracy vs IoU


def acc_vs_iou(
    results_with_accuracy: pd.DataFrame,
    correlations: pd.DataFrame | None = None,
    *,
    title: str = "Accuracy when firing vs best IoU",
) -> alt.FacetChart:
    """The paper's Figures 4–5: accuracy when firing (y) vs best IoU (x), one point per explained unit.

    One panel per encoder × concept encoding × ``max_length`` (those columns that are present), with
    the least-squares line and Pearson r, p and n in the panel's header. ``correlations`` is
    :func:`analysis.iou_accuracy_correlation` of the same frame (computed when None).
    """
    _need(results_with_accuracy, ["neuron", "iou", "acc_when_firing"], "results_with_accuracy")
    frame = results_with_accuracy
    keys = _present(frame)
    if correlations is None:
        correlations = analysis.iou_accuracy_correlation(frame, by=keys)
    _need(correlations, [*keys, "n", "pearson_r", "pearson_p", "slope", "intercept"], "correlations")
    acc = pd.to_numeric(frame["acc_when_firing"], errors="coerce")
    points = frame[analysis._explained(frame) & acc.notna()].copy()
    cols = [c for c in ("neuron", "formula", "iou", "acc_when_firing", "n_fires") if c in points.columns]
    points = points[keys + cols]
    points["kind"] = "neuron"

    panels = correlations.sort_values(keys).reset_index(drop=True) if keys else correlations.iloc[:1].copy()
    panels["panel_order"] = np.arange(len(panels))
    panels["stats"] = panels.apply(stats_label, axis=1)
    head = panels.apply(lambda r: " · ".join(_key_text(k, r[k]) for k in keys), axis=1) if keys else ""
    panels["panel"] = (head + "\n" + panels["stats"]) if keys else panels["stats"]
    panel_cols = ["panel", "panel_order", "stats", "slope", "intercept"]
    points = points.merge(panels[keys + panel_cols], on=keys, how="inner") if keys else points.assign(
        **{c: panels[c].iloc[0] for c in panel_cols}
    )

    lines = []
    for _, group in points.groupby("panel_order", sort=True):
        first = group.iloc[0]
        if not (math.isfinite(first["slope"]) and math.isfinite(first["intercept"])):
            continue
        for x in (group["iou"].min(), group["iou"].max()):
            lines.append({**{k: first[k] for k in keys + panel_cols}, "iou": x,
                          "acc_when_firing": first["intercept"] + first["slope"] * x, "kind": "fit"})
    # the fit's statistics are drawn only by the line's tooltip: points carry just their panel (page weight)
    data = pd.concat([points.drop(columns=["stats", "slope", "intercept"]),
                      pd.DataFrame(lines, columns=[*keys, *panel_cols, "iou", "acc_when_firing", "kind"])],
                     ignore_index=True)

    x = alt.X("iou:Q", title="best IoU", scale=alt.Scale(zero=True), axis=alt.Axis(tickCount=5))
    y = alt.Y("acc_when_firing:Q", title="accuracy when firing", scale=alt.Scale(domain=[0, 1]))
    base = alt.Chart()
    dots = base.mark_circle(size=28, opacity=0.6).encode(
        x=x, y=y,
        tooltip=[_POINT_TOOLTIPS[c] for c in _POINT_TOOLTIPS if c in points.columns] + [_key_tooltip(k) for k in keys],
    ).transform_filter(alt.datum.kind == "neuron")
    fit = base.mark_line(color="#d62728", strokeWidth=2).encode(
        x=x, y=y,
        tooltip=[alt.Tooltip("stats:N", title="Pearson"), alt.Tooltip("slope:Q", format=".3f"),
                 alt.Tooltip("intercept:Q", format=".3f")],
    ).transform_filter(alt.datum.kind == "fit")
    subtitle = "one point per explained unit; red: least-squares line"
    if len(panels) == 1:  # a single panel: its statistics belong in the title too
        subtitle += f"; {panels['stats'].iloc[0]}"
    n_columns = int(points["max_length"].nunique()) if "max_length" in points.columns else 1
    return alt.layer(dots, fit, data=_inline(data)).properties(width=200, height=170).facet(
        facet=alt.Facet("panel:N", sort=alt.SortField("panel_order"),
                        header=alt.Header(title=None, labelExpr=_MULTILINE, labelLimit=0, labelFontSize=11)),
        columns=max(n_columns, 1),
    ).properties(title=alt.Title(title, subtitle=subtitle))


# ------------------------------------------------------------------------- mean IoU by length


def mean_iou_by_length(table: pd.DataFrame, *, title: str = "Mean best IoU by maximum formula length") -> alt.LayerChart:
    """Mean best IoU (± 1 sem) against ``max_length``; colour = encoder, dash and shape = encoding.

    ``table`` is :func:`analysis.mean_iou_by_length`.
    """
    _need(table, ["max_length", "mean_iou", "sem"], "table")
    frame = table.copy()
    sem = frame["sem"].fillna(0.0)
    frame["iou_low"], frame["iou_high"] = frame["mean_iou"] - sem, frame["mean_iou"] + sem
    x = alt.X("max_length:O", title="maximum formula length (atoms)", axis=alt.Axis(labelAngle=0))
    y = alt.Y("mean_iou:Q", title="mean best IoU (explained units)")
    enc: dict = {}
    if "encoder" in frame:
        enc["color"] = alt.Color("encoder:N", title="encoder")
    if "encoding" in frame:
        enc["strokeDash"] = alt.StrokeDash("encoding:N", title="concept encoding")
    detail = [f"{k}:N" for k in _present(frame, ("encoder", "encoding"))]
    tooltip = [_key_tooltip(k) for k in _present(frame, ("encoder", "encoding"))] + [
        alt.Tooltip("max_length:O"), alt.Tooltip("mean_iou:Q", format=".4f"), alt.Tooltip("sem:Q", format=".4f"),
    ] + [alt.Tooltip(f"{c}:Q") for c in ("n_explained", "n_units") if c in frame]
    base = alt.Chart(_inline(frame))
    line = base.mark_line().encode(x=x, y=y, tooltip=tooltip, **enc)
    point_enc = {k: v for k, v in enc.items() if k == "color"}
    points = base.mark_point(filled=True, size=60).encode(x=x, y=y, tooltip=tooltip, **point_enc)
    bars = base.mark_rule().encode(
        x=x, y=alt.Y("iou_low:Q", title="mean best IoU (explained units)"), y2="iou_high:Q",
        tooltip=tooltip, **{k: v for k, v in enc.items() if k == "color"},
    )
    layers = [bars, line.encode(detail=detail) if detail else line, points]
    return alt.layer(*layers).properties(
        title=alt.Title(title, subtitle="error bars: ± 1 standard error of the mean"), width=360, height=240
    )


# ---------------------------------------------------------------------- one neuron: Goh et al.


def _sd_axis_title(frame: pd.DataFrame) -> str:
    origin = frame.attrs.get("origin", "zero")
    return f"activation (standard deviations from {'zero' if origin == 'zero' else 'the mean'})"


def _bin_geometry(bins: pd.DataFrame) -> pd.DataFrame:
    """Drawing extent per bin: firing bins span ``[bin_low, bin_high)``; the not-firing bin, which has
    no width on the activation axis, is drawn as a slot of half a bin just left of activation 0 (so it
    never hides the first firing bin). ``x_mid`` is where its point goes."""
    out = bins.copy()
    firing = out["firing"].astype(bool) if "firing" in out else pd.Series(True, index=out.index)
    widths = (out["bin_high"] - out["bin_low"])[firing]
    width = float(widths.max()) if len(widths) and widths.max() > 0 else 0.5
    out["x_low"] = np.where(firing, out["bin_low"], out["bin_low"] - width / 2)
    out["x_high"] = np.where(firing, out["bin_high"], out["bin_low"])
    out["x_mid"] = (out["x_low"] + out["x_high"]) / 2
    return out


_NOT_FIRING_NOTE = "the slot just left of 0 holds the pairs where the unit does not fire"


def conditional_probability(frame: pd.DataFrame, title: str = "Conditional probability") -> alt.VConcatChart:
    """Share of pairs in which each concept holds per activation bin (top), pairs per bin (below).

    ``frame`` is :func:`analysis.conditional_probability` (one row per bin × concept). Points of the
    not-firing bin are hollow squares, drawn left of activation 0; tooltips name every bin.
    """
    _need(frame, ["bin_low", "bin_high", "bin_label", "concept", "share", "n_pairs", "n_concept"], "frame")
    data = _bin_geometry(frame)
    if "concept_order" not in data:
        data["concept_order"] = pd.factorize(data["concept"])[0]
    if "firing" not in data:
        data["firing"] = True
    data["fires"] = np.where(data["firing"].astype(bool), "fires", "does not fire")
    x = alt.X("x_mid:Q", title=_sd_axis_title(frame))
    tooltip = [alt.Tooltip("concept:N"), alt.Tooltip("bin_label:N", title="activation bin"),
               alt.Tooltip("share:Q", format=".3f"), alt.Tooltip("n_concept:Q", title="pairs with concept"),
               alt.Tooltip("n_pairs:Q", title="pairs in bin")]
    color = alt.Color("concept:N", title="concept", sort=alt.SortField("concept_order"),
                      legend=alt.Legend(labelLimit=0))
    y = alt.Y("share:Q", title="share of pairs where it holds", scale=alt.Scale(domain=[0, 1]))
    base = alt.Chart()
    lines = base.mark_line().encode(x=x, y=y, color=color, detail="concept:N")
    points = base.mark_point(size=60, filled=True).encode(
        x=x, y=y, color=color, tooltip=tooltip,
        shape=alt.Shape("fires:N", title="unit", sort=["does not fire", "fires"],
                        scale=alt.Scale(domain=["does not fire", "fires"], range=["square", "circle"]),
                        ),
    )
    shares = alt.layer(lines, points).properties(width=480, height=240)
    counts = base.transform_aggregate(
        n_pairs="max(n_pairs)", groupby=["x_low", "x_high", "bin_label", "fires"]
    ).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("x_low:Q", bin="binned", title=_sd_axis_title(frame)), x2="x_high:Q",
        y=alt.Y("n_pairs:Q", title="pairs in bin", scale=alt.Scale(type="symlog")),
        color=alt.Color("fires:N", title="unit", scale=alt.Scale(domain=["does not fire", "fires"],
                                                                  range=["#bbbbbb", "#555555"]), legend=None),
        tooltip=[alt.Tooltip("bin_label:N", title="activation bin"), alt.Tooltip("n_pairs:Q", title="pairs in bin")],
    ).properties(width=480, height=90)
    return alt.vconcat(shares, counts, data=_inline(data)).resolve_scale(
        x="shared", y="independent", color="independent"
    ).properties(title=alt.Title(title, subtitle=f"per activation bin; {_NOT_FIRING_NOTE}"))


def activation_spectrum(frame: pd.DataFrame, title: str = "Activation spectrum") -> alt.VConcatChart:
    """Every probe pair's activation: pairs per activation bin (top), their gold labels' shares (below).

    ``frame`` is :func:`analysis.activation_spectrum`. Counts are on a symlog axis so that the
    not-firing bin and the rare strongest activations show on one chart; the lower panel shows, per
    bin, the share of each gold label (stacked to 1), so a unit tied to one class shows that colour
    taking over as activation grows. Tooltips give counts, the activation range and, with predictions,
    the model's accuracy.
    """
    _need(frame, ["bin_low", "bin_high", "bin_label", "firing", "gold", "activation"], "frame")
    group = ["bin_low", "bin_high", "bin_label", "firing", "gold"]
    agg = {"n_pairs": ("activation", "size"), "act_min": ("activation", "min"), "act_max": ("activation", "max")}
    if "correct" in frame:
        agg["accuracy"] = ("correct", "mean")
    counts = frame.groupby(group, sort=True).agg(**agg).reset_index()
    counts["bin_pairs"] = counts.groupby(["bin_low", "bin_high", "firing"])["n_pairs"].transform("sum")
    counts["label_share"] = counts["n_pairs"] / counts["bin_pairs"]
    counts = _bin_geometry(counts)
    bin_tooltip = [alt.Tooltip("bin_label:N", title="activation bin"), alt.Tooltip("bin_pairs:Q", title="pairs in bin")]
    x = alt.X("x_low:Q", bin="binned", title=_sd_axis_title(frame))
    base = alt.Chart()
    total = base.transform_aggregate(
        bin_pairs="max(bin_pairs)", groupby=["x_low", "x_high", "bin_label"]
    ).mark_bar(color="#555555", stroke="white", strokeWidth=0.5).encode(
        x=x, x2="x_high:Q", y=alt.Y("bin_pairs:Q", title="pairs", scale=alt.Scale(type="symlog")),
        tooltip=bin_tooltip,
    ).properties(width=480, height=160)
    labels = [label for label in LABEL_COLORS if label in set(counts["gold"])]
    tooltip = [alt.Tooltip("bin_label:N", title="activation bin"), alt.Tooltip("gold:N", title="gold label"),
               alt.Tooltip("n_pairs:Q", title="pairs"), alt.Tooltip("label_share:Q", format=".3f", title="share of bin"),
               alt.Tooltip("act_min:Q", format=".3f", title="min activation"),
               alt.Tooltip("act_max:Q", format=".3f", title="max activation")]
    if "accuracy" in counts:
        tooltip.append(alt.Tooltip("accuracy:Q", format=".3f", title="model accuracy"))
    shares = base.mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=x, x2="x_high:Q",
        y=alt.Y("label_share:Q", title="share of gold labels", stack="zero", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("gold:N", title="gold label", sort=labels,
                        scale=alt.Scale(domain=labels, range=[LABEL_COLORS[label] for label in labels])),
        order=alt.Order("gold_order:Q"),
        tooltip=tooltip,
    ).transform_calculate(
        gold_order=f"indexof({json.dumps(list(LABEL_COLORS))}, datum.gold)"
    ).properties(width=480, height=120)
    return alt.vconcat(total, shares, data=_inline(counts)).resolve_scale(x="shared").properties(
        title=alt.Title(title, subtitle=f"all probe pairs; {_NOT_FIRING_NOTE}")
    )


# --------------------------------------------------------------------------------- IoU histogram


def iou_histogram(results: pd.DataFrame, max_length: int | None = None, bins: int = 20,
                  *, title: str = "Distribution of best IoU") -> alt.Chart:
    """Histogram of explained units' best IoU per encoder (rows) × concept encoding (columns).

    At one ``max_length`` (the largest in ``results`` by default).
    """
    _need(results, ["iou"], "results")
    frame = results
    if "max_length" in frame:
        max_length = int(frame["max_length"].max()) if max_length is None else int(max_length)
        frame = frame[frame["max_length"] == max_length]
    keys = _present(frame, ("encoder", "encoding"))
    explained = frame[analysis._explained(frame)]
    top = float(explained["iou"].max()) if len(explained) else 1.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, int(bins) + 1)
    rows = []
    for key, sub in analysis._groups(explained, keys):
        counts, _ = np.histogram(sub["iou"].to_numpy(float), bins=edges)
        for low, high, count in zip(edges[:-1], edges[1:], counts):
            rows.append({**key, "iou_low": low, "iou_high": high, "n_units": int(count)})
    hist = pd.DataFrame(rows, columns=[*keys, "iou_low", "iou_high", "n_units"])
    enc = {}
    if "encoder" in keys:
        enc["row"] = alt.Row("encoder:N", title="encoder")
    if "encoding" in keys:
        enc["column"] = alt.Column("encoding:N", title="concept encoding")
    subtitle = f"explained units, max_length {max_length}" if max_length is not None else "explained units"
    return alt.Chart(_inline(hist)).mark_bar().encode(
        x=alt.X("iou_low:Q", title="best IoU", bin="binned"),
        x2="iou_high:Q",
        y=alt.Y("n_units:Q", title="units"),
        tooltip=[*(_key_tooltip(k) for k in keys), alt.Tooltip("iou_low:Q", format=".3f", title="IoU from"),
                 alt.Tooltip("iou_high:Q", format=".3f", title="IoU to"), alt.Tooltip("n_units:Q", title="units")],
        **enc,
    ).properties(title=alt.Title(title, subtitle=subtitle), width=260, height=140)


__all__ = ["acc_vs_iou", "mean_iou_by_length", "conditional_probability", "activation_spectrum", "iou_histogram",
           "stats_label", "format_r", "format_p"]
