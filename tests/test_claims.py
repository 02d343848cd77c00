"""The claims' rules on synthetic units with a known answer: effect floors, equivalence, seed-level intervals and
the qualitative units. Every rule of stats.verdicts at its edges (the MDE, the new statuses, stability,
robustness, MOVER differences) is in test_verdicts.py; the scorecard built from them in test_scorecard.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from fixtures import units

from clipneuron_utils.stats import claims, replicates, verdicts


# ------------------------------------------------------------------------------------------- the rules


def test_a_small_but_significant_correlation_is_too_small_to_matter():
    frame = units(r=-0.05, n=20000)
    pooled = replicates.correlation(frame, "clip", "standard", 1)
    assert pooled["ci_high"] < 0  # significant with 3 × 20,000 units
    assert claims.effect_status(pooled, -1, claims.MIN_R) == "small"
    assert claims.verdict("small", "small") == "too small to matter"


def test_equivalence_passes_r_0_and_fails_r_02():
    near_zero = replicates.correlation(units(r=0.0, n=3000), "lstm" if False else "clip", "standard", 1)
    assert claims.equivalence_status(near_zero, claims.MIN_R, fisher=True) == "yes"
    clear = replicates.correlation(units(r=0.2, n=3000), "clip", "standard", 1)
    assert claims.equivalence_status(clear, claims.MIN_R, fisher=True) == "no"
    # with too few units, neither equivalence nor a difference is shown; TOST at this SE could not establish
    # ±0.1 even for a true r of 0 (its MDE exceeds the margin), so it is "insensitive", no longer "unclear"
    vague = replicates.correlation(units(r=0.0, n=40), "clip", "standard", 1)
    assert verdicts.mde(vague, fisher=True, equivalence=True) > claims.MIN_R
    assert claims.equivalence_status(vague, claims.MIN_R, fisher=True) == "insensitive"


def test_effect_status_boundaries():
    """Figures without a ``_scale`` have no MDE (NaN), so the interval alone decides, as before the MDE rule."""
    def pooled(est, lo, hi):
        return {"estimate": est, "ci_low": lo, "ci_high": hi}

    assert claims.effect_status(pooled(-0.3, -0.4, -0.2), -1, 0.1) == "yes"
    assert claims.effect_status(pooled(-0.1, -0.2, -0.01), -1, 0.1) == "yes"  # the floor itself counts
    assert claims.effect_status(pooled(-0.05, -0.08, -0.02), -1, 0.1) == "small"
    assert claims.effect_status(pooled(-0.05, -0.2, 0.1), -1, 0.1) == "unclear"  # the CI holds 0 and −0.1
    assert claims.effect_status(pooled(0.01, -0.05, 0.07), -1, 0.1) == "no"  # the CI excludes −0.1
    assert claims.effect_status(pooled(0.3, 0.2, 0.4), -1, 0.1) == "no"  # the wrong direction
    assert claims.effect_status(pooled(math.nan, math.nan, math.nan), -1, 0.1) is None


def test_verdicts_from_statuses():
    assert claims.verdict("yes", "yes") == "holds"
    assert claims.verdict("yes", "n/a") == "holds"
    assert claims.verdict("yes", "yes", random_shows=True) == "holds, as in a random network"
    assert claims.verdict("yes", "no") == "holds only before controls"
    assert claims.verdict("yes", "small") == "holds only before controls"
    assert claims.verdict("yes", None) == "not testable in this build"
    assert claims.verdict("unclear", "yes") == "inconclusive"
    assert claims.verdict("no", "yes") == "does not hold"
    assert claims.verdict(None, "yes") == "not testable in this build"
    assert claims.verdict("yes", "yes", testable=False) == "not testable in this build"


def test_effect_status_edges_of_each_rule():
    """The edges each rule draws: a CI touching 0 is not significant, a CI reaching the floor still holds the
    minimum effect, integers are numbers, a missing figure is not a verdict."""
    def pooled(est, lo, hi):
        return {"estimate": est, "ci_low": lo, "ci_high": hi}

    assert claims.effect_status(pooled(-0.2, -0.3, 0.0), -1, 0.1) == "unclear"  # touches 0: not below it
    assert claims.effect_status(pooled(0.2, 0.0, 0.3), 1, 0.1) == "unclear"
    assert claims.effect_status(pooled(0.0, -0.1, 0.1), 1, 0.1) == "unclear"  # reaches the floor: holds it
    assert claims.effect_status(pooled(0.0, -0.1, 0.0999), 1, 0.1) == "no"
    assert claims.effect_status(pooled(0.2, 0.15, 0.25), 1, 0.1) == "yes" and claims.effect_status(
        pooled(0.2, 0.15, 0.25), -1, 0.1) == "no"
    assert claims.effect_status(pooled(2, 1, 3), 1, 1) == "yes"  # plain ints
    assert claims.effect_status(pooled(0.05, 0.01, 0.09), 1, 0.1) == "small"
    assert claims.effect_status({"estimate": 0.2, "ci_low": 0.1}, 1, 0.1) is None
    assert claims.effect_status(pooled(0.2, 0.1, math.inf), 1, 0.1) is None
    assert claims.effect_status(pooled(0.2, None, 0.3), 1, 0.1) is None


def scaled(est, lo, hi, se, df=math.inf):
    """A pooled figure with its (estimate, SE, df) scale, as :func:`replicates.pool` returns it."""
    return {"estimate": est, "ci_low": lo, "ci_high": hi, "_scale": (est, se, df)}


def test_tost_known_answers():
    """TOST by hand: p = max(P(T > (m + δ)/se), P(T < (m − δ)/se)); the (1 − 2α) interval is m ± t·se."""
    test = replicates.equivalence(scaled(0.02, -0.1, 0.14, 0.03, 2), 0.1)
    assert test["p_tost"] == pytest.approx(0.058274, abs=2e-6)  # t(2).cdf(−8/3); t(2).sf(4) is 0.0286
    assert test["low90"] == pytest.approx(0.02 - 2.919986 * 0.03, abs=1e-6)
    assert test["high90"] == pytest.approx(0.02 + 2.919986 * 0.03, abs=1e-6)
    assert test["equivalent"] is False
    normal = replicates.equivalence(scaled(0.02, -0.04, 0.08, 0.03), 0.1)  # df inf: the normal
    assert normal["p_tost"] == pytest.approx(0.003830, abs=2e-6) and normal["equivalent"] is True
    assert normal["high90"] == pytest.approx(0.02 + 1.644854 * 0.03, abs=1e-6)
    # alpha 0.025: a 95 % interval
    assert replicates.equivalence(scaled(0.02, -0.04, 0.08, 0.03), 0.1, alpha=0.025)["high90"] == pytest.approx(
        0.02 + 1.959964 * 0.03, abs=1e-6)
    # Fisher: the margin is an r, the scale is z, the interval comes back as r
    z = math.atanh(0.05)
    fisher = replicates.equivalence(scaled(z, 0, 0, 0.02), 0.1, fisher=True)
    assert fisher["low90"] == pytest.approx(math.tanh(z - 1.644854 * 0.02), abs=1e-6)
    assert fisher["p_tost"] == pytest.approx(0.0059570, abs=2e-6)  # Φ((z − atanh 0.1)/0.02)
    assert replicates.equivalence(scaled(z, 0, 0, 0.02), 0.1)["p_tost"] == pytest.approx(0.0062463, abs=2e-6)
    # a p exactly at alpha is not below it: not equivalent
    at = replicates.equivalence(scaled(0.02, -0.04, 0.08, 0.03), 0.1)["p_tost"]
    assert replicates.equivalence(scaled(0.02, -0.04, 0.08, 0.03), 0.1, alpha=at)["equivalent"] is False
    assert replicates.equivalence(scaled(0.02, -0.04, 0.08, 0.03), 0.1, alpha=at * 1.000001)["equivalent"] is True
    # no scale, or no spread: no test, every key present
    for bad in ({"estimate": 0.0}, scaled(0.0, 0.0, 0.0, 0.0)):
        out = replicates.equivalence(bad, 0.1)
        assert set(out) == {"p_tost", "low90", "high90", "equivalent"} and out["equivalent"] is None
        assert math.isnan(out["p_tost"])


@pytest.mark.parametrize("est, se", [(e, s) for e in (-0.15, -0.05, 0.0, 0.03, 0.08, 0.12) for s in (0.01, 0.03, 0.06)])
def test_tost_is_equivalent_exactly_when_the_90_interval_lies_inside_the_margin(est, se):
    out = replicates.equivalence(scaled(est, 0, 0, se, 5), 0.1)
    assert out["equivalent"] == (out["low90"] > -0.1 and out["high90"] < 0.1)


def test_equivalence_status_edges():
    assert claims.equivalence_status(scaled(0.3, 0.2, 0.4, 0.05), 0.1) == "no"  # beyond the margin
    assert claims.equivalence_status(scaled(-0.3, -0.4, -0.2, 0.05), 0.1) == "no"
    assert claims.equivalence_status(scaled(0.1, 0.02, 0.18, 0.04), 0.1) == "no"  # significant, at the margin
    assert claims.equivalence_status(scaled(-0.15, -0.28, -0.02, 0.066), 0.1) == "no"  # significant, below −δ
    # significant, inside δ: neither; at SE 0.035 TOST's MDE is 2.926 · 0.035 = 0.102 > 0.1, so "insensitive" (was "unclear")
    assert claims.equivalence_status(scaled(0.08, 0.01, 0.15, 0.035), 0.1) == "insensitive"
    assert claims.equivalence_status(scaled(-0.08, -0.15, -0.01, 0.035), 0.1) == "insensitive"
    # the same reading at SE 0.01 (MDE 0.029): a test that could have shown equivalence did not, "unclear"
    assert claims.equivalence_status(scaled(0.09, 0.07, 0.11, 0.01), 0.1) == "unclear"
    assert claims.equivalence_status(scaled(0.06, 0.0, 0.12, 0.03), 0.1) == "unclear"  # MDE 0.088 < 0.1
    assert claims.equivalence_status(scaled(0.0, -0.3, 0.3, 0.15), 0.1) == "insensitive"  # too vague for either (MDE 0.44)
    # a 95 % CI touching 0 does not exclude it: not significant, so not "no" however large the estimate (and at
    # SE 0.0612 the MDE, 0.179, exceeds the margin: "insensitive", was "unclear")
    assert claims.equivalence_status(scaled(0.12, 0.0, 0.24, 0.0612), 0.1) == "insensitive"
    assert claims.equivalence_status(scaled(-0.12, -0.24, 0.0, 0.0612), 0.1) == "insensitive"
    assert claims.equivalence_status(scaled(0.12, 0.001, 0.24, 0.0612), 0.1) == "no"
    assert claims.equivalence_status(scaled(0.0, -0.02, 0.02, 0.01), 0.1) == "yes"
    assert claims.equivalence_status({"estimate": 0.0}, 0.1) is None
    # fisher is passed on: a z interval of ±0.10017 lies inside ±atanh(0.1) = ±0.10034, not inside ±0.1
    assert claims.equivalence_status(scaled(0.0, -0.1, 0.1, 0.0609), 0.1, fisher=True) == "yes"
    assert claims.equivalence_status(scaled(0.0, -0.1, 0.1, 0.0609), 0.1) == "insensitive"  # MDE 0.178 > 0.1 (was "unclear")
    # alpha is passed on: at alpha 0.2 the 60 % interval of a borderline case fits, at 0.05 the 90 % does not
    borderline = scaled(0.05, 0.0, 0.1, 0.035)
    assert claims.equivalence_status(borderline, 0.1, alpha=0.2) == "yes"
    assert claims.equivalence_status(borderline, 0.1) == "insensitive"  # MDE at α 0.05: 0.102 > 0.1 (was "unclear")


def test_count_status_needs_at_least_half_the_seeds():
    assert claims.count_status([True, False]) == "yes"  # exactly half
    assert claims.count_status([True, False, False]) == "no"
    assert claims.count_status([False, False, False]) == "no"
    assert claims.count_status([True, True, False]) == "yes"
    assert claims.count_status(iter([2, 0, 0, 1])) == "yes"  # counts: truthy is found
    assert claims.count_status([]) is None


def test_verdict_order_of_the_rules():
    assert claims.verdict("small", "yes") == "too small to matter"
    assert claims.verdict("no", "yes", random_shows=True) == "does not hold"  # a control cannot rescue it
    assert claims.verdict("unclear", "no", random_shows=True) == "inconclusive"
    # an unclear controlled figure no longer overturns the claim: only one whose interval excludes the minimum does
    assert claims.verdict("yes", "unclear") == "holds; the controlled figure is inconclusive"
    assert claims.verdict("yes", "no", random_shows=True) == "holds only before controls"
    assert claims.verdict("yes", "n/a", random_shows=True) == "holds, as in a random network"
    assert claims.verdict("no", "no", testable=False) == "not testable in this build"
    statuses = (*verdicts.STATUSES, None)
    assert set(claims.VERDICTS) == {claims.verdict(b, a, r, t) for b in statuses for a in (*statuses, "n/a")
                                    for r in (True, False) for t in (True, False)}  # every verdict is reachable


def test_subset_pools_the_kept_seeds_again():
    """R.subset of a figure pooled over seeds 0, 1, 2 equals pooling the kept seeds' own figures; a figure pooled
    without per-seed figures (a difference of two models) comes back as it is."""
    full = replicates.pool([0.1, 0.3, 0.2], [0.01, 0.02, 0.015], seeds=[0, 1, 2], transform=np.tanh)
    part = replicates.subset(full, [2, 0])
    want = replicates.pool([0.1, 0.2], [0.01, 0.015], seeds=[0, 2], transform=np.tanh)
    assert replicates.seeds_in(part) == (0, 2) and part["k"] == 2
    for key in ("estimate", "ci_low", "ci_high", "p"):
        assert part[key] == pytest.approx(want[key], rel=1e-12)
    assert replicates.subset(full, [5])["k"] == 0 and replicates.seeds_in(replicates.subset(full, [5])) == ()
    diff = replicates.difference(full, full)
    assert replicates.subset(diff, [0]) is diff


def test_seed_level_intervals_widen_when_seeds_disagree():
    agree = replicates.mean_difference(units(seed_shift=(0, 0, 0)), "clip", first={"encoding": "standard", "max_length": 1},
                                       second={"encoding": "wordnet", "max_length": 1})
    rng = np.random.default_rng(1)
    frames = [units(seeds=(s,), seed_shift=(0,), wordnet_shift=shift, rng=rng) for s, shift in
              zip((0, 1, 2), (0.0, 0.004, -0.004))]
    disagree = replicates.mean_difference(pd.concat(frames), "clip", first={"encoding": "standard", "max_length": 1},
                                          second={"encoding": "wordnet", "max_length": 1})
    assert disagree["tau2"] > 0 and agree["tau2"] == 0
    assert (disagree["ci_high"] - disagree["ci_low"]) > 100 * (agree["ci_high"] - agree["ci_low"])
    # correlations too: the same units with seeds of r −0.4, −0.1, +0.2 get a far wider interval than r −0.1 thrice
    same = replicates.correlation(units(r=-0.1, n=2000), "clip", "standard", 1)
    spread = replicates.correlation(pd.concat([units(r=r, seeds=(s,), seed_shift=(0,), n=2000)
                                               for s, r in zip((0, 1, 2), (-0.4, -0.1, 0.2))]), "clip", "standard", 1)
    assert (spread["ci_high"] - spread["ci_low"]) > 4 * (same["ci_high"] - same["ci_low"])


def test_pooling_one_seed_uses_its_own_interval():
    one = replicates.pool([0.5], [0.01])
    assert one["k"] == 1 and one["tau2"] == 0
    assert one["ci_low"] == pytest.approx(0.5 - 1.959964 * 0.1) and one["ci_high"] == pytest.approx(0.5 + 1.959964 * 0.1)
    # three seeds with no disagreement: a t interval on 2 df around the fixed-effect SE
    three = replicates.pool([0.5, 0.5, 0.5], [0.03, 0.03, 0.03])
    assert three["estimate"] == pytest.approx(0.5) and three["ci_high"] - 0.5 == pytest.approx(4.302653 * 0.1)


def test_difference_of_two_models():
    """Proportions now pool on the logit scale, so difference() of two of them is a logit difference
    (≈ logit 0.81 − logit 0.70 = 0.60, not 0.11); the difference of the shares is mover_difference's."""
    a, b = replicates.proportion([80, 82, 81], [100] * 3), replicates.proportion([70, 71, 69], [100] * 3)
    assert a["_scale"][0] == pytest.approx(math.log(a["estimate"] / (1 - a["estimate"])))
    diff = replicates.difference(a, b)
    assert diff["estimate"] == pytest.approx(a["_scale"][0] - b["_scale"][0]) and diff["estimate"] == pytest.approx(
        0.60, abs=0.005) and diff["ci_low"] > 0
    shares = replicates.mover_difference(a, b)
    assert shares["estimate"] == pytest.approx(a["estimate"] - b["estimate"]) and shares["estimate"] == pytest.approx(
        0.11, abs=0.002)
    assert -1 <= shares["ci_low"] < shares["estimate"] < shares["ci_high"] <= 1


