"""The firing-rate confound and the seed-aware result tables: planted effects, hand-computed means."""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest

from clipneuron_utils.stats import effects, pvalues
from clipneuron_utils.stats import uncertainty as U

PARTIAL = "IoU ~ accuracy | log firing count"


def scored_frame(link: str, n: int = 600, seeds=(0, 1, 2), lengths=(1,), rng_seed: int = 0) -> pd.DataFrame:
    """Synthetic results: IoU and accuracy both depend on log firing count; ``link="direct"`` adds a
    shared unit trait that raises both, independent of firing rate, ``link="firing"`` adds none."""
    rng = np.random.default_rng(rng_seed)
    frames = []
    for seed in seeds:
        log_fires = rng.uniform(np.log(10), np.log(3000), n)
        trait = rng.normal(0, 0.05, n) if link == "direct" else np.zeros(n)
        acc = 0.95 - 0.03 * log_fires + trait + rng.normal(0, 0.03, n)
        null = 0.01 * log_fires
        for length in lengths:
            iou = 0.05 + 0.03 * log_fires + trait + rng.normal(0, 0.03, n)
            frames.append(pd.DataFrame({
                "encoder": "lstm", "seed": seed, "encoding": "standard", "max_length": length,
                "neuron": np.arange(n), "iou": iou, "explained": True,
                "n_fires": np.rint(np.exp(log_fires)).astype(int), "acc_when_firing": acc,
                "null_mean_iou": null, "excess_iou": iou - null,
            }))
    return pd.concat(frames, ignore_index=True)


def row(frame, test, method="pearson"):
    match = frame[(frame["test"] == test) & (frame["method"] == method)]
    assert len(match) == 1
    return match.iloc[0]


# ------------------------------------------------------------------------------ firing_confound


def test_partial_correlation_recovers_an_effect_independent_of_firing_rate():
    table = effects.firing_confound(scored_frame("direct"))
    for method in ("pearson", "spearman"):
        partial = row(table, PARTIAL, method)
        assert partial["r"] > 0.3  # planted: 0.05² / (0.05² + 0.03²) ≈ 0.74 given log firing count
        assert 0 < partial["ci_low"] < partial["r"] < partial["ci_high"]
        assert partial["p"] < 1e-10 and partial["n_seeds"] == 3 and partial["n"] == 600


def test_partial_correlation_is_null_when_the_only_link_is_firing_rate():
    table = effects.firing_confound(scored_frame("firing"))
    for method in ("pearson", "spearman"):
        plain = row(table, "IoU ~ accuracy", method)
        assert plain["r"] < -0.5 and plain["ci_high"] < 0  # the paper's test sees a strong link…
        partial = row(table, PARTIAL, method)
        assert abs(partial["r"]) < 0.1  # …that is all firing rate
        assert -0.15 < partial["ci_low"] and partial["ci_high"] < 0.15
        if method == "pearson":  # the planted model is linear: no partial association at all
            assert partial["ci_low"] < 0 < partial["ci_high"] and partial["p"] > 0.05
        # the null IoU, a function of firing count alone, correlates with accuracy like the IoU does
        assert row(table, "null IoU ~ accuracy", method)["r"] < -0.5
        assert row(table, "IoU ~ log firing count", method)["r"] > 0.5


