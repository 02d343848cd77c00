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

from ..stats import compositionality, contribution, effects, single_neurons, tidy

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


_need = tidy._columns  # one check of a frame's columns for the tables and the charts


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
    :func:`contribution.iou_accuracy_correlation` of the same frame (computed when None).
    """
    _need(results_with_accuracy, ["neuron", "iou", "acc_when_firing"], "results_with_accuracy")
    frame = results_with_accuracy
    keys = _present(frame)
    if correlations is None:
        correlations = contribution.iou_accuracy_correlation(frame, by=keys)
    _need(correlations, [*keys, "n", "pearson_r", "pearson_p", "slope", "intercept"], "correlations")
    acc = pd.to_numeric(frame["acc_when_firing"], errors="coerce")
    points = frame[tidy._explained(frame) & acc.notna()].copy()
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
        points["formula"] = points["formula"].map(_short_formula)
    arrays = [c for c in cols if c in points]
    points = _round(points.drop(columns=keys), ["iou", "acc_when_firing"], 3)
    records = _columnar(points, ["panel_order"], arrays, kind="neuron")
    for line in pd.DataFrame(lines).groupby("panel_order", sort=True) if lines else []:
        order, sub = line
        first = sub.iloc[0]
        records += _columnar(sub.round({"iou": 4, "acc_when_firing": 4}), [], ["iou", "acc_when_firing"], arrays,
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
                        header=alt.Header(title=None, labelExpr=_header_expr(labels), labelLimit=0, labelFontSize=11)),
        columns=max(n_columns, 1), data=_inline(data),
    ).transform_flatten(arrays).resolve_scale(x="independent", y="independent").properties(
        title=alt.Title(title, subtitle=subtitle))


# ------------------------------------------------------------------------- mean IoU by length


def mean_iou_by_length(table: pd.DataFrame, *, title: str = "Mean best IoU by maximum formula length") -> alt.LayerChart:
    """Mean best IoU (± 1 sem) against ``max_length``; colour = encoder, dash and shape = encoding.

    ``table`` is :func:`compositionality.mean_iou_by_length`.
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

    ``frame`` is :func:`single_neurons.conditional_probability` (one row per bin × concept). Points of the
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
    # below the plot, one concept per line: a long formula is never cut and never widens the figure
    color = alt.Color("concept:N", title="concept", sort=alt.SortField("concept_order"),
                      legend=alt.Legend(labelLimit=0, orient="bottom", direction="vertical"))
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

    ``frame`` is :func:`single_neurons.activation_spectrum`. Counts are on a symlog axis so that the
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
    explained = frame[tidy._explained(frame)]
    top = float(explained["iou"].max()) if len(explained) else 1.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, int(bins) + 1)
    rows = []
    for key, sub in tidy._groups(explained, keys):
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


# -------------------------------------------------------------------------------------- controls
#
# Controls for the explanations: the real units' best IoU against a matched null (random masks that
# fire as often as the unit), accuracy against the IoU in excess of that null, and IoU against firing
# count. One panel per encoder (at most three side by side), 280 px wide each.
#
# Per-unit charts embed their points column-wise: one record per encoder × seed holding arrays
# (``neuron: [...]``, ``iou: [...]``, ...), which one ``flatten`` transform on the faceted chart turns
# back into one row per unit. Field names are then written once per record instead of once per unit,
# which keeps three encoders × three seeds × 1,024 units to about 60 bytes a unit. Lines drawn from
# few rows (least-squares fits, the null curve) are records of the same arrays, told apart by a scalar
# field that the layers filter on. Every record carries every flattened field (``[]`` where it has no
# values: Vega's flatten fails on a missing one), and the flatten is done once, before the facet,
# because flattening inside the layers of a faceted chart breaks in Vega-Lite 6 (an unknown data set,
# or scale domains that ignore the flattened rows).

_CONTROL_WIDTH, _CONTROL_HEIGHT = 280, 220
_CONTROL_COLUMNS = 3
_NULL_NOTE = "random masks with the same firing counts (matched null)"
_FORMULA_CHARS = 80
_SEED_COLOR = "#4c78a8"


