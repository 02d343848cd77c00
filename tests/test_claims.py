"""The claims' rules on synthetic units with a known answer: effect floors, equivalence, random-network
controls, seed-level intervals — and the scorecard built from them."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps

from clipneuron_utils.stats import claims, replicates

TRAINED = {"clip": {"encoder_params": {"weights": "openai"}}, "lstm": {}, "minilm": {}}
UNTRAINED = {**TRAINED, "clip": {"encoder_params": {"weights": "untrained"}}}


def units(model="clip", r=0.0, n=600, seeds=(0, 1, 2), seed_shift=(0.0, 0.0, 0.0), gain=0.02, wordnet_shift=0.0,
          rng=None, excess_gain=None):
    """Search rows of a model whose IoU ↔ accuracy-when-firing correlation is ``r`` (± sampling) at both
    lengths, IoU growing by ``gain`` from length 1 to 2, and WordNet IoU = standard + ``wordnet_shift``."""
    rng = rng or np.random.default_rng(zlib.crc32(repr((model, r, n)).encode()))  # hash() changes per process
    excess_gain = gain if excess_gain is None else excess_gain
    rows = []
    for s, shift in zip(seeds, seed_shift):
        z = rng.standard_normal(n)
        acc = 0.7 + 0.05 * (r * z + math.sqrt(1 - r * r) * rng.standard_normal(n))
        fires = rng.integers(500, 5000, n)
        for length in (1, 2):
            iou = 0.2 + shift + 0.02 * z + gain * (length - 1)
            for encoding, extra in (("standard", 0.0), ("wordnet", wordnet_shift)):
                rows.append(pd.DataFrame({
                    "encoder": model, "encoding": encoding, "seed": s, "max_length": length, "neuron": np.arange(n),
                    "formula": "hyp:tag:NN", "iou": iou + extra, "null_mean_iou": iou - 0.01, "null_sd_iou": 0.01,
                    "excess_iou": np.full(n, 0.01 + extra + excess_gain * (length - 1)), "n_fires": fires, "explained": True,
                    "acc_when_firing": acc}))
    return pd.concat(rows, ignore_index=True)


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
    # with too few units, neither equivalence nor a difference is shown
    vague = replicates.correlation(units(r=0.0, n=40), "clip", "standard", 1)
    assert claims.equivalence_status(vague, claims.MIN_R, fisher=True) == "unclear"


def test_effect_status_boundaries():
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
    assert claims.equivalence_status(scaled(0.08, 0.01, 0.15, 0.035), 0.1) == "unclear"  # significant, inside δ
    assert claims.equivalence_status(scaled(-0.08, -0.15, -0.01, 0.035), 0.1) == "unclear"
    assert claims.equivalence_status(scaled(0.0, -0.3, 0.3, 0.15), 0.1) == "unclear"  # too vague for either
    # a 95 % CI touching 0 does not exclude it: not significant, so not "no" however large the estimate
    assert claims.equivalence_status(scaled(0.12, 0.0, 0.24, 0.0612), 0.1) == "unclear"
    assert claims.equivalence_status(scaled(-0.12, -0.24, 0.0, 0.0612), 0.1) == "unclear"
    assert claims.equivalence_status(scaled(0.12, 0.001, 0.24, 0.0612), 0.1) == "no"
    assert claims.equivalence_status(scaled(0.0, -0.02, 0.02, 0.01), 0.1) == "yes"
    assert claims.equivalence_status({"estimate": 0.0}, 0.1) is None
    # fisher is passed on: a z interval of ±0.10017 lies inside ±atanh(0.1) = ±0.10034, not inside ±0.1
    assert claims.equivalence_status(scaled(0.0, -0.1, 0.1, 0.0609), 0.1, fisher=True) == "yes"
    assert claims.equivalence_status(scaled(0.0, -0.1, 0.1, 0.0609), 0.1) == "unclear"
    # alpha is passed on: at alpha 0.2 the 60 % interval of a borderline case fits, at 0.05 the 90 % does not
    borderline = scaled(0.05, 0.0, 0.1, 0.035)
    assert claims.equivalence_status(borderline, 0.1, alpha=0.2) == "yes"
    assert claims.equivalence_status(borderline, 0.1) == "unclear"


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
    assert claims.verdict("yes", "unclear") == "holds only before controls"
    assert claims.verdict("yes", "no", random_shows=True) == "holds only before controls"
    assert claims.verdict("yes", "n/a", random_shows=True) == "holds, as in a random network"
    assert claims.verdict("no", "no", testable=False) == "not testable in this build"
    assert set(claims.VERDICTS) >= {claims.verdict(b, a, r) for b in ("yes", "small", "unclear", "no", None)
                                     for a in ("yes", "no", "n/a", None) for r in (True, False)}


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
    a, b = replicates.proportion([80, 82, 81], [100] * 3), replicates.proportion([70, 71, 69], [100] * 3)
    diff = replicates.difference(a, b)
    assert diff["estimate"] == pytest.approx(0.11, abs=0.002) and diff["ci_low"] > 0  # inverse-variance weights


# ------------------------------------------------------------------------------------------- the scorecard


def scored(lstm_r=0.0, clip_r=-0.3, control_r=0.0, n=1200):
    return pd.concat([units("clip", clip_r, n), units("lstm", lstm_r, n), units("lstm-untrained", control_r, n,
                                                                                  seeds=(0,), seed_shift=(0,))])


def row(card, claim, encoder):
    found = card[(card["id"] == claim) & (card["encoder"] == encoder)]
    assert len(found) == 1, found
    return found.iloc[0]


def test_the_scorecard_scores_each_claim():
    card = claims.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    assert row(card, "A2", "clip")["verdict"] == "holds"  # r −0.3 with 3 seeds of 1,200 units
    # r 0 is equivalent to 0 within ±0.1 — and so is the untrained LSTM's, which the verdict says
    assert row(card, "A3", "lstm")["verdict"] == "holds, as in a random network"
    # +0.02 IoU per unit and excess IoU likewise; the control was built with the same gain
    assert row(card, "A1", "clip")["verdict"] == "holds, as in a random network"
    null_grows = pd.concat([units("clip", -0.3, 300, excess_gain=0.0), units("lstm", 0.0, 300)])
    assert row(claims.scorecard(null_grows, registry=TRAINED, encoders=["clip", "lstm"]), "A1", "clip")["verdict"] == \
        "holds only before controls"  # the null rose as much as the real IoU
    assert row(card, "A8", "clip")["verdict"] == "holds, as in a random network"  # WordNet changes nothing, anywhere
    assert row(card, "A4", "clip")["verdict"] == "does not hold"  # same r at both lengths: Δr = 0
    assert set(card["verdict"]) <= set(claims.VERDICTS)
    assert card["paper says"].str.len().min() > 20 and set(card["section"]) <= {"§5.1", "§5.2", "§5.3"}


def test_an_effect_a_random_network_shows_too_changes_the_verdict():
    alone = claims.scorecard(scored(lstm_r=-0.3, control_r=0.0), registry=TRAINED, encoders=["clip", "lstm"])
    shared = claims.scorecard(scored(lstm_r=-0.3, control_r=-0.3), registry=TRAINED, encoders=["clip", "lstm"])
    assert row(alone, "A2", "clip")["verdict"] == "holds"
    assert row(shared, "A2", "clip")["verdict"] == "holds, as in a random network"
    assert row(shared, "A2", "clip")["untrained LSTM"].endswith("(shows it)")
    assert not row(alone, "A2", "clip")["untrained LSTM"].endswith("(shows it)")


def test_an_untrained_clip_is_not_testable_and_becomes_the_others_control():
    card = claims.scorecard(scored(lstm_r=-0.3), registry=UNTRAINED, encoders=["clip", "lstm"])
    assert row(card, "A2", "clip")["verdict"] == "not testable in this build"
    assert "untrained" in row(card, "A2", "clip")["note"]
    assert claims.random_networks("lstm", ["clip", "lstm"], UNTRAINED)["untrained CLIP"] == "clip"
    assert claims.random_networks("lstm", ["clip", "lstm"], TRAINED)["untrained CLIP"] is None


def test_qualitative_units_are_counted():
    frame = units("lstm", n=50)
    frame.loc[(frame.max_length == 1) & (frame.neuron == 3), ["formula", "iou"]] = ["hyp:tok:outside", 0.5]
    frame.loc[(frame.max_length == 2) & (frame.neuron == 4), "formula"] = "(pre:tok:man AND NOT hyp:tok:man)"
    frame.loc[(frame.max_length == 2) & (frame.neuron == 5), "formula"] = "(pre:tok:man AND NOT hyp:tok:woman)"
    weights = {("lstm", s): np.tile(np.array([[0.0], [0.0], [1.0]]), (1, 50)) for s in (0, 1, 2)}
    patterns = claims.unit_patterns(frame, weights)
    assert patterns.loc[patterns.single_hyp_token, "neuron"].unique().tolist() == [3]
    assert patterns.loc[patterns.missing_word_contradiction, "neuron"].unique().tolist() == [4]  # same word only
    weights = {key: w[[2, 1, 0]] for key, w in weights.items()}  # now it pushes to entailment
    assert not claims.unit_patterns(frame, weights)["missing_word_contradiction"].any()
    card = claims.scorecard(frame, registry=TRAINED, encoders=["lstm"], units=patterns)
    assert row(card, "A9", "lstm")["before"] == "yes" and row(card, "A10", "lstm")["before"] == "yes"


def test_adversarial_pair_needs_a_majority_of_seeds():
    frame = units("lstm", n=50)
    pair = pd.DataFrame({"encoder": "lstm", "seed": [0, 1, 2], "predicted": ["contradiction", "neutral", "contradiction"]})
    assert row(claims.scorecard(frame, registry=TRAINED, encoders=["lstm"], adversarial=pair), "A11", "lstm")["verdict"] == "holds"
    pair["predicted"] = ["contradiction", "neutral", "entailment"]
    assert row(claims.scorecard(frame, registry=TRAINED, encoders=["lstm"], adversarial=pair), "A11", "lstm")["verdict"] == "does not hold"


def test_rules_markdown_and_counts():
    card = claims.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    text = claims.markdown(card, sentences=["One."])
    assert text.startswith("## The paper's claims in this build") and "One." in text
    assert text.count("\n| A") == len(card)
    tally = claims.counts(card)
    assert sum(tally.values()) == len(card) and set(tally) == set(claims.VERDICTS)
    rules = claims.rules_table()
    assert list(rules["id"]) == list(claims.CLAIMS) and rules["rule (minimum effect, control)"].str.len().min() > 20
    assert str(claims.MIN_R) in rules.set_index("id").loc["A3", "rule (minimum effect, control)"]


def test_findings_sentences_with_known_counts():
    card = pd.DataFrame({"id": ["A1", "A1", "A2", "A3"], "encoder": ["lstm", "minilm", "minilm", "lstm"],
                         "verdict": ["holds, as in a random network", "holds, as in a random network", "holds",
                                     "does not hold"],
                         "before": ["yes", "yes", "yes", "no"], "random": [True, True, False, True]})
    summary = pd.DataFrame({"encoder": ["lstm", "lstm", "minilm", "minilm"], "encoding": "standard", "max_length": 1,
                            "measure": ["iou", "null_mean_iou"] * 2, "mean": [0.4, 0.3, 0.5, 0.45]})
    out = claims.findings(card, summary, encoders=["lstm", "minilm", "clip"])
    assert out == [
        "Of 4 claim × encoder rows: 1 holds, 2 holds, as in a random network, 1 does not hold.",
        "A random-network control shows the same effect for A1 (lstm), A1 (minilm): those effects need no learned "
        "weights.",
        "Random masks with each unit's firing count, searched the same way, reach most of the real units' mean IoU "
        "at length 1: lstm 75%, minilm 90% of it."]
    # a random network showing an effect that does not hold is not a finding; no summary, no third sentence
    assert claims.findings(card.assign(before="no")) == [out[0]]


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


def test_accuracy_and_trend_claims_a5_with_known_answers():
    """A5a: 80 % against 70 % on 3 × 1,000 probe pairs holds; A5b: CLIP's r −0.3 against the BiLSTM's 0 is
    not 'the same trend' (|Δr| ≥ 0.1), while an encoder with the BiLSTM's r is."""
    accuracy = pd.DataFrame({"encoder": ["clip"] * 3 + ["lstm"] * 3 + ["minilm"] * 3, "seed": [0, 1, 2] * 3,
                             "correct": [800, 805, 795, 700, 702, 698, 600, 602, 598], "n": 1000})
    frame = pd.concat([scored(), units("minilm", 0.0, 1200)])
    card = claims.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm", "minilm"], accuracy=accuracy)
    a5a = row(card, "A5a", "clip")
    assert a5a["this build"].startswith("accuracy 80.0% vs 70.0%; difference +0.100")
    assert a5a["verdict"] == "holds" and a5a["before"] == "yes" and a5a["after"] == "n/a"
    assert row(card, "A5a", "minilm")["verdict"] == "does not hold"  # 60.0 % against 70.0 %
    assert row(card, "A5b", "clip")["verdict"] == "does not hold"
    assert row(card, "A5b", "clip")["this build"].startswith("r − the BiLSTM's -0.3")
    assert row(card, "A5b", "minilm")["verdict"] == "holds"
    assert "lstm" not in set(card.loc[card["id"].isin(["A5a", "A5b"]), "encoder"])
    assert list(card.columns) == ["id", "claim", "section", "paper says", "encoder", "this build", "against controls",
                                  *claims.CONTROL_COLUMNS, "verdict", "note", "before", "after", "random"]
    order = [list(claims.CLAIMS).index(i) for i in card["id"]]
    assert order == sorted(order)  # rows in the claims' order, not the ids' alphabetical one


