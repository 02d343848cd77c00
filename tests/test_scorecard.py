"""The scorecard on synthetic search frames with a known answer: each claim × encoder row, its controls under the
two-stage rule, what cannot be tested and why, the stability of a verdict over leave-out seed subsets, and the
first page's box, matrix and Markdown (render.scorecard) built from hand-made cards."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fixtures import units

from clipneuron_utils.render import scorecard as RS
from clipneuron_utils.stats import claims, replicates
from clipneuron_utils.stats import scorecard as S
from clipneuron_utils.stats import verdicts

TRAINED = {"clip": {"encoder_params": {"weights": "openai"}}, "lstm": {}, "minilm": {}}
UNTRAINED = {**TRAINED, "clip": {"encoder_params": {"weights": "untrained"}}}
HOLDS_RANDOM = "holds, as in a random network"
NOT_TESTABLE = "not testable in this build"


def scored(lstm_r=0.0, clip_r=-0.3, control_r=0.0, n=1200):
    """CLIP, the BiLSTM and an untrained LSTM, each with the same three seeds (as the pipeline trains controls)."""
    return pd.concat([units("clip", clip_r, n), units("lstm", lstm_r, n), units("lstm-untrained", control_r, n)])


def row(card, claim, encoder):
    found = card[(card["id"] == claim) & (card["encoder"] == encoder)]
    assert len(found) == 1, found
    return found.iloc[0]


def _one_length(frame, lengths=(1,)):
    return frame[frame.max_length.isin(lengths) & (frame.encoding == "standard")]


def pushes(z, encoder="lstm", seeds=None, predicted=None):
    """A pushes frame (A11) as the pipeline writes it: one row per seed with the unit-870 unit and its z."""
    seeds = list(range(len(z))) if seeds is None else list(seeds)
    frame = pd.DataFrame({"encoder": encoder, "seed": seeds, "unit": [870 + s for s in seeds], "z": z})
    if predicted is not None:
        frame["predicted"] = predicted
    return frame


def a11(z, predicted=None):
    """A11 on the BiLSTM of a small frame with as many seeds as ``z``."""
    k = len(z)
    frame = _one_length(units("lstm", 0.0, 30, seeds=tuple(range(k)), seed_shift=(0.0,) * k))
    card = S.scorecard(frame, registry=TRAINED, encoders=["lstm"], pushes=pushes(z, predicted=predicted))
    return row(card, "A11", "lstm")


# ------------------------------------------------------------------------------------------- the verdicts


def test_the_scorecard_scores_each_claim():
    card = S.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    a2 = row(card, "A2", "clip")
    assert a2["verdict"] == "holds" and a2["stable"] is True  # r −0.3 with 3 seeds of 1,200 units, in every pair too
    # r 0 is not significant and equivalent to 0 within ±0.1. The untrained LSTM's r is 0 too, but a random network
    # showing no effect says nothing about a claim of no effect: A3 and A3e get no control, and simply hold
    for claim in ("A3", "A3e"):
        found = row(card, claim, "lstm")
        assert found["verdict"] == "holds" and not found["random"]
        assert [found[c] for c in claims.CONTROL_COLUMNS] == ["—", "—", "—"]
    # +0.02 IoU per unit and excess IoU likewise; the control was built with the same gain, and A1 claims an
    # effect, so a control that passes both stages makes it "holds, as in a random network"
    a1 = row(card, "A1", "clip")
    assert a1["verdict"] == HOLDS_RANDOM and a1["random"] and a1["untrained LSTM"].endswith("(shows it)")
    null_grows = pd.concat([units("clip", -0.3, 300, excess_gain=0.0), units("lstm", 0.0, 300)])
    assert row(S.scorecard(null_grows, registry=TRAINED, encoders=["clip", "lstm"]), "A1", "clip")["verdict"] == \
        "holds only before controls"  # the null rose as much as the real IoU
    # WordNet changes nothing here: no longer "equivalent, as in a random network" but a comparison of nothing
    assert row(card, "A8", "clip")["verdict"] == NOT_TESTABLE and row(card, "A8", "clip")["stable"] is None
    a4 = row(card, "A4", "clip")  # same r at both lengths: Δr = 0 from a test that detects 0.05 (MDE ≈ 0)
    assert a4["verdict"] == "does not hold" and float(a4["MDE"]) < claims.MIN_DELTA_R
    assert set(card["verdict"]) <= set(claims.VERDICTS)
    assert card["paper says"].str.len().min() > 20 and set(card["section"]) <= {"§5.1", "§5.2", "§5.3"}
    assert list(card.columns) == S.COLUMNS


def test_an_effect_a_random_network_shows_too_changes_the_verdict():
    alone = S.scorecard(scored(lstm_r=-0.3, control_r=0.0), registry=TRAINED, encoders=["clip", "lstm"])
    shared = S.scorecard(scored(lstm_r=-0.3, control_r=-0.3), registry=TRAINED, encoders=["clip", "lstm"])
    assert row(alone, "A2", "clip")["verdict"] == "holds"
    assert row(shared, "A2", "clip")["verdict"] == HOLDS_RANDOM and row(shared, "A2", "clip")["random"]
    assert row(shared, "A2", "clip")["untrained LSTM"].endswith("3 seeds (shows it)")
    assert not row(alone, "A2", "clip")["untrained LSTM"].endswith("(shows it)") and not row(alone, "A2", "clip")["random"]


def firing_confounded(model, n=1200, seeds=(0, 1, 2)):
    """Units whose IoU and accuracy both follow their log firing count and nothing else: the raw r is about
    −0.36, the partial r given log firing count about 0."""
    rng = np.random.default_rng(7)
    frames = []
    for s in seeds:
        fires = rng.integers(50, 5000, n)
        lf = np.log(fires)
        lf = (lf - lf.mean()) / lf.std()
        for length in (1, 2):
            frames.append(pd.DataFrame({
                "encoder": model, "encoding": "standard", "seed": s, "max_length": length, "neuron": np.arange(n),
                "formula": "hyp:tag:NN", "iou": 0.2 + 0.02 * lf + 0.02 * rng.standard_normal(n), "null_mean_iou": 0.19,
                "n_fires": fires, "explained": True, "acc_when_firing": 0.7 - 0.05 * (0.6 * lf + rng.standard_normal(n))}))
    return pd.concat(frames, ignore_index=True)


def test_a_random_network_passing_only_before_its_control_does_not_show_the_effect():
    """A random-network control is judged by the claim's own two-stage rule: an untrained LSTM whose raw r (−0.38)
    passes A2 but whose partial r given log firing count (≈ 0) does not, does not make CLIP's A2 'holds, as in a
    random network'; one whose partial r passes too does."""
    clip = units("clip", -0.3, 1200)
    clip = clip[clip.encoding == "standard"]
    frame = pd.concat([clip, firing_confounded("lstm-untrained")])
    control = S.Figures(frame).outcome("A2", "lstm-untrained")
    assert control.before == "yes" and control.after not in ("yes", "n/a")  # the raw figure alone would pass
    a2 = row(S.scorecard(frame, registry=TRAINED, encoders=["clip"]), "A2", "clip")
    assert a2["verdict"] == "holds" and not a2["random"] and "(shows it)" not in a2["untrained LSTM"]
    both = pd.concat([clip, units("lstm-untrained", -0.3, 1200)])
    assert row(S.scorecard(both, registry=TRAINED, encoders=["clip"]), "A2", "clip")["verdict"] == HOLDS_RANDOM


