"""Altair charts of the causal tests (chapter 10_causal): accuracy change against the number of ablated units per
ranking, the share of causally faithful units per model, and adversarial error rates against controls.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from .chart_parts import inline_data, check_columns

_RANKING_COLORS = {"top IoU": "#1b9e77", "top excess IoU": "#d95f02", "bottom IoU": "#7570b3", "random": "#666666"}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")])


def ablation_curves(pooled: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """Accuracy change (pooled over seeds, 95 % CI) against k, one line per ranking, per model (column)
    and regime (row)."""
    check_columns(pooled, ["encoder", "regime", "ranking", "k", "estimate", "ci_low", "ci_high"], "pooled")
    data = _plain(pooled[pooled["ranking"].isin(list(_RANKING_COLORS)) & pooled["encoder"].isin(list(encoders))])
    color = alt.Color("ranking:N", scale=alt.Scale(domain=list(_RANKING_COLORS), range=list(_RANKING_COLORS.values())),
                      title="ablated units")
    x = alt.X("k:Q", scale=alt.Scale(type="log", base=2), title="units ablated (k)", axis=alt.Axis(values=sorted(set(data["k"]))))
    base = alt.Chart(inline_data(data))
    lines = base.mark_line(point=True).encode(
        x=x, y=alt.Y("estimate:Q", title="change in probe accuracy", axis=alt.Axis(format="+%")), color=color,
        tooltip=["encoder:N", "regime:N", "ranking:N", "k:Q", alt.Tooltip("estimate:Q", format="+.2%"),
                 alt.Tooltip("ci_low:Q", format="+.2%"), alt.Tooltip("ci_high:Q", format="+.2%")])
    bars = base.mark_rule().encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    return alt.layer(bars, lines).properties(width=170, height=150).facet(
        column=alt.Column("encoder:N", sort=list(encoders), title=None),
        row=alt.Row("regime:N", sort=list(regimes), title="a unit fires on"),
    ).properties(title="Accuracy when k units are held at their mean")


def _rates(data: pd.DataFrame, measures: Sequence[str], colors: Sequence[str], *, encoders: Sequence[str],
           regimes: Sequence[str], x_title: str, count: str, fmt: str, legend: str | None, title: str) -> alt.Chart:
    """Two pooled rates per model (column) and regime (row), points with their 95 % intervals."""
    data = _plain(data[data["measure"].isin(list(measures))])
    color = alt.Color("measure:N", scale=alt.Scale(domain=list(measures), range=list(colors)), title=legend)
    base = alt.Chart(inline_data(data))
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X("estimate:Q", title=x_title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("measure:N", title=None), color=color,
        tooltip=["encoder:N", "regime:N", "measure:N", f"{count}:Q", alt.Tooltip("estimate:Q", format=fmt),
                 alt.Tooltip("ci_low:Q", format=fmt), alt.Tooltip("ci_high:Q", format=fmt)])
    bars = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", y="measure:N", color=color)
    return alt.layer(bars, points).properties(width=200, height=50).facet(
        column=alt.Column("encoder:N", sort=list(encoders), title=None),
        row=alt.Row("regime:N", sort=list(regimes), title="a unit fires on"),
    ).properties(title=title)


def faithful_shares(shares: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """Share of tested units whose formula's edits move them (pooled, 95 % CI), beside the share the same
    test finds with the matched null's formula, per model and regime."""
    check_columns(shares, ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high"], "shares")
    return _rates(shares, ["faithful", "null formula"], ["#d95f02", "#999999"], encoders=encoders, regimes=regimes,
                  x_title="share of tested units found faithful", count="units", fmt=".0%", legend="edits of",
                  title="Do a unit's formula's words move it? (grey: the matched null's formula)")


def adversarial_rates(rates: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """Error rates (pooled, 95 % CI) on pairs built to satisfy a unit's formula and on their controls."""
    check_columns(rates, ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high"], "rates")
    return _rates(rates, ["formula pairs", "control pairs"], ["#d95f02", "#999999"], encoders=encoders,
                  regimes=regimes, x_title="error rate", count="pairs", fmt=".1%", legend=None,
                  title="Errors on pairs built to satisfy a unit's formula, against matched controls")