def test_fisher_difference_is_taken_on_z_and_reported_as_r():
    za, zb, se = math.atanh(0.3), math.atanh(0.1), 0.05
    a = {"estimate": 0.3, "k": 3, "_scale": (za, se, math.inf)}
    b = {"estimate": 0.1, "k": 3, "_scale": (zb, se, math.inf)}
    out = replicates.fisher_difference(a, b)
    s = math.sqrt(2) * se
    assert out["_scale"][0] == pytest.approx(za - zb) and out["_scale"][1] == pytest.approx(s)
    assert out["estimate"] == pytest.approx(math.tanh(za - zb))  # 0.2062, not 0.3 − 0.1
    assert out["ci_low"] == pytest.approx(math.tanh(za - zb - 1.959964 * s), abs=1e-6)
    assert out["ci_high"] == pytest.approx(math.tanh(za - zb + 1.959964 * s), abs=1e-6)
    t = replicates.fisher_difference({"k": 3, "_scale": (za, se, 2.0)}, {"k": 3, "_scale": (zb, se, 2.0)}, alpha=0.1)
    assert t["_scale"][2] == pytest.approx(4.0)  # Welch–Satterthwaite: (2s²)² / (2 s⁴/2)
    assert t["ci_high"] == pytest.approx(math.tanh(za - zb + 2.131847 * s), abs=1e-6)  # t(4), 90 %
    assert math.isnan(replicates.fisher_difference({"estimate": 0.3}, b)["estimate"])


