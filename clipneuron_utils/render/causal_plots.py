"""Altair charts of the causal tests (chapter 10_causal): the gold-margin (or accuracy) change against the number
of ablated units per ranking, the formula edits' shifts against their shams, planted units and twins, and the
adversarial pairs' effects in the claim's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from .chart_parts import inline_data, check_columns

_RANKING_COLORS = {"top IoU": "#1b9e77", "top excess IoU": "#d95f02", "bottom IoU": "#7570b3", "random": "#666666",
                   "top contribution": "#e7298a"}
_OUTCOMES = {"margin": ("change in the gold margin (probe SDs)", "+.2f"), "accuracy": ("change in probe accuracy", "+.2%")}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")])


def ablation_curves(pooled: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str], outcome: str = "margin") -> alt.Chart:
    """The ``outcome``'s change (pooled over seeds, 95 % CI) against k, one line per ranking (the top k by
    contribution is the positive control), per model (column) and regime (row)."""
    check_columns(pooled, ["encoder", "regime", "ranking", "k", "estimate", "ci_low", "ci_high"], "pooled")
    title, fmt = _OUTCOMES[outcome]
    sel = pooled["ranking"].isin(list(_RANKING_COLORS)) & pooled["encoder"].isin(list(encoders))
    if "outcome" in pooled.columns:
        sel &= pooled["outcome"] == outcome
    data = _plain(pooled[sel])
    color = alt.Color("ranking:N", scale=alt.Scale(domain=list(_RANKING_COLORS), range=list(_RANKING_COLORS.values())),
                      title="ablated units")
    x = alt.X("k:Q", scale=alt.Scale(type="log", base=2), title="units ablated (k)", axis=alt.Axis(values=sorted(set(data["k"]))))
    base = alt.Chart(inline_data(data))
    lines = base.mark_line(point=True).encode(
        x=x, y=alt.Y("estimate:Q", title=title, axis=alt.Axis(format=fmt.replace(".2", ".1") if "%" in fmt else "+.2f")),
        color=color, tooltip=["encoder:N", "regime:N", "ranking:N", "k:Q", alt.Tooltip("estimate:Q", format=fmt),
                              alt.Tooltip("ci_low:Q", format=fmt), alt.Tooltip("ci_high:Q", format=fmt)])
    bars = base.mark_rule().encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    return alt.layer(bars, lines).properties(width=170, height=150).facet(
        column=alt.Column("encoder:N", sort=list(encoders), title=None),
        row=alt.Row("regime:N", sort=list(regimes), title="a unit fires on"),
    ).properties(title=f"{title[0].upper()}{title[1:]} when k units are held at their mean")


def _points(data: pd.DataFrame, measures: Sequence[str], colors: Sequence[str], *, encoders: Sequence[str],
            regimes: Sequence[str], x_title: str, count: str, fmt: str, title: str) -> alt.Chart:
    """Pooled figures per model (column) and regime (row), points with their 95 % intervals and a rule at 0."""
    data = _plain(data[data["measure"].isin(list(measures)) & data["encoder"].isin(list(encoders))])
    color = alt.Color("measure:N", scale=alt.Scale(domain=list(measures), range=list(colors)), legend=None)
    y = alt.Y("measure:N", title=None, sort=list(measures))
    base = alt.Chart(inline_data(data))
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X("estimate:Q", title=x_title, axis=alt.Axis(format=fmt)), y=y, color=color,
        tooltip=["encoder:N", "regime:N", "measure:N", f"{count}:Q", "seeds:Q", alt.Tooltip("estimate:Q", format=fmt),
                 alt.Tooltip("ci_low:Q", format=fmt), alt.Tooltip("ci_high:Q", format=fmt)])
    bars = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", y=y, color=color)
    zero = base.mark_rule(color="#bbbbbb").encode(x=alt.datum(0))
    return alt.layer(zero, bars, points).properties(width=200, height=25 * len(measures)).facet(
        column=alt.Column("encoder:N", sort=list(encoders), title=None),
        row=alt.Row("regime:N", sort=list(regimes), title="a unit fires on"),
    ).properties(title=title)


EDIT_MEASURES = {"formula − sham": "#d95f02", "(formula − sham) − (other formula − sham)": "#e6ab02",
                 "other formula − sham": "#999999", "planted: formula − sham": "#1b9e77", "twin: formula − sham": "#7570b3"}
ADVERSARIAL_MEASURES = {"activation": "#7570b3", "unit push": "#e7298a", "push": "#d95f02"}


def edit_shifts(shifts: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """How far formula edits move a unit beyond their shams (probe SDs, pooled, 95 % CI), beside another
    unit's formula, the planted units (positive control) and their shuffled twins (negative control)."""
    check_columns(shifts, ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high"], "shifts")
    return _points(shifts, list(EDIT_MEASURES), list(EDIT_MEASURES.values()), encoders=encoders, regimes=regimes,
                   x_title="directed shift beyond the sham edits (probe SDs)", count="units", fmt="+.2f",
                   title="Do a unit's formula's words move it more than another word of the same pair?")


def adversarial_effects(effects: pd.DataFrame, encoders: Sequence[str], regimes: Sequence[str]) -> alt.Chart:
    """The adversarial pairs' effects in the claim's order (formula pair − control pair, probe SDs, pooled,
    95 % CI): the unit's activation, its own push, the model's push toward the unit's class."""
    check_columns(effects, ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high"], "effects")
    return _points(effects, list(ADVERSARIAL_MEASURES), list(ADVERSARIAL_MEASURES.values()), encoders=encoders,
                   regimes=regimes, x_title="formula pair − control pair (probe SDs)", count="pairs", fmt="+.2f",
                   title="Does the noun move the unit, and the model toward the unit's class?")
