"""Faithfulness (C2): how far a formula's edits move a unit beyond sham edits of the same pairs, pooled over seeds.

Each formula edit has its sham (:meth:`~clipneuron_utils.explain.edits.Editor.shams`): the same pair, another
word of the same tag swapped, the formula unchanged. Both start from the same pair, so whatever any edit of
an unusual pair does (a unit high on the pair drifts back toward its typical value) cancels in their
difference, and what is left is the formula's word. Per unit: the mean over its edits of (formula edit's
directed shift − its sham's), in probe SDs; per seed, the mean over units; then pooled over seeds with
between-seed variance. The same figure for another unit's formula is the null: the controlled figure is
the per-unit difference of the two. Planted units (a known word effect plus this model's noise) and their
shuffled twins show that the test finds faithfulness where it is, and not where it is not.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import replicates
from .tidy import figure_frame, figure_row

MIN_SHIFT = 0.1  # probe SDs: the smallest extra move of a unit under its formula's edits that counts
FAITHFUL_ALPHA = 0.05
MIN_EDITS = 4  # edit–sham pairs a unit needs to be tested
MIN_UNITS = 3  # tested units a seed needs for its mean to count
KEYS = ("encoder", "seed", "regime", "role", "unit")
MEASURES = {  # measure → (role, per-unit column)
    "formula − sham": ("unit", "effect"),
    "other formula − sham": ("unit", "other_effect"),
    "(formula − sham) − (other formula − sham)": ("unit", "controlled"),
    "planted: formula − sham": ("planted", "effect"),
    "twin: formula − sham": ("twin", "effect"),
}


def _paired(group: pd.DataFrame, kind: str) -> np.ndarray:
    """Each edit's directed shift less its sham's, for one unit and one ``kind`` of formula."""
    edits = group[group["kind"] == kind].set_index("link")["shift"]
    shams = group[group["kind"] == kind + " sham"].set_index("link")["shift"]
    both = edits.index.intersection(shams.index)
    return (edits.loc[both].to_numpy(dtype=float) - shams.loc[both].to_numpy(dtype=float))


def _passes(diffs: np.ndarray, min_shift: float, alpha: float):
    """Whether a unit's edit − sham differences exceed ``min_shift`` (one-sided t at ``alpha``); None with
    too few."""
    if len(diffs) < MIN_EDITS:
        return None
    if np.ptp(diffs) == 0:  # no spread at all: the difference is exact
        return bool(diffs.mean() > min_shift)
    with warnings.catch_warnings():  # nearly constant differences: scipy warns of precision loss, the test stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return bool(sps.ttest_1samp(diffs - min_shift, 0.0, alternative="greater").pvalue < alpha)


def unit_faithfulness(edits: pd.DataFrame, min_shift: float = MIN_SHIFT, alpha: float = FAITHFUL_ALPHA) -> pd.DataFrame:
    """One row per tested unit: its edit−sham pairs (``n``), the mean formula and sham shifts, ``effect``
    (formula − sham), ``other_effect`` (another unit's formula − its sham), ``controlled`` (their
    difference), the share of formula edits that move it the predicted way, and ``faithful`` (its
    differences exceed ``min_shift``, one-sided; None with fewer than :data:`MIN_EDITS`)."""
    keys = [c for c in KEYS if c in edits.columns]
    rows = []
    for key, group in edits.groupby(keys, sort=True):
        own, other = _paired(group, "formula"), _paired(group, "other formula")
        f = group.loc[group["kind"] == "formula", "shift"].to_numpy(dtype=float)
        s = group.loc[group["kind"] == "formula sham", "shift"].to_numpy(dtype=float)
        effect = own.mean() if len(own) >= MIN_EDITS else math.nan
        other_effect = other.mean() if len(other) >= MIN_EDITS else math.nan
        rows.append({**dict(zip(keys, key)), "formula": group["formula"].iloc[0], "n": len(own),
                     "formula_shift": f.mean() if len(f) else math.nan, "sham_shift": s.mean() if len(s) else math.nan,
                     "effect": effect, "other_effect": other_effect, "controlled": effect - other_effect,
                     "moved": float((f > 0).mean()) if len(f) else math.nan, "faithful": _passes(own, min_shift, alpha)})
    return pd.DataFrame(rows)


def shift_effects(units: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, regime) and :data:`MEASURES`: the mean over tested units, per seed (a seed needs
    :data:`MIN_UNITS`; its variance is the units' spread over their number), pooled over seeds."""
    rows = []
    for (encoder, regime), frame in units.groupby(["encoder", "regime"], sort=False):
        for measure, (role, col) in MEASURES.items():
            est, var, seeds, n_units = [], [], [], 0
            for seed, g in frame[frame["role"] == role].groupby("seed"):
                d = g[col].dropna().to_numpy(dtype=float)
                if len(d) < MIN_UNITS:
                    continue
                est.append(d.mean())
                var.append(replicates.mean_variance(float(np.var(d, ddof=1)), len(d)))
                seeds.append(int(seed))
                n_units += len(d)
            if est:
                rows.append(figure_row(encoder, regime, measure, replicates.pool(est, var, seeds=seeds), units=n_units))
    return figure_frame(rows, "units")


def faithful_counts(units: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, regime, role): how many tested units are faithful by their own test, of how many."""
    tested = units.dropna(subset=["faithful"])
    return (tested.assign(faithful=tested["faithful"].astype(bool))
            .groupby(["encoder", "regime", "role"], sort=False)["faithful"].agg(["sum", "count"])
            .rename(columns={"sum": "faithful", "count": "tested"}).reset_index())
