"""Known answers of every rule in :mod:`clipneuron_utils.stats.verdicts`, each at the edge a plausible mutant of the
rule moves: a flipped comparison, ``<`` for ``<=``, the wrong quantile, a dropped branch (``tests/mutation.py``
plants the named ones by hand).

The figures are built by hand: ``estimate``, ``ci_low``, ``ci_high`` and, where the rule needs a standard error,
``_scale`` = (mean, se, df) on the pooled scale, as :func:`clipneuron_utils.stats.replicates.pool` leaves them.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clipneuron_utils.stats import replicates
from clipneuron_utils.stats import verdicts as V

INF = math.inf
FLOOR = 0.1
# t and normal quantiles from tables, not from the code under test
T975_2, T80_2, T95_2, T90_2 = 4.302653, 1.060660, 2.919986, 1.885618
Z975, Z80, Z95, Z90 = 1.959964, 0.841621, 1.644854, 1.281552
#: standard errors (df = ∞) whose two-sided MDE at 80 % power is below / above FLOOR: 2.8016 × se
SENSITIVE, INSENSITIVE = 0.03, 0.04


def fig(estimate, low, high, se=None, df=INF, p=None):
    """A pooled figure; with ``se``, its pooled scale is (estimate, se, df)."""
    out = {"estimate": estimate, "ci_low": low, "ci_high": high}
    if se is not None:
        out["_scale"] = (estimate, se, df)
    if p is not None:
        out["p"] = p
    return out


# ------------------------------------------------------------------------------------------------ mde


def test_mde_two_sided_is_the_sum_of_the_two_t_quantiles_times_se():
    assert V.mde(fig(0.0, -1, 1, se=0.1, df=2)) == pytest.approx((T975_2 + T80_2) * 0.1, abs=1e-6)
    assert V.mde(fig(0.3, -1, 1, se=0.1, df=2)) == pytest.approx(0.5363313, abs=1e-6)  # the estimate plays no part
    assert V.mde(fig(0.0, -1, 1, se=0.05, df=INF)) == pytest.approx((Z975 + Z80) * 0.05, abs=1e-7)
    assert V.mde(fig(0.0, -1, 1, se=0.2, df=INF)) == pytest.approx(2.801585 * 0.2, abs=1e-6)


def test_mde_reads_alpha_and_power():
    assert V.mde(fig(0.0, -1, 1, se=0.1), alpha=0.1) == pytest.approx((Z95 + Z80) * 0.1, abs=1e-7)
    assert V.mde(fig(0.0, -1, 1, se=0.1), power=0.9) == pytest.approx((Z975 + Z90) * 0.1, abs=1e-7)
    assert V.POWER == 0.8


def test_mde_of_an_equivalence_test_uses_one_sided_alpha_and_the_tost_power_quantile():
    """TOST with 80 % power at a true effect of 0: (t₁₋α + t₀.₉)·se, not the two-sided (t₀.₉₇₅ + t₀.₈)·se."""
    assert V.mde(fig(0.0, -1, 1, se=0.1, df=2), equivalence=True) == pytest.approx((T95_2 + T90_2) * 0.1, abs=1e-6)
    assert V.mde(fig(0.0, -1, 1, se=0.1), equivalence=True) == pytest.approx((Z95 + Z90) * 0.1, abs=1e-7)
    assert V.mde(fig(0.0, -1, 1, se=0.1), equivalence=True, alpha=0.1) == pytest.approx(
        (1.281552 + Z90) * 0.1, abs=1e-7)


def test_mde_of_a_fisher_figure_is_reported_as_r():
    assert V.mde(fig(0.0, -1, 1, se=0.1), fisher=True) == pytest.approx(math.tanh((Z975 + Z80) * 0.1), abs=1e-7)
    assert V.mde(fig(0.0, -1, 1, se=0.1), fisher=True, equivalence=True) == pytest.approx(
        math.tanh((Z95 + Z90) * 0.1), abs=1e-7)
    assert V.mde(fig(0.0, -1, 1, se=0.5), fisher=True) < V.mde(fig(0.0, -1, 1, se=0.5))


@pytest.mark.parametrize("scale", [None, (), (0.0, 0.0, INF), (0.0, -0.1, INF), (math.nan, 0.1, INF),
                                   (0.0, math.nan, INF), (0.0, "0.1", INF)])
def test_mde_without_a_standard_error_is_nan(scale):
    pooled = fig(0.0, -1, 1)
    if scale is not None:
        pooled["_scale"] = scale
    assert math.isnan(V.mde(pooled))


def test_mde_of_a_pooled_figure_uses_its_own_df():
    pooled = replicates.pool([0.1, 0.2, 0.3], [0.01, 0.01, 0.01])
    _, se, df = pooled["_scale"]
    assert df == 2
    assert V.mde(pooled) == pytest.approx((T975_2 + T80_2) * se, rel=1e-6)


# ------------------------------------------------------------------------------------------ effect_status


def test_effect_status_yes_needs_the_interval_beyond_0_and_the_estimate_at_least_the_minimum():
    assert V.effect_status(fig(0.2, 0.05, 0.35), +1, FLOOR) == "yes"
    assert V.effect_status(fig(FLOOR, 0.05, 0.15), +1, FLOOR) == "yes"  # the estimate at the minimum is enough
    # an estimate beyond 0 is not a significant one: the interval touching 0 does not exclude it
    assert V.effect_status(fig(0.2, 0.0, 0.4, se=SENSITIVE), +1, FLOOR) == "unclear"
    assert V.effect_status(fig(0.2, -0.01, 0.4, se=SENSITIVE), +1, FLOOR) == "unclear"


def test_effect_status_small_and_below():
    assert V.effect_status(fig(0.05, 0.01, 0.09), +1, FLOOR) == "small"  # the whole interval below the minimum
    assert V.effect_status(fig(0.08, 0.02, 0.14), +1, FLOOR) == "below"  # the interval reaches the minimum
    assert V.effect_status(fig(0.05, 0.01, FLOOR), +1, FLOOR) == "below"  # reaching it is not excluding it
    assert V.effect_status(fig(0.05, 0.01, 0.0999), +1, FLOOR) == "small"


def test_effect_status_in_the_negative_direction_mirrors_the_interval():
    assert V.effect_status(fig(-0.2, -0.3, -0.15), -1, FLOOR) == "yes"
    assert V.effect_status(fig(-0.05, -0.09, -0.01), -1, FLOOR) == "small"
    # mirrored, the interval is [0.02, 0.14]: it reaches the minimum (read unmirrored, [0.14, 0.02] would not)
    assert V.effect_status(fig(-0.08, -0.14, -0.02), -1, FLOOR) == "below"
    assert V.effect_status(fig(-0.2, -0.3, -0.15), +1, FLOOR) == "no"  # the opposite direction is significant
    assert V.effect_status(fig(0.2, 0.05, 0.35), -1, FLOOR) == "no"


def test_effect_status_no_where_the_opposite_direction_is_significant_whatever_the_mde():
    huge = 1.0  # an MDE of 2.8: the test could detect nothing, yet the effect is significantly the other way
    assert V.effect_status(fig(-0.2, -0.3, -0.1, se=huge), +1, FLOOR) == "no"
    assert V.effect_status(fig(-0.2, -0.3, -0.0001, se=huge), +1, FLOOR) == "no"
    assert V.effect_status(fig(-0.1, -0.2, 0.0, se=huge), +1, FLOOR) == "insensitive"  # touching 0 is not beyond it


def test_effect_status_insensitive_when_the_interval_holds_0_and_the_mde_exceeds_the_minimum():
    assert V.mde(fig(0.02, -0.1, 0.14, se=INSENSITIVE)) > FLOOR > V.mde(fig(0.02, -0.1, 0.14, se=SENSITIVE))
    assert V.effect_status(fig(0.02, -0.1, 0.14, se=INSENSITIVE), +1, FLOOR) == "insensitive"
    assert V.effect_status(fig(0.02, -0.1, 0.14, se=SENSITIVE), +1, FLOOR) == "unclear"
    # an interval below the minimum from a test that could not detect it: not "does not hold"
    assert V.effect_status(fig(-0.02, -0.1, 0.06, se=INSENSITIVE), +1, FLOOR) == "insensitive"
    assert V.effect_status(fig(-0.02, -0.1, 0.06, se=SENSITIVE), +1, FLOOR) == "no"


def test_effect_status_at_an_mde_equal_to_the_minimum_the_test_is_sensitive():
    se = 0.035
    floor = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * se  # computed as the code does: the MDE exactly
    assert V.mde(fig(0.0, -1, 1, se=se)) == floor
    assert V.effect_status(fig(0.0, -0.05, 0.05, se=se), +1, floor) == "no"
    assert V.effect_status(fig(0.0, -0.05, 0.2, se=se), +1, floor) == "unclear"
    assert V.effect_status(fig(0.0, -0.05, 0.05, se=se * 1.001), +1, floor) == "insensitive"


def test_effect_status_no_and_unclear_of_a_sensitive_test():
    assert V.effect_status(fig(0.0, -0.05, 0.05, se=SENSITIVE), +1, FLOOR) == "no"
    assert V.effect_status(fig(0.0, -0.05, FLOOR, se=SENSITIVE), +1, FLOOR) == "unclear"  # reaches the minimum
    assert V.effect_status(fig(0.0, -0.05, 0.0999, se=SENSITIVE), +1, FLOOR) == "no"
    # without a standard error there is no MDE: the interval alone decides
    assert V.effect_status(fig(0.0, -0.05, 0.05), +1, FLOOR) == "no"
    assert V.effect_status(fig(0.0, -0.05, 0.5), +1, FLOOR) == "unclear"


def test_effect_status_passes_fisher_and_alpha_to_the_mde():
    se = 0.1002 / (Z975 + Z80)  # an MDE of 0.1002 on the z scale, tanh(0.1002) = 0.0999 as r
    assert V.effect_status(fig(0.0, -0.05, 0.2, se=se), +1, FLOOR) == "insensitive"
    assert V.effect_status(fig(0.0, -0.05, 0.2, se=se), +1, FLOOR, fisher=True) == "unclear"
    # α = 0.5: (z₀.₇₅ + z₀.₈)·0.04 = 0.061 < 0.1, where α = 0.05 gives 0.112
    assert V.effect_status(fig(0.0, -0.05, 0.2, se=INSENSITIVE), +1, FLOOR, alpha=0.5) == "unclear"
    assert V.effect_status(fig(0.0, -0.05, 0.2, se=INSENSITIVE), +1, FLOOR) == "insensitive"


@pytest.mark.parametrize("pooled", [{}, fig(math.nan, -1, 1), fig(0.1, math.nan, 1), fig(0.1, 0.0, math.inf),
                                    fig(0.1, 0.0, None), fig("0.1", 0.0, 0.2)])
def test_effect_status_without_a_figure_is_none(pooled):
    assert V.effect_status(pooled, +1, FLOOR) is None


def test_effect_status_of_a_pooled_difference_of_shares():
    """Two seeds each: the MOVER interval is wide ([−0.46, 0.95]), and its MDE far above a 1-point minimum."""
    mover = replicates.mover_difference(replicates.proportion([9, 10], [10, 10]), replicates.proportion([1, 0], [10, 10]))
    assert V.mde(mover) > 0.01
    assert V.effect_status(mover, +1, 0.01) == "insensitive"


# ------------------------------------------------------------------------------------- equivalence_status


def test_equivalence_status_yes_when_tost_passes():
    assert V.equivalence_status(fig(0.0, -0.06, 0.06, se=0.03), FLOOR) == "yes"
    assert V.equivalence_status(fig(0.05, -0.01, 0.11, se=0.03), FLOOR) == "yes"  # p_tost = Φ(−1.67) = 0.048


def test_equivalence_status_no_needs_significance_and_the_estimate_at_least_the_margin():
    assert V.equivalence_status(fig(0.3, 0.2, 0.4, se=0.05), FLOOR) == "no"
    assert V.equivalence_status(fig(-0.3, -0.4, -0.2, se=0.05), FLOOR) == "no"  # either sign
    assert V.equivalence_status(fig(FLOOR, 0.02, 0.18, se=0.04), FLOOR) == "no"  # |estimate| at the margin
    assert V.equivalence_status(fig(-FLOOR, -0.18, -0.02, se=0.04), FLOOR) == "no"
    # an interval touching 0 is not significant: TOST fails, and its MDE (2.93 × 0.08 = 0.23) exceeds the margin
    assert V.equivalence_status(fig(0.15, 0.0, 0.3, se=0.08), FLOOR) == "insensitive"
    assert V.equivalence_status(fig(-0.15, -0.3, 0.0, se=0.08), FLOOR) == "insensitive"


def test_equivalence_status_insensitive_and_unclear():
    # p_tost = Φ((0.02 − 0.1)/0.06) = 0.09; its MDE (z₀.₉₅ + z₀.₉)·0.06 = 0.176 exceeds the margin
    assert V.equivalence_status(fig(0.02, -0.1, 0.14, se=0.06), FLOOR) == "insensitive"
    # a test that could establish the margin (MDE 0.088) but did not (p_tost = 0.09); its estimate within it
    assert V.equivalence_status(fig(0.06, 0.0012, 0.1188, se=0.03), FLOOR) == "unclear"
    assert V.equivalence_status(fig(-0.06, -0.1188, -0.0012, se=0.03), FLOOR) == "unclear"


def test_equivalence_status_at_an_mde_equal_to_the_margin_the_test_is_sensitive():
    pooled = fig(0.06, 0.0012, 0.1188, se=0.03)
    margin = V.mde(pooled, equivalence=True)  # 0.0878 (the two-sided MDE, 0.084, would be below 0.999 of it)
    assert margin == pytest.approx((Z95 + Z90) * 0.03, abs=1e-7)
    assert V.equivalence_status(pooled, margin) == "unclear"
    assert V.equivalence_status(pooled, margin * 0.999) == "insensitive"


def test_equivalence_status_of_a_correlation_reads_the_margin_as_r():
    # z = 0.06, se 0.03: on the z scale the margin atanh(0.1) = 0.1003 and MDE tanh(0.0878) = 0.0876 as r
    assert V.equivalence_status(fig(0.06, 0.0012, 0.1188, se=0.03), FLOOR, fisher=True) == "unclear"
    # MDE (z₀.₉₅ + z₀.₉)·0.03418 = 0.10003 as z, tanh → 0.09970 as r: TOST could establish 0.0998
    se = 0.10003 / (Z95 + Z90)
    assert V.equivalence_status(fig(0.06, 0.0, 0.12, se=se), 0.0998, fisher=True) == "unclear"
    assert V.equivalence_status(fig(0.06, 0.0, 0.12, se=se), 0.0998) == "insensitive"


def test_equivalence_status_of_a_correlation_runs_tost_on_the_z_scale():
    # z = 0.2, se 0.2, margin r = 0.5: Φ((0.2 − atanh 0.5)/0.2) = 0.040 passes; read as z, Φ((0.2 − 0.5)/0.2) = 0.067
    assert V.equivalence_status(fig(0.2, -0.19, 0.59, se=0.2), 0.5, fisher=True) == "yes"
    assert V.equivalence_status(fig(0.2, -0.19, 0.59, se=0.2), 0.5) != "yes"


def test_equivalence_status_passes_alpha():
    # TOST: p = Φ((0.055 − 0.1)/0.03) = 0.067, not below α = 0.05 but below α = 0.1
    assert V.equivalence_status(fig(0.055, -0.004, 0.114, se=0.03), FLOOR) == "unclear"  # p_tost = 0.067
    assert V.equivalence_status(fig(0.055, -0.004, 0.114, se=0.03), FLOOR, alpha=0.1) == "yes"
    # and to its MDE: (z₀.₉ + z₀.₉)·0.036 = 0.092 at α = 0.1, (z₀.₉₅ + z₀.₉)·0.036 = 0.105 at α = 0.05
    assert V.equivalence_status(fig(0.07, -0.001, 0.141, se=0.036), FLOOR, alpha=0.1) == "unclear"  # p_tost = 0.20
    assert V.equivalence_status(fig(0.07, -0.001, 0.141, se=0.036), FLOOR) == "insensitive"


def test_equivalence_status_without_a_scale_is_none():
    assert V.equivalence_status(fig(0.0, -0.1, 0.1), FLOOR) is None


def test_tost_known_answers():
    """replicates.equivalence: the larger one-sided p and the (1 − 2α) interval, on the t with the figure's df."""
    test = replicates.equivalence(fig(0.02, -1, 1, se=0.05, df=4), FLOOR)
    assert test["p_tost"] == pytest.approx(sps.t.cdf(-1.6, 4), abs=1e-12) == pytest.approx(0.09237, abs=1e-4)
    assert test["low90"] == pytest.approx(0.02 - 2.131847 * 0.05, abs=1e-6)
    assert test["high90"] == pytest.approx(0.02 + 2.131847 * 0.05, abs=1e-6)
    assert test["equivalent"] is False
    assert replicates.equivalence(fig(0.0, -1, 1, se=0.02, df=4), FLOOR)["equivalent"] is True
    r = replicates.equivalence(fig(0.0, -1, 1, se=0.02), 0.05, fisher=True)  # the margin read on the z scale
    assert r["p_tost"] == pytest.approx(sps.norm.sf(math.atanh(0.05) / 0.02), rel=1e-9)
    assert r["high90"] == pytest.approx(math.tanh(Z95 * 0.02), abs=1e-7)