def _round(frame: pd.DataFrame, columns: Sequence[str], digits: int = 4) -> pd.DataFrame:
    """Numeric ``columns`` rounded (per-unit charts keep 3 decimals: their tooltips print 3)."""
    out = frame.copy()
    for c in columns:
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").round(digits)
    return out


def _short_formula(formula) -> str | None:
    if formula is None or (isinstance(formula, float) and not math.isfinite(formula)):
        return None
    text = str(formula)
    return text if len(text) <= _FORMULA_CHARS else text[: _FORMULA_CHARS - 1] + "…"


def _columnar(frame: pd.DataFrame, keys: Sequence[str], arrays: Sequence[str], every: Sequence[str] = (),
              **scalars) -> list[dict]:
    """One record per ``keys`` group whose ``arrays`` hold the group's values as lists (for ``flatten``).

    Fields of ``every`` that the group lacks are empty lists, so each record has each flattened field;
    ``scalars`` are added to every record.
    """
    records = []
    for key, sub in tidy._groups(frame, list(keys)):
        record = {**key, **scalars, **{c: [] for c in every}}
        record.update({c: sub[c].tolist() for c in arrays})
        records.append(record)
    return records


def _header_expr(labels: dict) -> str:
    """A header ``labelExpr`` giving each facet value its own (multi-line) label; unknown values as they are."""
    expr = "datum.value"
    for value, label in reversed(list(labels.items())):
        expr = f"datum.value === {json.dumps(value)} ? {json.dumps(label.split(chr(10)))} : ({expr})"
    return expr


def _encoder_facet(encoders: Sequence, labels: dict | None = None) -> alt.Facet:
    header = alt.Header(title=None, labelLimit=0, labelFontSize=12, labelFontWeight="bold")
    if labels:
        header = alt.Header(title=None, labelLimit=0, labelFontSize=11, labelExpr=_header_expr(labels))
    return alt.Facet("encoder:N", sort=list(encoders), header=header)


def _select_units(scored: pd.DataFrame, max_length, encoding, name: str = "scored") -> pd.DataFrame:
    """Explained units at ``max_length`` and ``encoding``; ValueError naming the value that has no rows."""
    frame = scored
    if "max_length" in frame:
        present = sorted(pd.unique(frame["max_length"].dropna()).tolist())
        frame = frame[frame["max_length"] == max_length]
        if frame.empty:
            raise ValueError(f"{name} has no rows with max_length {max_length!r} (present: {present})")
    if "encoding" in frame:
        present = sorted(map(str, pd.unique(frame["encoding"].dropna())))
        frame = frame[frame["encoding"] == encoding]
        if frame.empty:
            raise ValueError(f"{name} has no rows with encoding {encoding!r} at max_length {max_length!r} "
                             f"(present: {present})")
    frame = frame[tidy._explained(frame)]
    if frame.empty:
        raise ValueError(f"{name} has no explained units at max_length {max_length!r} with encoding {encoding!r}")
    return frame


