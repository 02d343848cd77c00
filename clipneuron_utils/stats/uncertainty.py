"""Uncertainty for the results chapters: bootstrap intervals over training seeds, p-values, formatting.

Why this module. Every number the book reports is a statistic of one trained model's units, and a
model is one draw of its training seed. With several seeds (independently trained replicates, each
with its own units) the estimate is the **mean over seeds of the per-seed statistic**: each seed counts
once, however many of its units a statistic uses. Its interval (95 % by default) is a percentile
bootstrap that resamples units **within each seed** (stratified: ``scipy.stats.bootstrap`` with one
sample per seed, ``paired=False``) and recomputes that mean of per-seed statistics. The seed-to-seed
spread is reported beside it (:func:`seed_sd`); with three seeds it is too rough for an interval of
its own, so the intervals describe the sampling of units only.

How. The samples given to scipy are each seed's unit indices, so that statistics of several columns
of the same units (pairs for a correlation, measures for a mean) are resampled together. Resampling a
seed's units is the same as weighting unit ``i`` by the number of times ``c_i`` it was drawn, so the
means and the Pearson and partial correlations of all 2,000 resamples come from one matrix product
with the count matrix, and the Spearman correlation of a resample (Pearson on the average ranks of its
values, what ``scipy.stats.rankdata`` gives, ties and repeated units included) from cumulative counts
in the order of each variable — no sort per resample. :func:`weighted_correlation` is that
computation; the tests check it against ``pingouin.partial_corr`` on the same, repeated, data. Inside
the bootstrap the Spearman ranks are float32 (exact: half-integers) with float32 sums (relative error
~1e-6 in a resample's r, far below what an interval resolves); point estimates are float64.

Point estimates and p-values that the book prints come from pingouin (``effects.firing_confound``);
:func:`combined_p` pools per-seed correlations by a fixed-effect Fisher-z combination and :func:`holm`
adjusts a family of p-values (:mod:`clipneuron_utils.render.numbers` prints them).

Undefined statistics are NaN, never exceptions: an interval needs at least ``MIN_UNITS`` units in every
seed (a correlation 3 + covariates) and a bootstrap distribution that varies; resamples in which a
statistic is undefined (e.g. all drawn units alike) are left out while they are at most
``MAX_UNDEFINED_SHARE`` of them, and the interval is NaN beyond that.

Combining correlations' p-values over seeds and Holm's adjustment are :mod:`.pvalues`; printing them is
:mod:`clipneuron_utils.render.numbers`.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

MIN_UNITS = 3
MAX_UNDEFINED_SHARE = 0.01
METHODS = ("pearson", "spearman")
# scipy ≥ 1.15 calls the generator ``rng``; older releases only know ``random_state``
_RNG_ARGUMENT = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"

# ------------------------------------------------------------------------------------------ checks


def _check_options(n_resamples, confidence) -> None:
    if not isinstance(n_resamples, (int, np.integer)) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an int ≥ 1, got {n_resamples!r}")
    if not (isinstance(confidence, (int, float, np.floating)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")


def check_method(method: str) -> None:
    """``method`` must be ``"pearson"`` or ``"spearman"``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _per_seed(samples, name: str) -> list[np.ndarray]:
    """One float array per seed; a single 1-D array (or Series) counts as one seed."""
    if isinstance(samples, (str, bytes)):
        raise ValueError(f"{name} must be a list of 1-D arrays (one per training seed)")
    if not isinstance(samples, list | tuple) and np.ndim(samples) == 1:
        samples = [samples]
    out = []
    for i, sample in enumerate(samples):
        array = np.asarray(sample, dtype=float)
        if array.ndim != 1:
            raise ValueError(f"{name}[{i}] must be 1-D, got shape {array.shape}")
        out.append(array)
    return out