def test_an_untrained_clip_is_not_testable_and_becomes_the_others_control():
    card = S.scorecard(scored(lstm_r=-0.3), registry=UNTRAINED, encoders=["clip", "lstm"])
    assert row(card, "A2", "clip")["verdict"] == NOT_TESTABLE and row(card, "A2", "clip")["stable"] is None
    assert row(card, "A2", "clip")["note"] == claims.UNTRAINED_CLIP
    # CLIP's own IoU gain is the BiLSTM's A1 control (and, growing as the BiLSTM's does, shows the effect)
    a1 = row(card, "A1", "lstm")
    assert a1["untrained CLIP"] == S.Figures(scored(lstm_r=-0.3)).outcome("A1", "clip").raw + " (shows it)"
    assert a1["verdict"] == HOLDS_RANDOM and a1["random"]
    assert row(card, "A3", "lstm")["untrained CLIP"] == "—"  # a claim of no effect gets no control, not even CLIP
    assert claims.random_networks("lstm", ["clip", "lstm"], UNTRAINED)["untrained CLIP"] == "clip"
    assert claims.random_networks("lstm", ["clip", "lstm"], TRAINED)["untrained CLIP"] is None


def test_a3_has_a_literal_and_a_strict_row_for_the_bilstm_only():
    """r = 0 over 3 × 3,000 units: not significant (A3, p ≥ 0.05) and equivalent to 0 within ±0.1 (A3e, TOST), so
    both hold; r = −0.3 is significant, so A3 does not hold. CLIP gets neither row."""
    null = S.scorecard(units("lstm", 0.0, 3000), registry=TRAINED, encoders=["lstm"])
    assert null.loc[null["id"].str.startswith("A3"), "id"].tolist() == ["A3", "A3e"]
    a3, a3e = row(null, "A3", "lstm"), row(null, "A3e", "lstm")
    assert a3["verdict"] == "holds" and a3["before"] == "yes" and ", p = " in a3["this build"]
    assert float(a3["this build"].rsplit("p = ", 1)[1]) >= 0.05
    assert a3e["verdict"] == "holds" and a3e["before"] == "yes" and "p = " not in a3e["this build"]
    assert "literal" in a3["claim"] and "strict" in a3e["claim"]
    negative = S.scorecard(units("lstm", -0.3, 3000), registry=TRAINED, encoders=["lstm"])
    assert row(negative, "A3", "lstm")["verdict"] == "does not hold" and row(negative, "A3e", "lstm")["verdict"] == \
        "does not hold"
    both = S.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    assert set(both.loc[both["id"].isin(["A3", "A3e"]), "encoder"]) == {"lstm"}


def test_wordnet_that_changes_no_unit_or_under_one_percent_is_not_testable():
    """A6, A7 and A8 compare the WordNet encoding with the standard one: where its rows equal the standard rows
    they are not testable, with a note naming how many units changed. 17 changed units of 1,800 (< 1 %) are
    still too few; 18 (1 %) are a test."""
    same = S.scorecard(units("clip", -0.3, 600), registry=TRAINED, encoders=["clip"])
    for claim, length in (("A6", 1), ("A7", 2), ("A8", 1)):
        found = row(same, claim, "clip")
        assert found["verdict"] == NOT_TESTABLE and found["stable"] is None and pd.isna(found["before"])
        assert found["note"] == (f"the WordNet encoding changed 0 of 1,800 units' formula or IoU at length {length} "
                                 "(fewer than 1%): nothing to test")
        assert found["this build"].endswith("0: no unit changed")
    for k, testable in ((17, False), (18, True)):
        frame = units("clip", -0.3, 600)
        frame.loc[(frame.encoding == "wordnet") & (frame.seed == 0) & (frame.neuron < k), "iou"] += 0.05
        card = S.scorecard(frame, registry=TRAINED, encoders=["clip"])
        for claim in ("A6", "A7", "A8"):
            found = row(card, claim, "clip")
            assert (found["verdict"] != NOT_TESTABLE) == testable, (k, claim, found["verdict"])
            assert ("changed" in found["note"]) == (not testable)
            if not testable:
                assert f"changed {k} of 1,800 units" in found["note"]
    # a formula that changes while its IoU does not is a change too
    frame = units("clip", -0.3, 600)
    frame.loc[(frame.encoding == "wordnet") & (frame.neuron < 6) & (frame.max_length == 1), "formula"] = "hyp:tok:man"
    assert replicates.changed_units(frame, "clip", first={"encoding": "standard", "max_length": 1},
                                    second={"encoding": "wordnet", "max_length": 1}) == (18, 1800)


