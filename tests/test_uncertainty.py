"""Bootstrap intervals over seeds, the vectorized (partial) correlations, p-value pooling, formatting."""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

from clipneuron_utils.stats import uncertainty as U

# ------------------------------------------------------------------------------------------ means


def test_mean_ci_covers_the_true_mean_and_shrinks_with_n():
    covered, widths = 0, {200: [], 2000: []}
    for i in range(20):
        rng = np.random.default_rng(i)
        for n in widths:
            estimate, low, high = U.bootstrap_mean([rng.normal(0.3, 0.1, n)], n_resamples=1000, seed=i)
            assert low < estimate < high
            widths[n].append(high - low)
            covered += n == 200 and low <= 0.3 <= high
    assert covered >= 16  # 95 % intervals: about 19 of 20
    ratio = np.mean(widths[200]) / np.mean(widths[2000])
    assert 2.5 < ratio < 4.0  # width ∝ 1/√n: √10 ≈ 3.16
    # and the width is the normal-theory one: 2 · 1.96 · σ/√n
    assert np.mean(widths[200]) == pytest.approx(2 * 1.96 * 0.1 / math.sqrt(200), rel=0.1)


def test_seeds_are_strata_and_the_estimate_is_the_mean_of_seed_means():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.0, 0.1, 50), rng.normal(1.0, 0.1, 500)
    estimate, low, high = U.bootstrap_mean([small, large], seed=3)
    assert estimate == pytest.approx((small.mean() + large.mean()) / 2, abs=1e-12)
    pooled = np.concatenate([small, large]).mean()  # ≈ 0.91: what an unstratified mean would say
    assert low < estimate < high < pooled - 0.3
    # stratified: the interval reflects the spread within seeds, not the gap between them
    within = math.sqrt(0.1**2 / 50 + 0.1**2 / 500) / 2
    assert high - low == pytest.approx(2 * 1.96 * within, rel=0.15)


def test_mean_is_deterministic_and_nan_rather_than_an_exception():
    rng = np.random.default_rng(2)
    samples = [rng.random(30), rng.random(40)]
    assert U.bootstrap_mean(samples, seed=5) == U.bootstrap_mean(samples, seed=5)
    assert U.bootstrap_mean(samples, seed=5) != U.bootstrap_mean(samples, seed=6)
    estimate, low, high = U.bootstrap_mean([np.array([0.2, np.nan, 0.4]), np.array([1.0, np.nan])])
    assert estimate == pytest.approx((0.3 + 1.0) / 2) and math.isnan(low) and math.isnan(high)  # 1 value
    estimate, low, high = U.bootstrap_mean([np.full(10, 0.5)])  # no variation: the interval is the point
    assert estimate == low == high == 0.5
    assert all(math.isnan(v) for v in U.bootstrap_mean([np.array([]), np.array([np.nan])]))


def test_the_interval_is_the_percentile_one_not_the_basic_one():
    """98 zeros and 2 hundreds: the mean is 2, its resamples run from 0 to about 5 (right-skewed). The
    percentile interval keeps that shape and stays ≥ 0; the basic one (2·mean − quantiles) would reach
    below 0, where no mean of these values can lie, and lean left."""
    x = np.r_[np.zeros(98), np.full(2, 100.0)]
    estimate, low, high = U.bootstrap_mean([x], n_resamples=4000, seed=0)
    assert estimate == pytest.approx(2.0)
    assert low == pytest.approx(0.0) and high == pytest.approx(5.0)  # 0 and 5 hundreds of 100 draws
    assert high - estimate > estimate - low


def test_means_of_several_measures_are_over_the_units_where_each_is_defined():
    rng = np.random.default_rng(3)
    seeds = []
    for n in (300, 400):
        a = rng.normal(0.2, 0.05, n)
        b = np.where(rng.random(n) < 0.3, np.nan, rng.normal(0.5, 0.05, n))
        seeds.append(np.column_stack([a, b]))
    out = U.bootstrap_means(seeds, n_resamples=500)
    for j in range(2):
        expected = np.mean([np.nanmean(s[:, j]) for s in seeds])
        assert out["estimate"][j] == pytest.approx(expected, abs=1e-12)
        assert out["low"][j] < expected < out["high"][j]
    assert out["n"].tolist() == pytest.approx([350, np.mean([np.isfinite(s[:, 1]).sum() for s in seeds])])
    assert out["n_seeds"].tolist() == [2, 2]
    assert out["seed_sd"][0] == pytest.approx(np.std([s[:, 0].mean() for s in seeds], ddof=1))
    # with no NaN, one measure alone gives bootstrap_mean's interval (the same draws)
    plain = U.bootstrap_means([s[:, :1] for s in seeds], n_resamples=500, seed=4)
    assert (plain["estimate"][0], plain["low"][0], plain["high"][0]) == pytest.approx(
        U.bootstrap_mean([s[:, 0] for s in seeds], n_resamples=500, seed=4), abs=1e-12)