def test_firing_confound_columns_pingouin_values_and_holm():
    scored = scored_frame("direct", n=200, seeds=(0, 1), lengths=(1, 2))
    table = effects.firing_confound(scored, n_resamples=300)
    assert list(table.columns) == ["encoder", "encoding", "max_length", "test", "method", "r", "ci_low",
                                   "ci_high", "p", "seed_sd", "n_seeds", "n", "p_holm"]
    assert len(table) == 2 * len(effects.CONFOUND_TESTS) * 2
    assert table["p_holm"].to_numpy() == pytest.approx(pvalues.holm(table["p"]), rel=1e-12)
    assert (table["p_holm"] >= table["p"]).all()
    # r is the mean over seeds of pingouin's r; p the Fisher-z pooling of the seeds
    part = scored[scored["max_length"] == 2]
    fits = []
    for seed in (0, 1):
        one = part[part["seed"] == seed].assign(log_fires=lambda f: np.log(f["n_fires"]))
        fits.append(pingouin.partial_corr(one, x="iou", y="acc_when_firing", covar="log_fires", method="spearman"))
    got = table[(table["max_length"] == 2) & (table["test"] == PARTIAL) & (table["method"] == "spearman")].iloc[0]
    rs = [f["r"].iloc[0] for f in fits]
    assert got["r"] == pytest.approx(np.mean(rs), abs=1e-12)
    assert got["seed_sd"] == pytest.approx(np.std(rs, ddof=1), abs=1e-12)
    assert got["p"] == pytest.approx(pvalues.combined_p(rs, [200, 200], n_covariates=1)[1], rel=1e-9)
    # deterministic
    pd.testing.assert_frame_equal(table, effects.firing_confound(scored, n_resamples=300))


def test_one_seed_uses_pingouins_p_and_absent_columns_skip_tests():
    scored = scored_frame("direct", n=150, seeds=(0,)).drop(columns=["seed", "null_mean_iou", "excess_iou"])
    table = effects.firing_confound(scored, n_resamples=200)
    assert set(table["test"]) == {"IoU ~ log firing count", "IoU ~ accuracy", PARTIAL}
    plain = row(table, "IoU ~ accuracy")
    fit = pingouin.corr(scored["iou"], scored["acc_when_firing"])
    assert plain["r"] == pytest.approx(fit["r"].iloc[0], abs=1e-12)
    assert plain["p"] == pytest.approx(fit["p_val"].iloc[0], rel=1e-12)
    assert plain["n_seeds"] == 1 and math.isnan(plain["seed_sd"])


def test_small_or_unexplained_groups_give_nan_not_exceptions():
    scored = scored_frame("direct", n=40, seeds=(0, 1))
    scored.loc[scored["neuron"] >= 2, ["iou", "null_mean_iou", "excess_iou"]] = np.nan
    scored["explained"] = scored["iou"].notna()
    table = effects.firing_confound(scored, n_resamples=200)
    assert table[["r", "ci_low", "ci_high", "p", "p_holm"]].isna().all().all()
    assert (table["n_seeds"] == 0).all() and (table["n"] == 2).all()
    summary = effects.iou_summary(scored, n_resamples=200)
    iou = summary[summary["measure"] == "iou"].iloc[0]
    assert not math.isnan(iou["mean"]) and math.isnan(iou["ci_low"])  # 2 units per seed: no interval


# ------------------------------------------------------------------------------------ iou_summary


