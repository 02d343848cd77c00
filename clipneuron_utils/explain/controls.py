"""The matched null: the best IoU a unit would get if it fired on as many probe pairs, at random.

IoU rewards a unit for firing on about as many pairs as some concept covers, so a unit's best IoU tracks
its firing count whatever it encodes (r ≈ 0.98 across units in this book's first builds). The control
asks how much of a real unit's IoU survives that: for each unit, random masks with exactly its firing
count (a random permutation of its mask over the probe pairs) are searched by the same beam search,
with the same concepts and settings, at every length 1 … ``max_length``. ``excess_iou = iou −
null_mean_iou`` is what the unit's formula explains beyond its firing rate, and ``p_value`` the share
of draws that reach the real IoU, with the +1 correction: ``(1 + #{null ≥ real}) / (n_draws + 1)``
(so with 20 draws the smallest p is 1/21).

The null depends on a unit only through its firing count (and the concepts), so draws are keyed by the
count: units of equal count share them, and with ``bin_width > 0`` units whose counts lie within
``bin_width`` (relative) of each other share the draws of one representative count (log-spaced bins:
the representative is at most ``bin_width / 2`` away plus the rounding to a whole count, so always
within ``bin_width``, and it is the count itself below ``1 / bin_width``). That
is what makes the control cheap enough for every seed × encoder × encoding: one model's 1,024 units
usually fall into a few dozen 1 % bins, and models searched with the same concepts reuse each other's
draws (:func:`clipneuron_utils.run.caches.null_draws` keeps them).

Random masks of one count are drawn from a generator seeded by ``(seed, count, draw)``, so a draw never
depends on which other counts are searched with it: a cache of draws can grow without changing them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .search import beam_search_by_length

#: search parameters that change the null (``min_acts`` does not: only explained units get a null)
SEARCH_KEYS = ("max_length", "beam_size", "complexity_penalty", "or_not", "expand_all", "penalty_counts_not",
               "duplicate_beam")
NULL_COLUMNS = ["null_count", "null_mean_iou", "null_sd_iou", "n_draws", "p_value"]


def firing_bins(counts, bin_width: float = 0.0) -> np.ndarray:
    """The count whose draws stand in for each firing count: itself (``bin_width=0``), or the centre of
    its log-spaced bin of relative width ``bin_width`` (within ``bin_width`` of it; itself below
    ``1 / bin_width``)."""
    counts = np.asarray(counts, dtype=np.int64)
    if not (isinstance(bin_width, (int, float)) and 0 <= bin_width < 0.5 and math.isfinite(bin_width)):
        raise ValueError(f"bin_width must be a number in [0, 0.5) (0: every count its own draws); got {bin_width!r}")
    if bin_width == 0:
        return counts.copy()
    step = math.log1p(bin_width)
    safe = np.maximum(counts, 1)
    centre = np.rint(np.exp(np.rint(np.log(safe) / step) * step)).astype(np.int64)
    return np.where(counts > 0, np.maximum(centre, 1), counts)


def random_masks(counts: Sequence[int], n_pairs: int, n_draws: int, seed: int = 0) -> np.ndarray:
    """Boolean (pairs × len(counts)·n_draws): column ``i·n_draws + d`` fires on exactly ``counts[i]``
    random pairs, drawn from a generator seeded by ``(seed, counts[i], d)``."""
    counts = [int(c) for c in counts]
    bad = [c for c in counts if not 0 <= c <= n_pairs]
    if bad:
        raise ValueError(f"firing counts must lie in 0..{n_pairs} (the probe pairs); got {bad[:5]}")
    masks = np.zeros((n_pairs, len(counts) * n_draws), dtype=bool)
    for i, count in enumerate(counts):
        for d in range(n_draws):
            chosen = np.random.default_rng([seed, count, d]).permutation(n_pairs)[:count]
            masks[chosen, i * n_draws + d] = True
    return masks


def search_null(counts, concepts, *, n_pairs: int, n_draws: int = 10, seed: int = 0, progress: bool = False,
                n_jobs: int = 1, **search_params) -> pd.DataFrame:
    """Best IoU of random masks: one row per (count, draw, max_length) with ``count, draw, max_length, iou``.

    All counts × draws go through one vectorised :func:`beam_search_by_length` call, in ``n_jobs``
    processes (≤ 0: every core; the draws do not depend on it).
    """
    counts = np.unique(np.asarray(counts, dtype=np.int64))
    if not isinstance(n_draws, (int, np.integer)) or isinstance(n_draws, bool) or n_draws < 1:
        raise ValueError(f"n_draws must be an int ≥ 1; got {n_draws!r}")
    params = {k: v for k, v in search_params.items() if k in SEARCH_KEYS}
    unknown = set(search_params) - set(SEARCH_KEYS) - {"min_acts", "names", "chunk_neurons"}
    if unknown:
        raise ValueError(f"unknown search parameters for the null: {sorted(unknown)}")
    if len(counts) == 0:
        return pd.DataFrame({"count": pd.Series(dtype=np.int64), "draw": pd.Series(dtype=np.int64),
                             "max_length": pd.Series(dtype=np.int64), "iou": pd.Series(dtype=float)})
    masks = random_masks(counts, n_pairs, n_draws, seed)
    found = beam_search_by_length(masks, concepts, min_acts=0, progress=progress, n_jobs=n_jobs,
                                  names=search_params.get("names"), **params)
    column = found["neuron"].to_numpy()
    return pd.DataFrame({
        "count": counts[column // n_draws], "draw": column % n_draws,
        "max_length": found["max_length"].to_numpy(), "iou": found["iou"].to_numpy(dtype=float),
    })


def summarise(real: pd.DataFrame, draws: pd.DataFrame, bin_width: float = 0.0) -> pd.DataFrame:
    """Per (neuron, max_length) of ``real`` (a :func:`beam_search_by_length` frame): the null of its firing
    count from ``draws`` (:func:`search_null` rows): ``neuron, max_length`` + :data:`NULL_COLUMNS`.

    Unexplained units stay unexplained: their null columns are NaN (``n_draws`` 0).
    """
    for name, frame, needed in (("real", real, ("neuron", "max_length", "iou", "n_fires", "explained")),
                                ("draws", draws, ("count", "draw", "max_length", "iou"))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks the columns {missing}")
    out = real[["neuron", "max_length", "iou", "n_fires", "explained"]].copy()
    out["null_count"] = firing_bins(out["n_fires"].to_numpy(), bin_width)
    out.loc[~out["explained"], "null_count"] = -1
    grouped = draws.groupby(["count", "max_length"])["iou"]
    stats = pd.DataFrame({"null_mean_iou": grouped.mean(), "null_sd_iou": grouped.std(ddof=1),
                          "n_draws": grouped.size()}).reset_index().rename(columns={"count": "null_count"})
    out = out.merge(stats, on=["null_count", "max_length"], how="left", validate="many_to_one")
    lacking = out["explained"] & out["n_draws"].isna()
    if lacking.any():
        raise ValueError(f"draws hold no null for firing count(s) {sorted(set(out.loc[lacking, 'null_count']))[:5]}"
                         " (search them first)")
    # p: share of draws at least as good as the real IoU, +1 correction
    paired = out[out["explained"]][["neuron", "max_length", "null_count", "iou"]].merge(
        draws.rename(columns={"count": "null_count", "iou": "null_iou"}), on=["null_count", "max_length"])
    hits = (paired["null_iou"] >= paired["iou"] - 1e-12).groupby([paired["neuron"], paired["max_length"]]).sum()
    out = out.merge(hits.rename("hits").reset_index(), on=["neuron", "max_length"], how="left")
    out["n_draws"] = out["n_draws"].fillna(0).astype(np.int64)
    out["p_value"] = np.where(out["explained"], (1 + out["hits"].fillna(0)) / (out["n_draws"] + 1), np.nan)
    out["null_count"] = out["null_count"].where(out["explained"]).astype("Int64")
    return out[["neuron", "max_length", *NULL_COLUMNS]].reset_index(drop=True)


def attach(results: pd.DataFrame, null: pd.DataFrame) -> pd.DataFrame:
    """``results`` with the null's columns and ``excess_iou = iou − null_mean_iou`` (NaN when unexplained)."""
    left = results.drop(columns=[c for c in [*NULL_COLUMNS, "excess_iou"] if c in results.columns])
    out = left.merge(null[["neuron", "max_length", *NULL_COLUMNS]], on=["neuron", "max_length"], how="left",
                     validate="many_to_one")
    out["excess_iou"] = out["iou"] - out["null_mean_iou"]
    return out


