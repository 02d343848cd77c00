"""Seed-level inference: the trained model is the replicate, not the unit.

The 1,024 units of one model share its training run and its probe pairs, so they are not independent
replicates of anything a reader wants to generalise over: a second training seed moves a model's mean
IoU by more than any unit-resampling interval admits. Here every statistic is computed **per seed**
(with its within-seed sampling variance) and the seeds are pooled by **random-effects meta-analysis**
(statsmodels :func:`~statsmodels.stats.meta_analysis.combine_effects`, Paule–Mandel τ², a t interval on
k − 1 degrees of freedom, as Hartung–Knapp recommend for few studies). Between-seed disagreement enters
through τ², so the interval widens when the seeds disagree; with one seed there is no between-model
variance to estimate, and the interval is the within-seed one (marked ``k = 1``).

Correlations are pooled as Fisher z (within-seed variance 1/(n − 3 − covariates)); differences of
correlations (between lengths, between encodings, on the same units) get their within-seed variance
from a unit bootstrap of that seed. Equivalence (a claim of no effect) is a TOST on the pooled
estimate: both one-sided tests at α, i.e. the (1 − 2α) interval inside ±margin.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

#: one row of :func:`pool`
POOLED = ("estimate", "ci_low", "ci_high", "se", "df", "p", "tau2", "k", "per_seed")


def pool(estimates, variances, *, alpha: float = 0.05, transform: Callable | None = None, seeds=None) -> dict:
    """Random-effects pooling of per-seed ``estimates`` with within-seed ``variances``.

    ``transform`` maps the pooled estimate and interval back (``np.tanh`` for Fisher z); ``p`` tests
    estimate = 0 on the pooled scale (t on k − 1 df; normal with one seed). Non-finite seeds are dropped.
    ``seeds`` (their training seeds, in order) are kept with the per-seed figures, so that :func:`subset`
    can pool any subset of them again without recomputing a seed.
    """
    est = np.asarray(estimates, dtype=float)
    var = np.asarray(variances, dtype=float)
    ids = np.arange(len(est)) if seeds is None else np.asarray(list(seeds), dtype=int)
    ok = np.isfinite(est) & np.isfinite(var) & (var > 0)
    est, var, ids = est[ok], var[ok], ids[ok]
    back = transform or (lambda x: x)
    out = dict.fromkeys(POOLED, math.nan)
    out.update(k=int(len(est)), per_seed=tuple(float(back(e)) for e in est))
    out["_seeds"] = (tuple(int(i) for i in ids), tuple(float(e) for e in est), tuple(float(v) for v in var), transform, alpha)
    if len(est) == 0:
        return out
    if len(est) == 1:
        mean, se, df, tau2 = float(est[0]), float(math.sqrt(var[0])), math.inf, 0.0
    else:
        from statsmodels.stats.meta_analysis import combine_effects

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns that single seeds' own intervals use the normal
            res = combine_effects(est, var, method_re="iterated", use_t=True, alpha=alpha)
        mean, se, df, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(len(est) - 1), float(res.tau2)
    crit = sps.t.ppf(1 - alpha / 2, df) if math.isfinite(df) else sps.norm.ppf(1 - alpha / 2)
    dist = sps.t(df) if math.isfinite(df) else sps.norm()
    p = float(2 * dist.sf(abs(mean) / se)) if se > 0 else math.nan
    out.update(estimate=float(back(mean)), ci_low=float(back(mean - crit * se)), ci_high=float(back(mean + crit * se)),
               se=se, df=df, p=p, tau2=tau2)
    out["_scale"] = (mean, se, df)  # on the pooled scale, for equivalence()
    return out


def subset(pooled: dict, keep) -> dict:
    """The same figure pooled over the seeds in ``keep`` only (from the per-seed figures :func:`pool` kept);
    a figure pooled without them (a difference of two models) is returned as is."""
    if "_seeds" not in pooled:
        return pooled
    ids, est, var, transform, alpha = pooled["_seeds"]
    keep = {int(k) for k in keep}
    chosen = [j for j, i in enumerate(ids) if i in keep]
    return pool([est[j] for j in chosen], [var[j] for j in chosen], alpha=alpha, transform=transform,
                seeds=[ids[j] for j in chosen])


def redraw(pooled: dict, rng: np.random.Generator, keep=None) -> dict:
    """The same figure pooled over a new draw of its seeds, as a rebuild on another machine would train them:
    each seed's estimate drawn from N(pooled mean, its within-seed variance + τ²) on the pooled scale, then
    pooled again (over the seeds in ``keep`` only, when given). A figure without per-seed figures is returned
    as is."""
    if "_seeds" not in pooled or "_scale" not in pooled:
        return pooled
    ids, _, var, transform, alpha = pooled["_seeds"]
    chosen = [j for j, i in enumerate(ids) if keep is None or i in set(keep)]
    tau2 = pooled.get("tau2")
    tau2 = float(tau2) if isinstance(tau2, (int, float)) and math.isfinite(tau2) else 0.0
    mean = pooled["_scale"][0]
    drawn = [rng.normal(mean, math.sqrt(var[j] + tau2)) for j in chosen]
    return pool(drawn, [var[j] for j in chosen], alpha=alpha, transform=transform, seeds=[ids[j] for j in chosen])


def seeds_in(pooled: dict) -> tuple[int, ...]:
    """The training seeds a pooled figure rests on (empty when it kept none)."""
    return tuple(pooled.get("_seeds", ((),))[0])


def equivalence(pooled: dict, margin: float, *, alpha: float = 0.05, fisher: bool = False) -> dict:
    """TOST of ``|effect| < margin`` on a :func:`pool` result: ``p`` (the larger one-sided p) and the
    (1 − 2α) interval. ``fisher``: the estimate was pooled as Fisher z and ``margin`` is an r."""
    if "_scale" not in pooled:
        return {"p_tost": math.nan, "low90": math.nan, "high90": math.nan, "equivalent": None}
    if "_mover" in pooled:  # a MOVER difference: its own (1 − 2α) interval inside ±margin
        narrow = mover_difference(*pooled["_mover"], alpha=2 * alpha)
        inside = -margin < narrow["ci_low"] and narrow["ci_high"] < margin
        return {"p_tost": math.nan, "low90": narrow["ci_low"], "high90": narrow["ci_high"], "equivalent": bool(inside)}
    mean, se, df = pooled["_scale"]
    bound = math.atanh(margin) if fisher else margin
    dist = sps.t(df) if math.isfinite(df) else sps.norm()
    p = max(float(dist.sf((mean + bound) / se)), float(dist.cdf((mean - bound) / se))) if se > 0 else math.nan
    crit = dist.ppf(1 - alpha)
    back = np.tanh if fisher else (lambda x: x)
    return {"p_tost": p, "low90": float(back(mean - crit * se)), "high90": float(back(mean + crit * se)),
            "equivalent": bool(p < alpha) if math.isfinite(p) else None}


# ------------------------------------------------------------------------------- per-seed statistics


def _r(x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None) -> float:
    """Pearson r, or the partial r of x and y given z (both residualised on [1, z])."""
    if z is not None:
        design = np.column_stack([np.ones_like(z), z])
        x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
        y = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _pair_columns(frame: pd.DataFrame, x: str, y: str, z: str | None) -> tuple:
    data = frame.assign(log_n_fires=np.log(frame["n_fires"].where(frame["n_fires"] > 0)))
    cols = [c for c in (x, y, z) if c]
    data = data[data["explained"].astype(bool)].dropna(subset=cols)
    return tuple(data[c].to_numpy(dtype=float) if c else None for c in (x, y, z)) + (data,)


def _seeds(scored: pd.DataFrame, **match) -> list[tuple[int, pd.DataFrame]]:
    rows = scored
    for key, value in match.items():
        rows = rows[rows[key] == value]
    return [(int(s), f) for s, f in rows.groupby("seed", sort=True)] if "seed" in rows else [(0, rows)]


def correlation(scored: pd.DataFrame, model: str, encoding: str, length: int, x: str = "iou",
                y: str = "acc_when_firing", covariate: str | None = None, alpha: float = 0.05) -> dict:
    """r(x, y) over a model's explained units at one formula length, per seed, pooled as Fisher z.

    ``covariate`` (e.g. ``log_n_fires``) makes it the partial correlation given it."""
    rs, vs, ids = [], [], []
    for s, frame in _seeds(scored, encoder=model, encoding=encoding, max_length=length):
        a, b, c, data = _pair_columns(frame, x, y, covariate)
        r = _r(a, b, c)
        n = len(data) - (1 if covariate else 0)
        if math.isfinite(r) and n > 3 and abs(r) < 1:
            rs.append(math.atanh(r))
            vs.append(1 / (n - 3))
            ids.append(s)
    return pool(rs, vs, alpha=alpha, transform=np.tanh, seeds=ids)


def _r_many(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, idx: np.ndarray) -> np.ndarray:
    """:func:`_r` of every resample ``idx[i]`` at once (rows of index arrays): the same residuals on [1, z]
    (an OLS fit on a constant z leaves x − mean, as the least-squares fit does) and the same NaN where a
    residual does not vary; equal to the loop to rounding, ~40x faster."""
    xs, ys = x[idx], y[idx]
    if z is not None:
        zc = z[idx] - z[idx].mean(axis=1, keepdims=True)
        zz = (zc * zc).sum(axis=1, keepdims=True)
        safe = np.where(zz > 0, zz, 1.0)

        def residual(a):
            ac = a - a.mean(axis=1, keepdims=True)
            return ac - np.where(zz > 0, (ac * zc).sum(axis=1, keepdims=True) / safe, 0.0) * zc

        xs, ys = residual(xs), residual(ys)
    xc, yc = xs - xs.mean(axis=1, keepdims=True), ys - ys.mean(axis=1, keepdims=True)
    sxx, syy = (xc * xc).sum(axis=1), (yc * yc).sum(axis=1)
    flat = (np.std(xs, axis=1) == 0) | (np.std(ys, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((xc * yc).sum(axis=1) / np.sqrt(sxx * syy), -1.0, 1.0)
    return np.where(flat | (idx.shape[1] < 3), np.nan, r)


def _boot_variance(stat: Callable[[np.ndarray], np.ndarray], n: int, rng: np.random.Generator, resamples: int) -> float:
    """Variance of ``stat`` over ``resamples`` unit resamples; ``stat`` takes them all at once (rows of
    index arrays, drawn one resample after another as a loop would draw them)."""
    values = np.asarray(stat(np.stack([rng.integers(0, n, n) for _ in range(resamples)])), dtype=float)
    values = values[np.isfinite(values)]
    # identical resamples (e.g. two encodings that give every unit the same formula): a tiny, not a zero, variance
    return max(float(values.var(ddof=1)), 1e-18) if len(values) > 2 else math.nan


def correlation_difference(scored: pd.DataFrame, model: str, *, first: dict, second: dict, x: str = "iou",
                           y: str = "acc_when_firing", covariate: str | None = None, alpha: float = 0.05,
                           resamples: int = 200, seed: int = 0) -> dict:
    """r(second) − r(first) on the same units of each seed (e.g. ``first={"max_length": 1, "encoding":
    "standard"}``, ``second={"max_length": 2, ...}``), pooled over seeds; within-seed variance from a unit
    bootstrap (the two r share their units, so their difference is paired)."""
    rng = np.random.default_rng(seed)
    ds, vs, ids = [], [], []
    for s, _ in _seeds(scored, encoder=model):
        sides = []
        for where in (first, second):
            frame = scored[(scored["encoder"] == model) & (scored.get("seed", s) == s)]
            for key, value in where.items():
                frame = frame[frame[key] == value]
            sides.append(_pair_columns(frame, x, y, covariate)[3].set_index("neuron"))
        common = sides[0].index.intersection(sides[1].index)
        if len(common) < 5:
            continue
        arrays = [(f.loc[common, x].to_numpy(float), f.loc[common, y].to_numpy(float),
                   f.loc[common, covariate].to_numpy(float) if covariate else None) for f in sides]

        def stat(idx, arrays=arrays):  # every resample's r(second) − r(first)
            return _r_many(*arrays[1], idx) - _r_many(*arrays[0], idx)

        d = _r(*arrays[1]) - _r(*arrays[0])
        if math.isfinite(d):
            ds.append(d)
            vs.append(_boot_variance(stat, len(common), rng, resamples))
            ids.append(s)
    return pool(ds, vs, alpha=alpha, seeds=ids)


def mean_difference(scored: pd.DataFrame, model: str, *, first: dict, second: dict, measure: str = "iou",
                    alpha: float = 0.05) -> dict:
    """The mean per-unit ``measure(second) − measure(first)`` over the units explained in both, per seed
    (within-seed variance: var/n), pooled over seeds."""
    ds, vs, ids = [], [], []
    for s, _ in _seeds(scored, encoder=model):
        sides = []
        for where in (first, second):
            frame = scored[(scored["encoder"] == model) & (scored.get("seed", s) == s) & scored["explained"].astype(bool)]
            for key, value in where.items():
                frame = frame[frame[key] == value]
            sides.append(frame.set_index("neuron")[measure].astype(float))
        diff = (sides[1] - sides[0]).dropna()
        if len(diff) >= 2:
            ds.append(float(diff.mean()))
            vs.append(float(diff.var(ddof=1)) / len(diff) or 1e-18)  # all-equal units: a tiny, not a zero, variance
            ids.append(s)
    return pool(ds, vs, alpha=alpha, seeds=ids)


def changed_units(scored: pd.DataFrame, model: str, *, first: dict, second: dict, measure: str = "iou",
                  atol: float = 1e-9) -> tuple[int, int]:
    """How many of ``model``'s units (every seed) a manipulation changed, and of how many: a unit changed when
    its formula or its ``measure`` differs (beyond ``atol``, the rounding of two searches) between the two
    sides. A comparison whose sides barely differ (the WordNet encoding where no best formula names a
    word) is not a test of anything."""
    rows = scored[scored["encoder"] == model]
    sides = []
    for where in (first, second):
        frame = rows
        for key, value in where.items():
            frame = frame[frame[key] == value]
        keys = [c for c in ("seed", "neuron") if c in frame.columns]
        sides.append(frame.set_index(keys)[["formula", measure]])
    a, b = sides[0].align(sides[1], join="outer")
    if not len(a):
        return 0, 0
    formula = a["formula"].fillna("").astype(str) != b["formula"].fillna("").astype(str)
    x, y = a[measure].astype(float).to_numpy(), b[measure].astype(float).to_numpy()
    value = ~(np.isclose(x, y, rtol=0.0, atol=atol) | (np.isnan(x) & np.isnan(y)))
    return int((formula.to_numpy() | value).sum()), int(len(a))


def mean_variance(variance: float, n: int, *, share: bool = False) -> float:
    """The within-seed variance of a mean of ``n`` values with sample ``variance``, never 0: a seed whose values
    are all equal is an estimate with a small variance, not a seed for :func:`pool` to drop. For a share
    (changes of 0/±1 per pair) it is never below that of one changed pair in ``n``."""
    least = 1.0 / n if share else 1e-12
    return max(variance, least) / n


def proportion(successes, totals, alpha: float = 0.05, seeds=None) -> dict:
    """Per-seed proportions (e.g. probe accuracy: correct of n) pooled over seeds on the logit scale, so that
    the interval stays inside (0, 1) (a proportion of 0 or 1 counts as half a success or failure)."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    x = np.clip(x, 0.5, n - 0.5)
    p = x / n
    return pool(special.logit(p), 1.0 / (n * p * (1 - p)), alpha=alpha, transform=special.expit, seeds=seeds)