def seed_sd(values) -> float:
    """SD over seeds (ddof 1) of a per-seed statistic; NaN with fewer than two seeds."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1)) if len(values) >= 2 else math.nan


# ------------------------------------------------------------------------------ bootstrap engine


def _counts(idx: np.ndarray, n: int, dtype=np.float32, units_first: bool = False) -> np.ndarray:
    """How often each of ``n`` units is drawn in each resample: (resamples, n) indices → counts.

    Counts are (resamples, n), or (n, resamples) with ``units_first`` (the layout of the correlation
    engine, where sums over units run along the first axis).
    """
    flat = idx.reshape(-1, idx.shape[-1]).astype(np.int64, copy=False)
    b = len(flat)
    if units_first:
        counts = np.bincount((flat * b + np.arange(b)[:, None]).ravel(), minlength=b * n)
        return counts.reshape(n, b).astype(dtype)
    counts = np.bincount((flat + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n)
    return counts.reshape(b, n).astype(dtype)


def _percentile_interval(
    sizes: Sequence[int],
    statistic: Callable[..., np.ndarray],
    n_out: int,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
    samples: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified percentile bootstrap, one sample per seed (unit indices unless ``samples`` is given).

    ``statistic(*resamples)`` gets one (resamples × n_s) array per seed and returns (n_out, resamples)
    values. Returns (low, high), each of length ``n_out`` (equal where every resample gives the same value); NaN
    where the distribution is undefined too often (module docstring), or where a seed has fewer than ``MIN_UNITS`` units.
    """
    low = np.full(n_out, np.nan)
    high = np.full(n_out, np.nan)
    if not sizes or min(sizes) < MIN_UNITS:
        return low, high
    samples = [np.arange(n) for n in sizes] if samples is None else samples

    def wrapped(*resamples, axis=-1):
        return np.asarray(statistic(*resamples), dtype=float).reshape(n_out, *resamples[0].shape[:-1])

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            samples, wrapped, n_resamples=int(n_resamples), vectorized=True, paired=False,
            confidence_level=float(confidence), method="percentile",
            **{_RNG_ARGUMENT: np.random.default_rng(seed)},
        )
        distribution = np.asarray(result.bootstrap_distribution, dtype=float).reshape(n_out, -1)
        scipy_low = np.atleast_1d(np.asarray(result.confidence_interval.low, dtype=float))
        scipy_high = np.atleast_1d(np.asarray(result.confidence_interval.high, dtype=float))
        alpha = (1 - float(confidence)) / 2
        for j in range(n_out):
            finite = np.isfinite(distribution[j])
            if not finite.any() or 1 - finite.mean() > MAX_UNDEFINED_SHARE:
                continue
            values = distribution[j][finite]
            if np.ptp(values) == 0:  # every resample agrees (e.g. all differences 0): the interval is that point
                low[j] = high[j] = values[0]
                continue
            if finite.all():
                low[j], high[j] = scipy_low[j], scipy_high[j]
            else:
                low[j], high[j] = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return low, high


# ----------------------------------------------------------------------------------------- means


