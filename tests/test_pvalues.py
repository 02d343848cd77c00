"""P-values across seeds and claims (stats.pvalues): one seed's p as given, seeds combined by Fisher's z, Holm as
statsmodels computes it, missing p-values outside the family."""

import math

import numpy as np
import pingouin
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from clipneuron_utils.stats import pvalues


def test_combined_p_with_one_seed_returns_the_given_p():
    assert pvalues.combined_p([0.3], [100], pvalues=[0.0123]) == (0.3, 0.0123)
    # seeds without an r are left out: the one left gives its own p
    assert pvalues.combined_p([np.nan, 0.3], [100, 100], pvalues=[0.5, 0.0123]) == (0.3, 0.0123)
    r, p = pvalues.combined_p([0.3], [100])  # no p given: the Fisher z-test
    assert r == pytest.approx(0.3) and p == pytest.approx(2 * stats.norm.sf(math.atanh(0.3) * math.sqrt(97)))
    assert all(math.isnan(v) for v in pvalues.combined_p([0.3], [3]))  # n − 3 = 0: no variance


def test_combined_p_of_three_identical_seeds_is_smaller_than_one_seeds():
    rng = np.random.default_rng(7)
    x = rng.normal(size=80)
    y = 0.25 * x + rng.normal(size=80)
    fit = pingouin.corr(x, y)
    r, p_one = float(fit["r"].iloc[0]), float(fit["p_val"].iloc[0])
    r_all, p_all = pvalues.combined_p([r] * 3, [80] * 3, pvalues=[p_one] * 3)
    assert r_all == pytest.approx(r, abs=1e-12)
    assert p_all < p_one / 10
    # fixed effect: z = atanh r · √(3 (n − 3)); a covariate costs one degree of freedom per seed
    assert p_all == pytest.approx(2 * stats.norm.sf(math.atanh(r) * math.sqrt(3 * 77)), rel=1e-9)
    assert pvalues.combined_p([r] * 3, [80] * 3, n_covariates=1)[1] > p_all


def test_holm_equals_statsmodels_and_keeps_nans_in_place():
    p = np.array([0.01, np.nan, 0.04, 0.03, None, 0.2], dtype=float)
    adjusted = pvalues.holm(p)
    finite = np.isfinite(p)
    assert np.isnan(adjusted[~finite]).all()
    assert adjusted[finite] == pytest.approx(multipletests(p[finite], method="holm")[1])
    assert adjusted[0] == pytest.approx(0.04)  # 4 tests in the family, not 6
    assert pvalues.holm([]).shape == (0,) and np.isnan(pvalues.holm([np.nan])).all()


# ------------------------------------------------------------------------------------- formatting


def test_combined_p_with_a_perfect_correlation_stays_finite():
    """A seed with r = −1 exactly (e.g. four units in a line) is pooled at atanh(−1 + 1e-15) ≈ −17.6, not −∞:
    with another seed at r = 0.5 (both n = 4, variance 1) the pooled z is their mean, its p the z-test on
    √2 · mean — a finite, positive p, and r just above −1."""
    r, p = pvalues.combined_p([-1.0, 0.5], [4, 4])
    mean = (math.atanh(-1 + 1e-15) + math.atanh(0.5)) / 2
    assert r == pytest.approx(math.tanh(mean), abs=1e-15) and r > -1
    assert p == pytest.approx(2 * stats.norm.sf(abs(mean) * math.sqrt(2)), rel=1e-9) and p > 0


def test_holm_reads_none_as_a_missing_p():
    """None (a p-value that could not be computed) is NaN, outside the family: of 0.01, 0.04, 0.03 the Holm
    adjustments are 3·0.01 = 0.03, then max(0.03, 2·0.03) = 0.06, then max(0.06, 0.04) = 0.06."""
    adjusted = pvalues.holm([0.01, None, 0.04, 0.03])
    assert math.isnan(adjusted[1])
    assert adjusted[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])