def matched_null(neuron_masks, concepts, *, n_draws: int = 10, seed: int = 0, bin_width: float = 0.0,
                 real: pd.DataFrame | None = None,
                 draws_for: Callable[[np.ndarray], pd.DataFrame] | None = None, n_jobs: int = 1,
                 **search_params) -> pd.DataFrame:
    """The firing-rate-matched null of every unit: one row per unit × max_length with
    ``neuron, max_length, null_count, null_mean_iou, null_sd_iou, n_draws, p_value``.

    ``neuron_masks``: boolean (pairs × units); ``concepts`` and ``search_params`` as for
    :func:`beam_search_by_length` (``min_acts`` decides which units are explained). ``real``: that
    search's results when already computed (else the search runs here). ``bin_width``: share draws
    between units whose firing counts are within this relative width (0: exact counts). ``draws_for``:
    a function from the needed counts to :func:`search_null` rows (a cache); by default they are searched.
    ``n_jobs``: processes for the searches made here (≤ 0: every core; the results do not depend on it).
    """
    neuron_masks = np.asarray(neuron_masks)
    if neuron_masks.ndim != 2:
        raise ValueError(f"neuron_masks must be 2-D (pairs × units), got shape {neuron_masks.shape}")
    neuron_masks = neuron_masks.astype(bool, copy=False)
    if real is None:
        real = beam_search_by_length(neuron_masks, concepts, progress=False, n_jobs=n_jobs, **search_params)
    explained = real[real["explained"]]
    needed = np.unique(firing_bins(explained["n_fires"].to_numpy(), bin_width))
    if draws_for is None:
        draws = search_null(needed, concepts, n_pairs=neuron_masks.shape[0], n_draws=n_draws, seed=seed,
                            n_jobs=n_jobs, **search_params)
    else:
        draws = draws_for(needed)
    return summarise(real, draws, bin_width)