def test_tost_of_a_mover_difference_uses_its_own_narrow_interval():
    a, b = replicates.proportion([80, 82], [100, 100]), replicates.proportion([79, 81], [100, 100])
    mover = replicates.mover_difference(a, b)
    narrow = replicates.mover_difference(a, b, alpha=0.1)
    test = replicates.equivalence(mover, 0.5)
    assert (test["low90"], test["high90"]) == (narrow["ci_low"], narrow["ci_high"])
    assert mover["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < mover["ci_high"]
    assert test["equivalent"] is (-0.5 < narrow["ci_low"] and narrow["ci_high"] < 0.5)
    assert replicates.equivalence(mover, narrow["ci_high"])["equivalent"] is False  # the bound is not inside


# ------------------------------------------------------------------------------------------- literal, count


def test_literal_status_not_significant_means_p_at_least_alpha():
    assert V.literal_status({"p": 0.05}) == "yes"  # p = α is not significant
    assert V.literal_status({"p": 0.0499}) == "no"
    assert V.literal_status({"p": 0.8}) == "yes"
    assert V.literal_status({"p": 0.07}, alpha=0.1) == "no"
    assert V.literal_status({"p": 0.07}, 0.05) == "yes"


@pytest.mark.parametrize("pooled", [{}, {"p": math.nan}, {"p": None}, {"p": "0.5"}])
def test_literal_status_without_p_is_none(pooled):
    assert V.literal_status(pooled) is None


def test_count_status_needs_at_least_half_the_seeds():
    assert V.count_status([True, False]) == "yes"  # exactly half
    assert V.count_status([True, False, False]) == "no"
    assert V.count_status([True, True, False]) == "yes"
    assert V.count_status([False]) == "no" and V.count_status([True]) == "yes"
    assert V.count_status([1, 0, 0, 2]) == "yes"  # truthy values count
    assert V.count_status(iter([False, False, True])) == "no"  # any iterable, read once
    assert V.count_status([]) is None


# ------------------------------------------------------------------------------------------------- verdict


def test_the_verdict_strings():
    assert (V.HOLDS, V.HOLDS_CONTROLLED_UNCLEAR, V.HOLDS_RANDOM, V.BEFORE_CONTROLS) == (
        "holds", "holds; the controlled figure is inconclusive", "holds, as in a random network",
        "holds only before controls")
    assert (V.TOO_SMALL, V.INCONCLUSIVE, V.INSENSITIVE, V.DOES_NOT_HOLD, V.NOT_TESTABLE) == (
        "too small to matter", "inconclusive", "inconclusive: the test cannot detect the minimum effect",
        "does not hold", "not testable in this build")
    assert V.HOLDING == (V.HOLDS, V.HOLDS_CONTROLLED_UNCLEAR, V.HOLDS_RANDOM)
    assert len(set(V.VERDICTS)) == 9


def test_verdict_from_the_figure_alone_when_it_does_not_hold():
    for after in ("yes", "n/a", "no", None):
        assert V.verdict("no", after) == V.DOES_NOT_HOLD
        assert V.verdict("no", after, random_shows=True) == V.DOES_NOT_HOLD
        assert V.verdict("insensitive", after) == V.INSENSITIVE
        assert V.verdict("unclear", after) == V.INCONCLUSIVE
        assert V.verdict("small", after) == V.TOO_SMALL
        assert V.verdict("below", after) == V.TOO_SMALL


def test_verdict_not_testable():
    assert V.verdict("yes", "yes", testable=False) == V.NOT_TESTABLE
    assert V.verdict("no", "n/a", testable=False) == V.NOT_TESTABLE
    assert V.verdict(None, "yes") == V.NOT_TESTABLE
    # an unknown controlled figure (None, unlike "n/a": no controlled figure at all) lets nothing pass
    assert V.verdict("yes", None) == V.NOT_TESTABLE
    assert V.verdict("yes", None, random_shows=True) == V.NOT_TESTABLE


def test_verdict_after_the_controls():
    assert V.verdict("yes", "yes") == V.HOLDS
    assert V.verdict("yes", "n/a") == V.HOLDS
    assert V.verdict("yes", "no") == V.BEFORE_CONTROLS
    assert V.verdict("yes", "small") == V.BEFORE_CONTROLS
    for unclear in ("unclear", "insensitive", "below"):  # an interval holding 0 or the minimum tilts nothing
        assert V.verdict("yes", unclear) == V.HOLDS_CONTROLLED_UNCLEAR


def test_verdict_random_networks_come_after_the_controlled_figure_and_before_its_unclear_reading():
    assert V.verdict("yes", "yes", random_shows=True) == V.HOLDS_RANDOM
    assert V.verdict("yes", "n/a", True) == V.HOLDS_RANDOM
    for unclear in ("unclear", "insensitive", "below"):
        assert V.verdict("yes", unclear, random_shows=True) == V.HOLDS_RANDOM
    assert V.verdict("yes", "no", random_shows=True) == V.BEFORE_CONTROLS
    assert V.verdict("yes", "small", random_shows=True) == V.BEFORE_CONTROLS
    assert V.verdict("small", "yes", random_shows=True) == V.TOO_SMALL


def test_a_random_network_shows_the_effect_only_through_both_stages():
    assert V.shows_effect("yes", "yes") and V.shows_effect("yes", "n/a")
    for after in ("unclear", "insensitive", "below", "small", "no", None):
        assert not V.shows_effect("yes", after)
    for before in ("small", "below", "unclear", "insensitive", "no", None):
        assert not V.shows_effect(before, "yes") and not V.shows_effect(before, "n/a")


def test_counts_lists_every_verdict_with_zeros():
    card = pd.DataFrame({"verdict": [V.HOLDS, V.HOLDS, V.DOES_NOT_HOLD, V.HOLDS_CONTROLLED_UNCLEAR]})
    found = V.counts(card)
    assert list(found) == list(V.VERDICTS)
    assert found == {**dict.fromkeys(V.VERDICTS, 0), V.HOLDS: 2, V.DOES_NOT_HOLD: 1, V.HOLDS_CONTROLLED_UNCLEAR: 1}
    assert all(type(n) is int for n in found.values())
    assert V.counts(pd.DataFrame({"verdict": pd.Series([], dtype=object)})) == dict.fromkeys(V.VERDICTS, 0)


# ---------------------------------------------------------------------------------------- stability, robustness


def test_leave_out_subsets_of_three_seeds_leave_out_one():
    assert V.leave_out_subsets([2, 0, 1]) == [(1, 2), (0, 2), (0, 1)]  # two left out would leave one seed
    assert V.leave_out_subsets({0, 1}) == []  # one seed left carries no between-model variance
    assert V.leave_out_subsets([7]) == [] and V.leave_out_subsets([]) == []
    assert V.leave_out_subsets(np.array([3, 1, 2])) == [(2, 3), (1, 3), (1, 2)]
    assert all(type(s) is int for sub in V.leave_out_subsets(np.array([3, 1, 2])) for s in sub)


def test_leave_out_subsets_of_five_seeds_leave_out_one_and_two():
    subsets = V.leave_out_subsets(range(5))
    assert len(subsets) == 5 + 10
    assert [len(s) for s in subsets] == [4] * 5 + [3] * 10
    assert len(set(subsets)) == 15
    assert subsets[0] == (1, 2, 3, 4) and subsets[5] == (2, 3, 4) and subsets[-1] == (0, 1, 2)


def test_leave_out_subsets_keep_at_least_min_left_and_leave_out_at_most_max_out():
    assert len(V.leave_out_subsets(range(4))) == 4 + 6  # two left out still leaves two
    assert V.leave_out_subsets(range(4), min_left=3) == [(1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)]
    assert len(V.leave_out_subsets(range(5), min_left=3)) == 15
    assert len(V.leave_out_subsets(range(5), min_left=4)) == 5
    assert len(V.leave_out_subsets(range(5), max_out=1)) == 5
    assert len(V.leave_out_subsets(range(5), max_out=3)) == 5 + 10 + 10
    assert V.leave_out_subsets(range(3), min_left=1) == [(1, 2), (0, 2), (0, 1), (2,), (1,), (0,)]


def test_a_verdict_is_stable_only_when_every_subset_gives_it():
    assert V.stable(V.HOLDS, [V.HOLDS, V.HOLDS, V.HOLDS]) is True
    assert V.stable(V.HOLDS, [V.HOLDS, V.INCONCLUSIVE, V.HOLDS]) is False
    assert V.stable(V.HOLDS, [V.HOLDS_RANDOM]) is False
    assert V.stable(V.HOLDS, []) is False  # nothing shows it stable: one seed is fragile
    assert V.stable(V.HOLDS, (v for v in [V.HOLDS, V.HOLDS])) is True  # a generator, read once


def test_robustness_readings():
    assert V.robustness({}) == "n/a"
    assert V.robustness({"> 0": V.HOLDS, "top 5 %": V.HOLDS, "top 2 %": V.HOLDS}) == "robust: holds"
    assert V.robustness({"> 0": V.DOES_NOT_HOLD}) == "robust: does not hold"
    assert V.robustness({"> 0": V.NOT_TESTABLE, "top 5 %": V.NOT_TESTABLE}) == "robust: not testable in this build"
    assert V.robustness({"> 0": V.INCONCLUSIVE, "top 5 %": V.HOLDS, "top 2 %": V.HOLDS_CONTROLLED_UNCLEAR}) == (
        "holds at top 5 %, top 2 % only")
    assert V.robustness({"> 0": V.HOLDS_RANDOM, "top 5 %": V.DOES_NOT_HOLD}) == "holds at > 0 only"
    assert V.robustness({"> 0": V.DOES_NOT_HOLD, "top 5 %": V.TOO_SMALL, "top 2 %": V.HOLDS}) == "holds at top 2 % only"


def test_robustness_where_it_holds_nowhere_names_the_verdicts_once_in_order():
    reading = V.robustness({"> 0": V.BEFORE_CONTROLS, "top 5 %": V.DOES_NOT_HOLD, "top 2 %": V.BEFORE_CONTROLS,
                            "top 1 %": V.INSENSITIVE})
    assert reading == ("holds at no threshold (holds only before controls, does not hold, "
                       "inconclusive: the test cannot detect the minimum effect)")


# ---------------------------------------------------------------------------------- a difference of two shares


def test_a_difference_of_two_shares_stays_inside_minus_one_one_with_two_seeds():
    """Newcombe's MOVER interval from each share's own (logit) interval: with two seeds (a t on 1 df, critical value
    12.7) the shares' intervals nearly span [0, 1], and their difference's still stays inside [−1, 1]."""
    a, b = replicates.proportion([9, 10], [10, 10]), replicates.proportion([1, 0], [10, 10])
    d = replicates.mover_difference(a, b)
    assert d["estimate"] == pytest.approx(a["estimate"] - b["estimate"])
    assert d["ci_low"] == pytest.approx(d["estimate"] - math.hypot(a["estimate"] - a["ci_low"], b["ci_high"] - b["estimate"]))
    assert d["ci_high"] == pytest.approx(d["estimate"] + math.hypot(a["ci_high"] - a["estimate"], b["estimate"] - b["ci_low"]))
    assert -1 <= d["ci_low"] < 0 < d["estimate"] < d["ci_high"] <= 1
    assert d["df"] == 1 and d["k"] == 2
    # a symmetric interval of the same lower arm would pass 1: the MOVER interval is asymmetric, as the shares' are
    assert d["estimate"] + (d["estimate"] - d["ci_low"]) > 1
    reverse = replicates.mover_difference(b, a)
    assert (reverse["ci_low"], reverse["ci_high"]) == pytest.approx((-d["ci_high"], -d["ci_low"]))


def test_mover_difference_of_untransformed_figures_and_its_standard_error():
    """Of two figures pooled without a transform (one seed each: a normal interval) the MOVER interval is the plain
    one, d ± z·√(se_a² + se_b²); its ``se`` (what the MDE reads) is the interval's half-width over the critical value
    on the smaller df."""
    a, b = replicates.pool([0.5], [0.04]), replicates.pool([0.2], [0.09])
    d = replicates.mover_difference(a, b)
    half = Z975 * math.sqrt(0.04 + 0.09)
    assert (d["estimate"], d["ci_low"], d["ci_high"]) == pytest.approx((0.3, 0.3 - half, 0.3 + half), abs=1e-6)
    assert d["se"] == pytest.approx(math.sqrt(0.13), rel=1e-6) and d["df"] == INF
    assert d["_scale"] == pytest.approx((0.3, math.sqrt(0.13), INF), rel=1e-6)
    assert V.mde(d) == pytest.approx((Z975 + Z80) * math.sqrt(0.13), rel=1e-6)
    wide = replicates.mover_difference(replicates.pool([0.5, 0.6, 0.4], [0.04] * 3), b)  # df = min(2, ∞)
    assert wide["df"] == 2
    assert wide["se"] == pytest.approx((wide["ci_high"] - wide["ci_low"]) / (2 * T975_2), rel=1e-6)
    assert wide["k"] == 1 and math.isnan(wide["tau2"]) and wide["per_seed"] == ()
    empty = replicates.mover_difference(a, {"estimate": 0.1, "k": 1})
    assert "_scale" not in empty and math.isnan(empty["estimate"]) and math.isnan(empty["ci_low"])
    assert "_scale" not in replicates.mover_difference({"estimate": 0.1, "k": 1}, b)


def test_stable_tolerates_few_redraws_that_differ_and_no_more():
    """A rebuild is a new draw of the seeds: fewer than 10 % of redrawn verdicts may differ (1 of 20), not 2."""
    subsets = ["holds"] * 3
    assert V.stable("holds", subsets, ["holds"] * 19 + ["inconclusive"]) is True
    assert V.stable("holds", subsets, ["holds"] * 18 + ["inconclusive"] * 2) is False
    assert V.stable("holds", subsets, []) is True  # no redraws: the subsets decide
    assert V.stable("holds", ["holds", "inconclusive"], ["holds"] * 20) is False
    assert V.REDRAWS == 20 and V.REDRAW_TOLERANCE == 0.1


def test_a_redraw_keeps_the_seeds_and_spreads_by_the_seeds_variance():
    pooled = replicates.pool([0.1, 0.2, 0.3, 0.2, 0.2], [0.01] * 5, seeds=[0, 1, 2, 3, 4])
    rng = np.random.default_rng(0)
    drawn = [replicates.redraw(pooled, rng) for _ in range(400)]
    assert all(d["k"] == 5 and replicates.seeds_in(d) == (0, 1, 2, 3, 4) for d in drawn)
    means = np.array([d["estimate"] for d in drawn])
    # each seed drawn around the pooled mean with variance 0.01 + τ²: the pooled mean spreads by about √(0.01/5)
    assert abs(means.mean() - pooled["estimate"]) < 0.01
    assert 0.03 < means.std() < 0.07
    assert replicates.redraw(pooled, rng, keep=[0, 1, 2])["k"] == 3
    plain = {"estimate": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    assert replicates.redraw(plain, rng) is plain
