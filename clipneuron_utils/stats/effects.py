"""The claims' numbers with their uncertainty: each effect per group, with intervals from a bootstrap
stratified by training seed (the trained model is the replicate), beside the firing-rate-matched null.

:func:`iou_summary` (mean IoU, its null and its excess), :func:`length_gain` (what one more atom adds,
against the null's gain), :func:`encoding_effect` (WordNet minus standard, paired per unit),
:func:`firing_confound` (the IoU ↔ accuracy correlations, also with the firing count held fixed) and
:func:`correlation_change` (length 1 → 2). ``n_resamples``, ``confidence`` and ``seed`` (of the
bootstrap's random generator, so that tables are reproducible) are passed on to the bootstrap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import pvalues
from . import uncertainty as _U
from .tidy import DEFAULT_BY, check_columns, explained_mask, iter_groups, group_keys


#: The correlation tests of the firing-rate confound: name → (x, y, covariate).
CONFOUND_TESTS = {
    "IoU ~ log firing count": ("iou", "log_n_fires", None),
    "IoU ~ accuracy": ("iou", "acc_when_firing", None),
    "IoU ~ accuracy | log firing count": ("iou", "acc_when_firing", "log_n_fires"),
    "excess IoU ~ accuracy": ("excess_iou", "acc_when_firing", None),
    "null IoU ~ accuracy": ("null_mean_iou", "acc_when_firing", None),
}


_SOURCE = {"log_n_fires": "n_fires"}  # a derived variable → the column it comes from


def _seed_frames(frame: pd.DataFrame, keys: Sequence[str]) -> list[pd.DataFrame]:
    """The group's rows per training seed, in seed order; the whole group when there is no ``seed``."""
    if "seed" not in frame.columns or "seed" in keys:
        return [frame]
    return [sub for _, sub in frame.groupby("seed", sort=True, dropna=False)]


