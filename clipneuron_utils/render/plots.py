"""Altair charts of the paper's two questions, drawn from the tidy frames of :mod:`..stats`.

Every function returns a chart object (never shows or saves it). Data are embedded inline as plain
JSON records (``alt.InlineData``, NaN → null), so a chart needs no URL, no file and no
``max_rows`` setting, and Altair moves them to the spec's top-level ``datasets``. Every mark a reader
can point at has a tooltip. Single units are drawn by :mod:`.unit_plots`, the matched null by
:mod:`.null_plots`.

:func:`acc_vs_iou` — one panel per encoder × concept encoding × ``max_length``: a wrapped facet with
one column per ``max_length`` (so rows are encoder × encoding), because each panel's header must carry
that panel's own r and p (row/column headers could only carry the row's or column's value). Points and
the least-squares line are two layers over one top-level dataset (rows of ``kind`` ``"neuron"`` and
``"fit"``), which is what a faceted layer chart needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..stats import contribution, tidy
from .chart_parts import columnar_records, header_label_expr, inline_data, check_columns, round_columns, short_formula
from .numbers import format_p, format_r


KEYS = ("encoder", "encoding", "max_length")


_POINT_TOOLTIPS = {
    "neuron": alt.Tooltip("neuron:Q", title="neuron"),
    "formula": alt.Tooltip("formula:N", title="formula"),
    "iou": alt.Tooltip("iou:Q", format=".3f", title="IoU"),
    "acc_when_firing": alt.Tooltip("acc_when_firing:Q", format=".3f", title="accuracy when firing"),
    "n_fires": alt.Tooltip("n_fires:Q", title="fires on (pairs)"),
}


_MULTILINE = "split(datum.value, '\\n')"  # header labels hold "\n" between lines


def _present(frame: pd.DataFrame, keys: Sequence[str] = KEYS) -> list[str]:
    return [k for k in keys if k in frame.columns]


def stats_label(row) -> str:
    """``r = -0.213, p = 0.004 (n = 120)`` from a correlation row."""
    return f"r = {format_r(row['pearson_r'])}, p = {format_p(row['pearson_p'])} (n = {int(row['n'])})"


def _key_tooltip(key: str) -> alt.Tooltip:
    return alt.Tooltip(f"{key}:{'O' if key == 'max_length' else 'N'}")


def _key_text(key: str, value) -> str:
    return f"max_length {value}" if key == "max_length" else str(value)


def acc_vs_iou(
    results_with_accuracy: pd.DataFrame,
    correlations: pd.DataFrame | None = None,
    *,
    title: str = "Accuracy when firing vs best IoU",
) -> alt.FacetChart:
    """The paper's Figures 4–5: accuracy when firing (y) vs best IoU (x), one point per explained unit.

    One panel per encoder × concept encoding × ``max_length`` (those columns that are present), with
    the least-squares line and Pearson r, p and n in the panel's header. ``correlations`` is
    :func:`contribution.iou_accuracy_correlation` of the same frame (computed when None).
    """
    check_columns(results_with_accuracy, ["neuron", "iou", "acc_when_firing"], "results_with_accuracy")
    frame = results_with_accuracy
    keys = _present(frame)
    if correlations is None:
        correlations = contribution.iou_accuracy_correlation(frame, by=keys)
    check_columns(correlations, [*keys, "n", "pearson_r", "pearson_p", "slope", "intercept"], "correlations")
    acc = pd.to_numeric(frame["acc_when_firing"], errors="coerce")
    points = frame[tidy.explained_mask(frame) & acc.notna()].copy()
    cols = [c for c in ("neuron", "formula", "iou", "acc_when_firing", "n_fires") if c in points.columns]
    points = points[keys + cols]

    panels = correlations.sort_values(keys).reset_index(drop=True) if keys else correlations.iloc[:1].copy()
    panels["panel_order"] = np.arange(len(panels))
    panels["stats"] = panels.apply(stats_label, axis=1)
    head = panels.apply(lambda r: " · ".join(_key_text(k, r[k]) for k in keys), axis=1) if keys else ""
    panels["panel"] = (head + "\n" + panels["stats"]) if keys else panels["stats"]
    points = points.merge(panels[keys + ["panel_order"]], on=keys, how="inner") if keys else points.assign(panel_order=0)

    lines = []
    for order, group in points.groupby("panel_order", sort=True):
        first = panels.iloc[int(order)]
        if not (math.isfinite(first["slope"]) and math.isfinite(first["intercept"])):
            continue
        for x in (group["iou"].min(), group["iou"].max()):
            lines.append({"panel_order": int(order), "stats": first["stats"], "slope": first["slope"],
                          "intercept": first["intercept"], "iou": x,
                          "acc_when_firing": first["intercept"] + first["slope"] * x, "kind": "fit"})
    # points carry only what their tooltip prints, as one record of arrays per panel (flattened by the chart:
    # page weight); the panel's name and statistics are in its header and in the fitted line's tooltip
    if "formula" in points:
        points["formula"] = points["formula"].map(short_formula)
    arrays = [c for c in cols if c in points]
    points = round_columns(points.drop(columns=keys), ["iou", "acc_when_firing"], 3)
    records = columnar_records(points, ["panel_order"], arrays, kind="neuron")
    for line in pd.DataFrame(lines).groupby("panel_order", sort=True) if lines else []:
        order, sub = line
        first = sub.iloc[0]
        records += columnar_records(sub.round({"iou": 4, "acc_when_firing": 4}), [], ["iou", "acc_when_firing"], arrays,
                             panel_order=int(order), stats=first["stats"], slope=round(float(first["slope"]), 4),
                             intercept=round(float(first["intercept"]), 4), kind="fit")
    data = pd.DataFrame(records)

    x = alt.X("iou:Q", title="best IoU", scale=alt.Scale(zero=False, nice=True), axis=alt.Axis(tickCount=5))
    y = alt.Y("acc_when_firing:Q", title="accuracy when firing", scale=alt.Scale(zero=False, nice=True))
    base = alt.Chart()
    dots = base.mark_circle(size=24, opacity=0.5).encode(
        x=x, y=y, tooltip=[_POINT_TOOLTIPS[c] for c in _POINT_TOOLTIPS if c in points.columns],
    ).transform_filter(alt.datum.kind == "neuron")
    fit = base.mark_line(color="#d62728", strokeWidth=2).encode(
        x=x, y=y,
        tooltip=[alt.Tooltip("stats:N", title="Pearson"), alt.Tooltip("slope:Q", format=".3f"),
                 alt.Tooltip("intercept:Q", format=".3f")],
    ).transform_filter(alt.datum.kind == "fit")
    subtitle = "one point per explained unit; red: least-squares line; axes fitted to each panel's units"
    if len(panels) == 1:  # a single panel: its statistics belong in the title too
        subtitle += f"; {panels['stats'].iloc[0]}"
    n_columns = int(frame["max_length"].nunique()) if "max_length" in keys else 1
    labels = {int(r.panel_order): r.panel for r in panels.itertuples()}
    return alt.layer(dots, fit).properties(width=300, height=220).facet(
        facet=alt.Facet("panel_order:O", sort="ascending",
                        header=alt.Header(title=None, labelExpr=header_label_expr(labels), labelLimit=0, labelFontSize=11)),
        columns=max(n_columns, 1), data=inline_data(data),
    ).transform_flatten(arrays).resolve_scale(x="independent", y="independent").properties(
        title=alt.Title(title, subtitle=subtitle))


def mean_iou_by_length(table: pd.DataFrame, *, title: str = "Mean best IoU by maximum formula length") -> alt.LayerChart:
    """Mean best IoU (± 1 sem) against ``max_length``; colour = encoder, dash and shape = encoding.

    ``table`` is :func:`compositionality.mean_iou_by_length`.
    """
    check_columns(table, ["max_length", "mean_iou", "sem"], "table")
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
    base = alt.Chart(inline_data(frame))
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


def iou_histogram(results: pd.DataFrame, max_length: int | None = None, bins: int = 20,
                  *, title: str = "Distribution of best IoU") -> alt.Chart:
    """Histogram of explained units' best IoU per encoder (rows) × concept encoding (columns).

    At one ``max_length`` (the largest in ``results`` by default).
    """
    check_columns(results, ["iou"], "results")
    frame = results
    if "max_length" in frame:
        max_length = int(frame["max_length"].max()) if max_length is None else int(max_length)
        frame = frame[frame["max_length"] == max_length]
    keys = _present(frame, ("encoder", "encoding"))
    explained = frame[tidy.explained_mask(frame)]
    top = float(explained["iou"].max()) if len(explained) else 1.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, int(bins) + 1)
    rows = []
    for key, sub in tidy.iter_groups(explained, keys):
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
    return alt.Chart(inline_data(hist)).mark_bar().encode(
        x=alt.X("iou_low:Q", title="best IoU", bin="binned"),
        x2="iou_high:Q",
        y=alt.Y("n_units:Q", title="units"),
        tooltip=[*(_key_tooltip(k) for k in keys), alt.Tooltip("iou_low:Q", format=".3f", title="IoU from"),
                 alt.Tooltip("iou_high:Q", format=".3f", title="IoU to"), alt.Tooltip("n_units:Q", title="units")],
        **enc,
    ).properties(title=alt.Title(title, subtitle=subtitle), width=260, height=140)


__all__ = ["acc_vs_iou", "mean_iou_by_length", "conditional_probability", "activation_spectrum", "iou_histogram",
           "stats_label"]


__all__ += ["iou_against_null", "acc_vs_excess_iou", "iou_vs_firing"]
