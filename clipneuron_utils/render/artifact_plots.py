"""Altair charts of chapter 11_artifacts: the share of artifact detectors against its permutation control, and the
gold-margin loss on easy and hard pairs when the detectors (or random units of the same classes) are held at
their mean.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .chart_parts import check_columns, inline_data


def detector_shares(per_seed: pd.DataFrame) -> alt.Chart:
    """Per model (row) and regime (column): each seed's share of artifact detectors (dots) against the share its
    class shuffles give (hollow diamonds)."""
    check_columns(per_seed, ["encoder", "regime", "seed", "share", "null"], "per_seed")
    data = per_seed.melt(id_vars=["encoder", "regime", "seed"], value_vars=["share", "null"], var_name="what",
                         value_name="value")
    data["what"] = data["what"].map({"share": "artifact detectors", "null": "classes shuffled (control)"})
    return alt.Chart(inline_data(data)).mark_point(filled=True, size=45, opacity=0.8).encode(
        x=alt.X("value:Q", title="share of explained units", axis=alt.Axis(format=".0%")),
        y=alt.Y("encoder:N", title=None),
        color=alt.Color("what:N", title=None, scale=alt.Scale(range=["#d95f02", "#666666"])),
        shape=alt.Shape("what:N", title=None, scale=alt.Scale(range=["circle", "diamond"])),
        tooltip=["encoder:N", "regime:N", "seed:Q", "what:N", alt.Tooltip("value:Q", format=".2%")],
    ).properties(width=260, height=alt.Step(18)).facet(column=alt.Column("regime:N", title="firing regime")).properties(
        title="Artifact detectors among explained units, one dot per seed")


def easy_hard_losses(per_seed: pd.DataFrame) -> alt.Chart:
    """Per model (row) and regime (column): the gold-margin loss (probe SDs; mean over seeds) on easy and hard pairs
    when the artifact detectors, or random explained units of the same classes, are held at their mean."""
    check_columns(per_seed, ["encoder", "regime", "margin easy", "margin hard", "random margin easy",
                             "random margin hard"], "per_seed")
    rows = []
    for column, units, pairs in (("margin easy", "artifact detectors", "easy"), ("margin hard", "artifact detectors", "hard"),
                                 ("random margin easy", "random, same classes", "easy"),
                                 ("random margin hard", "random, same classes", "hard")):
        part = per_seed.groupby(["encoder", "regime"], sort=False)[column].mean().reset_index(name="change")
        rows.append(part.assign(units=units, pairs=pairs, loss=-part["change"]))
    data = pd.concat(rows, ignore_index=True).drop(columns="change")
    return alt.Chart(inline_data(data)).mark_bar().encode(
        x=alt.X("loss:Q", title="gold-margin loss (probe SDs)"),
        y=alt.Y("pairs:N", title=None),
        yOffset=alt.YOffset("units:N"),
        color=alt.Color("units:N", title="held at their mean", scale=alt.Scale(range=["#d95f02", "#666666"])),
        tooltip=["encoder:N", "regime:N", "units:N", "pairs:N", alt.Tooltip("loss:Q", format="+.3f")],
    ).properties(width=220, height=alt.Step(12)).facet(row=alt.Row("encoder:N", title=None),
                                                        column=alt.Column("regime:N", title="firing regime")).properties(
        title="What the detectors carry: easy pairs (a hypothesis-only model is right) against hard ones")