# ------------------------------------------------------------------ known answers of the pooling (issue 21)


def test_pooled_p_values_and_dropped_seeds_have_known_answers():
    one = replicates.pool([0.5], [0.04])  # one seed: z = 0.5 / 0.2 = 2.5 on the normal
    assert one["p"] == pytest.approx(2 * sps.norm.sf(2.5)) and one["df"] == math.inf
    equal = replicates.pool([0.3, 0.3, 0.3], [0.01, 0.01, 0.01])  # no between-seed variance: se = 0.1 / √3, t on 2 df
    assert equal["se"] == pytest.approx(0.1 / math.sqrt(3)) and equal["df"] == 2
    assert equal["p"] == pytest.approx(2 * sps.t(2).sf(0.3 / (0.1 / math.sqrt(3))))
    # a seed with a NaN estimate is dropped even though its variance is positive; so is one of variance 0
    dropped = replicates.pool([0.3, np.nan, 0.3, 0.3, 0.9], [0.01, 0.01, 0.01, 0.01, 0.0])
    assert dropped["k"] == 3 and dropped["estimate"] == pytest.approx(0.3)
    diff = replicates.difference(replicates.pool([0.5], [0.04]), replicates.pool([0.2], [0.05]))
    assert diff["p"] == pytest.approx(2 * sps.norm.sf(0.3 / 0.3)) and diff["df"] == math.inf and math.isnan(diff["tau2"])