def test_the_rules_table_names_its_columns():
    rules = claims.rules_table()
    assert list(rules.columns) == ["id", "claim", "section", "rule (minimum effect, control)", "Mu & Andreas"]
    assert rules.set_index("id").loc["A1", "Mu & Andreas"].startswith("Mu & Andreas found IoU rising")
    assert rules.set_index("id").loc["A3", "Mu & Andreas"] == "—"


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


def test_a4_a6_and_a7_read_their_own_lengths_and_directions():
    """A frame where only the length-2 standard IoU (A4) and only the length-1 WordNet IoU (A6) track accuracy
    (r ≈ −0.97): A4 and A6 hold before and after the control, A7 (length 2, WordNet = standard) does not."""
    rng = np.random.default_rng(11)
    frames = []
    for s in (0, 1, 2):
        n = 300
        acc_z, noise = rng.standard_normal(n), rng.standard_normal((4, n))
        fires = rng.integers(500, 5000, n)
        iou = {(1, "standard"): 0.2 + 0.02 * noise[0], (1, "wordnet"): 0.2 - 0.02 * acc_z + 0.005 * noise[1],
               (2, "standard"): 0.2 - 0.02 * acc_z + 0.005 * noise[2]}
        iou[(2, "wordnet")] = iou[(2, "standard")]
        for (length, encoding), values in iou.items():
            frames.append(pd.DataFrame({"encoder": "clip", "encoding": encoding, "seed": s, "max_length": length,
                                        "neuron": np.arange(n), "iou": values, "n_fires": fires, "explained": True,
                                        "acc_when_firing": 0.7 + 0.05 * acc_z}))
    frame = pd.concat(frames, ignore_index=True)
    a4, b4, before4, after4 = claims._figures("A4", "clip", frame, {"seed": 0}, 0.05)
    assert a4["estimate"] < -0.9 and (before4, after4) == ("yes", "yes")
    a6, b6, before6, after6 = claims._figures("A6", "clip", frame, {"seed": 0}, 0.05)
    assert a6["estimate"] < -0.9 and (before6, after6) == ("yes", "yes")
    a7, _, before7, _ = claims._figures("A7", "clip", frame, {"seed": 0}, 0.05)
    assert abs(a7["estimate"]) < 1e-6 and before7 != "yes"


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
    """One seed of 80 of 100: p = 0.8, SE = √(0.8·0.2/100) = 0.04, so the 90 % interval is 0.8 ± 1.644854·0.04."""
    out = replicates.proportion([80], [100], alpha=0.1)
    assert out["estimate"] == pytest.approx(0.8)
    assert out["ci_low"] == pytest.approx(0.8 - 1.644854 * 0.04, abs=1e-6)
    assert out["ci_high"] == pytest.approx(0.8 + 1.644854 * 0.04, abs=1e-6)


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