def bootstrap_means(
    samples: Sequence[np.ndarray], *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """Means of several measures of the same units, each over the units where it is defined (not NaN).

    ``samples``: one (units × measures) array per seed. A seed's units are resampled together (one
    draw for all measures), so measures of different subsets of the same units (e.g. the IoU of
    explained units beside a mean over all units) stay comparable and cost one bootstrap; a measure's
    mean in a resample is over the drawn units where it is defined. Returns a dict of arrays over
    measures: ``estimate`` (mean over seeds of the per-seed means), ``low, high, seed_sd, n_seeds``
    (seeds where the measure is defined), ``n`` (defined units per seed, mean over all seeds) and
    ``per_seed`` (seeds × measures, NaN where undefined). Intervals need ``MIN_UNITS`` defined units in
    every seed that has any.
    """
    _check_options(n_resamples, confidence)
    samples = [np.asarray(s, dtype=float) for s in samples]
    k = samples[0].shape[1] if samples and samples[0].ndim == 2 else 0
    if not samples or any(s.ndim != 2 or s.shape[1] != k for s in samples):
        raise ValueError("samples must be a non-empty list of (units × measures) arrays, same measures each")
    defined = [np.isfinite(s) for s in samples]
    counts = np.array([d.sum(axis=0) for d in defined], dtype=float).reshape(len(samples), k)
    values = [np.where(d, s, 0.0) for s, d in zip(samples, defined)]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_seed = np.array([v.sum(axis=0) for v in values]).reshape(len(samples), k) / counts
    used = counts > 0  # seeds × measures
    n_seeds = used.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(used, per_seed, 0.0).sum(axis=0) / n_seeds
    keep = [i for i in range(len(samples)) if used[i].any()]
    if all(d.all() for d in defined):  # nothing undefined: plain means, cheapest
        tables = [np.ascontiguousarray(values[i]) for i in keep]

        def statistic(*idx):
            means = [_counts(i, len(t), np.float64) @ t / len(t) for i, t in zip(idx, tables)]
            return np.moveaxis(np.mean(means, axis=0), -1, 0)
    else:
        tables = [np.hstack([values[i], defined[i].astype(float)]) for i in keep]
        seeds_used = used[keep]

        def statistic(*idx):
            sums = np.stack([_counts(i, len(t), np.float64) @ t for i, t in zip(idx, tables)])
            with np.errstate(invalid="ignore", divide="ignore"):
                means = sums[..., :k] / sums[..., k:]  # seeds × resamples × measures
            means = np.where(seeds_used[:, None, :], means, 0.0).sum(axis=0) / n_seeds
            return np.moveaxis(means, -1, 0)

    low, high = _percentile_interval([len(values[i]) for i in keep], statistic, k,
                                     n_resamples=n_resamples, confidence=confidence, seed=seed)
    too_few = ((counts < MIN_UNITS) & used).any(axis=0)
    low[too_few] = high[too_few] = np.nan
    return {
        "estimate": estimate, "low": low, "high": high, "per_seed": np.where(used, per_seed, np.nan),
        "seed_sd": np.array([seed_sd(per_seed[used[:, j], j]) for j in range(k)]),
        "n_seeds": n_seeds.astype(int), "n": counts.mean(axis=0),
    }


def bootstrap_mean(
    samples: Sequence[np.ndarray], *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high): the mean over seeds of each seed's mean, with a stratified bootstrap CI.

    ``samples``: one 1-D array per training seed (a single array is one seed); NaNs are dropped and
    seeds left empty ignored. The CI is NaN when a seed has fewer than ``MIN_UNITS`` values or no
    seed's values vary.
    """
    _check_options(n_resamples, confidence)
    arrays = [s[~np.isnan(s)] for s in _per_seed(samples, "samples")]
    arrays = [s for s in arrays if len(s)]
    if not arrays:
        return math.nan, math.nan, math.nan
    estimate = float(np.mean([s.mean() for s in arrays]))
    low, high = _percentile_interval(
        [len(s) for s in arrays], lambda *r: np.mean([x.mean(axis=-1) for x in r], axis=0), 1,
        n_resamples=n_resamples, confidence=confidence, seed=seed, samples=arrays,
    )
    return estimate, float(low[0]), float(high[0])


# ----------------------------------------------------------------------------------- correlations


def _cumsum_units(a: np.ndarray) -> np.ndarray:
    """Cumulative sum over the first axis, in place: row by row, which for (units × resamples) arrays
    is several times faster than ``np.cumsum(axis=0)`` (that does not vectorize across columns)."""
    if a.ndim == 1 or a.shape[0] < 2:
        return np.cumsum(a, axis=0, out=a)
    for i in range(1, a.shape[0]):
        np.add(a[i], a[i - 1], out=a[i])
    return a


def _weighted_ranks(weights: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Centred average ranks of data where unit i appears ``weights[i, ...]`` times (``m`` = total weight).

    Equal values (ties in ``x``, or a unit drawn twice) share the mean of their ranks, as in
    ``scipy.stats.rankdata``; centred means minus the mean rank (m + 1) / 2. A unit of weight 0 gets a
    rank that its weight makes irrelevant.
    """
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    new = np.empty(len(x), dtype=bool)
    new[:1] = True
    new[1:] = ordered[1:] != ordered[:-1]
    in_order = np.take(weights, order, axis=0)  # the weight of each value, in increasing order
    if new.all():  # no ties
        group, ranks = in_order, _cumsum_units(in_order.copy())
    else:  # a group of tied values: its cumulative count at its last member, and its total
        ranks = np.take(_cumsum_units(in_order), np.r_[np.flatnonzero(new)[1:] - 1, len(x) - 1], axis=0)
        group = ranks.copy()
        group[1:] -= ranks[:-1]
    group *= 0.5
    ranks -= group  # the mean rank of a group is its cumulative count − (count − 1) / 2
    ranks -= np.asarray(m, dtype=weights.dtype) / 2  # − (m + 1) / 2, the two halves cancel
    group_of_unit = np.empty(len(x), dtype=np.int64)
    group_of_unit[order] = np.cumsum(new) - 1
    return np.take(ranks, group_of_unit, axis=0)


def _pair_correlations(weights, data, pairs, method, dtype) -> dict:
    """r of each (a, b) pair in the data weighted by ``weights`` (n, ...); NaN where one is constant."""
    out = {}
    if not pairs:
        return out
    names = list(dict.fromkeys(v for pair in pairs for v in pair))
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "pearson":
            w = np.asarray(weights, dtype=np.float64)
            m = w.sum(axis=0)
            centred = {v: data[v] - data[v].mean() for v in names}
            columns = [centred[v] for v in names] + [centred[v] ** 2 for v in names]
            columns += [centred[a] * centred[b] for a, b in pairs]
            sums = np.column_stack(columns).T @ w  # (columns, ...)
            first = dict(zip(names, sums[: len(names)]))
            second = dict(zip(names, sums[len(names): 2 * len(names)]))
            var = {v: second[v] - first[v] ** 2 / m for v in names}
            flat = {v: var[v] <= 1e-12 * second[v] for v in names}  # constant up to rounding
            for (a, b), cross in zip(pairs, sums[2 * len(names):]):
                r = (cross - first[a] * first[b] / m) / np.sqrt(var[a] * var[b])
                out[a, b] = np.where(flat[a] | flat[b] | (m < 2), np.nan, np.clip(r, -1.0, 1.0))
        else:
            w = np.asarray(weights, dtype=dtype)
            m = w.sum(axis=0)
            ranks = {v: _weighted_ranks(w, data[v].astype(dtype), m) for v in names}
            weighted = {v: w * ranks[v] for v in names}
            var = {v: np.einsum("i...,i...->...", weighted[v], ranks[v]) for v in names}
            for a, b in pairs:
                cov = np.einsum("i...,i...->...", weighted[a], ranks[b])
                r = cov.astype(np.float64) / np.sqrt(var[a].astype(np.float64) * var[b])
                out[a, b] = np.where((var[a] <= 0) | (var[b] <= 0) | (m < 2), np.nan, np.clip(r, -1.0, 1.0))
    return out


def _correlations(weights, data: dict, specs: Sequence[tuple], masks: dict | None = None,
                  fast: bool = False) -> np.ndarray:
    """(specs, ...) correlations; a spec is ``(x, y, covariate or None, method, mask name or None)``.

    ``weights`` (n, ...): how often each unit counts, units first (e.g. resample counts, one column per
    resample); ``data``: name → (n,) finite values; ``masks``: name → (n,) 0/1 restricting a spec to
    some units. ``fast``: Spearman ranks and sums in float32 (for bootstrap resamples).
    """
    dtype = np.float32 if fast else np.float64
    weights = np.asarray(weights, dtype=dtype)
    out = np.empty((len(specs),) + weights.shape[1:])
    for mask in dict.fromkeys(spec[4] for spec in specs):
        w = weights if mask is None else weights * np.asarray(masks[mask], dtype=dtype).reshape(
            (-1,) + (1,) * (weights.ndim - 1))
        for method in METHODS:
            mine = [(i, s) for i, s in enumerate(specs) if s[4] == mask and s[3] == method]
            pairs = []
            for _, (x, y, z, _, _) in mine:
                pairs += [(x, y)] + ([(x, z), (y, z)] if z is not None else [])
            r = _pair_correlations(w, data, list(dict.fromkeys(pairs)), method, dtype)
            for i, (x, y, z, _, _) in mine:
                if z is None:
                    out[i] = r[x, y]
                    continue
                rxy, rxz, ryz = r[x, y], r[x, z], r[y, z]
                with np.errstate(invalid="ignore", divide="ignore"):
                    partial = (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))
                out[i] = np.where(np.isfinite(partial), np.clip(partial, -1.0, 1.0), np.nan)
    return out