def test_qualitative_units_are_counted():
    frame = units("lstm", n=50)
    frame.loc[(frame.max_length == 1) & (frame.neuron == 3), ["formula", "iou"]] = ["hyp:tok:outside", 0.5]
    frame.loc[(frame.max_length == 2) & (frame.neuron == 4), "formula"] = "(pre:tok:man AND NOT hyp:tok:man)"
    frame.loc[(frame.max_length == 2) & (frame.neuron == 5), "formula"] = "(pre:tok:man AND NOT hyp:tok:woman)"
    weights = {("lstm", s): np.tile(np.array([[0.0], [0.0], [1.0]]), (1, 50)) for s in (0, 1, 2)}
    patterns = claims.unit_patterns(frame, weights)
    assert patterns.loc[patterns.single_hyp_token, "neuron"].unique().tolist() == [3]
    assert patterns.loc[patterns.missing_word_contradiction, "neuron"].unique().tolist() == [4]  # same word only
    flipped = {key: w[[2, 1, 0]] for key, w in weights.items()}  # now it pushes to entailment
    assert not claims.unit_patterns(frame, flipped)["missing_word_contradiction"].any()
    card = S.scorecard(frame, registry=TRAINED, encoders=["lstm"], units=patterns)
    # unit 3's IoU of 0.5 is ≈ 0.3 above its null; unit 4's is 0.01 above it, under the 0.1 margin
    assert row(card, "A9", "lstm")["before"] == "yes" and row(card, "A9", "lstm")["after"] == "yes"
    assert row(card, "A10", "lstm")["before"] == "yes" and row(card, "A10", "lstm")["after"] == "no"
    assert row(card, "A10", "lstm")["verdict"] == "holds only before controls"
    assert row(card, "A9", "lstm")["MDE"] == "1 unit"


def test_a_control_without_the_pattern_does_not_show_it():
    """A9 with an untrained LSTM in the run that has no single-token unit: its cell reads 'units: seed 0: 0' (not
    '(shows it)'), so the verdict is 'holds', not 'holds, as in a random network'."""
    frame = _one_length(pd.concat([units("lstm", 0.0, 20, seeds=(0, 1)),
                                   units("lstm-untrained", 0.0, 20, seeds=(0,), seed_shift=(0.0,))])).copy()
    frame.loc[(frame.encoder == "lstm") & (frame.neuron == 3), ["formula", "iou", "null_mean_iou"]] = [
        "hyp:tok:outside", 0.5, 0.2]
    card = S.scorecard(frame, registry=TRAINED, encoders=["lstm"], units=claims.unit_patterns(frame, {}))
    a9 = row(card, "A9", "lstm")
    assert a9["this build"] == "units: seed 0: 1; seed 1: 1 (e.g. unit 3: `hyp:tok:outside`, IoU 0.500, excess +0.300)"
    assert a9["against controls"] == "excess IoU ≥ 0.1: seed 0: 1; seed 1: 1"
    assert a9["untrained LSTM"] == "units: seed 0: 0" and a9["verdict"] == "holds" and not a9["random"]


# -------------------------------------------------------------------------------------- A11, stability


def test_a11_on_hand_wired_pushes():
    """Each seed's z has variance 1 within its seed (under "an ordinary probe pair", z ~ N(0, 1)). Pushes of 2.0,
    2.5 and 3.0 SD over 3 seeds: their spread (Q = 0.5 < k − 1) gives τ² = 0, so the pooled SE is √(1/3) and the
    interval is t on 2 df: 2.5 ± 4.302653·0.577350 = [0.016, 4.984], just above 0, its estimate above the 0.5 SD
    minimum: it holds, but leaving out one seed (t on 1 df) loses it, so it is fragile. Five seeds around 3 SD
    (2.8 … 3.2) hold in every leave-out subset. Five pushes around −3 SD point the other way: it does not hold.
    Pushes around 0 (0, ±0.1) cannot show the 0.5 SD minimum: the test's MDE, (4.302653 + 1.060660)·0.577350 =
    3.1, exceeds it. No pushes: not testable. The predictions are shown, not scored."""
    holds = a11([2.0, 2.5, 3.0], predicted=["contradiction", "neutral", "contradiction"])
    assert holds["this build"] == ("push +2.500 SD [+0.016, +4.984], 3 seeds (units 870, 871, 872); predicted "
                                   "contradiction in 2 of 3 seeds")
    assert (holds["verdict"], holds["before"], holds["after"], holds["against controls"]) == ("holds", "yes", "n/a", "n/a")
    assert holds["minimum effect"] == "0.5" and holds["seeds"] == 3 and holds["MDE"] == "3.1"
    assert holds["stable"] is False  # without seed 0 or 2: 2 seeds, ± 12.706·0.707, not significant
    assert [holds[c] for c in claims.CONTROL_COLUMNS] == ["—", "—", "—"]
    clear = a11([2.8, 3.0, 3.2, 2.9, 3.1])  # 3.0 ± 2.776445·0.447214 = [1.758, 4.242]
    assert clear["this build"].startswith("push +3.000 SD [+1.758, +4.242], 5 seeds")
    assert clear["verdict"] == "holds" and clear["stable"] is True and clear["MDE"] == "1.66"
    away = a11([-2.8, -3.0, -3.2, -2.9, -3.1])  # [−4.242, −1.758]: significant in the opposite direction
    assert away["verdict"] == "does not hold" and away["before"] == "no"
    none = a11([0.0, 0.1, -0.1], predicted=["contradiction"] * 3)
    assert none["this build"].startswith("push 0 SD [-2.484, +2.484], 3 seeds")
    assert none["verdict"] == "inconclusive: the test cannot detect the minimum effect" and none["before"] == "insensitive"
    assert none["MDE"] == "3.1"
    # one seed: a normal interval, 2.005 ± 1.959964 = [0.045, 3.965]; it holds, but with no subset to check it
    # is fragile, never a certain verdict
    single = a11([2.005], predicted=["contradiction"])
    assert single["this build"] == ("push +2.005 SD [+0.045, +3.965], 1 seed (units 870); predicted contradiction in "
                                    "1 of 1 seed")
    assert single["verdict"] == "holds" and single["stable"] is False
    frame = _one_length(units("lstm", 0.0, 30))
    missing = row(S.scorecard(frame, registry=TRAINED, encoders=["lstm"]), "A11", "lstm")
    assert (missing["verdict"], missing["note"]) == (NOT_TESTABLE, "no unit-870 push was computed")
    other = row(S.scorecard(frame, registry=TRAINED, encoders=["lstm"], pushes=pushes([2.0, 2.5], "clip")), "A11", "lstm")
    assert (other["verdict"], other["note"]) == (NOT_TESTABLE, "no unit-870 unit was found")