# ----------------------------------------------------------------------------------- correlations


def _confounded(n, rng, ties=False):
    z = rng.normal(size=n)
    x = z + rng.normal(size=n)
    y = 0.5 * z + 0.3 * x + rng.normal(size=n)
    if ties:  # ties in every variable, as in accuracies and firing counts
        x, y, z = np.round(x, 1), np.round(y, 1), np.round(z, 1)
    return x, y, z


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("ties", [False, True])
def test_vectorized_partial_correlation_equals_pingouin(method, ties):
    rng = np.random.default_rng(4)
    n = 150
    x, y, z = _confounded(n, rng, ties)
    frame = pd.DataFrame({"x": x, "y": y, "z": z})
    ones = np.ones(n)
    assert U.weighted_correlation(ones, x, y, z, method=method) == pytest.approx(
        pingouin.partial_corr(frame, x="x", y="y", covar="z", method=method)["r"].iloc[0], abs=1e-10)
    assert U.weighted_correlation(ones, x, y, method=method) == pytest.approx(
        pingouin.corr(x, y, method=method)["r"].iloc[0], abs=1e-10)
    # a resample is the data with unit i repeated counts[i] times: ranks of the repeated values
    idx = rng.integers(0, n, (20, n))
    counts = U._counts(idx, n, np.float64)
    expected = [pingouin.partial_corr(frame.iloc[i], x="x", y="y", covar="z", method=method)["r"].iloc[0]
                for i in idx]
    assert U.weighted_correlation(counts, x, y, z, method=method) == pytest.approx(expected, abs=1e-10)
    # the bootstrap's float32 ranks and sums agree to far below what an interval resolves
    fast = U._correlations(U._counts(idx, n, units_first=True), {"x": x, "y": y, "z": z},
                           [("x", "y", "z", method, None)], fast=True)[0]
    assert fast == pytest.approx(expected, abs=1e-5)


def test_weighted_ranks_are_rankdata_of_the_repeated_values():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, 40).astype(float)  # many ties
    counts = U._counts(rng.integers(0, 40, (3, 40)), 40, np.float64)
    for row in counts:
        repeated = np.repeat(x, row.astype(int))
        expected = stats.rankdata(repeated) - (len(repeated) + 1) / 2
        got = U._weighted_ranks(row, x, row.sum())
        assert np.repeat(got, row.astype(int)) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_correlation_interval_and_undefined_cases():
    rng = np.random.default_rng(6)
    xs, ys = [], []
    for _ in range(3):
        x = rng.normal(size=400)
        xs.append(x)
        ys.append(0.5 * x + rng.normal(size=400))
    r_true = 0.5 / math.sqrt(1.25)
    for method in ("pearson", "spearman"):
        estimate, low, high = U.bootstrap_correlation(xs, ys, method=method, n_resamples=1000)
        per_seed = [pingouin.corr(x, y, method=method)["r"].iloc[0] for x, y in zip(xs, ys)]
        assert estimate == pytest.approx(np.mean(per_seed), abs=1e-10)
        assert low < estimate < high and high - low < 0.15
    assert low < r_true < high
    assert U.bootstrap_correlation(xs, ys, n_resamples=300, seed=1) == U.bootstrap_correlation(
        xs, ys, n_resamples=300, seed=1)
    # a seed with NaNs loses those units; too few units or a constant variable: NaN, no exception
    assert all(math.isnan(v) for v in U.bootstrap_correlation([np.arange(2.0)], [np.arange(2.0)]))
    assert all(math.isnan(v) for v in U.bootstrap_correlation([np.ones(50)], [rng.random(50)]))
    x = np.r_[rng.random(20), np.nan]
    assert not math.isnan(U.bootstrap_correlation([x], [rng.random(21)], n_resamples=200)[0])
    # 5 of 100 units differ in x: 0.95^100 = 0.6 % of resamples have a constant x (r undefined); they are left
    # out (≤ 1 %) and the interval comes from the rest. With 1 of 100 it is 37 %: no interval.
    y = rng.normal(size=100)
    few = np.r_[np.ones(5), np.zeros(95)]
    estimate, low, high = U.bootstrap_correlation([few], [few + y], n_resamples=2000, seed=2)
    assert math.isfinite(low) and math.isfinite(high) and low < estimate < high and -1 <= low and high <= 1
    assert estimate == pytest.approx(stats.pearsonr(few, few + y)[0], abs=1e-10)
    one = np.r_[1.0, np.zeros(99)]
    estimate, low, high = U.bootstrap_correlation([one], [one + y], n_resamples=2000, seed=2)
    assert math.isfinite(estimate) and math.isnan(low) and math.isnan(high)
    # four units: r is defined but a resample is often constant, so no interval
    estimate, low, high = U.bootstrap_correlation([np.arange(4.0)], [np.array([1.0, 3, 2, 4])])
    assert estimate == pytest.approx(0.8) and math.isnan(low) and math.isnan(high)


