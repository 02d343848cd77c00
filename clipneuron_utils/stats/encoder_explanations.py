"""What the encoders' own neurons' explanations show (chapter 12_inside_encoder): per layer and regime, IoU and
excess IoU over the matched null by formula length; what the best formulas name (a word, a tag, or a
composition); how many planted neurons the search recovers; and the clusters' coverage.

One pretrained encoder is one model, so its neurons are the observations here: intervals are over neurons
(t intervals of the mean), and a random-weight network of the same architecture is the control.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import scipy.stats as sps

from .tidy import check_columns

_ATOM = re.compile(r"(tok|tag):(\S+?)(?=\)|\s|$)")
KINDS = ("word", "tag", "compositional")


def real(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of real neurons (planted ones left out)."""
    return rows[rows["planted"].isna()] if "planted" in rows else rows


def mean_interval(values, alpha: float = 0.05) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of ``values`` (NaN dropped): a t interval over them."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    half = float(sps.t.ppf(1 - alpha / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def layer_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model, layer, regime and formula length: explained neurons, mean IoU and mean excess IoU (each with
    its 95 % interval over neurons)."""
    check_columns(rows, ["model", "layer", "regime", "max_length", "iou", "excess_iou", "explained"], "rows")
    out = []
    sel = real(rows)
    for key, group in sel[sel["explained"].astype(bool)].groupby(["model", "layer", "regime", "max_length"], sort=False):
        iou = mean_interval(group["iou"])
        excess = mean_interval(group["excess_iou"])
        out.append(dict(zip(["model", "layer", "regime", "max_length"], key), neurons=iou[3], iou=iou[0],
                        excess_iou=excess[0], excess_low=excess[1], excess_high=excess[2]))
    return pd.DataFrame(out)


def formula_kind(formula) -> str | None:
    """``word`` (one token atom), ``tag`` (one tag atom) or ``compositional`` (two atoms or more)."""
    if not isinstance(formula, str):
        return None
    atoms = _ATOM.findall(formula)
    if len(atoms) >= 2:
        return "compositional"
    return "word" if atoms and atoms[0][0] == "tok" else "tag"


#: the smallest gain in excess IoU of a neuron's longest formula over its best single atom for the neuron to count
#: as compositional (excess IoU already discounts what longer formulas gain on random masks of the same size)
COMPOSITION_GAIN = 0.05


def kind_shares(rows: pd.DataFrame, length: int) -> pd.DataFrame:
    """Per model, layer and regime: the share of explained neurons that are *compositional* (their best formula
    of at most ``length`` atoms beats their best single atom's excess IoU by :data:`COMPOSITION_GAIN` or more),
    and otherwise whose best single atom is a *word* or a *tag* (columns :data:`KINDS`, summing to 1), and
    ``neurons``."""
    sel = real(rows)
    sel = sel[sel["explained"].astype(bool)]
    keys = ["model", "layer", "regime", "neuron"]
    one = sel[sel["max_length"] == 1].set_index(keys)
    longest = sel[sel["max_length"] == length].set_index(keys)
    both = one[["formula", "excess_iou"]].join(longest[["excess_iou"]].rename(columns={"excess_iou": "excess_iou_long"}),
                                               how="inner")
    gain = both["excess_iou_long"] - both["excess_iou"]
    composed = (gain >= COMPOSITION_GAIN) | np.isclose(gain, COMPOSITION_GAIN)  # the bound itself counts
    kinds = both["formula"].map(formula_kind).where(~composed, "compositional")
    frame = kinds.rename("kind").reset_index()
    table = pd.crosstab([frame["model"], frame["layer"], frame["regime"]], frame["kind"], normalize="index")
    table = table.reindex(columns=list(KINDS), fill_value=0.0)
    table["neurons"] = frame.groupby(["model", "layer", "regime"]).size()
    return table.reset_index()


def planted_recovery(rows: pd.DataFrame, length: int, top_cluster: str | None) -> pd.DataFrame:
    """Per model and regime: of the planted neurons (``planted``: their word's concept), how many have it among the atoms of their best
    formula (at most ``length`` atoms), in the regime they were planted for and in the top cluster
    (``top_cluster``, e.g. ``cluster 5 of 5``; None: no clusters)."""
    sel = rows[rows["planted"].notna() & (rows["max_length"] == length)]
    out = []
    for (model, regime), group in sel.groupby(["model", "regime"], sort=False):
        own = group if regime == top_cluster else group[group["planted_for"] == regime]
        if not len(own) or (regime != top_cluster and regime.startswith("cluster")):
            continue
        found = [isinstance(f, str) and w in {f"{k}:{v}" for k, v in _ATOM.findall(f)}
                 for f, w in zip(own["formula"], own["planted"])]
        out.append({"model": model, "regime": regime, "planted": len(own), "recovered": int(sum(found))})
    return pd.DataFrame(out, columns=["model", "regime", "planted", "recovered"])


def against_control(summary: pd.DataFrame, model: str, control: str, regime: str, length: int) -> pd.DataFrame:
    """Per layer: ``model``'s mean excess IoU at ``regime`` and ``length`` beside ``control``'s (a random-weight
    network of the same architecture), with both intervals."""
    sel = summary[(summary["regime"] == regime) & (summary["max_length"] == length)]
    cols = ["layer", "excess_iou", "excess_low", "excess_high", "neurons"]
    a, b = sel.loc[sel["model"] == model, cols], sel.loc[sel["model"] == control, cols]
    return a.merge(b, on="layer", how="outer", suffixes=("", " (control)"))


def cluster_coverage(rows: pd.DataFrame, length: int, margin: float = 0.0) -> pd.DataFrame:
    """Per model and layer, La Rosa et al.'s sample coverage where it applies: the mean over neurons of the
    share of sentences that fall in a cluster whose explanation beats its matched null by more than
    ``margin`` (explained clusters), and the mean number of such clusters per neuron."""
    sel = real(rows)
    sel = sel[(sel["max_length"] == length) & sel["regime"].str.startswith("cluster")]
    if not len(sel):
        return pd.DataFrame(columns=["model", "layer", "clusters explained", "sentences covered"])
    sel = sel.assign(ok=sel["explained"].astype(bool) & (sel["excess_iou"] > margin))
    sel = sel.assign(covered=sel["n_fires"].where(sel["ok"], 0))
    keys = ["model", "layer", "neuron"]
    per_neuron = sel.groupby(keys).agg(explained=("ok", "sum"), covered=("covered", "sum"), total=("n_fires", "sum"))
    per_neuron["clusters explained"] = per_neuron["explained"].astype(float)
    per_neuron["sentences covered"] = per_neuron["covered"] / per_neuron["total"].clip(lower=1)
    return per_neuron.groupby(["model", "layer"])[["clusters explained", "sentences covered"]].mean().reset_index()


def against_control_lines(summary: pd.DataFrame, kinds: pd.DataFrame, model: str, control: str, regime: str,
                          length: int) -> list[str]:
    """The summary box's sentences on ``model`` against its random-weight ``control``: the layers whose mean excess
    IoU interval lies above the control's, and the share of neurons best explained by one word, per layer."""
    side = against_control(summary, model, control, regime, length)
    above = side.loc[side["excess_low"] > side["excess_high (control)"], "layer"].tolist()
    word = kinds[(kinds["model"] == model) & (kinds["regime"] == regime)].sort_values("layer")
    return [f"Layers where {model}'s mean excess IoU at {regime} lies above its random-weight control's (95 % "
            f"intervals apart): {', '.join(map(str, above)) or 'none'} of {len(side)}.",
            f"Share of {model}'s neurons at {regime} best explained by one word (not compositional), by layer: "
            + ", ".join(f"{v:.0%}" for v in word["word"]) + "."]


def recovery_lines(recovery: pd.DataFrame) -> list[str]:
    """The summary box's sentence per model and regime on the planted neurons."""
    return [f"Planted neurons, {r['model']} at {r['regime']}: {r['recovered']} of {r['planted']} recovered."
            for _, r in recovery.iterrows()]