def difference(a: dict, b: dict, alpha: float = 0.05) -> dict:
    """``a − b`` of two pooled estimates from different models (independent replicates): Welch–
    Satterthwaite df from their own df; on the pooled scale of each (use for proportions and means)."""
    out = dict.fromkeys(POOLED, math.nan)
    if "_scale" not in a or "_scale" not in b:
        return out
    (ma, sa, da), (mb, sb, db) = a["_scale"], b["_scale"]
    se = math.sqrt(sa ** 2 + sb ** 2)
    terms = [(s ** 4) / d for s, d in ((sa, da), (sb, db)) if math.isfinite(d) and d > 0]
    df = (se ** 4) / sum(terms) if len(terms) == 2 else math.inf
    dist = sps.t(df) if math.isfinite(df) else sps.norm()
    crit = dist.ppf(1 - alpha / 2)
    mean = ma - mb
    out.update(estimate=mean, ci_low=mean - crit * se, ci_high=mean + crit * se, se=se, df=df,
               p=float(2 * dist.sf(abs(mean) / se)) if se > 0 else math.nan, tau2=math.nan,
               k=min(a["k"], b["k"]), per_seed=())
    out["_scale"] = (mean, se, df)
    return out


def mover_difference(a: dict, b: dict, alpha: float = 0.05) -> dict:
    """``a − b`` of two figures pooled from different models, with the MOVER interval (Newcombe's for two
    proportions, Zou's for two correlations): built from each figure's own interval, so a difference of
    two shares stays inside [−1, 1] and of two correlations inside [−2, 2]. ``se`` and ``df`` are the
    interval's half-width over its critical value and the smaller df (for the minimum detectable effect
    and the equivalence test, which uses the (1 − 2α) MOVER interval)."""
    out = dict.fromkeys(POOLED, math.nan)
    if "_scale" not in a or "_scale" not in b:
        return out
    ea, eb = a["estimate"], b["estimate"]
    (la, ua), (lb, ub) = _interval_at(a, alpha), _interval_at(b, alpha)
    d = ea - eb
    low = d - math.sqrt((ea - la) ** 2 + (ub - eb) ** 2)
    high = d + math.sqrt((ua - ea) ** 2 + (eb - lb) ** 2)
    df = min(a["_scale"][2], b["_scale"][2])
    crit = (sps.t(df) if math.isfinite(df) else sps.norm()).ppf(1 - alpha / 2)
    se = (high - low) / (2 * crit)
    # p from the half of the interval on the side of 0, so that p < alpha exactly when the interval excludes 0
    toward = (d - low) if d >= 0 else (high - d)
    side = toward / crit
    out.update(estimate=d, ci_low=low, ci_high=high, se=se, df=df, tau2=math.nan, k=min(a["k"], b["k"]), per_seed=(),
               p=float(2 * (sps.t(df) if math.isfinite(df) else sps.norm()).sf(abs(d) / side)) if side > 0 else math.nan)
    out["_scale"] = (d, se, df)
    out["_mover"] = (a, b)
    return out