def weighted_correlation(weights, x, y, covariate=None, *, method: str = "pearson") -> np.ndarray:
    """Correlation (partial, given ``covariate``) of data in which unit i appears ``weights[..., i]`` times.

    Vectorized over the leading axes of ``weights``: with resample counts it gives every resample's
    correlation at once, Spearman included (ranks of each resample's values, ties averaged). With
    ``weights = 1`` it is the ordinary (partial) correlation. NaN where a variable does not vary.
    """
    check_method(method)
    data = {"x": _per_seed(x, "x")[0], "y": _per_seed(y, "y")[0]}
    if covariate is not None:
        data["z"] = _per_seed(covariate, "covariate")[0]
    n = len(data["x"])
    if any(len(v) != n for v in data.values()) or np.shape(weights)[-1:] != (n,):
        raise ValueError("x, y, covariate and the last axis of weights must have the same length")
    if not all(np.isfinite(v).all() for v in data.values()):
        raise ValueError("x, y and covariate must be finite")
    spec = ("x", "y", "z" if covariate is not None else None, method, None)
    units_first = np.moveaxis(np.asarray(weights, dtype=np.float64), -1, 0)
    return _correlations(units_first, data, [spec])[0]


def correlation_defined(values: Sequence[np.ndarray], n_covariates: int = 0) -> bool:
    """Whether a (partial) correlation of these paired variables is defined: enough units, all varying."""
    n = len(values[0])
    return n >= MIN_UNITS + n_covariates and all(np.ptp(v) > 0 for v in values)


