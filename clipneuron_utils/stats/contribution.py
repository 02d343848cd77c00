"""The paper's second question: do interpretable neurons contribute to accuracy?

:func:`acc_when_firing` (the model's accuracy on the probe pairs where a unit fires) and
:func:`iou_accuracy_correlation` (Pearson and Spearman between it and the unit's best IoU, per encoder ×
concept encoding × ``max_length``: the paper's Figures 4–5).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .tidy import DEFAULT_BY, check_columns, explained_mask, iter_groups, group_keys, check_vector, label_codes


def acc_when_firing(neuron_masks, pred, gold, neurons: Sequence[int] | None = None) -> pd.DataFrame:
    """Model accuracy on the probe pairs where each unit fires (NaN for a unit that never fires).

    ``neuron_masks``: boolean (pairs × units), e.g. ``threshold_activations(acts)``; ``pred`` and
    ``gold``: one label per pair (codes in ``LABELS`` order, or label strings). One matrix product
    counts the correct firing pairs of every unit at once. Returns ``neuron, n_fires, acc_when_firing``.
    """
    masks = np.asarray(neuron_masks)
    if masks.ndim != 2:
        raise ValueError(f"neuron_masks must be 2-D (pairs × units), got shape {masks.shape}")
    if masks.dtype != bool:
        raise ValueError(
            f"neuron_masks must be boolean (got dtype {masks.dtype}); use threshold_activations(acts)"
        )
    n_pairs, n_units = masks.shape
    correct = label_codes(check_vector(pred, "pred", n_pairs), "pred") == label_codes(check_vector(gold, "gold", n_pairs), "gold")
    neurons = np.arange(n_units) if neurons is None else check_vector(neurons, "neurons", n_units)
    if len(neurons) != n_units:
        raise ValueError(f"neurons has {len(neurons)} entries but neuron_masks has {n_units} units")
    # counts are exact integers in float32 below 2**24 pairs
    dtype = np.float32 if n_pairs < 2**24 else np.float64
    n_fires = masks.sum(axis=0, dtype=np.int64)
    n_correct = np.rint(correct.astype(dtype) @ masks.astype(dtype)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_fires > 0, n_correct / np.maximum(n_fires, 1), np.nan)
    return pd.DataFrame({"neuron": neurons.astype(np.int64), "n_fires": n_fires, "acc_when_firing": acc})


def attach_accuracy(results: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """``results`` with an ``acc_when_firing`` column, matched on ``neuron`` and shared key columns.

    Shared columns such as ``encoder`` are keys; accuracy does not depend on the concept encoding, so
    an accuracy frame without ``encoding`` is matched to both encodings' rows. ``results`` keeps its own
    ``n_fires``.
    """
    check_columns(results, ["neuron"], "results")
    check_columns(accuracy, ["neuron", "acc_when_firing"], "accuracy")
    keys = ["neuron"] + [
        c for c in accuracy.columns if c in results.columns and c not in ("neuron", "n_fires", "acc_when_firing")
    ]
    right = accuracy[keys + ["acc_when_firing"]]
    if right.duplicated(keys).any():
        raise ValueError(f"accuracy has more than one row per {keys}")
    left = results.drop(columns=["acc_when_firing"], errors="ignore")
    return left.merge(right, on=keys, how="left", validate="many_to_one")


def _fit(x: np.ndarray, y: np.ndarray, min_neurons: int) -> dict:
    out = dict.fromkeys(
        ["pearson_r", "pearson_p", "spearman_rho", "spearman_p", "slope", "intercept"], math.nan
    )
    if len(x) < min_neurons or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out  # a correlation needs variation in both variables
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
        line = stats.linregress(x, y)
    out.update(
        pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
        spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue),
        slope=float(line.slope), intercept=float(line.intercept),
    )
    return out


def iou_accuracy_correlation(
    results: pd.DataFrame,
    accuracy: pd.DataFrame | None = None,
    by: Sequence[str] | None = None,
    min_neurons: int = 3,
) -> pd.DataFrame:
    """Correlation between best IoU and accuracy when firing, over the explained neurons of a group.

    The paper's Figures 4–5 ask whether interpretable units help the model: a negative r means the
    better a unit is explained, the less accurate the model is where it fires. ``accuracy`` is an
    :func:`acc_when_firing` frame (or None when ``results`` already has ``acc_when_firing``). ``by``
    defaults to ``encoder, encoding, max_length`` (those present). Per group: ``n_units``, ``n`` (explained
    units that fire), ``mean_iou``, ``mean_acc_when_firing``, Pearson and Spearman with p-values, and
    the least-squares line ``acc = intercept + slope · iou``; NaN when ``n < min_neurons`` or either
    variable is constant.
    """
    if not isinstance(min_neurons, (int, np.integer)) or min_neurons < 2:
        raise ValueError(f"min_neurons must be an int ≥ 2, got {min_neurons!r}")
    frame = results if accuracy is None else attach_accuracy(results, accuracy)
    check_columns(frame, ["neuron", "iou", "acc_when_firing"], "results")
    keys = group_keys(frame, by, DEFAULT_BY, "results")
    rows = []
    for key, sub in iter_groups(frame, keys):
        acc = pd.to_numeric(sub["acc_when_firing"], errors="coerce").to_numpy(dtype=float)
        use = explained_mask(sub).to_numpy() & np.isfinite(acc)
        x = sub["iou"].to_numpy(dtype=float)[use]
        y = acc[use]
        rows.append({
            **key,
            "n_units": len(sub),
            "n": int(use.sum()),
            "mean_iou": float(x.mean()) if len(x) else math.nan,
            "mean_acc_when_firing": float(y.mean()) if len(y) else math.nan,
            **_fit(x, y, int(min_neurons)),
        })
    columns = [*keys, "n_units", "n", "mean_iou", "mean_acc_when_firing", "pearson_r", "pearson_p",
               "spearman_rho", "spearman_p", "slope", "intercept"]
    return pd.DataFrame(rows, columns=columns)