def test_iou_paper_counts_unexplained_units_as_zero():
    scored = scored_frame("direct", n=300, seeds=(0, 1))
    table = effects.iou_summary(scored, n_resamples=300)
    assert list(table.columns) == ["encoder", "encoding", "max_length", "measure", "mean", "ci_low", "ci_high",
                                   "seed_sd", "n_seeds", "n_explained", "n_units"]
    assert table["measure"].tolist() == ["iou", "iou_paper", "null_mean_iou", "excess_iou"]
    means = table.set_index("measure")["mean"]
    assert means["iou_paper"] == pytest.approx(means["iou"], abs=1e-12)  # all explained
    assert means["excess_iou"] == pytest.approx(means["iou"] - means["null_mean_iou"], abs=1e-12)

    unexplained = scored["neuron"] % 4 == 0  # a quarter of the units fire too rarely
    scored.loc[unexplained, ["iou", "null_mean_iou", "excess_iou"]] = np.nan
    scored["explained"] = ~unexplained
    table = effects.iou_summary(scored, n_resamples=300).set_index("measure")
    assert table.loc["iou_paper", "mean"] < table.loc["iou", "mean"]
    per_seed = [g["iou"].fillna(0).mean() for _, g in scored.groupby("seed")]
    assert table.loc["iou_paper", "mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    per_seed = [g["iou"].mean() for _, g in scored.groupby("seed")]
    assert table.loc["iou", "mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert table.loc["iou", "seed_sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
    assert table.loc["iou", "n_explained"] == 225 and table.loc["iou", "n_units"] == 300
    for measure in table.index:
        assert table.loc[measure, "ci_low"] < table.loc[measure, "mean"] < table.loc[measure, "ci_high"]
    # measures the frame lacks are skipped; no "iou", no paper row
    only = effects.iou_summary(scored.drop(columns="excess_iou"), measures=("null_mean_iou", "excess_iou"),
                         n_resamples=100)
    assert only["measure"].tolist() == ["null_mean_iou"]


# ----------------------------------------------------------------------------- paired differences


def hand_frame() -> pd.DataFrame:
    """Two seeds, three neurons, two lengths and two encodings, with values easy to average by hand."""
    rows = []
    iou = {  # (seed, encoding, length) → IoU of neurons 0, 1, 2 (NaN: unexplained)
        (0, "standard", 1): [0.10, 0.20, 0.30], (0, "standard", 2): [0.15, 0.30, np.nan],
        (0, "wordnet", 1): [0.12, 0.20, 0.33], (0, "wordnet", 2): [0.15, 0.36, 0.40],
        (1, "standard", 1): [0.40, 0.10, 0.20], (1, "standard", 2): [0.50, 0.10, 0.26],
        (1, "wordnet", 1): [np.nan, 0.11, 0.22], (1, "wordnet", 2): [0.50, 0.12, 0.26],
    }
    for (seed, encoding, length), values in iou.items():
        for neuron, value in enumerate(values):
            rows.append({"encoder": "clip", "seed": seed, "encoding": encoding, "max_length": length,
                         "neuron": neuron, "iou": value, "explained": not np.isnan(value),
                         "null_mean_iou": 0.01 * length, "excess_iou": value - 0.01 * length})
    return pd.DataFrame(rows)


def test_length_gain_is_the_mean_over_seeds_of_per_unit_changes():
    table = effects.length_gain(hand_frame(), n_resamples=200)
    assert list(table.columns) == ["encoder", "encoding", "measure", "from_length", "to_length", "mean_from",
                                   "mean_to", "mean", "ci_low", "ci_high", "seed_sd", "n_seeds", "n"]
    standard = table[(table["encoding"] == "standard")].set_index("measure")
    seed0 = np.mean([0.05, 0.10])  # neuron 2 unexplained at length 2: left out
    seed1 = np.mean([0.10, 0.00, 0.06])
    assert standard.loc["iou", "mean"] == pytest.approx((seed0 + seed1) / 2, abs=1e-12)
    assert standard.loc["iou", "mean_from"] == pytest.approx((0.15 + 0.70 / 3) / 2, abs=1e-12)
    assert standard.loc["iou", "seed_sd"] == pytest.approx(np.std([seed0, seed1], ddof=1), abs=1e-12)
    assert standard.loc["iou", "n"] == 2.5 and standard.loc["iou", "n_seeds"] == 2
    assert math.isnan(standard.loc["iou", "ci_low"])  # seed 0 has 2 paired units: too few
    # the null grows by 0.01 per length, so the excess gain is 0.01 less
    assert standard.loc["excess_iou", "mean"] == pytest.approx((seed0 + seed1) / 2 - 0.01, abs=1e-12)
    wordnet = table[(table["encoding"] == "wordnet")].set_index("measure")
    expected = (np.mean([0.03, 0.16, 0.07]) + np.mean([0.01, 0.04])) / 2
    assert wordnet.loc["iou", "mean"] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="max_length"):
        effects.length_gain(hand_frame(), by=["encoder", "max_length"])


def test_encoding_effect_is_the_mean_over_seeds_of_per_unit_differences():
    table = effects.encoding_effect(hand_frame(), measures=("iou",), n_resamples=200)
    assert list(table.columns) == ["encoder", "max_length", "measure", "mean_standard", "mean_wordnet", "mean",
                                   "ci_low", "ci_high", "seed_sd", "n_seeds", "n"]
    first = table[table["max_length"] == 1].iloc[0]
    seed0 = np.mean([0.02, 0.0, 0.03])
    seed1 = np.mean([0.01, 0.02])  # neuron 0 unexplained under WordNet
    assert first["mean"] == pytest.approx((seed0 + seed1) / 2, abs=1e-12)
    assert first["n"] == 2.5
    second = table[table["max_length"] == 2].iloc[0]
    assert second["mean"] == pytest.approx((np.mean([0.0, 0.06]) + np.mean([0.0, 0.02, 0.0])) / 2, abs=1e-12)


def test_paired_means_have_intervals_with_enough_units():
    rng = np.random.default_rng(8)
    n = 400
    frames = []
    for seed in (0, 1, 2):
        base = rng.uniform(0.1, 0.3, n)
        for encoding, shift in (("standard", 0.0), ("wordnet", 0.01)):
            frames.append(pd.DataFrame({"encoder": "clip", "seed": seed, "encoding": encoding, "max_length": 1,
                                        "neuron": np.arange(n), "explained": True,
                                        "iou": base + shift + rng.normal(0, 0.02, n)}))
    table = effects.encoding_effect(pd.concat(frames), measures=("iou", "excess_iou"), n_resamples=500)
    assert table["measure"].tolist() == ["iou"]  # excess_iou absent: skipped
    effect = table.iloc[0]
    assert effect["ci_low"] < 0.01 < effect["ci_high"] and effect["ci_low"] > 0


# ---------------------------------------------------------------------------- correlation_change


def test_correlation_change_recovers_a_planted_change():
    rng = np.random.default_rng(9)
    frames = []
    n = 500
    for seed in (0, 1, 2):
        acc = rng.uniform(0.5, 1.0, n)
        fires = rng.integers(20, 2000, n)
        for length, slope in ((1, 0.0), (2, 0.4)):
            iou = 0.2 + slope * (acc - 0.75) + rng.normal(0, 0.05, n)
            frames.append(pd.DataFrame({"encoder": "minilm", "seed": seed, "encoding": "standard",
                                        "max_length": length, "neuron": np.arange(n), "iou": iou,
                                        "explained": True, "n_fires": fires, "acc_when_firing": acc}))
    scored = pd.concat(frames, ignore_index=True)
    scored.loc[(scored["max_length"] == 2) & (scored["neuron"] < 50), ["iou", "explained"]] = [np.nan, False]
    for test in ("IoU ~ accuracy", PARTIAL):
        change = effects.correlation_change(scored, test=test, n_resamples=500).iloc[0]
        assert change["change"] == pytest.approx(change["r_to"] - change["r_from"], abs=1e-12)
        assert abs(change["r_from"]) < 0.1 and change["r_to"] > 0.5
        assert 0 < change["ci_low"] < change["change"] < change["ci_high"]
        assert (change["n"], change["n_from"], change["n_to"]) == (500, 500, 450)
        # r at each length is firing_confound's r
        confound = effects.firing_confound(scored, n_resamples=100)
        for length, column in ((1, "r_from"), (2, "r_to")):
            expected = confound[(confound["max_length"] == length) & (confound["test"] == test)
                                & (confound["method"] == "pearson")]["r"].iloc[0]
            assert change[column] == pytest.approx(expected, abs=1e-12)
    assert list(change.index) == ["encoder", "encoding", "test", "method", "from_length", "to_length", "r_from",
                                  "r_to", "change", "ci_low", "ci_high", "seed_sd", "n_seeds", "n", "n_from",
                                  "n_to"]
    with pytest.raises(ValueError, match="test must be one of"):
        effects.correlation_change(scored, test="IoU ~ nothing")


# ------------------------------------------------------------------- known answers of the wiring (issue 21)


def test_bad_frames_get_an_error_naming_scored():
    """A frame without the columns a table needs gets a ValueError that names the parameter and the column."""
    no_iou = hand_frame().drop(columns="iou")
    with pytest.raises(ValueError, match="scored lacks column.s. iou"):
        effects.firing_confound(no_iou)
    with pytest.raises(ValueError, match="scored lacks column.s. encoding"):
        effects.encoding_effect(hand_frame().drop(columns="encoding"))


def test_paired_changes_report_the_paired_units_means_at_both_ends():
    """length_gain's mean_to and encoding_effect's mean_wordnet are the means of the paired units at the second
    value, not the mean change: length 1 → 2 (standard) pairs neurons 0, 1 of seed 0 (IoU 0.15, 0.30 at length 2)
    and 0, 1, 2 of seed 1 (0.50, 0.10, 0.26)."""
    table = effects.length_gain(hand_frame(), measures=("iou",), n_resamples=50)
    standard = table[table["encoding"] == "standard"].iloc[0]
    assert standard["mean_to"] == pytest.approx((0.225 + 0.86 / 3) / 2, abs=1e-12)
    assert standard["mean_to"] - standard["mean_from"] == pytest.approx(standard["mean"], abs=1e-12)
    effect = effects.encoding_effect(hand_frame(), measures=("iou",), n_resamples=50)
    first = effect[effect["max_length"] == 1].iloc[0]  # seed 0: 0.12, 0.20, 0.33; seed 1 (neurons 1, 2): 0.11, 0.22
    assert first["mean_wordnet"] == pytest.approx((0.65 / 3 + 0.165) / 2, abs=1e-12)


def test_iou_summary_of_an_empty_frame_keeps_its_columns_and_a_nan_seed_is_its_own_replicate():
    """No rows: an empty table with the documented columns. Rows whose seed is NaN are a replicate of their own,
    not dropped: seeds 0 (IoU 0.1, 0.3) and NaN (0.5, 0.7) give a mean over 2 seeds of (0.2 + 0.6) / 2."""
    empty = effects.iou_summary(hand_frame().iloc[:0], n_resamples=50)
    assert len(empty) == 0
    assert list(empty.columns) == ["encoder", "encoding", "max_length", "measure", "mean", "ci_low", "ci_high",
                                   "seed_sd", "n_seeds", "n_explained", "n_units"]
    frame = pd.DataFrame({"encoder": "clip", "seed": [0, 0, np.nan, np.nan], "neuron": [0, 1, 0, 1],
                          "iou": [0.1, 0.3, 0.5, 0.7], "explained": True})
    row_iou = effects.iou_summary(frame, measures=("iou",), n_resamples=50).set_index("measure").loc["iou"]
    assert row_iou["mean"] == pytest.approx(0.4) and row_iou["n_seeds"] == 2 and row_iou["n_units"] == 2


def _small_change_frame(n=60):
    rng = np.random.default_rng(4)
    frames = []
    for seed in (0, 1):
        acc = rng.uniform(0.5, 1.0, n)
        for length, slope in ((1, 0.0), (2, 0.4)):
            frames.append(pd.DataFrame({"encoder": "minilm", "seed": seed, "encoding": "standard", "max_length": length,
                                        "neuron": np.arange(n), "iou": 0.2 + slope * (acc - 0.75) + rng.normal(0, 0.05, n),
                                        "explained": True, "n_fires": 100, "acc_when_firing": acc}))
    return pd.concat(frames, ignore_index=True)


def test_correlation_change_passes_its_bootstrap_options_on():
    """The bootstrap seed defaults to 0 (the documented default: a table is reproducible without one), and the
    confidence reaches the bootstrap: a 50 % interval lies strictly inside the 95 % one of the same resamples."""
    scored = _small_change_frame()
    default = effects.correlation_change(scored, n_resamples=100).iloc[0]
    zero = effects.correlation_change(scored, n_resamples=100, seed=0).iloc[0]
    one = effects.correlation_change(scored, n_resamples=100, seed=1).iloc[0]
    assert (default["ci_low"], default["ci_high"]) == (zero["ci_low"], zero["ci_high"])
    assert default["ci_low"] != one["ci_low"]
    half = effects.correlation_change(scored, n_resamples=100, confidence=0.5).iloc[0]
    assert default["ci_low"] < half["ci_low"] < half["ci_high"] < default["ci_high"]