def test_a_verdict_is_stable_only_when_every_leave_out_subset_gives_it():
    """Five seeds that agree tightly (2.8 … 3.2 SD, each of variance 1) hold in every subset that leaves out one or
    two (three seeds of about 3 SD: 3 ± 4.30·0.577 still excludes 0): stable. Five where one seed (−3 SD) disagrees:
    over all five the spread (τ² > 0) widens the interval past 0 and the test cannot detect the minimum; without
    that seed it holds, so the verdict is fragile. Two seeds leave no subset to check: fragile, however tight —
    even pushes of 12 SD, which hold on 1 df (12.005 ± 12.706·0.707 = [3.020, 20.990])."""
    tight = a11([2.8, 3.0, 3.2, 2.9, 3.1])
    assert tight["verdict"] == "holds" and tight["stable"] is True
    outlier = a11([3.0, 3.1, 2.9, 3.05, -3.0])
    assert outlier["verdict"] == "inconclusive: the test cannot detect the minimum effect" and outlier["stable"] is False
    kept = replicates.subset(S.Figures(pd.DataFrame(), pushes=pushes([3.0, 3.1, 2.9, 3.05, -3.0])).pooled("A11", "lstm")[0],
                             [0, 1, 2, 3])
    assert verdicts.effect_status(kept, 1, claims.MIN_PUSH_SD) == "yes"  # the subset without seed 4 holds
    two = a11([12.0, 12.01])
    assert two["this build"].startswith("push +12.005 SD [+3.020, +20.990], 2 seeds")
    assert two["verdict"] == "holds" and two["stable"] is False
    # a verdict that cannot be tested has no stability at all
    assert row(S.scorecard(_one_length(units("lstm", 0.0, 30)), registry=TRAINED, encoders=["lstm"]), "A11",
               "lstm")["stable"] is None
    # stability=False skips it
    frame = _one_length(units("lstm", 0.0, 30, seeds=tuple(range(5)), seed_shift=(0.0,) * 5))
    card = S.scorecard(frame, registry=TRAINED, encoders=["lstm"], pushes=pushes([2.8, 3.0, 3.2, 2.9, 3.1]),
                       stability=False)
    assert row(card, "A11", "lstm")["stable"] is None and row(card, "A11", "lstm")["verdict"] == "holds"


# ------------------------------------------------------------------------------- A5, rows not scored


def test_accuracy_and_trend_claims_a5_with_known_answers():
    """A5a: 80 % against 70 % on 3 × 1,000 probe pairs holds (the difference of the shares, Newcombe's MOVER
    interval); A5b: CLIP's r −0.3 against the BiLSTM's 0 is not 'the same trend' (|Δr| ≥ 0.1), while an encoder
    with the BiLSTM's r is. MiniLM's rows are an extension: their note says it is text-only."""
    accuracy = pd.DataFrame({"encoder": ["clip"] * 3 + ["lstm"] * 3 + ["minilm"] * 3, "seed": [0, 1, 2] * 3,
                             "correct": [800, 805, 795, 700, 702, 698, 600, 602, 598], "n": 1000})
    frame = pd.concat([scored(), units("minilm", 0.0, 1200)])
    card = S.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm", "minilm"], accuracy=accuracy)
    a5a = row(card, "A5a", "clip")
    share = lambda e: replicates.proportion(*(accuracy.loc[accuracy.encoder == e, c] for c in ("correct", "n")),  # noqa: E731
                                            seeds=[0, 1, 2])
    gain = replicates.mover_difference(share("clip"), share("lstm"))
    assert a5a["this build"] == ("accuracy 80.0% vs the BiLSTM's 70.0%; "
                                 + claims.describe(gain, "difference", 100, " points"))
    assert a5a["this build"].startswith("accuracy 80.0% vs the BiLSTM's 70.0%; difference +10.0 points [")
    assert a5a["verdict"] == "holds" and a5a["before"] == "yes" and a5a["after"] == "n/a"
    assert row(card, "A5a", "minilm")["verdict"] == "does not hold"  # 60.0 % against 70.0 %
    assert "text-only" in row(card, "A5a", "minilm")["note"] and "extension" in row(card, "A5a", "minilm")["note"]
    assert "text-only" in row(card, "A5b", "minilm")["note"]
    assert row(card, "A5a", "clip")["note"] == "" and row(card, "A5b", "clip")["note"] == ""
    assert row(card, "A5b", "clip")["verdict"] == "does not hold"
    assert row(card, "A5b", "clip")["this build"].startswith("r(clip) − r(BiLSTM) -0.3")
    # MiniLM's r (0) is the BiLSTM's within ±0.1. So is the untrained LSTM's (3 seeds of r 0), but a comparison
    # between encoders gets no random-network control: the verdict is plain "holds", every control cell "—"
    a5b = row(card, "A5b", "minilm")
    assert a5b["verdict"] == "holds" and a5b["after"] == "yes" and not a5b["random"]
    for claim in ("A5a", "A5b"):
        for encoder in ("clip", "minilm"):
            assert [row(card, claim, encoder)[c] for c in claims.CONTROL_COLUMNS] == ["—", "—", "—"], (claim, encoder)
    assert "lstm" not in set(card.loc[card["id"].isin(["A5a", "A5b"]), "encoder"])
    order = [list(claims.CLAIMS).index(i) for i in card["id"]]
    assert order == sorted(order)  # rows in the claims' order, not the ids' alphabetical one


