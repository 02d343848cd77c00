"""Adversarial pairs (C3): the unit's activation change, its push toward its class, then the prediction.

Per base pair, the formula pair (its premise noun appended) less the control pair (a noun of the same tag
and frequency appended), in the order the claim runs:

1. ``activation``: the unit's activation change, in its probe SDs (did the noun move the unit?);
2. ``unit push``: the unit's own share of the margin change (activation change × its weight toward the
   class less its mean weight toward the others), in probe SDs of that margin;
3. ``push``: the whole model's margin change toward the unit's class (its logit less the mean of the
   others), in the same SDs;
4. ``class predictions``: predictions of the unit's class, and ``errors``: any wrong prediction (shares; formula −
   control).

Per unit, the mean over its pairs; per seed, the mean over units (a seed needs two), pooled over seeds. The
positive control (a noun chosen on the other half of the pairs for its push toward a class) has one noun
per class, so its pairs are the items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import replicates
from .tidy import figure_frame, figure_row

MEASURES = ("activation", "unit push", "push", "class predictions", "errors")
MIN_PAIRS = 5  # base pairs a unit needs
MIN_UNITS = 2  # units a seed needs


def pair_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, regime, unit, base pair): each of :data:`MEASURES`, formula pair − control pair."""
    keys = [c for c in ("encoder", "seed", "regime", "unit", "source") if c in frame.columns]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *MEASURES])
    f = frame.assign(is_pushed=(frame["predicted"] == frame["pushed"]).astype(float),
                     wrong=(frame["predicted"] != frame["gold"]).astype(float))
    values = ["activation", "margin", "unit_push", "is_pushed", "wrong", "activation_sd", "margin_sd"]
    wide = (f.pivot_table(index=keys, columns="kind", values=values, aggfunc="first")  # a noun has no unit: NaN kept
            .reindex(columns=pd.MultiIndex.from_product([values, ["formula", "control"]])))
    out = pd.DataFrame(index=wide.index)
    sd_a = wide[("activation_sd", "formula")]
    sd_m = wide[("margin_sd", "formula")]
    out["activation"] = (wide[("activation", "formula")] - wide[("activation", "control")]) / sd_a.where(sd_a > 0)
    out["unit push"] = (wide[("unit_push", "formula")] - wide[("unit_push", "control")]) / sd_m
    out["push"] = (wide[("margin", "formula")] - wide[("margin", "control")]) / sd_m
    out["class predictions"] = wide[("is_pushed", "formula")] - wide[("is_pushed", "control")]
    out["errors"] = wide[("wrong", "formula")] - wide[("wrong", "control")]
    return out.reset_index()


SHARES = ("class predictions", "errors")


def _floor(values: np.ndarray, measure: str) -> float:
    """The variance of a mean of ``values`` (:func:`replicates.mean_variance`; the predictions are shares)."""
    n = len(values)
    return replicates.mean_variance(float(np.var(values, ddof=1)) if n > 1 else 0.0, n, share=measure in SHARES)


def effects(pairs: pd.DataFrame, *, by_unit: bool = True, label: str = "") -> pd.DataFrame:
    """Per (encoder, regime) and measure, pooled over seeds: with ``by_unit`` the mean over units of each
    unit's mean (the units are the items), else the mean over pairs. ``label`` prefixes the measure."""
    groups = ["encoder", "regime"] if "regime" in pairs.columns else ["encoder"]
    rows = []
    for key, frame in pairs.groupby(groups, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        regime = key[1] if len(key) > 1 else "any"
        for measure in MEASURES:
            est, var, seeds, n_pairs = [], [], [], 0
            for seed, g in frame.groupby("seed"):
                g = g.dropna(subset=[measure])
                if by_unit:
                    sizes = g.groupby("unit")[measure].size()
                    per_unit = g.groupby("unit")[measure].mean()[sizes >= MIN_PAIRS].to_numpy(dtype=float)
                    if len(per_unit) < MIN_UNITS:
                        continue
                    est.append(per_unit.mean())
                    # a share is never more certain than one changed pair in the seed's pairs (as :func:`_floor`)
                    least = 1.0 / len(g) ** 2 if measure in SHARES else 1e-12
                    var.append(max(float(np.var(per_unit, ddof=1)) / len(per_unit), least))
                else:
                    values = g[measure].to_numpy(dtype=float)
                    if len(values) < MIN_PAIRS:
                        continue
                    est.append(values.mean())
                    var.append(_floor(values, measure))
                seeds.append(int(seed))
                n_pairs += len(g)
            if est:
                rows.append(figure_row(key[0], regime, label + measure, replicates.pool(est, var, seeds=seeds),
                                        pairs=n_pairs))
    return figure_frame(rows, "pairs")