def _one_length(frame, lengths=(1,)):
    return frame[frame.max_length.isin(lengths) & (frame.encoding == "standard")]


def test_scorecard_rows_that_cannot_be_scored_say_why_and_claims_without_controls_show_none():
    """With length-1 formulas only, A1, A4 and A10 are 'n/a', not testable, with the note 'needs formulas of
    length 2'; claims that have no control (A5a, A11, and A5b without length 2) show 'n/a' against controls and
    '—' in every random-network column."""
    frame = _one_length(pd.concat([units("clip", -0.3, 40, seeds=(0, 1)), units("lstm", 0.0, 40, seeds=(0, 1))]))
    accuracy = pd.DataFrame({"encoder": ["clip", "clip", "lstm", "lstm"], "seed": [0, 1, 0, 1],
                             "correct": [80, 81, 70, 71], "n": 100})
    pair = pd.DataFrame({"encoder": "clip", "seed": [0, 1], "predicted": ["contradiction", "contradiction"]})
    card = claims.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm"], accuracy=accuracy,
                            units=claims.unit_patterns(frame, {}), adversarial=pair)
    for claim, encoder in (("A1", "clip"), ("A4", "lstm"), ("A10", "clip"), ("A10", "lstm")):
        found = row(card, claim, encoder)
        assert (found["this build"], found["against controls"], found["verdict"], found["note"]) == (
            "n/a", "n/a", "not testable in this build", "needs formulas of length 2")
    assert row(card, "A5b", "clip")["against controls"] == "n/a"  # its control is Δr, which needs length 2
    a11 = row(card, "A11", "clip")
    assert a11["this build"] == "contradiction in 2 of 2 seeds (predicted: contradiction, contradiction)"
    assert (a11["against controls"], a11["verdict"], a11["note"]) == ("n/a", "holds", "")
    for claim in ("A5a", "A5b", "A11"):
        assert [row(card, claim, "clip")[c] for c in claims.CONTROL_COLUMNS] == ["—", "—", "—"]