def test_scorecard_rows_that_cannot_be_scored_say_why_and_claims_without_controls_show_none():
    """With length-1 formulas only, A1, A4 and A10 are 'n/a', not testable, with the note 'needs formulas of
    length 2'; claims that have no controlled figure (A5a, A11, and A5b without length 2) show 'n/a' against
    controls, and '—' in every random-network column (A5a and A5b compare encoders, so they never get one; A11's
    run has no random network)."""
    frame = _one_length(pd.concat([units("clip", -0.3, 40, seeds=(0, 1)), units("lstm", 0.0, 40, seeds=(0, 1))]))
    accuracy = pd.DataFrame({"encoder": ["clip", "clip", "lstm", "lstm"], "seed": [0, 1, 0, 1],
                             "correct": [80, 81, 70, 71], "n": 100})
    pair = pushes([2.0, 2.01], "clip", seeds=[0, 1], predicted=["contradiction", "contradiction"])
    card = S.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm"], accuracy=accuracy,
                       units=claims.unit_patterns(frame, {}), pushes=pair)
    for claim, encoder in (("A1", "clip"), ("A4", "lstm"), ("A10", "clip"), ("A10", "lstm")):
        found = row(card, claim, encoder)
        assert (found["this build"], found["against controls"], found["verdict"], found["note"]) == (
            "n/a", "n/a", NOT_TESTABLE, "needs formulas of length 2")
    assert row(card, "A5b", "clip")["against controls"] == "n/a"  # its control is Δr, which needs length 2
    a11_row = row(card, "A11", "clip")  # 2.005 ± 12.706205 · √(1/2) (each seed's z of variance 1, t on 1 df)
    assert a11_row["this build"] == ("push +2.005 SD [-6.980, +10.990], 2 seeds (units 870, 871); predicted "
                                     "contradiction in 2 of 2 seeds")
    assert (a11_row["against controls"], a11_row["verdict"], a11_row["note"]) == (
        "n/a", "inconclusive: the test cannot detect the minimum effect", "")
    for claim in ("A5a", "A5b", "A11"):
        assert [row(card, claim, "clip")[c] for c in claims.CONTROL_COLUMNS] == ["—", "—", "—"]


def test_scorecard_without_wordnet_says_so_and_scores_a5b_against_the_length_change():
    """Lengths 1 and 2 but no WordNet search: A6, A7 and A8 say 'the WordNet encoding was not searched'; A5b's
    control is the Δr of CLIP minus the BiLSTM's (both 0 here: the same r at both lengths), equivalent to 0."""
    frame = _one_length(pd.concat([units("clip", -0.3, 40, seeds=(0, 1)), units("lstm", 0.0, 40, seeds=(0, 1))]),
                        (1, 2))
    accuracy = pd.DataFrame({"encoder": ["clip", "clip", "lstm", "lstm"], "seed": [0, 1, 0, 1],
                             "correct": [80, 81, 70, 71], "n": 100})
    card = S.scorecard(frame, registry=TRAINED, encoders=["clip", "lstm"], accuracy=accuracy)
    for claim in ("A6", "A7", "A8"):
        for encoder in ("clip", "lstm"):
            found = row(card, claim, encoder)
            assert (found["this build"], found["verdict"], found["note"]) == (
                "n/a", NOT_TESTABLE, "the WordNet encoding was not searched")
    a5b = row(card, "A5b", "clip")
    assert str(a5b["against controls"]).startswith("Δr(clip) − Δr(BiLSTM) ") and a5b["after"] == "yes"


def test_scorecard_of_no_encoders_is_an_empty_card_with_its_columns():
    """No encoder asked for: no rows, but the card's columns (a page can still render its header)."""
    card = S.scorecard(_one_length(units("lstm", 0.0, 10, seeds=(0,), seed_shift=(0.0,))), registry=TRAINED, encoders=[])
    assert len(card) == 0
    assert list(card.columns) == ["id", "claim", "section", "paper says", "encoder", "this build", "against controls",
                                  "minimum effect", "MDE", *claims.CONTROL_COLUMNS, "verdict", "note", "stable", "seeds",
                                  "before", "after", "random"]


def test_rules_table_and_counts():
    card = S.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    tally = S.counts(card)
    assert sum(tally.values()) == len(card) and set(tally) == set(claims.VERDICTS)
    assert tally[NOT_TESTABLE] == int((card["verdict"] == NOT_TESTABLE).sum()) > 0
    rules = S.rules_table()
    assert list(rules["id"]) == list(claims.CLAIMS) and rules["rule (minimum effect, control)"].str.len().min() > 20
    assert str(claims.MIN_R) in rules.set_index("id").loc["A3e", "rule (minimum effect, control)"]
    assert "p ≥ α" in rules.set_index("id").loc["A3", "rule (minimum effect, control)"]


def test_the_rules_table_names_its_columns():
    rules = S.rules_table()
    assert list(rules.columns) == ["id", "claim", "section", "rule (minimum effect, control)", "Mu & Andreas"]
    assert rules.set_index("id").loc["A1", "Mu & Andreas"].startswith("Mu & Andreas found IoU rising")
    assert rules.set_index("id").loc["A3", "Mu & Andreas"] == "—"


