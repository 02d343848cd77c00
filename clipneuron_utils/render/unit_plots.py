"""Altair charts of one unit at a time (after Goh et al., Distill 2021), from :mod:`..stats.single_neurons`.

:func:`conditional_probability`, :func:`activation_spectrum` — two panels sharing the activation axis;
counts on a symlog axis (the not-firing bin is usually far larger than the others). That bin has no
width on the activation axis, so it is drawn as a half-bin slot just left of 0.
"""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

from .chart_parts import LABEL_COLORS, inline_data, check_columns


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
    check_columns(frame, ["bin_low", "bin_high", "bin_label", "concept", "share", "n_pairs", "n_concept"], "frame")
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
    return alt.vconcat(shares, counts, data=inline_data(data)).resolve_scale(
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
    check_columns(frame, ["bin_low", "bin_high", "bin_label", "firing", "gold", "activation"], "frame")
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
    return alt.vconcat(total, shares, data=inline_data(counts)).resolve_scale(x="shared").properties(
        title=alt.Title(title, subtitle=f"all probe pairs; {_NOT_FIRING_NOTE}")
    )
