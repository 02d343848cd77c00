"""Altair charts of the controls: each unit's IoU against the firing-rate-matched null, accuracy when
firing against the excess over it, and IoU against the firing count with the null's curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..stats import tidy
from .chart_parts import CONTROL_HEIGHT, CONTROL_WIDTH, columnar_records, header_label_expr, inline_data, check_columns, round_columns, short_formula
from .numbers import format_r


_CONTROL_COLUMNS = 3


_NULL_NOTE = "random masks with the same firing counts (matched null)"


_SEED_COLOR = "#4c78a8"


def _encoder_facet(encoders: Sequence, labels: dict | None = None) -> alt.Facet:
    header = alt.Header(title=None, labelLimit=0, labelFontSize=12, labelFontWeight="bold")
    if labels:
        header = alt.Header(title=None, labelLimit=0, labelFontSize=11, labelExpr=header_label_expr(labels))
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
    frame = frame[tidy.explained_mask(frame)]
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
    check_columns(summary, ["encoder", "encoding", "max_length", "measure", "mean", "ci_low", "ci_high", "n_seeds"], "summary")
    series = {"iou": "real units", "null_mean_iou": "matched null"}
    for measure in series:
        if not (summary["measure"] == measure).any():
            raise ValueError(f"summary has no rows with measure {measure!r}")
    data = summary[summary["measure"].isin(list(series))].copy()
    data["series"] = data["measure"].map(series)
    data = round_columns(data[["encoder", "encoding", "max_length", "series", "mean", "ci_low", "ci_high", "n_seeds"]],
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
    return alt.layer(band, lines, null_points, bars, points, data=inline_data(data)).properties(
        width=CONTROL_WIDTH, height=CONTROL_HEIGHT
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
    check_columns(scored, ["encoder", "encoding", "max_length", "neuron", "iou", "excess_iou", "acc_when_firing", "n_fires"],
          "scored")
    if correlations is not None:
        check_columns(correlations, ["encoder", "test", "method", "r", "ci_low", "ci_high", "p_holm", "n"], "correlations")
    frame = _select_units(scored, max_length, encoding)
    frame = frame[_finite(frame, ["excess_iou", "acc_when_firing"])]
    if frame.empty:
        raise ValueError(f"scored has no units with excess_iou and acc_when_firing at max_length {max_length!r} "
                         f"with encoding {encoding!r}")
    has_seed = "seed" in frame
    arrays = [c for c in ("neuron", "formula", "iou", "excess_iou", "acc_when_firing", "n_fires") if c in frame]
    points = round_columns(frame[["encoder", *(["seed"] if has_seed else []), *arrays]],
                    ["iou", "excess_iou", "acc_when_firing"], 3)
    if "formula" in points:
        points["formula"] = points["formula"].map(short_formula)
    encoders = list(pd.unique(points["encoder"]))

    labels, records = {}, columnar_records(points, ["encoder", "seed"] if has_seed else ["encoder"], arrays)
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
            records += columnar_records(fit, [], ["excess_iou", "acc_when_firing"], arrays, encoder=encoder, fit=text)

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
    return alt.layer(zero, dots, fit_line).properties(width=CONTROL_WIDTH, height=CONTROL_HEIGHT).facet(
        facet=_encoder_facet(encoders, labels), columns=_CONTROL_COLUMNS, data=inline_data(pd.DataFrame(records)),
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
    check_columns(scored, ["encoder", "encoding", "max_length", "neuron", "iou", "null_mean_iou", "n_fires"], "scored")
    frame = _select_units(scored, max_length, encoding)
    frame = frame[_finite(frame, ["n_fires"]) & (pd.to_numeric(frame["n_fires"], errors="coerce") > 0)]
    if frame.empty:
        raise ValueError(f"scored has no units firing at least once at max_length {max_length!r} "
                         f"with encoding {encoding!r}")
    has_seed = "seed" in frame
    arrays = ["neuron", "iou", "null_mean_iou", "n_fires"]
    points = round_columns(frame[["encoder", *(["seed"] if has_seed else []), *arrays]], ["iou", "null_mean_iou"], 3)
    encoders = list(pd.unique(points["encoder"]))
    records = columnar_records(points, ["encoder", "seed"] if has_seed else ["encoder"], arrays)
    curve_name = "matched null: mean IoU of random masks with the same firing count"
    for encoder in encoders:
        valid = points[(points["encoder"] == encoder) & points["null_mean_iou"].notna()]
        if len(valid):
            curve = round_columns(_null_curve(valid), ["null_mean_iou", "n_fires"], 4)
            records += columnar_records(curve, [], ["n_fires", "null_mean_iou"], arrays, encoder=encoder, curve=curve_name)

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
    return alt.layer(dots, null_line).properties(width=CONTROL_WIDTH, height=CONTROL_HEIGHT).facet(
        facet=_encoder_facet(encoders), columns=_CONTROL_COLUMNS, data=inline_data(pd.DataFrame(records)),
    ).transform_flatten(arrays).properties(title=alt.Title(title, subtitle=subtitle))