def iou_against_null(summary: pd.DataFrame, *,
                     title: str = "Mean best IoU of the explanations against a matched null") -> alt.FacetChart:
    """Mean best IoU by maximum formula length, one panel per encoder, colour = concept encoding.

    The real units' mean is a solid line with points and 95% CI bars; beneath it, in the same colour but
    light, the matched null's mean (dashed) and its CI as a shaded band, so the gap between the two is
    what the explanations add over a random mask that fires as often. ``summary`` is the long frame of
    :func:`effects.iou_summary`; only its ``"iou"`` and ``"null_mean_iou"`` measures are drawn. Each
    panel's y axis is fitted to its own data.
    """
    _need(summary, ["encoder", "encoding", "max_length", "measure", "mean", "ci_low", "ci_high", "n_seeds"], "summary")
    series = {"iou": "real units", "null_mean_iou": "matched null"}
    for measure in series:
        if not (summary["measure"] == measure).any():
            raise ValueError(f"summary has no rows with measure {measure!r}")
    data = summary[summary["measure"].isin(list(series))].copy()
    data["series"] = data["measure"].map(series)
    data = _round(data[["encoder", "encoding", "max_length", "series", "mean", "ci_low", "ci_high", "n_seeds"]],
                  ["mean", "ci_low", "ci_high"])
    encoders = list(pd.unique(data["encoder"]))
    encodings = list(pd.unique(data["encoding"]))

    x = alt.X("max_length:O", title="maximum formula length (atoms)", axis=alt.Axis(labelAngle=0))
    y_title = "mean best IoU (explained units)"
    y = alt.Y("mean:Q", title=y_title, scale=alt.Scale(zero=False, nice=True))
    color = alt.Color("encoding:N", title="concept encoding", sort=encodings,
                      legend=alt.Legend(labelLimit=0, symbolType="circle", symbolOpacity=1))
    tooltip = [alt.Tooltip("encoder:N"), alt.Tooltip("encoding:N", title="concept encoding"),
               alt.Tooltip("series:N", title="what"), alt.Tooltip("max_length:O"),
               alt.Tooltip("mean:Q", format=".4f", title="mean best IoU"),
               alt.Tooltip("ci_low:Q", format=".4f", title="95% CI low"),
               alt.Tooltip("ci_high:Q", format=".4f", title="95% CI high"),
               alt.Tooltip("n_seeds:Q", title="seeds")]
    real = alt.datum.series == "real units"
    null = alt.datum.series == "matched null"
    base = alt.Chart()
    band = base.mark_area(opacity=0.15).encode(
        x=x, y=alt.Y("ci_low:Q", title=y_title, scale=alt.Scale(zero=False, nice=True)), y2="ci_high:Q",
        color=color, detail="encoding:N",
        tooltip=[alt.Tooltip("encoder:N"), alt.Tooltip("encoding:N", title="concept encoding"),
                 alt.Tooltip("series:N", title="band: 95% CI of")],
    ).transform_filter(null)
    lines = base.mark_line().encode(
        x=x, y=y, color=color, detail="encoding:N",
        strokeDash=alt.StrokeDash("series:N", title=None, sort=list(series.values()),
                                  scale=alt.Scale(domain=list(series.values()), range=[[1, 0], [5, 3]]),
                                  legend=alt.Legend(labelLimit=0)),
        opacity=alt.Opacity("series:N", scale=alt.Scale(domain=list(series.values()), range=[1.0, 0.55]),
                            legend=None),
        # a line is one item: its tooltip can only name what is constant along it (points carry the values)
        tooltip=[alt.Tooltip("encoder:N"), alt.Tooltip("encoding:N", title="concept encoding"),
                 alt.Tooltip("series:N", title="line")],
    )
    null_points = base.mark_point(size=30, opacity=0.6).encode(
        x=x, y=y, color=color, tooltip=tooltip).transform_filter(null)
    bars = base.mark_rule(strokeWidth=1.5).encode(
        x=x, y=alt.Y("ci_low:Q", title=y_title), y2="ci_high:Q", color=color, tooltip=tooltip,
    ).transform_filter(real)
    points = base.mark_point(filled=True, size=60, opacity=1).encode(
        x=x, y=y, color=color, tooltip=tooltip).transform_filter(real)
    subtitle = [f"solid: explained units' mean, bars: 95% bootstrap CI over units; dashed and shaded: {_NULL_NOTE},",
                "its mean and 95% CI; each panel's y axis fitted to its data"]
    return alt.layer(band, lines, null_points, bars, points, data=_inline(data)).properties(
        width=_CONTROL_WIDTH, height=_CONTROL_HEIGHT
    ).facet(
        facet=_encoder_facet(encoders), columns=_CONTROL_COLUMNS
    ).resolve_scale(y="independent").properties(title=alt.Title(title, subtitle=subtitle))