def test_describe_switches_to_significant_digits_below_the_last_decimal():
    assert replicates.describe({"estimate": 0.0123, "ci_low": -0.1, "ci_high": 0.2, "k": 3}) == "+0.012 [-0.100, +0.200], 3 seeds"
    assert replicates.describe({"estimate": 0.00048, "ci_low": -0.3, "ci_high": 0.31, "k": 1}) == "+0.00048 [-0.3, +0.31], 1 seed"
    assert replicates.describe({"estimate": 0.001, "ci_low": 0.0, "ci_high": 0.002, "k": 2}) == "+0.001 [+0.000, +0.002], 2 seeds"


def test_the_resampled_correlations_equal_a_loop_of_r():
    """The bootstrap of correlation_difference computes every resample's (partial) r at once; each equals
    _r of that resample, constant covariates and constant variables included."""
    rng = np.random.default_rng(3)
    x, y, z = rng.normal(size=60), rng.normal(size=60), rng.normal(size=60)
    y = y + 0.5 * x + 0.3 * z
    idx = np.stack([rng.integers(0, 60, 60) for _ in range(50)])
    for cov in (None, z, np.full(60, 2.0)):
        many = replicates._r_many(x, y, cov, idx)
        loop = [replicates._r(x[i], y[i], None if cov is None else cov[i]) for i in idx]
        np.testing.assert_allclose(many, loop, rtol=0, atol=1e-12)
    assert np.isnan(replicates._r_many(np.ones(60), y, None, idx)).all()
    assert np.isnan(replicates._r_many(x, y, z, idx[:, :2])).all()  # fewer than 3 units