def _interval_at(pooled: dict, alpha: float) -> tuple[float, float]:
    """A pooled figure's (1 − alpha) interval, back-transformed as :func:`pool` did."""
    mean, se, df = pooled["_scale"]
    transform = (pooled.get("_seeds") or (None, None, None, None))[3] or (lambda x: x)
    crit = (sps.t(df) if math.isfinite(df) else sps.norm()).ppf(1 - alpha / 2)
    return float(transform(mean - crit * se)), float(transform(mean + crit * se))


def fisher_difference(a: dict, b: dict, alpha: float = 0.05) -> dict:
    """``a − b`` of two pooled correlations (Fisher z scale kept for :func:`equivalence` with ``fisher=True``),
    reported as the difference of the two pooled r."""
    out = difference(a, b, alpha)
    if "_scale" in out:
        mean, se, df = out["_scale"]
        crit = (sps.t(df) if math.isfinite(df) else sps.norm()).ppf(1 - alpha / 2)
        out.update(estimate=float(np.tanh(mean)),  # on the r scale (≈ r_a − r_b for the small r here)
                   ci_low=float(np.tanh(mean - crit * se)), ci_high=float(np.tanh(mean + crit * se)))
    return out


def describe(pooled: dict, digits: int = 3) -> str:
    """``-0.174 [-0.25, -0.10], 3 seeds`` — what the scorecard prints (``k = 1``: no between-seed variance)."""
    if not math.isfinite(pooled.get("estimate", math.nan)):
        return "n/a"
    fmt = f"{{:+.{digits}f}}" if abs(pooled["estimate"]) >= 10 ** -digits else "{:+.2g}"
    lo, hi = (fmt.format(pooled[k]) for k in ("ci_low", "ci_high"))
    seeds = f"{pooled['k']} seed{'s' if pooled['k'] != 1 else ''}"
    return f"{fmt.format(pooled['estimate'])} [{lo}, {hi}], {seeds}"