def _excess_stats(correlations: pd.DataFrame | None, encoder, encoding, max_length, points: pd.DataFrame) -> str:
    """``Pearson r = 0.213 [0.150, 0.270]`` and ``p_holm = 3.2e-05, n = 1890`` (two lines) for one panel."""
    if correlations is None:
        x, y = points["excess_iou"].to_numpy(float), points["acc_when_firing"].to_numpy(float)
        r = float(np.corrcoef(x, y)[0, 1]) if len(x) > 2 and x.std() > 0 and y.std() > 0 else float("nan")
        return f"Pearson r = {format_r(r)}\nn = {len(points)}"
    rows = correlations[(correlations["test"] == "excess IoU ~ accuracy") & (correlations["method"] == "pearson")
                        & (correlations["encoder"] == encoder)]
    for key, value in (("encoding", encoding), ("max_length", max_length)):
        if key in rows:
            rows = rows[rows[key] == value]
    if rows.empty:
        return f"Pearson r n/a\nn = {len(points)}"
    row = rows.iloc[0]

    def num(value) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return float("nan")

    p, n = num(row["p_holm"]), num(row["n"])
    p_text = f"{p:.1e}" if math.isfinite(p) else "n/a"
    n_text = f"{int(n)}" if math.isfinite(n) else "n/a"
    return (f"Pearson r = {format_r(num(row['r']))} [{format_r(num(row['ci_low']))}, {format_r(num(row['ci_high']))}]"
            f"\np_holm = {p_text}, n = {n_text}")


def _finite(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    ok = np.ones(len(frame), dtype=bool)
    for c in columns:
        ok &= np.isfinite(pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float))
    return pd.Series(ok, index=frame.index)