def test_correlation_difference_matches_the_loop_it_replaced():
    frame = pd.concat([units("clip", -0.2, 150, seeds=(0, 1)).assign(max_length=m) for m in (1, 2)], ignore_index=True)
    frame.loc[frame.max_length == 2, "iou"] += np.random.default_rng(0).normal(0, 0.05, (frame.max_length == 2).sum())
    got = replicates.correlation_difference(frame, "clip", first={"max_length": 1, "encoding": "standard"},
                                            second={"max_length": 2, "encoding": "standard"}, covariate="log_n_fires")
    rng = np.random.default_rng(0)
    ds, vs = [], []
    for s in (0, 1):
        sides = [replicates._pair_columns(frame[(frame.seed == s) & (frame.max_length == m) & (frame.encoding == "standard")],
                                     "iou", "acc_when_firing", "log_n_fires")[3].set_index("neuron") for m in (1, 2)]
        common = sides[0].index.intersection(sides[1].index)
        arr = [(f.loc[common, "iou"].to_numpy(float), f.loc[common, "acc_when_firing"].to_numpy(float),
                f.loc[common, "log_n_fires"].to_numpy(float)) for f in sides]
        ds.append(replicates._r(*arr[1]) - replicates._r(*arr[0]))
        boot = [replicates._r(*(a[i] for a in arr[1])) - replicates._r(*(a[i] for a in arr[0]))
                for i in (rng.integers(0, len(common), len(common)) for _ in range(200))]
        vs.append(np.var(boot, ddof=1))
    want = replicates.pool(ds, vs)
    for key in ("estimate", "ci_low", "ci_high", "p"):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12)