# --------------------------------------------------------------------------------------- p-values


def test_pearson_is_exact_far_from_zero_and_never_beyond_one():
    """Centring before the sums keeps r exact when the values sit far from 0 (1e8 + noise): uncentred, the
    sums of squares lose every digit the noise has."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=200)
    x, y = 1e8 + noise, 1e8 + noise + rng.normal(scale=0.5, size=200)
    r = U.weighted_correlation(np.ones(200), x, y)
    assert float(r) == pytest.approx(np.corrcoef(noise, y - 1e8)[0, 1], abs=1e-9)
    same = U.weighted_correlation(np.ones(7), np.arange(7.0) * 0.1, np.arange(7.0) * 0.3)
    assert float(same) <= 1.0 and float(same) == pytest.approx(1.0)


def test_spearman_of_a_constant_is_nan_and_options_have_their_bounds():
    assert np.isnan(U.weighted_correlation(np.ones(5), np.ones(5), np.arange(5.0), method="spearman"))
    assert np.isnan(U.weighted_correlation(np.ones(5), np.ones(5), np.arange(5.0)))
    rng = np.random.default_rng(1)
    xs, ys = [rng.normal(size=40)], [rng.normal(size=40)]
    one = U.bootstrap_correlation(xs, ys, n_resamples=1)  # one resample is allowed
    assert np.isfinite(one[0])
    assert U.bootstrap_correlation(xs, ys, n_resamples=200) == U.bootstrap_correlation(
        xs, ys, n_resamples=200, confidence=0.95)  # the default is the 95 % interval
    seeds = [{"x": xs[0], "y": ys[0]}]
    assert all(np.array_equal(a, b) for a, b in zip(
        U.bootstrap_correlations(seeds, [("x", "y", None, "pearson")], n_resamples=200).values(),
        U.bootstrap_correlations(seeds, [("x", "y", None, "pearson")], n_resamples=200, confidence=0.95).values()))
    with pytest.raises(ValueError, match="one array per seed"):
        U.bootstrap_correlation(xs + xs, ys)
    with pytest.raises(ValueError, match="one array per seed"):
        U.bootstrap_correlation(xs, ys, covariate=xs + xs)
    empty = U.bootstrap_correlations([], [("x", "y", None, "pearson")])
    assert set(empty) == {"estimate", "low", "high", "per_seed"} and np.isnan(empty["low"]).all()


# ------------------------------------------------------------ known answers at the edges, round 2 (issue 21)


def test_correlations_stay_within_one_where_rounding_would_push_them_beyond():
    """A variable's partial correlation with itself is exactly 1, and a Spearman correlation with a reversed
    copy exactly −1; in floating point these inputs give 1 + 2e-16 and −1 − 2e-16 before clipping, and an
    r outside [−1, 1] would break atanh (Fisher z) downstream."""
    x = np.array([0.0, 0, 1, 1, 2, 0])
    partial = U.weighted_correlation(np.ones(6), x, x, np.arange(6.0))
    assert float(partial) == 1.0
    # three units, each counted 2/3 times (total weight 2): reversed values, ranks exactly opposite
    reversed_r = U.weighted_correlation(np.full(3, 2 / 3), np.array([4.0, 3, 3]), np.array([6.0, 7, 7]), method="spearman")
    assert float(reversed_r) == -1.0


def test_weighted_correlation_names_a_length_mismatch_of_either_kind():
    """Weights of the wrong length, or x and y of different lengths, are caught by the function's own check
    (message naming the rule) rather than failing deep inside numpy or silently pairing the wrong units."""
    with pytest.raises(ValueError, match="must have the same length"):
        U.weighted_correlation(np.ones(4), np.arange(5.0), np.arange(5.0))
    with pytest.raises(ValueError, match="must have the same length"):
        U.weighted_correlation(np.ones(5), np.arange(5.0), np.arange(4.0))


def test_bootstrap_means_of_one_seed_keep_each_measure_apart():
    """One seed, three measures of the same 6 units: a constant (its interval is the point 0.5), one with a NaN
    (mean of the 5 defined values, 3.0, inside a real interval) and one defined on only 2 units (too few for an
    interval: NaN, for that measure alone). A single seed is a valid input, and the measures' resample means
    must not be mixed up (the constant would then get a spread)."""
    sample = np.column_stack([np.full(6, 0.5), [1.0, 2, 3, 4, 5, np.nan], [1.0, 2, np.nan, np.nan, np.nan, np.nan]])
    out = U.bootstrap_means([sample], n_resamples=400, seed=1)
    assert out["estimate"] == pytest.approx([0.5, 3.0, 1.5])
    assert out["low"][0] == pytest.approx(0.5) and out["high"][0] == pytest.approx(0.5)
    assert 1.0 <= out["low"][1] < 3.0 < out["high"][1] <= 5.0
    assert math.isnan(out["low"][2]) and math.isnan(out["high"][2])
    assert out["n"].tolist() == [6, 5, 2] and out["n_seeds"].tolist() == [1, 1, 1]


@pytest.mark.filterwarnings("ignore::scipy.stats.DegenerateDataWarning")  # scipy's own note on the NaN resamples
def test_interval_with_a_few_undefined_resamples_is_the_percentile_of_the_rest():
    """100 units of which 5 have a value: about 0.95^100 = 0.6 % of resamples draw none of them (mean
    undefined, ≤ 1 %, so left out). The interval must then be the 2.5th and 97.5th percentiles of the
    defined resample means — recomputed here from scipy's own draws (same generator, same seed)."""
    rng = np.random.default_rng(0)
    column = np.full(100, np.nan)
    column[[3, 30, 50, 71, 96]] = rng.normal(size=5)
    out = U.bootstrap_means([column[:, None]], n_resamples=2000, seed=7)

    def nanmean(x, axis=-1):
        with np.errstate(invalid="ignore"):
            defined = np.isfinite(x)
            return np.where(defined, x, 0).sum(axis=axis) / defined.sum(axis=axis)

    draws = stats.bootstrap([column], nanmean, n_resamples=2000, vectorized=True, method="percentile",
                            **{U._RNG_ARGUMENT: np.random.default_rng(7)}).bootstrap_distribution
    defined = draws[np.isfinite(draws)]
    assert 0 < len(draws) - len(defined) <= 20  # some, but at most 1 %, undefined
    assert (out["low"][0], out["high"][0]) == pytest.approx(tuple(np.percentile(defined, [2.5, 97.5])), abs=1e-12)