def test_scorecard_without_wordnet_says_so_and_scores_a5b_against_the_length_change():
    """Lengths 1 and 2 but no WordNet search: A6, A7 and A8 say 'the WordNet encoding was not searched'; A5b's
    control is the Δr of CLIP minus the BiLSTM's (both 0 here: the same r at both lengths), equivalent to 0."""
    frame = _one_length(pd.concat([units("clip", -0.3, 40, seeds=(0, 1)), units("lstm", 0.0, 40, seeds=(0, 1))]),
                        (1, 2))
    accuracy = pd.DataFrame({"encoder": ["clip", "clip", "lstm", "lstm"], "seed": [0, 1, 0, 1],
                             "correct": [80, 81, 70, 71], "n": 100})
    card = claims.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm"], accuracy=accuracy)
    for claim in ("A6", "A7", "A8"):
        for encoder in ("clip", "lstm"):
            found = row(card, claim, encoder)
            assert (found["this build"], found["verdict"], found["note"]) == (
                "n/a", "not testable in this build", "the WordNet encoding was not searched")
    a5b = row(card, "A5b", "clip")
    assert str(a5b["against controls"]).startswith("Δr − the BiLSTM's ") and a5b["after"] == "yes"


def test_a_control_without_the_pattern_does_not_show_it():
    """A9 with an untrained LSTM in the run that has no single-token unit: its cell reads '0 units' (not
    '(shows it)'), so the verdict is 'holds', not 'holds, as in a random network'."""
    frame = _one_length(pd.concat([units("lstm", 0.0, 20, seeds=(0, 1)),
                                   units("lstm-untrained", 0.0, 20, seeds=(0,), seed_shift=(0.0,))]))
    frame.loc[(frame.encoder == "lstm") & (frame.neuron == 3), ["formula", "iou"]] = ["hyp:tok:outside", 0.5]
    card = claims.scorecard(frame, registry=TRAINED, encoders=["lstm"], units=claims.unit_patterns(frame, {}))
    a9 = row(card, "A9", "lstm")
    assert a9["this build"] == "units: seed 0: 1; seed 1: 1 (e.g. unit 3: `hyp:tok:outside`, IoU 0.500)"
    assert a9["untrained LSTM"] == "0 units" and a9["verdict"] == "holds"