# ------------------------------------------------------- known answers that pin the wiring (issue 21, mutants)


def test_r_needs_three_units_and_correlation_reads_only_its_encoding():
    """_r of two units is undefined (any two points lie on a line, r = ±1 says nothing); three units give the
    hand-computed r. correlation() uses only the rows of the encoding asked for: with one seed of 5 standard
    units (r = 0.8 by hand) it is exactly 0.8 with the Fisher interval tanh(atanh 0.8 ± 1.96·√(1/2)), whatever
    the WordNet rows of the same units say."""
    assert math.isnan(replicates._r(np.array([0.0, 1.0]), np.array([0.0, 1.0])))
    assert replicates._r(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)
    base = {"encoder": "clip", "seed": 0, "max_length": 1, "neuron": np.arange(5), "n_fires": 100, "explained": True,
            "iou": [1.0, 2.0, 3.0, 4.0, 5.0]}
    frame = pd.concat([pd.DataFrame({**base, "encoding": "standard", "acc_when_firing": [2.0, 1.0, 4.0, 3.0, 5.0]}),
                       pd.DataFrame({**base, "encoding": "wordnet", "acc_when_firing": [5.0, 3.0, 4.0, 1.0, 2.0]})])
    pooled = replicates.correlation(frame, "clip", "standard", 1)
    assert pooled["k"] == 1 and pooled["estimate"] == pytest.approx(0.8)
    assert pooled["ci_high"] == pytest.approx(math.tanh(math.atanh(0.8) + 1.959964 * math.sqrt(0.5)), abs=1e-6)