def _measure_list(measures) -> list[str]:
    measures = [measures] if isinstance(measures, str) else list(measures)
    if not measures or not all(isinstance(m, str) for m in measures):
        raise ValueError(f"measures must be a non-empty list of column names, got {measures!r}")
    return measures


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _variable(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A unit variable of a correlation test: a column, or ``log_n_fires`` (NaN where a unit never fires)."""
    if name == "log_n_fires":
        fires = _float(frame, "n_fires")
        return np.log(np.where(fires > 0, fires, np.nan))
    return _float(frame, name)


def _no_length_key(keys: Sequence[str], column: str) -> None:
    if column in keys:
        raise ValueError(f"by must not hold {column!r}: the comparison is taken across {column}")


def _bootstrap_options(n_resamples, confidence, seed) -> dict:
    return {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}


def _interval(out: dict, j: int) -> dict:
    """The CI of output ``j`` of a bootstrap result."""
    return {"ci_low": float(out["low"][j]), "ci_high": float(out["high"][j])}


def iou_summary(
    scored: pd.DataFrame,
    by: Sequence[str] | None = None,
    measures: Sequence[str] = ("iou", "null_mean_iou", "excess_iou"),
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean IoU, its null and its excess per group, with seed-stratified bootstrap CIs: a row per measure.

    The mean IoU alone mixes explanation quality with firing rate (a unit that fires often gets a high
    IoU from a random mask too), hence ``null_mean_iou`` and ``excess_iou`` beside it. Means are over
    explained units, NaNs dropped per measure; measures the frame lacks are skipped. With ``"iou"``
    among the measures, a row ``measure="iou_paper"`` follows it: the mean over all units with the
    unexplained ones counted as IoU 0 (the original compexp code's convention), lower whenever some
    units are unexplained. ``by`` defaults to ``encoder, encoding, max_length`` (those present).
    Columns: keys, ``measure, mean, ci_low, ci_high, seed_sd, n_seeds, n_explained, n_units``.
    """
    check_columns(scored, ["iou"], "scored")
    present = [m for m in _measure_list(measures) if m in scored.columns]
    keys = group_keys(scored, by, DEFAULT_BY, "scored")
    order = [x for m in present for x in ([m, "iou_paper"] if m == "iou" else [m])]
    columns = [*keys, "measure", "mean", "ci_low", "ci_high", "seed_sd", "n_seeds", "n_explained", "n_units"]
    if not order:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, sub in iter_groups(scored, keys):
        frames = _seed_frames(sub, keys)
        samples = []
        for frame in frames:  # all units, NaN where a measure is undefined: one resampling for all
            explained = explained_mask(frame).to_numpy()
            values = {m: np.where(explained, _float(frame, m), np.nan) for m in present}
            if "iou" in present:  # unexplained units as IoU 0
                values["iou_paper"] = np.where(explained, _float(frame, "iou"), 0.0)
            samples.append(np.column_stack([values[m] for m in order]).reshape(len(frame), len(order)))
        out = _U.bootstrap_means(samples, **_bootstrap_options(n_resamples, confidence, seed))
        counts = {"n_explained": float(np.mean([explained_mask(f).sum() for f in frames])),
                  "n_units": float(np.mean([len(f) for f in frames]))}
        rows.extend({**key, "measure": m, "mean": float(out["estimate"][j]), **_interval(out, j),
                     "seed_sd": float(out["seed_sd"][j]), "n_seeds": int(out["n_seeds"][j]), **counts}
                    for j, m in enumerate(order))
    return pd.DataFrame(rows, columns=columns)


def _paired_change(
    scored: pd.DataFrame,
    keys: list[str],
    column: str,
    before,
    after,
    measures: list[str],
    options: dict,
) -> list[dict]:
    """Per group and measure: the mean over seeds of the mean per-unit ``after − before`` difference.

    Units are paired by (seed, neuron) across the two values of ``column`` and must be explained (and
    the measure finite) under both. Each row has ``mean_before, mean_after`` (of the paired units),
    ``mean`` (the difference), its CI, ``seed_sd, n_seeds, n``.
    """
    present = [m for m in measures if m in scored.columns]
    if not present:
        return []
    pair_keys = keys + (["seed"] if "seed" in scored.columns and "seed" not in keys else []) + ["neuron"]
    explained = scored[explained_mask(scored) & scored[column].isin([before, after])]
    twice = explained.duplicated(pair_keys + [column], keep=False)
    if twice.any():
        raise ValueError(f"scored has more than one row per {pair_keys + [column]}; add keys to by")
    rows = []
    for key, sub in iter_groups(scored, keys):
        samples = []  # per seed: paired units × (before, after, after − before) per measure
        for frame in _seed_frames(sub, keys):
            frame = frame[explained_mask(frame)]
            a = frame[frame[column] == before].set_index("neuron")
            b = frame[frame[column] == after].set_index("neuron")
            common = a.index.intersection(b.index)
            columns = []
            for m in present:
                x, y = _float(a.loc[common], m), _float(b.loc[common], m)
                ok = np.isfinite(x) & np.isfinite(y)
                columns += [np.where(ok, x, np.nan), np.where(ok, y, np.nan), np.where(ok, y - x, np.nan)]
            samples.append(np.column_stack(columns).reshape(len(common), 3 * len(present)))
        out = _U.bootstrap_means(samples, **options)
        for j, m in enumerate(present):
            rows.append({
                **key, "measure": m,
                "mean_before": float(out["estimate"][3 * j]), "mean_after": float(out["estimate"][3 * j + 1]),
                "mean": float(out["estimate"][3 * j + 2]), **_interval(out, 3 * j + 2),
                "seed_sd": float(out["seed_sd"][3 * j + 2]), "n_seeds": int(out["n_seeds"][3 * j + 2]),
                "n": float(out["n"][3 * j + 2]),
            })
    return rows


def length_gain(
    scored: pd.DataFrame,
    from_length: int = 1,
    to_length: int = 2,
    measures: Sequence[str] = ("iou", "excess_iou"),
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """What longer formulas add: the mean per-unit change from ``from_length`` to ``to_length``.

    Paired per unit (seed, neuron), over units explained at both lengths, so the change is not
    confounded by which units are explained; ``excess_iou`` tells whether a gain in IoU is more than
    the larger null a longer formula also gets. ``by`` defaults to ``encoder, encoding`` (those
    present). Columns: keys, ``measure, from_length, to_length, mean_from, mean_to`` (of the paired
    units), ``mean`` (the change), ``ci_low, ci_high, seed_sd, n_seeds, n`` (paired units per seed).
    """
    check_columns(scored, ["neuron", "max_length", "iou"], "scored")
    if from_length == to_length:
        raise ValueError(f"from_length and to_length must differ, got {from_length} twice")
    keys = group_keys(scored, by, ("encoder", "encoding"), "scored")
    _no_length_key(keys, "max_length")
    rows = _paired_change(scored, keys, "max_length", from_length, to_length, _measure_list(measures),
                          _bootstrap_options(n_resamples, confidence, seed))
    frame = pd.DataFrame(rows, columns=[*keys, "measure", "mean_before", "mean_after", "mean", "ci_low",
                                        "ci_high", "seed_sd", "n_seeds", "n"])
    frame = frame.rename(columns={"mean_before": "mean_from", "mean_after": "mean_to"})
    frame.insert(len(keys) + 1, "from_length", from_length)
    frame.insert(len(keys) + 2, "to_length", to_length)
    return frame


def encoding_effect(
    scored: pd.DataFrame,
    measures: Sequence[str] = ("iou", "excess_iou"),
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """WordNet minus standard concepts: the mean per-unit difference, with a seed-stratified CI.

    Paired by seed and neuron over units explained under both encodings (the same model units searched
    with two concept sets). ``by`` defaults to ``encoder, max_length`` (those present). Columns: keys,
    ``measure, mean_standard, mean_wordnet`` (of the paired units), ``mean`` (the difference),
    ``ci_low, ci_high, seed_sd, n_seeds, n`` (paired units per seed).
    """
    check_columns(scored, ["neuron", "encoding", "iou"], "scored")
    unknown = set(scored["encoding"].dropna()) - {"standard", "wordnet"}
    if unknown:
        raise ValueError(f"scored.encoding holds {sorted(unknown)}; expected 'standard' and 'wordnet'")
    keys = group_keys(scored, by, ("encoder", "max_length"), "scored")
    _no_length_key(keys, "encoding")
    rows = _paired_change(scored, keys, "encoding", "standard", "wordnet", _measure_list(measures),
                          _bootstrap_options(n_resamples, confidence, seed))
    frame = pd.DataFrame(rows, columns=[*keys, "measure", "mean_before", "mean_after", "mean", "ci_low",
                                        "ci_high", "seed_sd", "n_seeds", "n"])
    return frame.rename(columns={"mean_before": "mean_standard", "mean_after": "mean_wordnet"})


def _pingouin(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, method: str) -> tuple[float, float]:
    """(r, p) of one seed: ``pingouin.corr``, or ``pingouin.partial_corr`` given a covariate."""
    import pingouin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if z is None:
            result = pingouin.corr(x, y, method=method)
        else:
            data = pd.DataFrame({"x": x, "y": y, "z": z})
            result = pingouin.partial_corr(data=data, x="x", y="y", covar="z", method=method)
    p_column = "p_val" if "p_val" in result.columns else "p-val"
    return float(result["r"].iloc[0]), float(result[p_column].iloc[0])


def _test_names(test) -> tuple[str, str, str | None]:
    if test not in CONFOUND_TESTS:
        raise ValueError(f"test must be one of {list(CONFOUND_TESTS)}, got {test!r}")
    return CONFOUND_TESTS[test]


def _has_columns(frame: pd.DataFrame, variables) -> bool:
    return all(_SOURCE.get(v, v) in frame.columns for v in variables if v is not None)


def _test_data(frame: pd.DataFrame, variables) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A seed's explained units: the test's variables and which units have all of them finite."""
    frame = frame[explained_mask(frame)]
    data = {v: _variable(frame, v) for v in dict.fromkeys(variables) if v is not None}
    ok = np.logical_and.reduce([np.isfinite(v) for v in data.values()])
    return data, ok


def firing_confound(
    scored: pd.DataFrame,
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Is the paper's IoU ~ accuracy correlation more than firing rate? The family of tests that asks.

    A unit that fires on many probe pairs gets a high IoU even from a random mask, and its accuracy
    when firing is pulled towards the model's overall accuracy; so IoU and accuracy can correlate
    through firing rate alone. :data:`CONFOUND_TESTS` puts the paper's ``"IoU ~ accuracy"`` beside IoU
    vs log firing count, the partial correlation of IoU and accuracy controlling for log firing count,
    and the correlation of accuracy with the excess IoU and with the null IoU (the correlation to
    expect if IoU carried nothing beyond firing rate). Over explained units with every variable
    finite; tests whose columns are absent are skipped. Per seed, r and p come from pingouin
    (``corr`` / ``partial_corr``); ``r`` is their mean over seeds, ``p`` their Fisher-z combination
    (:func:`~clipneuron_utils.stats.pvalues.combined_p`; one seed: pingouin's p), and the CI a
    seed-stratified bootstrap. ``p_holm``: Holm over all rows of the returned frame (the family the
    book reports). ``by`` defaults to ``encoder, encoding, max_length`` (those present). Columns: keys,
    ``test, method, r, ci_low, ci_high, p, seed_sd, n_seeds, n, p_holm``.
    """
    check_columns(scored, ["iou"], "scored")
    keys = group_keys(scored, by, DEFAULT_BY, "scored")
    options = _bootstrap_options(n_resamples, confidence, seed)
    tests = [t for t, variables in CONFOUND_TESTS.items() if _has_columns(scored, variables)]
    methods = _U.METHODS
    rows = []
    for key, sub in iter_groups(scored, keys):
        frames = _seed_frames(sub, keys)
        found = {}  # test → (data of the seeds where it is defined, per-method [(r, p)], units per seed)
        together: dict[tuple, list[str]] = {}  # tests of the same units share one bootstrap
        for test in tests:
            x, y, z = CONFOUND_TESTS[test]
            used, data, counts = [], [], []
            for s, frame in enumerate(frames):
                values, ok = _test_data(frame, (x, y, z))
                values = {v: a[ok] for v, a in values.items()}
                counts.append(int(ok.sum()))
                if _U.correlation_defined([values[v] for v in values], int(z is not None)):
                    used.append((s, ok.tobytes()))
                    data.append(values)
            fits = {m: [_pingouin(d[x], d[y], d.get(z), m) for d in data] for m in methods}
            found[test] = (data, fits, counts)
            together.setdefault(tuple(used), []).append(test)
        intervals = {}
        for group in together.values():
            data = [{k: v for t in group for k, v in found[t][0][i].items()}
                    for i in range(len(found[group[0]][0]))]
            specs = [(*CONFOUND_TESTS[t], m) for t in group for m in methods]
            out = (_U.bootstrap_correlations(data, specs, **options) if data else
                   {"low": np.full(len(specs), np.nan), "high": np.full(len(specs), np.nan)})
            for j, (test, method) in enumerate((t, m) for t in group for m in methods):
                intervals[test, method] = _interval(out, j)
        for test in tests:
            data, fits, counts = found[test]
            k = int(CONFOUND_TESTS[test][2] is not None)
            for method in methods:
                rs = np.array([r for r, _ in fits[method]], dtype=float)
                ps = np.array([p for _, p in fits[method]], dtype=float)
                ns = np.array([len(next(iter(d.values()))) for d in data], dtype=float)
                rows.append({
                    **key, "test": test, "method": method,
                    "r": float(rs.mean()) if len(rs) else math.nan,
                    **intervals[test, method],
                    "p": pvalues.combined_p(rs, ns, k, pvalues=ps)[1] if len(rs) else math.nan,
                    "seed_sd": _U.seed_sd(rs), "n_seeds": len(rs),
                    "n": float(np.mean(counts)) if counts else math.nan,
                })
    columns = [*keys, "test", "method", "r", "ci_low", "ci_high", "p", "seed_sd", "n_seeds", "n"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["p_holm"] = pvalues.holm(frame["p"].to_numpy(dtype=float)) if len(frame) else pd.Series(dtype=float)
    return frame


def correlation_change(
    scored: pd.DataFrame,
    from_length: int = 1,
    to_length: int = 2,
    test: str = "IoU ~ accuracy",
    method: str = "pearson",
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """How a :data:`CONFOUND_TESTS` correlation changes from ``from_length`` to ``to_length``.

    The paper reads meaning into the IoU ~ accuracy correlation growing with formula length; this gives
    that change an interval. Per seed, r at each length (pingouin, over the units explained at that
    length, as in :func:`firing_confound`) and ``change = r_to − r_from``; the bootstrap resamples a
    seed's units once for both lengths (the same units), so the CI accounts for the two r's sharing
    units. ``by`` defaults to ``encoder, encoding`` (those present). Columns: keys, ``test, method,
    from_length, to_length, r_from, r_to, change, ci_low, ci_high, seed_sd`` (of the per-seed change),
    ``n_seeds, n`` (units per seed explained at either length), ``n_from, n_to``.
    """
    x, y, z = _test_names(test)
    _U.check_method(method)
    if from_length == to_length:
        raise ValueError(f"from_length and to_length must differ, got {from_length} twice")
    check_columns(scored, ["neuron", "max_length", "iou"], "scored")
    missing = [_SOURCE.get(v, v) for v in (x, y, z) if v is not None and _SOURCE.get(v, v) not in scored]
    if missing:
        raise ValueError(f"scored lacks column(s) {', '.join(missing)} needed by {test!r}")
    keys = group_keys(scored, by, ("encoder", "encoding"), "scored")
    _no_length_key(keys, "max_length")
    variables = [v for v in (x, y, z) if v is not None]
    k = int(z is not None)
    rows = []
    for key, sub in iter_groups(scored, keys):
        frames = _seed_frames(sub, keys)
        seeds, masks, fits, n_from, n_to, n_any = [], [], [], [], [], []
        for frame in frames:
            per_length = []
            for length in (from_length, to_length):
                part = frame[frame["max_length"] == length]
                if part["neuron"].duplicated().any():
                    raise ValueError(f"scored has more than one row per neuron at max_length {length}; "
                                     "add keys to by")
                values, ok = _test_data(part, variables)
                neurons = part.loc[explained_mask(part), "neuron"].to_numpy()
                per_length.append(pd.DataFrame(values, index=neurons)[ok])
            a, b = per_length
            union = a.index.union(b.index)
            a, b = a.reindex(union), b.reindex(union)
            ok_a, ok_b = a.notna().all(axis=1).to_numpy(), b.notna().all(axis=1).to_numpy()
            n_from.append(int(ok_a.sum()))
            n_to.append(int(ok_b.sum()))
            n_any.append(len(union))
            sides = ((a, ok_a), (b, ok_b))
            defined = [_U.correlation_defined([d[v].to_numpy()[ok] for v in variables], k) for d, ok in sides]
            if not all(defined):
                continue
            fits.append([_pingouin(*(d[v].to_numpy()[ok] if v else None for v in (x, y, z)), method)[0]
                         for d, ok in sides])
            seeds.append({f"{side}:{v}": d[v].fillna(0.0).to_numpy() for side, d in (("from", a), ("to", b))
                          for v in variables})
            masks.append({"from": ok_a.astype(float), "to": ok_b.astype(float)})
        fits = np.array(fits, dtype=float).reshape(-1, 2)
        low = high = math.nan
        if seeds:
            specs = [(f"{side}:{x}", f"{side}:{y}", f"{side}:{z}" if z else None, method, side)
                     for side in ("from", "to")]
            out = _U.bootstrap_correlations(
                seeds, specs, combine=lambda r: (r[:, 1] - r[:, 0]).mean(axis=0)[None], masks=masks,
                **_bootstrap_options(n_resamples, confidence, seed),
            )
            low, high = float(out["low"][0]), float(out["high"][0])
        change = fits[:, 1] - fits[:, 0]
        rows.append({
            **key, "test": test, "method": method, "from_length": from_length, "to_length": to_length,
            "r_from": float(fits[:, 0].mean()) if len(fits) else math.nan,
            "r_to": float(fits[:, 1].mean()) if len(fits) else math.nan,
            "change": float(change.mean()) if len(fits) else math.nan,
            "ci_low": low, "ci_high": high, "seed_sd": _U.seed_sd(change), "n_seeds": len(fits),
            "n": float(np.mean(n_any)), "n_from": float(np.mean(n_from)), "n_to": float(np.mean(n_to)),
        })
    columns = [*keys, "test", "method", "from_length", "to_length", "r_from", "r_to", "change", "ci_low",
               "ci_high", "seed_sd", "n_seeds", "n", "n_from", "n_to"]
    return pd.DataFrame(rows, columns=columns)


def summary_row(summary: pd.DataFrame, measure: str, encoder: str, max_length: int, encoding: str = "standard"):
    """One row of an :func:`iou_summary` table (a measure of one encoder at one length and encoding), or None."""
    from .tidy import first_row

    return first_row(summary, measure=measure, encoder=encoder, max_length=max_length, encoding=encoding)