def test_scorecard_of_no_encoders_is_an_empty_card_with_its_columns():
    """No encoder asked for: no rows, but the card's columns (a page can still render its header)."""
    card = claims.scorecard(_one_length(units("lstm", 0.0, 10, seeds=(0,), seed_shift=(0.0,))), registry=TRAINED,
                            encoders=[])
    assert len(card) == 0
    assert list(card.columns) == ["id", "claim", "section", "paper says", "encoder", "this build", "against controls",
                                  *claims.CONTROL_COLUMNS, "verdict", "note", "before", "after", "random"]


def test_unit_patterns_read_each_seeds_own_weights_and_keep_columns_when_empty():
    """The same `pre:tok:man AND NOT hyp:tok:man` unit in two seeds: seed 0's weights push it to contradiction,
    seed 1's to entailment, so only seed 0's unit is A10's. A frame with no explained unit gives an empty table
    with the documented columns."""
    frame = pd.DataFrame({"encoder": "lstm", "seed": [0, 1], "encoding": "standard", "max_length": 2, "neuron": 0,
                          "explained": True, "formula": "(pre:tok:man AND NOT hyp:tok:man)", "iou": 0.3,
                          "null_mean_iou": 0.1, "null_sd_iou": 0.01})
    weights = {("lstm", 0): np.array([[0.0], [0.0], [1.0]]), ("lstm", 1): np.array([[1.0], [0.0], [0.0]])}
    patterns = claims.unit_patterns(frame, weights)
    assert patterns["seed"].tolist() == [0, 1] and patterns["missing_word_contradiction"].tolist() == [True, False]
    assert patterns["beats_null"].tolist() == [True, True]  # 0.3 − 0.1 ≥ 3 · 0.01
    empty = claims.unit_patterns(frame.assign(explained=False), weights)
    assert len(empty) == 0
    assert list(empty.columns) == ["encoder", "seed", "neuron", "max_length", "formula", "iou", "beats_null",
                                   "single_hyp_token", "missing_word_contradiction"]