# ---------------------------------------------------------------------------------- the figures (wiring)


def _with_length_noise(n=60, seeds=(0, 1)):
    frame = _one_length(units("clip", -0.3, n, seeds=seeds), (1, 2)).copy()
    long = frame.max_length == 2
    frame.loc[long, "iou"] += np.random.default_rng(5).normal(0, 0.02, long.sum())
    return frame


def test_figures_pass_alpha_and_the_bootstrap_seed_on():
    """A2's figure and its partial-r control are replicates.correlation at the scorecard's alpha (here 0.5, a
    narrower interval than at 0.05); A4's Δr is replicates.correlation_difference with the scorecard's
    bootstrap seed (7 here, a different interval from seed 0's)."""
    frame = _with_length_noise()
    a, b = S.Figures(frame, alpha=0.5).pooled("A2", "clip")
    for got, covariate in ((a, None), (b, "log_n_fires")):
        want = replicates.correlation(frame, "clip", "standard", 1, covariate=covariate, alpha=0.5)
        wide = replicates.correlation(frame, "clip", "standard", 1, covariate=covariate)
        assert got["ci_low"] == pytest.approx(want["ci_low"]) and got["ci_low"] > wide["ci_low"]
    a, b, same = S.Figures(frame, seed=7).pooled("A4", "clip")
    assert same is None  # A4 compares two lengths, not a manipulation: never "changed nothing"
    kw = dict(first={"encoding": "standard", "max_length": 1}, second={"encoding": "standard", "max_length": 2})
    for got, covariate in ((a, None), (b, "log_n_fires")):
        want = replicates.correlation_difference(frame, "clip", covariate=covariate, seed=7, **kw)
        other = replicates.correlation_difference(frame, "clip", covariate=covariate, seed=0, **kw)
        assert got["ci_low"] == pytest.approx(want["ci_low"], rel=1e-12) and got["ci_low"] != other["ci_low"]
    # a subset is the same figure pooled again over the kept seeds
    assert S.Figures(frame).pooled("A2", "clip", keep=[1])[0]["k"] == 1


def test_a4_control_uses_the_claims_direction_and_floor(monkeypatch):
    """A4 with a hand-set Δr of −0.2 [−0.3, −0.1] and a partial Δr of −0.03 [−0.04, −0.02]: the figure holds
    ('yes'), the control is significant but below the 0.05 floor ('small'), so A4 holds only before controls. A
    partial Δr of −0.03 [−0.09, +0.03] at SE 0.03 holds both 0 and the floor from a test whose MDE (0.084)
    exceeds it: the claim holds, its controlled figure inconclusive."""
    control = {"estimate": -0.03, "ci_low": -0.04, "ci_high": -0.02}

    def fake(scored, model, *, covariate=None, **kw):
        if covariate:
            return control
        return {"estimate": -0.2, "ci_low": -0.3, "ci_high": -0.1}

    monkeypatch.setattr(replicates, "correlation_difference", fake)
    out = S.Figures(pd.DataFrame()).outcome("A4", "clip")
    assert (out.before, out.after) == ("yes", "small")
    assert claims.verdict(out.before, out.after) == "holds only before controls"
    control = {"estimate": -0.03, "ci_low": -0.09, "ci_high": 0.03, "_scale": (-0.03, 0.03, math.inf)}
    out = S.Figures(pd.DataFrame()).outcome("A4", "clip")
    assert (out.before, out.after) == ("yes", "insensitive")
    assert claims.verdict(out.before, out.after) == "holds; the controlled figure is inconclusive"


def test_a4_a6_and_a7_read_their_own_lengths_and_directions():
    """A frame where only the length-2 standard IoU (A4) and only the length-1 WordNet IoU (A6) track accuracy
    (r ≈ −0.97): A4 and A6 hold before and after the control; A7 (length 2, WordNet = standard) compares
    identical rows, so it is not testable."""
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
                                        "neuron": np.arange(n), "formula": "hyp:tag:NN", "iou": values,
                                        "n_fires": fires, "explained": True, "acc_when_firing": 0.7 + 0.05 * acc_z}))
    figures = S.Figures(pd.concat(frames, ignore_index=True))
    a4, a6, a7 = (figures.pooled(c, "clip") for c in ("A4", "A6", "A7"))
    assert a4[0]["estimate"] < -0.9 and a6[0]["estimate"] < -0.9 and abs(a7[0]["estimate"]) < 1e-6
    assert a6[2] == (900, 900) and a7[2] == (0, 900)  # units changed by the WordNet encoding, of all seeds' units
    for claim in ("A4", "A6"):
        out = figures.outcome(claim, "clip")
        assert (out.before, out.after, out.testable) == ("yes", "yes", True)
    a7_out = figures.outcome("A7", "clip")
    assert a7_out.testable is False and a7_out.before is None and "changed 0 of 900" in a7_out.note
    assert claims.verdict(a7_out.before, a7_out.after, testable=a7_out.testable) == NOT_TESTABLE


# ------------------------------------------------------------------------ the first page (render.scorecard)


def card(rows):
    return pd.DataFrame([{"id": i, "encoder": e, "verdict": v, "stable": s} for i, e, v, s in rows])


TOP5 = card([("A1", "lstm", "holds", True), ("A1", "minilm", HOLDS_RANDOM, True), ("A2", "minilm", "holds", False),
             ("A3", "lstm", "does not hold", True), ("A6", "lstm", NOT_TESTABLE, None), ("A1", "clip", "holds", True)])
TOP2 = card([("A1", "lstm", "holds", True), ("A1", "minilm", HOLDS_RANDOM, True), ("A2", "minilm", "inconclusive", True),
             ("A3", "lstm", "does not hold", False), ("A6", "lstm", NOT_TESTABLE, None), ("A1", "clip", "holds", True)])