def acc_vs_excess_iou(scored: pd.DataFrame, correlations: pd.DataFrame | None = None, *, max_length: int = 1,
                      encoding: str = "standard",
                      title: str = "Accuracy when firing vs best IoU in excess of the matched null") -> alt.FacetChart:
    """Accuracy when firing (y) against excess IoU (x: best IoU minus the matched null's), one panel per encoder.

    Explained units at ``max_length`` and ``encoding``; a dashed rule marks excess 0 (no better than a
    random mask that fires as often), a red line the least-squares fit in each panel, and each panel's
    header its Pearson r with 95% CI, Holm-adjusted p and n from the ``correlations`` rows with test
    ``"excess IoU ~ accuracy"`` and method ``"pearson"`` (:func:`effects.firing_confound`; without
    them, r is computed here and no p is shown). Points are coloured by seed when there are several.
    """
    _need(scored, ["encoder", "encoding", "max_length", "neuron", "iou", "excess_iou", "acc_when_firing", "n_fires"],
          "scored")
    if correlations is not None:
        _need(correlations, ["encoder", "test", "method", "r", "ci_low", "ci_high", "p_holm", "n"], "correlations")
    frame = _select_units(scored, max_length, encoding)
    frame = frame[_finite(frame, ["excess_iou", "acc_when_firing"])]
    if frame.empty:
        raise ValueError(f"scored has no units with excess_iou and acc_when_firing at max_length {max_length!r} "
                         f"with encoding {encoding!r}")
    has_seed = "seed" in frame
    arrays = [c for c in ("neuron", "formula", "iou", "excess_iou", "acc_when_firing", "n_fires") if c in frame]
    points = _round(frame[["encoder", *(["seed"] if has_seed else []), *arrays]],
                    ["iou", "excess_iou", "acc_when_firing"], 3)
    if "formula" in points:
        points["formula"] = points["formula"].map(_short_formula)
    encoders = list(pd.unique(points["encoder"]))

    labels, records = {}, _columnar(points, ["encoder", "seed"] if has_seed else ["encoder"], arrays)
    for encoder in encoders:
        sub = points[points["encoder"] == encoder]
        stats = _excess_stats(correlations, encoder, encoding, max_length, sub)
        labels[str(encoder)] = f"{encoder}\n{stats}"
        x, yv = sub["excess_iou"].to_numpy(float), sub["acc_when_firing"].to_numpy(float)
        if len(x) >= 2 and x.std() > 0:
            slope, intercept = np.polyfit(x, yv, 1)
            ends = np.array([x.min(), x.max()])
            fit = pd.DataFrame({"excess_iou": ends, "acc_when_firing": intercept + slope * ends}).round(4)
            text = f"accuracy = {intercept:.3f} {'+' if slope >= 0 else '−'} {abs(slope):.3f} × excess IoU"
            records += _columnar(fit, [], ["excess_iou", "acc_when_firing"], arrays, encoder=encoder, fit=text)

    # fitted to the data (padded a few pixels, so that the rule at 0 clears the axis and no point sits on it)
    x = alt.X("excess_iou:Q", title="best IoU − matched null's mean IoU",
              scale=alt.Scale(zero=False, nice=True, padding=8))
    y = alt.Y("acc_when_firing:Q", title="accuracy when firing", scale=alt.Scale(zero=False, nice=True, padding=8))
    seeds = sorted(pd.unique(points["seed"]).tolist()) if has_seed else []
    color = (alt.Color("seed:N", title="seed", sort=seeds, legend=alt.Legend(labelLimit=0, symbolOpacity=1))
             if len(seeds) > 1 else alt.value(_SEED_COLOR))
    titles = {"neuron": alt.Tooltip("neuron:Q", title="neuron"), "seed": alt.Tooltip("seed:N", title="seed"),
              "formula": alt.Tooltip("formula:N", title="formula"),
              "iou": alt.Tooltip("iou:Q", format=".3f", title="best IoU"),
              "excess_iou": alt.Tooltip("excess_iou:Q", format=".3f", title="excess IoU"),
              "acc_when_firing": alt.Tooltip("acc_when_firing:Q", format=".3f", title="accuracy when firing"),
              "n_fires": alt.Tooltip("n_fires:Q", title="fires on (pairs)")}
    tooltip = [alt.Tooltip("encoder:N")] + [titles[c] for c in titles if c in points]
    base = alt.Chart()
    # one rule per panel: a datum-positioned rule is otherwise drawn once per row
    zero = base.mark_rule(color="#666666", strokeDash=[4, 3]).encode(
        x=alt.X(datum=0, type="quantitative"), tooltip=alt.value("excess IoU 0: no better than the matched null"),
    ).transform_aggregate(rows="count()", groupby=["encoder"])
    dots = base.mark_circle(size=14, opacity=0.35).encode(
        x=x, y=y, color=color, tooltip=tooltip).transform_filter("!isValid(datum.fit)")
    fit_line = base.mark_line(color="#d62728", strokeWidth=2).encode(
        x=x, y=y, tooltip=[alt.Tooltip("encoder:N"), alt.Tooltip("fit:N", title="least squares")],
    ).transform_filter("isValid(datum.fit)")
    subtitle = [f"explained units at max_length {max_length}, {encoding} concepts; "
                f"{'colour: seed' if len(seeds) > 1 else 'one point per unit'}; red: least-squares line",
                f"dashed: excess IoU 0, the mean IoU of {_NULL_NOTE}; headers: Pearson r [95% CI], Holm-adjusted p"]
    return alt.layer(zero, dots, fit_line).properties(width=_CONTROL_WIDTH, height=_CONTROL_HEIGHT).facet(
        facet=_encoder_facet(encoders, labels), columns=_CONTROL_COLUMNS, data=_inline(pd.DataFrame(records)),
    ).transform_flatten(arrays).properties(title=alt.Title(title, subtitle=subtitle))


_NULL_CURVE_POINTS = 120  # the matched null's curve is drawn through at most this many firing counts per panel


def _null_curve(sub: pd.DataFrame) -> pd.DataFrame:
    """The matched null's mean IoU against firing count, sorted: averaged per firing count, then in at most
    ``_NULL_CURVE_POINTS`` equal-width bins of log firing count (one curve across seeds)."""
    per_count = sub.groupby("n_fires", sort=True)["null_mean_iou"].mean().reset_index()
    if len(per_count) > _NULL_CURVE_POINTS:
        logs = np.log(per_count["n_fires"].to_numpy(float))
        edges = np.linspace(logs.min(), logs.max(), _NULL_CURVE_POINTS + 1)
        per_count["bin"] = np.clip(np.searchsorted(edges, logs, side="right") - 1, 0, _NULL_CURVE_POINTS - 1)
        per_count = per_count.groupby("bin", sort=True).agg(
            n_fires=("n_fires", lambda v: float(np.exp(np.log(v.to_numpy(float)).mean()))),
            null_mean_iou=("null_mean_iou", "mean"),
        ).reset_index(drop=True)
    return per_count


