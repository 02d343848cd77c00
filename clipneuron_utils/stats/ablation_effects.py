"""Ablation (C1): what holding units at their mean does to each pair, per model, ready to pool over seeds.

Two outcomes per pair: whether the prediction is right (the accuracy change), and the **gold margin**, the
gold class's logit less the mean of the other two, in units of its SD over the probe pairs. The margin is
continuous, so the test sees what accuracy hides: a unit set that weakens every right answer without
flipping one. The output layer is linear in the units, so each unit's exact contribution to each pair's
margin is known (:func:`~clipneuron_utils.models.ablation.mean_contributions`), and two figures follow:

* the **positive control**: ablating the top k units by mean contribution (the largest loss any k units
  of the pool can cause), against random k; a test that does not see it could see nothing;
* the paper's reading tested with every unit: across units, does a unit's contribution to the gold margin
  fall as its excess IoU rises (a Spearman correlation per model, Fisher z, pooled over seeds)?
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..data.snli import LABELS
from . import replicates
from .tidy import figure_frame, figure_row

CLASSES = ("all", *LABELS)
OUTCOMES = ("margin", "accuracy")
#: the differences the chapter reads, each against random k: the claim's ranking and the positive control's
DIFFERENCES = {"top excess − random": "top excess IoU", "contribution − random": "top contribution"}
#: the variance of a Spearman r on the Fisher scale is about 1.06 / (n − 3) (Fieller, Hartley & Pearson, 1957)
SPEARMAN_VARIANCE = 1.06


def _floor(variance: float, n: int, outcome: str) -> float:
    """The variance of a mean of ``n`` per-pair changes (:func:`replicates.mean_variance`; accuracy is a share:
    an ablation that changed no prediction is an estimate of 0 with a small variance, not a seed to drop)."""
    return replicates.mean_variance(variance, n, share=outcome == "accuracy")


def _summary(changes: np.ndarray, sel: np.ndarray, outcome: str) -> tuple[float, float]:
    """(mean change over draws and pairs, its within-model variance: pairs, plus the draws' spread)."""
    d = np.atleast_2d(changes)[:, sel]
    per_draw, per_pair = d.mean(axis=1), d.mean(axis=0)
    n, r = d.shape[1], d.shape[0]
    pair_var = _floor(float(np.var(per_pair, ddof=1)), n, outcome) if n > 1 else math.nan
    draw_var = float(np.var(per_draw, ddof=1)) / r if r > 1 else 0.0
    return float(per_draw.mean()), pair_var + draw_var


def per_pair_changes(gold: np.ndarray, base_pred: np.ndarray, preds: np.ndarray, margin_change: np.ndarray,
                     margin_sd: float) -> dict[str, np.ndarray]:
    """Each outcome's per-pair change, ``(draws, n)``: the change in correctness (−1, 0, 1), and the change
    of the gold margin in probe SDs."""
    right0 = (base_pred == gold).astype(float)
    right1 = (np.atleast_2d(preds) == gold[None, :]).astype(float)
    return {"accuracy": right1 - right0[None, :], "margin": np.atleast_2d(margin_change) / margin_sd}


def ablation_changes(gold: np.ndarray, changes: dict) -> pd.DataFrame:
    """One row per (outcome, ranking, k, class): ``delta`` (the mean change) and ``var`` (within the model),
    from ``changes[(ranking, k)]`` = :func:`per_pair_changes`; and per :data:`DIFFERENCES` the paired
    difference of a ranking's change and the mean change of random k."""
    rows = []
    for cls in CLASSES:
        sel = np.ones(len(gold), bool) if cls == "all" else gold == LABELS.index(cls)
        if not sel.any():
            continue
        for outcome in OUTCOMES:
            for (ranking, k), by_outcome in changes.items():
                delta, var = _summary(by_outcome[outcome], sel, outcome)
                rows.append({"outcome": outcome, "ranking": ranking, "k": k, "class": cls, "delta": delta, "var": var})
            for k in sorted({k for (_, k) in changes}):
                rand = changes.get(("random", k))
                for name, ranking in DIFFERENCES.items():
                    chosen = changes.get((ranking, k))
                    if chosen is None or rand is None:
                        continue
                    d = np.atleast_2d(chosen[outcome])[0] - np.atleast_2d(rand[outcome]).mean(axis=0)
                    pair_var = _floor(float(np.var(d[sel], ddof=1)), int(sel.sum()), outcome) if sel.sum() > 1 else math.nan
                    draws = np.atleast_2d(rand[outcome])[:, sel].mean(axis=1)  # the random draws' spread
                    draw_var = float(np.var(draws, ddof=1)) / len(draws) if len(draws) > 1 else 0.0
                    rows.append({"outcome": outcome, "ranking": name, "k": k, "class": cls,
                                 "delta": float(d[sel].mean()), "var": pair_var + draw_var})
    return pd.DataFrame(rows, columns=["outcome", "ranking", "k", "class", "delta", "var"])


PLANTED_WEIGHT = 0.5  # C1's positive control: shuffled excess IoU − ½ × contribution (standardised) correlates with it
CORRELATION = "r(excess IoU, contribution)"
PLANTED = "planted: r(shuffled excess IoU − ½ contribution, contribution)"


def _spearman_z(x: np.ndarray, y: np.ndarray) -> float:
    r = float(sps.spearmanr(x, y).statistic)
    return math.atanh(max(min(r, 0.999999), -0.999999))


def contribution_correlation(units: pd.DataFrame, x: str = "excess_iou", y: str = "contribution") -> pd.DataFrame:
    """Per (encoder, regime), the Spearman correlation across units between ``x`` and ``y`` in each seed,
    pooled over seeds on the Fisher scale (variance :data:`SPEARMAN_VARIANCE` / (n − 3) within a seed); and
    :data:`PLANTED`, the same test where ``x`` is replaced by a shuffled ``x`` less :data:`PLANTED_WEIGHT` × y
    (both standardised): a negative correlation (−0.3 to −0.5 on the offline build) built on this build's
    units, whatever the real relation between ``x`` and ``y``."""
    rows = []
    if units.empty:
        return figure_frame(rows, "units")
    for (encoder, regime), frame in units.groupby(["encoder", "regime"], sort=False):
        found: dict[str, tuple[list, list]] = {CORRELATION: ([], []), PLANTED: ([], [])}
        seeds, n_units = [], 0
        for seed, g in frame.groupby("seed"):
            g = g.dropna(subset=[x, y])
            if len(g) < 10 or g[x].nunique() < 2 or g[y].nunique() < 2:
                continue
            a, b = g[x].to_numpy(dtype=float), g[y].to_numpy(dtype=float)
            shuffled = np.random.default_rng([int(seed), 5]).permutation(a)  # whatever x and y do, this one is built
            planted = (shuffled - a.mean()) / a.std() - PLANTED_WEIGHT * (b - b.mean()) / b.std()
            for name, values in ((CORRELATION, a), (PLANTED, planted)):
                found[name][0].append(_spearman_z(values, b))
                found[name][1].append(SPEARMAN_VARIANCE / (len(g) - 3))
            seeds.append(int(seed))
            n_units += len(g)
        for name, (est, var) in found.items():
            if est:
                pooled = replicates.pool(est, var, transform=np.tanh, seeds=seeds)
                rows.append(figure_row(encoder, regime, name, pooled, units=n_units))
    return figure_frame(rows, "units")