ENCODERS = ["lstm", "minilm", "clip"]


def test_box_sentences_with_known_counts():
    """Two thresholds, CLIP untrained (so not counted): of the 4 testable cells (A6 never is), A1 holds on both
    encoders at both thresholds (MiniLM's as in a random network), A2 (MiniLM) at top 5 % only, A3 nowhere; 2 of
    the 8 testable verdicts are fragile."""
    out = RS.box({"top 5 %": TOP5, "top 2 %": TOP2}, ENCODERS, True, {"lstm": 3, "minilm": 3, "clip": 3})
    assert out == [
        "Of 4 claim × encoder cells testable on the trained encoders (BiLSTM, MiniLM (extension)), 2 hold at every "
        "threshold, 1 holds at some thresholds only and 1 holds nowhere.",
        "Holding at every threshold: A1 (lstm), A1 (minilm); of these, A1 (minilm) holds as in a random network, so "
        "the effect needs no learned weights.",
        "Holding at some thresholds only: A2 (minilm) at top 5 %.",
        "Not testable here: every claim on CLIP, which is untrained in this build; A6 (lstm) at every top-α threshold (the "
        "WordNet encoding changed fewer than 1 % of the units).",
        "2 of 8 testable verdicts are fragile (†: leaving out one or two seeds, or new draws of them, change them); they rest on 3 seeds "
        "(BiLSTM), 3 seeds (MiniLM (extension))."]
    # one threshold, CLIP trained: its cell counts, nothing is "at some thresholds only", no CLIP sentence
    one = RS.box({"> 0": TOP5}, ENCODERS, False, {"lstm": 3, "minilm": 2, "clip": 3})
    assert one[0] == ("Of 5 claim × encoder cells testable on the trained encoders (BiLSTM, MiniLM (extension), CLIP), "
                      "4 hold at > 0 and 1 holds nowhere.")
    assert not any(s.startswith("Holding at some") for s in one) and "CLIP, which is untrained" not in " ".join(one)
    assert one[-1].startswith("1 of 5 testable verdicts are fragile")
    # two cells holding as in a random network at every threshold: the plural verb; a cell holding at every
    # threshold but as in a random network at only one of them is not counted among those
    both = card([("A1", "lstm", HOLDS_RANDOM, True), ("A1", "minilm", HOLDS_RANDOM, True), ("A4", "lstm", "holds", True)])
    mixed = card([("A1", "lstm", HOLDS_RANDOM, True), ("A1", "minilm", HOLDS_RANDOM, True), ("A4", "lstm", HOLDS_RANDOM, True)])
    out = RS.box({"top 5 %": both, "top 2 %": mixed}, ["lstm", "minilm"], False, {"lstm": 3, "minilm": 3})
    assert out[0].endswith("3 hold at every threshold, 0 hold at some thresholds only and 0 hold nowhere.")
    assert out[1] == ("Holding at every threshold: A1 (lstm), A1 (minilm), A4 (lstm); of these, A1 (lstm), A1 (minilm) "
                      "hold as in a random network, so the effect needs no learned weights.")


def test_matrix_cells_give_each_thresholds_symbol_and_the_reading():
    table = RS.matrix({"top 5 %": TOP5, "top 2 %": TOP2}, ENCODERS, True)
    assert list(table.columns) == ["claim", "BiLSTM", "MiniLM (extension)"]  # an untrained CLIP gets no column
    cells = table.set_index(table["claim"].str.split(" ").str[0])
    assert cells.loc["A1", "BiLSTM"] == "✓ ✓ · robust: holds"
    assert cells.loc["A1", "MiniLM (extension)"] == "≈ ≈ · robust: holds, as in a random network"
    assert cells.loc["A2", "MiniLM (extension)"] == "✓† ? · holds at top 5 % only" and cells.loc["A2", "BiLSTM"] == ""
    assert cells.loc["A3", "BiLSTM"] == "✗ ✗† · robust: does not hold"
    assert cells.loc["A6", "BiLSTM"] == "– – · robust: not testable in this build"
    assert list(cells.index) == ["A1", "A2", "A3", "A6"]  # claims with no cell at all get no row
    assert cells.loc["A1", "claim"] == "A1 IoU grows with formula length (§5.1)"
    # holding at every threshold, as different holding verdicts: neither "robust" nor "holds at … only"
    mixed = RS.matrix({"top 5 %": card([("A1", "lstm", "holds", True)]), "top 2 %": card([("A1", "lstm", HOLDS_RANDOM, True)])},
                      ["lstm"], False)
    assert mixed.loc[0, "BiLSTM"] == "✓ ≈ · holds at every threshold (holds, holds, as in a random network)"
    single = RS.matrix({"> 0": TOP5}, ENCODERS, False)
    assert single.set_index(single["claim"].str.split(" ").str[0]).loc["A1", "CLIP"] == "✓"  # no reading of one
    assert set(RS.SYMBOLS) == set(verdicts.VERDICTS) and len(set(RS.SYMBOLS.values())) == len(RS.SYMBOLS)


def test_the_fragile_mark_reads_numpy_booleans_too():
    """A card's ``stable`` may hold numpy booleans (a column of judged verdicts only has dtype bool): np.False_
    is fragile like False; True, np.True_, None and NaN (not judged) are not."""
    assert RS.fragile(False) and RS.fragile(np.False_)
    assert not any(RS.fragile(s) for s in (True, np.True_, None, math.nan))
    judged = card([("A1", "lstm", "holds", True), ("A3", "lstm", "does not hold", False)])
    judged["stable"] = np.array([True, False])  # dtype bool: its cells are np.True_ / np.False_
    assert judged["stable"].dtype == bool
    cells = RS.matrix({"> 0": judged}, ["lstm"], False)["BiLSTM"].tolist()
    assert cells == ["✓", "✗†"]
    assert RS.box({"> 0": judged}, ["lstm"], False, {"lstm": 3})[-1].startswith("1 of 2 testable verdicts are fragile")
    shown = RS.full_table(judged.assign(claim="c", section="§5.1", **{"paper says": "p", "MDE": "0.1",
                                                                      "minimum effect": "0.1", "before": None,
                                                                      "after": None, "random": False}))
    assert shown["verdict"].tolist() == ["holds", "does not hold †"]