def iou_vs_firing(scored: pd.DataFrame, *, max_length: int = 1, encoding: str = "standard",
                  title: str = "Best IoU vs firing count, against the matched null") -> alt.FacetChart:
    """Best IoU (y) against the number of probe pairs a unit fires on (x, log scale), one panel per encoder.

    Points are the explained units at ``max_length`` and ``encoding``; the orange line over them is the
    matched null (mean IoU of random masks with the unit's firing count), averaged per firing count
    and sorted, so a reader sees how much of the IoU the firing count alone buys and how far the real
    units sit above it.
    """
    _need(scored, ["encoder", "encoding", "max_length", "neuron", "iou", "null_mean_iou", "n_fires"], "scored")
    frame = _select_units(scored, max_length, encoding)
    frame = frame[_finite(frame, ["n_fires"]) & (pd.to_numeric(frame["n_fires"], errors="coerce") > 0)]
    if frame.empty:
        raise ValueError(f"scored has no units firing at least once at max_length {max_length!r} "
                         f"with encoding {encoding!r}")
    has_seed = "seed" in frame
    arrays = ["neuron", "iou", "null_mean_iou", "n_fires"]
    points = _round(frame[["encoder", *(["seed"] if has_seed else []), *arrays]], ["iou", "null_mean_iou"], 3)
    encoders = list(pd.unique(points["encoder"]))
    records = _columnar(points, ["encoder", "seed"] if has_seed else ["encoder"], arrays)
    curve_name = "matched null: mean IoU of random masks with the same firing count"
    for encoder in encoders:
        valid = points[(points["encoder"] == encoder) & points["null_mean_iou"].notna()]
        if len(valid):
            curve = _round(_null_curve(valid), ["null_mean_iou", "n_fires"], 4)
            records += _columnar(curve, [], ["n_fires", "null_mean_iou"], arrays, encoder=encoder, curve=curve_name)

    x = alt.X("n_fires:Q", title="probe pairs the unit fires on (log scale)", scale=alt.Scale(type="log"))
    y_title = "best IoU"
    tooltip = [alt.Tooltip("encoder:N"), alt.Tooltip("neuron:Q", title="neuron")] + (
        [alt.Tooltip("seed:N", title="seed")] if has_seed else []) + [
        alt.Tooltip("iou:Q", format=".3f", title="best IoU"),
        alt.Tooltip("null_mean_iou:Q", format=".3f", title="matched null's mean IoU"),
        alt.Tooltip("n_fires:Q", title="fires on (pairs)")]
    base = alt.Chart()
    dots = base.mark_circle(size=14, opacity=0.35, color=_SEED_COLOR).encode(
        x=x, y=alt.Y("iou:Q", title=y_title, scale=alt.Scale(zero=False, nice=True, padding=8)), tooltip=tooltip,
    ).transform_filter("!isValid(datum.curve)")
    null_line = base.mark_line(color="#ff7f0e", strokeWidth=2.5).encode(
        x=x, y=alt.Y("null_mean_iou:Q", title=y_title, scale=alt.Scale(zero=False, nice=True)),
        order=alt.Order("n_fires:Q"),
        # a line is one item: its tooltip names it (the points' tooltips carry each unit's null)
        tooltip=[alt.Tooltip("encoder:N"), alt.Tooltip("curve:N", title="line")],
    ).transform_filter("isValid(datum.curve)")
    subtitle = [f"explained units at max_length {max_length}, {encoding} concepts; points: units",
                f"orange: mean IoU of {_NULL_NOTE}, averaged per firing count"]
    return alt.layer(dots, null_line).properties(width=_CONTROL_WIDTH, height=_CONTROL_HEIGHT).facet(
        facet=_encoder_facet(encoders), columns=_CONTROL_COLUMNS, data=_inline(pd.DataFrame(records)),
    ).transform_flatten(arrays).properties(title=alt.Title(title, subtitle=subtitle))


__all__ += ["iou_against_null", "acc_vs_excess_iou", "iou_vs_firing"]