def test_markdown_of_a_hand_built_card():
    """The scorecard's Markdown, whole: title, the sentences, the sentence on where verdicts come from, the
    table with its notes in the verdict cell and '|' escaped."""
    card = pd.DataFrame([{"id": "A1", "claim": "IoU grows", "section": "§5.1", "encoder": "clip",
                          "this build": "IoU gain +0.020", "against controls": "a|b", "verdict": "holds", "note": ""},
                         {"id": "A4", "claim": "more negative", "section": "§5.1", "encoder": "lstm",
                          "this build": "n/a", "against controls": "n/a", "verdict": "not testable in this build",
                          "note": "needs formulas of length 2"}])
    assert claims.markdown(card, sentences=["One.", "Two."]) == (
        "## The paper's claims in this build\n\nOne. Two.\n\n"
        "The verdicts are computed in chapter 06_results from this build's numbers (figures pooled over training seeds, "
        "95 % intervals with between-seed variance):\n\n"
        "| id | claim (section) | encoder | this build | against controls | verdict |\n|---|---|---|---|---|---|\n"
        "| A1 | IoU grows (§5.1) | clip | IoU gain +0.020 | a\\|b | **holds** |\n"
        "| A4 | more negative (§5.1) | lstm | n/a | n/a | **not testable in this build (needs formulas of length 2)** |\n")