def test_markdown_of_a_hand_built_card():
    """The first page's section, whole: title, the box as an admonition, the matrix, the legend, the notes (one a
    line)."""
    hand = card([("A1", "lstm", "holds", True), ("A3", "lstm", "does not hold", False),
                 ("A11", "lstm", NOT_TESTABLE, None)])  # a real card always has untestable rows (stable None)
    text = RS.markdown({"> 0": hand}, ["lstm"], untrained_clip=False, seeds={"lstm": 3}, notes=["A note.", "Another."])
    assert text == (
        "## The paper's claims in this build\n\n:::{admonition} The verdicts in 30 seconds\n"
        "Of 2 claim × encoder cells testable on the trained encoders (BiLSTM), 1 holds at > 0 and 1 holds nowhere.\n"
        "Holding at > 0: A1 (lstm).\n"
        "Not testable here: A11 (lstm) at > 0 (no unit-870 unit was found).\n"
        "1 of 2 testable verdicts are fragile (†: leaving out one or two seeds, or new draws of them, change them); they rest on 3 seeds "
        "(BiLSTM).\n:::\n\n"
        "Each cell gives the verdict at each firing threshold (> 0), then its reading across them:\n\n"
        "| claim | BiLSTM |\n|---|---|\n"
        "| A1 IoU grows with formula length (§5.1) | ✓ |\n"
        "| A3 for the BiLSTM it is not significant at length 1 (literal reading) (§5.1) | ✗† |\n"
        "| A11 the unit-870 unit pushes the paper's adversarial pair towards contradiction (§5.3) | – |\n\n"
        + RS.legend() + "\n\nA note.\n\nAnother.\n\n")
    assert RS.legend() == (
        "Legend: ✓ *holds* · ◐ *holds; the controlled figure is inconclusive* · ≈ *holds, as in a random network* · "
        "◌ *holds only before controls* · ↓ *too small to matter* · ? *inconclusive* · "
        "⊘ *inconclusive: the test cannot detect the minimum effect* · ✗ *does not hold* · "
        "– *not testable in this build* · † fragile (leaving out one or two seeds, or a new draw of them, changes it).")
    # an untrained CLIP gets its one line instead of a column
    untrained = RS.markdown({"> 0": hand}, ["lstm", "clip"], untrained_clip=True, seeds={"lstm": 3})
    assert "**CLIP**: every claim is *not testable in this build*, because CLIP is untrained here" in untrained and "| CLIP" not in untrained


def test_markdown_of_a_real_scorecard_has_one_row_per_claim():
    built = S.scorecard(scored(), registry=TRAINED, encoders=["clip", "lstm"])
    text = RS.markdown({"> 0": built}, ["clip", "lstm"], untrained_clip=False, seeds={"clip": 3, "lstm": 3})
    assert text.startswith("## The paper's claims in this build")
    assert text.count("\n| A") == built["id"].nunique()


def test_null_reach_and_full_table():
    summary = pd.DataFrame({"encoder": ["lstm", "lstm", "minilm", "minilm"], "encoding": "standard", "max_length": 1,
                            "measure": ["iou", "null_mean_iou"] * 2, "mean": [0.4, 0.3, 0.5, 0.45]})
    assert RS.null_reach(summary, ["lstm", "minilm", "clip"]) == (
        "Random masks with each unit's firing count, searched the same way, reach most of the real units' mean IoU "
        "at length 1: lstm 75%, minilm 90% of it.")
    assert RS.null_reach(summary, ["clip"]) == ""
    built = S.scorecard(_one_length(units("lstm", 0.0, 30, seeds=(0, 1)), (1, 2)), registry=TRAINED, encoders=["lstm"],
                        pushes=pushes([12.0, 12.01]))
    shown = RS.full_table(built)
    a11_row = shown[built["id"] == "A11"].iloc[0]
    assert a11_row["verdict"] == "holds †"  # two seeds: fragile, though 12 SD holds even on 1 df
    assert a11_row["MDE (minimum)"].endswith(" (0.5)")
    assert a11_row["claim"].startswith("A11 the unit-870 unit pushes") and "The paper: " in a11_row["claim"]
    assert not {"before", "after", "random", "stable", "id"} & set(shown.columns)


def test_the_box_names_a_claim_once_for_both_encoders_and_every_top_alpha_briefly():
    """A claim that holds at the same thresholds on both encoders is named once, and 'every top-α threshold' stands
    for all the thresholds but > 0."""
    labels = ["> 0", "top 20 %", "top 2 %"]

    def card(verdict_lstm, verdict_minilm):
        return pd.DataFrame([{"id": "A8", "encoder": e, "verdict": v, "stable": True}
                             for e, v in (("lstm", verdict_lstm), ("minilm", verdict_minilm))])

    cards = {labels[0]: card("inconclusive", "inconclusive"), labels[1]: card("holds", "holds"),
             labels[2]: card("holds", "holds")}
    text = " ".join(RS.box(cards, ["lstm", "minilm"], False, {"lstm": 5, "minilm": 5}))
    assert "Holding at some thresholds only: A8 (lstm, minilm) at every top-α threshold." in text
    cards[labels[2]] = card("holds", "inconclusive")
    text = " ".join(RS.box(cards, ["lstm", "minilm"], False, {"lstm": 5, "minilm": 5}))
    assert "A8 (lstm) at every top-α threshold; A8 (minilm) at top 20 %." in text
