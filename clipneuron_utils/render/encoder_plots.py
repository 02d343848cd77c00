"""Altair charts of chapter 12_inside_encoder: per layer, the encoders' neurons' excess IoU against the random-weight
control; what their best formulas name per regime and cluster; and the encoder ablation's gold-margin changes.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .chart_parts import check_columns, inline_data, round_columns

_KIND_COLORS = {"word": "#d95f02", "tag": "#7570b3", "compositional": "#1b9e77"}


def excess_by_layer(summary: pd.DataFrame, regimes) -> alt.Chart:
    """Mean excess IoU over the matched null (95 % interval over neurons) per layer, one line per model and formula
    length, one panel per regime."""
    check_columns(summary, ["model", "layer", "regime", "max_length", "excess_iou", "excess_low", "excess_high"], "summary")
    data = round_columns(summary[summary["regime"].isin(list(regimes))].copy(),
                         ["iou", "excess_iou", "excess_low", "excess_high"])
    data["length"] = "≤ " + data["max_length"].astype(str) + " atoms"
    source = inline_data(data)
    base = alt.Chart(source).encode(
        x=alt.X("layer:O", title="layer (block)"), color=alt.Color("model:N", title="model"),
        strokeDash=alt.StrokeDash("length:N", title="formula length"))
    lines = base.mark_line(point=True).encode(
        y=alt.Y("excess_iou:Q", title="mean excess IoU over the matched null"),
        tooltip=["model:N", "layer:O", "regime:N", "length:N", "neurons:Q", alt.Tooltip("iou:Q", format=".3f"),
                 alt.Tooltip("excess_iou:Q", format="+.3f")])
    bands = base.mark_errorbar().encode(y="excess_low:Q", y2="excess_high:Q")
    return alt.layer(bands, lines, data=source).properties(width=230, height=170).facet(
        column=alt.Column("regime:N", title=None, sort=list(regimes))).properties(
        title="Excess IoU of the encoders' neurons, by layer")


def kinds_by_layer(shares: pd.DataFrame, regimes) -> alt.Chart:
    """The share of best formulas that name a word, a tag, or compose atoms, per layer (bars), per model (rows)
    and regime or cluster (columns)."""
    check_columns(shares, ["model", "layer", "regime", "word", "tag", "compositional"], "shares")
    data = shares.melt(id_vars=["model", "layer", "regime"], value_vars=list(_KIND_COLORS), var_name="kind",
                       value_name="share")
    data = round_columns(data, ["share"])
    return alt.Chart(inline_data(data)).mark_bar().encode(
        x=alt.X("layer:O", title="layer"), y=alt.Y("share:Q", title="share of explained neurons", stack="normalize",
                                                   axis=alt.Axis(format=".0%")),
        color=alt.Color("kind:N", title="best formula", scale=alt.Scale(domain=list(_KIND_COLORS),
                                                                       range=list(_KIND_COLORS.values()))),
        tooltip=["model:N", "regime:N", "layer:O", "kind:N", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=110, height=110).facet(row=alt.Row("model:N", title=None),
                                              column=alt.Column("regime:N", title=None, sort=list(regimes))).properties(
        title="What the best formulas name, per layer, regime and cluster")


def ablation_effects(effects: pd.DataFrame) -> alt.Chart:
    """The gold-margin change (heads' seeds pooled, 95 % interval) of holding each ranking's neurons at their mean,
    per layer group."""
    check_columns(effects, ["model", "layers", "comparison", "estimate", "ci_low", "ci_high"], "effects")
    data = round_columns(effects.copy(), ["estimate", "ci_low", "ci_high"]).assign(zero=0.0)
    source = inline_data(data)  # one data object for every layer: facets need it at the top level
    base = alt.Chart(source).encode(
        y=alt.Y("comparison:N", title=None), color=alt.Color("comparison:N", legend=None))
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X("estimate:Q", title="gold-margin change (SDs of the intact margin)"),
        tooltip=["model:N", "layers:N", "comparison:N", alt.Tooltip("estimate:Q", format="+.4f"),
                 alt.Tooltip("ci_low:Q", format="+.4f"), alt.Tooltip("ci_high:Q", format="+.4f")])
    bars = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q")
    rule = alt.Chart(source).mark_rule(color="#999").encode(x="zero:Q")
    return alt.layer(rule, bars, points, data=source).properties(width=320, height=alt.Step(16)).facet(
        row=alt.Row("layers:N", title="layers held"), column=alt.Column("model:N", title=None)).properties(
        title="Holding encoder neurons at their mean: what the NLI head loses")