def test_columns_keeps_one_firing_units_and_ignores_unrelated_gaps():
    """A unit that fired once has log firing count 0 (kept, not dropped as if it never fired); a NaN in a column
    the statistic does not use (here the formula) does not drop a unit; unexplained units and units that never
    fired (log of 0) are left out."""
    frame = pd.DataFrame({"n_fires": [1, 0, 5, 10], "explained": [True, True, True, False],
                          "iou": [0.1, 0.2, 0.3, 0.4], "acc_when_firing": [0.5, 0.6, 0.7, 0.8],
                          "formula": ["a", "b", None, "d"]})
    x, y, z, data = replicates._pair_columns(frame, "iou", "acc_when_firing", "log_n_fires")
    assert x.tolist() == [0.1, 0.3] and z.tolist() == pytest.approx([0.0, math.log(5)])
    x, y, z, data = replicates._pair_columns(frame, "iou", "acc_when_firing", None)
    assert x.tolist() == [0.1, 0.2, 0.3] and z is None and len(data) == 3


def test_proportion_passes_alpha_on():
    """One seed of 80 of 100, pooled on the logit scale (so the interval stays inside (0, 1)): logit 0.8 = ln 4,
    SE = 1/√(100·0.8·0.2) = 0.25, so the 90 % interval is expit(ln 4 ± 1.644854·0.25)."""
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    out = replicates.proportion([80], [100], alpha=0.1)
    assert out["estimate"] == pytest.approx(0.8) and out["_scale"][:2] == pytest.approx((math.log(4), 0.25))
    assert out["ci_low"] == pytest.approx(expit(math.log(4) - 1.644854 * 0.25), abs=1e-6)
    assert out["ci_high"] == pytest.approx(expit(math.log(4) + 1.644854 * 0.25), abs=1e-6)
    # at the default α the 95 % interval is wider; a share of 1 counts as half a failure and stays below 1
    assert replicates.proportion([80], [100])["ci_low"] < out["ci_low"]
    assert replicates.proportion([100], [100])["ci_high"] < 1


def test_boot_variance_needs_three_finite_resamples():
    """Two finite resampled values are too few for a variance (NaN: the seed is dropped, not given a made-up
    precision); three give their sample variance ([1, 2, 3] → 1)."""
    rng = np.random.default_rng(0)
    two = replicates._boot_variance(lambda idx: np.array([1.0, 3.0] + [np.nan] * (len(idx) - 2)), 4, rng, 5)
    assert math.isnan(two)
    three = replicates._boot_variance(lambda idx: np.array([1.0, 2.0, 3.0] + [np.nan] * (len(idx) - 3)), 4, rng, 5)
    assert three == pytest.approx(1.0)