def bootstrap_correlations(
    seeds: Sequence[dict[str, np.ndarray]],
    specs: Sequence[tuple],
    combine: Callable[[np.ndarray], np.ndarray] | None = None,
    masks: Sequence[dict[str, np.ndarray]] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Several correlations of the same units, per seed, with one stratified bootstrap for them all.

    ``seeds``: one dict name → (units,) finite values per seed (the same names in each); ``specs``:
    ``(x, y, covariate or None, method[, mask name])`` tuples; ``masks``: per seed, name → 0/1 (units,)
    restricting a spec to some of the units. ``combine`` maps per-seed correlations (seeds × specs × …)
    to the reported statistics (outputs × …); default: each spec's mean over seeds. Returns
    ``estimate, low, high`` (outputs) and ``per_seed`` (seeds × specs). The caller passes only seeds in
    which every spec is defined (:func:`correlation_defined`).
    """
    _check_options(n_resamples, confidence)
    specs = [tuple(s) + (None,) * (5 - len(s)) for s in specs]
    for spec in specs:
        check_method(spec[3])
    masks = list(masks) if masks is not None else [{} for _ in seeds]
    combine = combine or (lambda r: r.mean(axis=0))
    if not seeds:
        nan = np.full(len(specs), np.nan)
        return {"estimate": nan, "low": nan, "high": nan, "per_seed": np.empty((0, len(specs)))}
    sizes = [len(next(iter(d.values()))) for d in seeds]
    point = np.stack([_correlations(np.ones(n), d, specs, m) for n, d, m in zip(sizes, seeds, masks)])
    estimate = np.atleast_1d(np.asarray(combine(point), dtype=float))

    def statistic(*idx):
        return combine(np.stack([_correlations(_counts(i, n, units_first=True), d, specs, m, fast=True)
                                 for i, n, d, m in zip(idx, sizes, seeds, masks)]))

    low, high = _percentile_interval(sizes, statistic, len(estimate),
                                     n_resamples=n_resamples, confidence=confidence, seed=seed)
    return {"estimate": estimate, "low": low, "high": high, "per_seed": point}


def bootstrap_correlation(
    xs, ys, covariate=None, *, method: str = "pearson", n_resamples: int = 2000,
    confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): the mean over seeds of each seed's correlation, with a stratified CI.

    ``xs``, ``ys`` (and ``covariate``, for a partial correlation): one 1-D array per seed, paired
    unit by unit; units with a NaN are dropped. Seeds whose correlation is undefined (fewer than
    3 + covariates units, or a constant variable) are left out; NaN when none is left. The bootstrap
    resamples each seed's units (index arrays, so pairs stay together) and re-ranks for Spearman.
    """
    check_method(method)
    xs, ys = _per_seed(xs, "xs"), _per_seed(ys, "ys")
    zs = None if covariate is None else _per_seed(covariate, "covariate")
    if len(xs) != len(ys) or (zs is not None and len(zs) != len(xs)):
        raise ValueError("xs, ys and covariate must have one array per seed each")
    seeds = []
    for i in range(len(xs)):
        data = {"x": xs[i], "y": ys[i]} | ({} if zs is None else {"z": zs[i]})
        if any(len(v) != len(xs[i]) for v in data.values()):
            raise ValueError(f"seed {i}: xs, ys and covariate differ in length")
        keep = np.logical_and.reduce([np.isfinite(v) for v in data.values()])
        data = {k: v[keep] for k, v in data.items()}
        if correlation_defined(list(data.values()), 0 if zs is None else 1):
            seeds.append(data)
    if not seeds:
        return math.nan, math.nan, math.nan
    out = bootstrap_correlations(
        seeds, [("x", "y", None if zs is None else "z", method)],
        n_resamples=n_resamples, confidence=confidence, seed=seed,
    )
    return float(out["estimate"][0]), float(out["low"][0]), float(out["high"][0])


__all__ = [
    "bootstrap_mean", "bootstrap_means", "bootstrap_correlation", "bootstrap_correlations",
    "weighted_correlation", "correlation_defined", "check_method", "seed_sd", "METHODS", "MIN_UNITS", "MAX_UNDEFINED_SHARE",
]