def test_option_checks_reject_zero_or_boolean_resamples_and_confidence_of_one():
    """n_resamples must be a true int ≥ 1 (0, and True posing as 1, are refused) and the confidence lies in
    (0, 1) open (1 is no interval at all) — refused by the module's own check, which names the option."""
    x = [np.arange(10.0)]
    for bad in (0, True):
        with pytest.raises(ValueError, match="^n_resamples must be an int"):
            U.bootstrap_mean(x, n_resamples=bad)
    for bad in (1, 1.0, 1.5):
        with pytest.raises(ValueError, match="^confidence must be a number in"):
            U.bootstrap_mean(x, confidence=bad)


def test_bootstrap_mean_default_seed_is_zero():
    """The default generator seed is 0, so the book's intervals are reproducible and equal an explicit seed=0."""
    x = [np.random.default_rng(8).normal(size=30)]
    assert U.bootstrap_mean(x, n_resamples=300) == U.bootstrap_mean(x, n_resamples=300, seed=0)
    assert U.bootstrap_mean(x, n_resamples=300) != U.bootstrap_mean(x, n_resamples=300, seed=1)


def test_bootstrap_correlation_names_a_bad_covariate():
    """A covariate that is not one 1-D array per seed is refused with the parameter's own name."""
    xs, ys = [np.arange(5.0)], [np.arange(5.0)]
    with pytest.raises(ValueError, match=r"^covariate\[0\] must be 1-D"):
        U.bootstrap_correlation(xs, ys, covariate=[np.ones((5, 2))])