def test_correlation_difference_uses_the_units_explained_at_both_lengths():
    """Units explained at length 2 only are left out of the paired Δr: the result equals that of the frame
    without them (not a KeyError, not a different figure)."""
    frame = units("clip", -0.2, 40, seeds=(0,))
    frame = frame[frame.encoding == "standard"].copy()
    frame.loc[frame.max_length == 2, "iou"] += np.random.default_rng(0).normal(0, 0.02, (frame.max_length == 2).sum())
    first, second = {"max_length": 1, "encoding": "standard"}, {"max_length": 2, "encoding": "standard"}
    only_long = (frame.max_length == 1) & (frame.neuron < 5)
    with_gaps = frame.copy()
    with_gaps.loc[only_long, ["iou", "explained"]] = [np.nan, False]
    got = replicates.correlation_difference(with_gaps, "clip", first=first, second=second, resamples=50)
    want = replicates.correlation_difference(frame[~frame.neuron.lt(5)], "clip", first=first, second=second,
                                             resamples=50)
    assert got["k"] == 1 and math.isfinite(got["estimate"])
    for key in ("estimate", "ci_low", "ci_high"):
        assert got[key] == pytest.approx(want[key], rel=1e-12)


def test_unit_patterns_read_each_seeds_own_weights_and_keep_columns_when_empty():
    """The same `pre:tok:man AND NOT hyp:tok:man` unit in two seeds: seed 0's weights push it to contradiction,
    seed 1's to entailment, so only seed 0's unit is A10's. It beats its null when its excess IoU over the null's
    mean is at least EXCESS_MARGIN (0.1): 0.3 − 0.1 does, 0.3 − 0.25 does not (the null's SD no longer matters).
    A frame with no explained unit gives an empty table with the documented columns."""
    frame = pd.DataFrame({"encoder": "lstm", "seed": [0, 1], "encoding": "standard", "max_length": 2, "neuron": 0,
                          "explained": True, "formula": "(pre:tok:man AND NOT hyp:tok:man)", "iou": 0.3,
                          "null_mean_iou": [0.1, 0.25], "null_sd_iou": 0.001})
    weights = {("lstm", 0): np.array([[0.0], [0.0], [1.0]]), ("lstm", 1): np.array([[1.0], [0.0], [0.0]])}
    patterns = claims.unit_patterns(frame, weights)
    assert patterns["seed"].tolist() == [0, 1] and patterns["missing_word_contradiction"].tolist() == [True, False]
    assert patterns["excess_iou"].tolist() == pytest.approx([0.2, 0.05])
    assert patterns["beats_null"].tolist() == [True, False]  # 0.05 < 0.1, though 50 null SDs above it
    empty = claims.unit_patterns(frame.assign(explained=False), weights)
    assert len(empty) == 0
    assert list(empty.columns) == ["encoder", "seed", "neuron", "max_length", "formula", "iou", "excess_iou",
                                   "beats_null", "single_hyp_token", "missing_word_contradiction"]


def test_description_push_known_answer():
    """Unit 0 fires exactly on the described pairs (IoU 1), unit 1 on the others (IoU 0), so unit 0 is picked.
    Its weights push towards contradiction by 1 − mean(0, 0) = 1 per unit of activation: on the probe pairs
    (activations 1, 2, 3, 4) its push has mean 2.5 and SD 1.290994, and the pair's activation of 5 is
    (5 − 2.5)/1.290994 = 1.936492 SDs above it."""
    weights = np.array([[0.0, 0.5], [0.0, 0.5], [1.0, 2.0]])
    masks = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)
    probe = np.array([[1.0, 9.0], [2.0, 9.0], [3.0, 9.0], [4.0, 9.0]])
    out = claims.description_push(probe, np.array([5.0, 0.0]), weights, np.array([1, 1, 0, 0], bool), masks)
    assert (out["unit"], out["iou"], out["push"], out["probe_mean"]) == (0, 1.0, 5.0, 2.5)
    assert out["probe_sd"] == pytest.approx(1.290994, abs=1e-6) and out["z"] == pytest.approx(1.936492, abs=1e-6)
    # contradiction_push subtracts the mean of the other two classes' weights: unit 1 pushes 2 − 0.5 = 1.5 per unit
    assert claims.contradiction_push(np.array([[1.0, 2.0]]), weights).tolist() == [[1.0, 3.0]]
    # a unit whose push never varies on the probe pairs gets z = 0, not a division by zero
    flat = claims.description_push(np.ones((4, 2)), np.array([5.0, 0.0]), weights, np.array([1, 1, 0, 0], bool), masks)
    assert flat["probe_sd"] == 0.0 and flat["z"] == 0.0