def _with_length_noise(n=60, seeds=(0, 1)):
    frame = _one_length(units("clip", -0.3, n, seeds=seeds), (1, 2)).copy()
    long = frame.max_length == 2
    frame.loc[long, "iou"] += np.random.default_rng(5).normal(0, 0.02, long.sum())
    return frame


def test_figures_pass_alpha_and_the_bootstrap_seed_on():
    """A2's figure and its partial-r control are replicates.correlation at the claim's alpha (here 0.5, a
    narrower interval than at 0.05); A4's Δr is replicates.correlation_difference with the scorecard's
    bootstrap seed (7 here, a different interval from seed 0's)."""
    frame = _with_length_noise()
    a, b, _, _ = claims._figures("A2", "clip", frame, {}, 0.5)
    for got, covariate in ((a, None), (b, "log_n_fires")):
        want = replicates.correlation(frame, "clip", "standard", 1, covariate=covariate, alpha=0.5)
        wide = replicates.correlation(frame, "clip", "standard", 1, covariate=covariate)
        assert got["ci_low"] == pytest.approx(want["ci_low"]) and got["ci_low"] > wide["ci_low"]
    a, b, _, _ = claims._figures("A4", "clip", frame, {"seed": 7}, 0.05)
    kw = dict(first={"encoding": "standard", "max_length": 1}, second={"encoding": "standard", "max_length": 2})
    for got, covariate in ((a, None), (b, "log_n_fires")):
        want = replicates.correlation_difference(frame, "clip", covariate=covariate, seed=7, **kw)
        other = replicates.correlation_difference(frame, "clip", covariate=covariate, seed=0, **kw)
        assert got["ci_low"] == pytest.approx(want["ci_low"], rel=1e-12) and got["ci_low"] != other["ci_low"]


def test_a4_control_uses_the_claims_direction_and_floor(monkeypatch):
    """A4 with a hand-set Δr of −0.2 [−0.3, −0.1] and a partial Δr of −0.03 [−0.04, −0.02]: the figure holds
    ('yes'), the control is significant but below the 0.05 floor ('small'), so A4 holds only before controls."""
    def fake(scored, model, *, covariate=None, **kw):
        if covariate:
            return {"estimate": -0.03, "ci_low": -0.04, "ci_high": -0.02}
        return {"estimate": -0.2, "ci_low": -0.3, "ci_high": -0.1}

    monkeypatch.setattr(replicates, "correlation_difference", fake)
    _, _, before, after = claims._figures("A4", "clip", pd.DataFrame(), {"seed": 0}, 0.05)
    assert (before, after) == ("yes", "small")
    assert claims.verdict(before, after) == "holds only before controls"
