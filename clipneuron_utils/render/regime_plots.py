"""Altair charts of the firing regime (chapter 08_firing_regime): firing rates, concept base rates, what the best
formulas are made of per regime, and the mean IoU by length against the matched null per regime.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from .chart_parts import inline_data, check_columns

_KIND_COLORS = {"token": "#1b9e77", "tag": "#7570b3", "overlap": "#d95f02"}


def firing_rates(rates: pd.DataFrame, encoders: Sequence[str]) -> alt.Chart:
    """Histogram of the share of probe pairs each unit fires on at > 0, one row per model (all seeds)."""
    check_columns(rates, ["encoder", "rate"], "rates")
    edges = np.linspace(0, 1, 41)
    frames = []
    for name in encoders:
        counts, _ = np.histogram(rates.loc[rates.encoder == name, "rate"], bins=edges)
        frames.append(pd.DataFrame({"encoder": name, "from": edges[:-1], "to": edges[1:], "units": counts}))
    data = pd.concat(frames, ignore_index=True)
    return alt.Chart(inline_data(data)).mark_bar(color="#4c78a8").encode(
        x=alt.X("from:Q", title="share of probe pairs the unit fires on (> 0)", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        x2="to:Q",
        y=alt.Y("units:Q", title="units"),
        row=alt.Row("encoder:N", sort=list(encoders), title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        tooltip=["encoder:N", alt.Tooltip("from:Q", format=".0%"), alt.Tooltip("to:Q", format=".0%"), "units:Q"],
    ).properties(width=520, height=70, title="How often each unit fires at the paper's threshold")


def base_rates(rates: pd.DataFrame, alphas: Sequence[float]) -> alt.LayerChart:
    """Histogram (log base rate) of the concepts by kind, with the sweep's firing shares as rules: a
    concept much commoner than a unit fires cannot match it, whatever it means."""
    check_columns(rates, ["kind", "base_rate"], "rates")
    shown = rates[rates["base_rate"] > 0]
    edges = np.logspace(np.log10(max(shown["base_rate"].min(), 1e-5)), 0, 31)
    frames = []
    for kind, sub in shown.groupby("kind", sort=False):
        counts, _ = np.histogram(sub["base_rate"], bins=edges)
        frames.append(pd.DataFrame({"kind": kind, "from": edges[:-1], "to": edges[1:], "concepts": counts}))
    data = pd.concat(frames, ignore_index=True)
    bars = alt.Chart(inline_data(data)).mark_bar(opacity=0.8).encode(
        x=alt.X("from:Q", scale=alt.Scale(type="log"), title="share of probe pairs on which the concept holds (log)",
                axis=alt.Axis(format="%")),
        x2="to:Q",
        y=alt.Y("concepts:Q", stack=True, title="concepts"),
        color=alt.Color("kind:N", scale=alt.Scale(domain=list(_KIND_COLORS), range=list(_KIND_COLORS.values())),
                        title="concept kind"),
        tooltip=["kind:N", alt.Tooltip("from:Q", format=".2%"), alt.Tooltip("to:Q", format=".2%"), "concepts:Q"],
    )
    lines = pd.DataFrame({"alpha": [float(a) for a in alphas], "label": [f"top {a * 100:g} %" for a in alphas]})
    rules = alt.Chart(inline_data(lines)).mark_rule(color="black", strokeDash=[4, 3]).encode(
        x="alpha:Q", tooltip=[alt.Tooltip("label:N", title="a unit fires on")])
    return (bars + rules).properties(width=560, height=220, title="How common each concept is (dashed: the sweep's firing shares)")


def kind_shares(shares: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """Stacked bars: share of explained units whose best formula's first concept is a token, a tag or an
    overlap, per regime (x) and model (row)."""
    check_columns(shares, ["encoder", "regime", "token", "tag", "overlap"], "shares")
    long = shares.melt(id_vars=["encoder", "regime"], value_vars=list(_KIND_COLORS), var_name="kind", value_name="share")
    return alt.Chart(inline_data(long)).mark_bar().encode(
        x=alt.X("regime:N", sort=list(regimes), title="a unit fires on", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("share:Q", stack="normalize", axis=alt.Axis(format="%"), title="explained units"),
        color=alt.Color("kind:N", scale=alt.Scale(domain=list(_KIND_COLORS), range=list(_KIND_COLORS.values())),
                        title="first concept"),
        order=alt.Order("kind:N"),
        column=alt.Column("encoder:N", sort=list(encoders), title=None),
        tooltip=["encoder:N", "regime:N", "kind:N", alt.Tooltip("share:Q", format=".0%")],
    ).properties(width=150, height=200, title="What the best formulas name first, per regime")


def iou_by_regime(summary: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.LayerChart:
    """Mean best IoU by formula length (line, 95 % interval bars) and the matched null's mean and band,
    one panel per model, colour per regime. ``summary``: :func:`effects.iou_summary` rows with ``regime``."""
    check_columns(summary, ["encoder", "regime", "max_length", "measure", "mean", "ci_low", "ci_high"], "summary")
    real = summary[summary["measure"] == "iou"]
    null = summary[summary["measure"] == "null_mean_iou"]
    color = alt.Color("regime:N", sort=list(regimes), title="a unit fires on")
    x = alt.X("max_length:O", title="formula length ≤")
    band = alt.Chart().mark_area(opacity=0.15).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    null_line = alt.Chart().mark_line(strokeDash=[4, 3], opacity=0.6).encode(x=x, y="mean:Q", color=color)
    line = alt.Chart().mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title="mean best IoU (dashed: matched null)"), color=color,
        tooltip=["encoder:N", "regime:N", "max_length:O", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f")])
    bars = alt.Chart().mark_errorbar().encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    data = pd.concat([real.assign(kind="real"), null.assign(kind="null")], ignore_index=True)
    layered = alt.layer(
        band.transform_filter("datum.kind === 'null'"), null_line.transform_filter("datum.kind === 'null'"),
        line.transform_filter("datum.kind === 'real'"), bars.transform_filter("datum.kind === 'real'"),
        data=inline_data(data[["encoder", "regime", "max_length", "mean", "ci_low", "ci_high", "kind"]]),
    )
    return layered.properties(width=170, height=200).facet(
        column=alt.Column("encoder:N", sort=list(encoders), title=None)
    ).properties(title="Mean best IoU by formula length per regime, against the matched null")


def iou_against_alpha(frame: pd.DataFrame, paper_iou: float) -> alt.LayerChart:
    """Mean length-1 IoU against the firing share α: the real units', the matched null's (per encoder) and the
    commonest concept's with any mask of that share (``frame``: ``alpha, encoder, what, iou``), with the
    paper's mean IoU as a rule. The lines nearly coincide: raw IoU at top α is mostly α."""
    check_columns(frame, ["alpha", "encoder", "what", "iou"], "frame")
    lines = alt.Chart(inline_data(frame)).mark_line(point=True).encode(
        x=alt.X("alpha:Q", title="share of probe pairs each unit fires on (α)", axis=alt.Axis(format="%")),
        y=alt.Y("iou:Q", title="mean IoU at length 1"),
        color=alt.Color("encoder:N", title="model"),
        strokeDash=alt.StrokeDash("what:N", title="IoU of"),
        tooltip=["encoder:N", "what:N", alt.Tooltip("alpha:Q", format=".0%"), alt.Tooltip("iou:Q", format=".3f")],
    )
    rule = alt.Chart(inline_data(pd.DataFrame({"iou": [paper_iou], "label": [f"the paper's mean IoU, {paper_iou}"]}))).mark_rule(
        color="gray").encode(y="iou:Q", tooltip=["label:N"])
    return (lines + rule).properties(width=480, height=260, title="Raw IoU at a top-α threshold is mostly α")
