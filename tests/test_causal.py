"""Chapter 10_causal's causal tests: ablation hooks, the edit rules on the concept masks, the faithfulness test on a
planted unit, and the statistics and verdicts."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils.data import corpus
from clipneuron_utils.explain import edits, formulas
from clipneuron_utils.explain.concepts import build_concepts, masks_like
from clipneuron_utils.models.ablation import Ablator, ablate, fill_values
from clipneuron_utils.models.heads import HeadConfig, NLIModel
from clipneuron_utils.run import interventions
from clipneuron_utils.run.parameters import RULES
from clipneuron_utils.stats import causal
from clipneuron_utils.stats import claims


@pytest.fixture(scope="module")
def probe():
    return corpus.load_pairs("synthetic", [], "dev", None, n_synthetic_train=60, n_synthetic_probe=300, seed=0).probe


@pytest.fixture(scope="module")
def concepts(probe):
    return build_concepts(probe, 100, "standard", progress=False)


@pytest.fixture(scope="module")
def editor(probe, concepts):
    return edits.Editor(probe, concepts)


def _model(hidden=8, dim=4, seed=0):
    torch.manual_seed(seed)
    model = NLIModel("clip", HeadConfig(hidden=hidden), dim).eval()
    u, v = torch.randn(50, dim), torch.randn(50, dim)
    return model, u, v


# ----------------------------------------------------------------------------------------- ablation


def test_ablation_hook_changes_only_its_units_and_is_removed_exactly():
    model, u, v = _model()
    with torch.no_grad():
        hidden0, logits0 = model.hidden_units(u, v).clone(), model(u, v).clone()
        with ablate(model, [2, 5], fill=0.25):
            hidden1, logits1 = model.hidden_units(u, v), model(u, v)
        hidden2, logits2 = model.hidden_units(u, v), model(u, v)
    others = [j for j in range(8) if j not in (2, 5)]
    assert torch.equal(hidden1[:, others], hidden0[:, others])  # nothing downstream of other units changes
    assert torch.all(hidden1[:, [2, 5]] == 0.25)
    assert not torch.equal(logits1, logits0)
    assert torch.equal(hidden2, hidden0) and torch.equal(logits2, logits0)  # restored exactly
    assert not model.mlp[1]._forward_hooks


def test_ablation_hook_is_removed_after_an_error():
    model, u, v = _model()
    with pytest.raises(RuntimeError):
        with ablate(model, [1]):
            raise RuntimeError("boom")
    assert not model.mlp[1]._forward_hooks


def test_closed_form_ablation_equals_the_hooked_model():
    model, u, v = _model(hidden=16, seed=3)
    with torch.no_grad():
        acts = model.hidden_units(u, v).numpy()
    ablator = Ablator(acts, model.mlp[3].weight.detach().numpy(), model.mlp[3].bias.detach().numpy())
    for mode in ("zero", "mean"):
        fill = fill_values(acts, mode)
        sets = [[0, 1, 2], [7], list(range(16))]
        closed = ablator.predictions(sets, fill)
        for row, units in enumerate(sets):
            with torch.no_grad(), ablate(model, units, fill):
                hooked = model(u, v).argmax(1).numpy()
            assert np.array_equal(closed[row], hooked)
    assert np.array_equal(ablator.predictions([[]], fill_values(acts, "zero"))[0], ablator.base.argmax(1))


def test_ablation_rejects_units_out_of_range_and_unknown_modes():
    model, u, v = _model()
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        with ablate(model, [8]):
            pass
    with pytest.raises(ValueError, match="zero"):
        fill_values(np.zeros((3, 2)), "median")


def test_fill_values_and_closed_form_predictions_known_answer():
    """Two pairs, two units, identity output layer: ``zero`` holds units at 0 and ``mean`` at their probe mean
    ([2, 4] here), and each ablated set's predicted classes are the hand-computed argmaxes. The closed form keeps
    float64 copies of the (float32) saved arrays and returns class indices as integers, as gold labels are."""
    acts = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    zero, mean = fill_values(acts, "zero"), fill_values(acts, "mean")
    assert np.array_equal(zero, [0.0, 0.0]) and np.array_equal(mean, [2.0, 4.0])
    ablator = Ablator(acts, np.eye(2, dtype=np.float32), np.array([0.5, 0.0], dtype=np.float32))
    assert ablator.h.dtype == np.float64 and ablator.w.dtype == np.float64 and ablator.base.dtype == np.float64
    assert np.array_equal(ablator.base, [[1.5, 2.0], [3.5, 6.0]])
    assert np.array_equal(ablator.predictions([[]], zero), [[1, 1]])  # intact
    assert np.array_equal(ablator.predictions([[1]], zero), [[0, 0]])  # logits [1.5, 0], [3.5, 0]
    held = ablator.predictions([[0], [0, 1]], mean)  # logits [2.5, 2], [2.5, 6]; then [2.5, 4] twice
    assert np.array_equal(held, [[0, 1], [1, 1]])
    assert held.dtype == np.int64


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("where", ["activations", "weights", "bias"])
def test_the_closed_form_rounds_its_inputs_to_float64(where):
    """Class 0's logit is its bias 1, class 1's is 1·1 + 0: a tie, which argmax gives to class 0. A long double
    input 2^-60 away from those values rounds to the same float64 tie, so the predictions do not depend on the
    platform's long double (80-bit on x86 Linux, 64-bit elsewhere)."""
    tiny = np.longdouble(2.0) ** -60
    acts, weights, bias = np.array([[1.0]]), np.array([[0.0], [1.0]]), np.array([1.0, 0.0])
    if where == "activations":
        acts = acts.astype(np.longdouble) + tiny
    elif where == "weights":
        weights = weights.astype(np.longdouble)
        weights[1, 0] += tiny
    else:
        bias = bias.astype(np.longdouble)
        bias[1] += tiny
    ablator = Ablator(acts, weights, bias)
    assert np.array_equal(ablator.predictions([[]], fill_values(np.zeros((1, 1)), "zero")), [[0]])
    assert ablator.base.dtype == np.float64


def test_rankings_pick_top_bottom_and_random_sets():
    rows = pd.DataFrame({"neuron": [0, 1, 2, 3, 4], "iou": [0.1, 0.5, 0.3, np.nan, 0.2],
                         "excess_iou": [0.05, -0.1, 0.2, np.nan, 0.0], "explained": [True, True, True, False, True]})
    sets = interventions.rankings(rows, hidden=10, k=2, draws=3, rng=np.random.default_rng(0))
    assert list(sets["top IoU"][0]) == [1, 2]
    assert list(sets["top excess IoU"][0]) == [2, 0]
    assert list(sets["bottom IoU"][0]) == [0, 4]
    assert len(sets["random"]) == 3 and all(len(set(s)) == 2 and set(s) <= {0, 1, 2, 4} for s in sets["random"])
    assert interventions.rankings(rows, hidden=10, k=3, draws=3, rng=np.random.default_rng(0)) == {}  # 4 < 2k explained


# ------------------------------------------------------------------------------------------- edits


def test_masks_like_rebuilds_the_same_masks_on_the_same_pairs(probe, concepts):
    again = masks_like(probe, concepts)
    assert again.names == concepts.names
    assert again.pair_ids == probe["pair_id"].astype(str).tolist()  # edited pairs keep their own ids
    assert (again.masks != concepts.masks).nnz == 0


def test_substitution_changes_text_and_tokens_together_and_keeps_capitals(probe):
    row = int(np.flatnonzero(probe["hypothesis_tokens"].map(lambda t: "girl" in t))[0])
    out = edits.substitute(probe, [row], "hyp", ["girl"], ["dog"])
    assert "girl" not in out["hypothesis_tokens"].iloc[0] and "dog" in out["hypothesis_tokens"].iloc[0]
    assert "girl" not in out["hypothesis"].iloc[0].lower() and "dog" in out["hypothesis"].iloc[0].lower()
    assert out["hypothesis_tags"].iloc[0] == probe["hypothesis_tags"].iloc[row]
    frame = pd.DataFrame({"premise": ["Dogs run."], "hypothesis": ["Girl sits."], "premise_tokens": [["dogs", "run", "."]],
                          "hypothesis_tokens": [["girl", "sits", "."]], "premise_tags": [["NNS", "VBP", "."]],
                          "hypothesis_tags": [["NN", "VBZ", "."]], "pair_id": ["x"]})
    swapped = edits.substitute(frame, [0], "hyp", ["girl"], ["boy"])
    assert swapped["hypothesis"].iloc[0] == "Boy sits."
    assert swapped["pair_id"].iloc[0] == "x~hyp:girl>boy"  # an edited pair is told apart from its source
    mismatch = frame.assign(hypothesis=["The girl's girl sits."])  # text holds the word twice, tokens once
    assert edits.substitute(mismatch, [0], "hyp", ["girl"], ["boy"]).empty
    both = pd.concat([mismatch, frame], ignore_index=True)  # a row left out does not end the edits
    assert edits.substitute(both, [0, 1], "hyp", ["girl", "girl"], ["boy", "boy"])["source"].tolist() == [1]
    none = edits.append_clause(frame, [], "dog", "NN")  # no pair edited: still the pairs' columns and source
    assert none.empty and list(none.columns) == [*frame.columns, "source"]


@pytest.mark.parametrize("formula, atom", [("hyp:tok:girl", "hyp:tok:girl"),
                                           ("(hyp:tok:dog AND NOT pre:tok:man)", "pre:tok:man"),
                                           ("(hyp:tok:eating OR pre:tok:kitchen)", "hyp:tok:eating")])
def test_planned_edits_change_the_formula_and_no_other_concept(editor, concepts, formula, atom):
    plan = editor.plan(formula, atom, 8, np.random.default_rng(1))
    assert len(plan) > 0 and set(plan["edit"]) <= {"removal", "insertion"}
    side = atom.split(":")[0]
    after = masks_like(plan, concepts)
    changed = edits.changed_concepts(concepts, after, plan["source"])
    for (old, new), names in zip(zip(plan["old"], plan["new"]), changed):
        assert names == {f"{side}:tok:{old}", f"{side}:tok:{new}"}  # the stated change, both ways, and no other
    before = formulas.evaluate(formula, concepts)[plan["source"].to_numpy(dtype=int)]
    now = formulas.evaluate(formula, after)
    assert np.all(before != now)
    assert np.array_equal(np.where(now, 1, -1), plan["direction"].to_numpy())
    removal = plan[plan["edit"] == "removal"]
    assert all(atom.split(":")[2] not in toks for toks in removal[f"{ 'premise' if side == 'pre' else 'hypothesis'}_tokens"])


def test_an_edit_that_would_change_another_concept_is_dropped(editor, concepts):
    """Removing a word the other sentence also has changes the overlap: check_edits refuses it."""
    row = int(np.flatnonzero([("is" in p) and ("is" in h) for p, h in
                              zip(editor.probe["premise_tokens"], editor.probe["hypothesis_tokens"])])[0])
    edited = edits.substitute(editor.probe, [row], "hyp", ["is"], ["was"])
    after = masks_like(edited, concepts)
    changed = edits.changed_concepts(concepts, after, edited["source"])[0]
    ok = edits.check_edits(concepts, after, edited["source"], [{"hyp:tok:is", "hyp:tok:was"}])[0]
    assert ok == (changed <= {"hyp:tok:is", "hyp:tok:was"})


def test_appended_clause_makes_the_premise_noun_true_and_keeps_the_rest(probe, concepts):
    rows = [0, 1, 2]
    out = edits.append_clause(probe, rows, "camera", "NN")
    assert all(p.endswith(" There is a camera.") for p in out["premise"])
    assert all(t[-5:] == ["there", "is", "a", "camera", "."] for t in out["premise_tokens"])
    assert all(t[-5:] == ["EX", "VBZ", "DT", "NN", "."] for t in out["premise_tags"])  # tag concepts see the clause
    assert list(out["pair_id"]) == [f"{i}+camera" for i in probe["pair_id"].iloc[rows]]
    assert list(out["hypothesis"]) == list(probe["hypothesis"].iloc[rows])
    assert formulas.evaluate("pre:tok:camera", masks_like(out, concepts)).all()
    assert edits.append_clause(probe, [0], "apple", "NN")["premise"].iloc[0].endswith("There is an apple.")
    plural = edits.append_clause(probe, [0], "dogs", "NNS")
    assert plural["premise"].iloc[0].endswith("There are dogs.")
    assert plural["premise_tags"].iloc[0][-4:] == ["EX", "VBP", "NNS", "."]
    with pytest.raises(ValueError, match="noun"):
        edits.append_clause(probe, [0], "eating", "VBG")


def test_frequency_control_has_the_same_tag_and_a_close_count(editor, concepts):
    control = editor.frequency_match("hyp:tok:girl", exclude={"hyp:tok:girl"})
    assert control is not None and control != "hyp:tok:girl" and control.startswith("hyp:tok:")
    assert editor.tags[control.split(":")[2]] == editor.tags["girl"]
    # girl holds on 38 hypotheses, cat on 37, dog on 35: cat is the control, dog the next once cat is excluded
    assert control == "hyp:tok:cat"
    assert editor.frequency_match("hyp:tok:girl", exclude={"hyp:tok:cat"}) == "hyp:tok:dog"
    with pytest.raises(ValueError, match="standard"):
        edits.Editor(editor.probe, build_concepts(editor.probe, 100, "wordnet", progress=False))


# ----------------------------------------------------------------------------------- faithfulness


def _planted_acts(pairs, word="girl", noise_seed=0):
    """A unit that is 1 where the hypothesis has ``word`` (plus a little noise), and a random unit."""
    rng = np.random.default_rng(noise_seed)
    planted = np.array([1.0 if word in t else 0.0 for t in pairs["hypothesis_tokens"]]) + rng.normal(0, 0.05, len(pairs))
    noise = np.array([np.random.default_rng(zlib.crc32(f"{p}\t{h}".encode())).normal() for p, h in
                      zip(pairs["premise"], pairs["hypothesis"])])  # crc32, not hash(): the same in every process
    return np.column_stack([planted, noise])


def test_the_edit_test_finds_a_planted_token_unit_faithful_and_a_random_unit_not(editor):
    rows = pd.DataFrame({"neuron": [0, 1], "formula": ["hyp:tok:girl", "hyp:tok:girl"], "n_fires": [40, 40],
                         "explained": [True, True], "iou": [0.9, 0.1], "excess_iou": [0.5, 0.0]})
    plans = interventions.edit_plans(editor, rows, units=2, edits=10, length=1, seed=0,
                              search_params={"beam_size": 5, "complexity_penalty": 1.0})
    assert {"formula", "frequency"} <= set(plans["kind"])
    probe_acts = _planted_acts(editor.probe)
    edited_acts = _planted_acts(plans, noise_seed=1)
    units = causal.unit_faithfulness(interventions.shifts(plans, probe_acts, edited_acts))
    verdict = dict(zip(units["unit"], units["faithful"]))
    assert verdict[0] == True  # noqa: E712 (a numpy bool)
    assert verdict[1] == False  # noqa: E712


def test_faithfulness_needs_enough_edits_and_a_margin():
    edits_frame = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a",
                                "kind": ["formula"] * 3 + ["frequency"] * 6, "shift": [1.0] * 3 + [0.0] * 6})
    assert pd.isna(causal.unit_faithfulness(edits_frame)["faithful"].iloc[0])  # 3 < MIN_EDITS
    small = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a", "kind": ["formula"] * 6 + ["frequency"] * 6,
                          "shift": [0.05] * 6 + [0.0] * 6})
    assert not causal.unit_faithfulness(small)["faithful"].iloc[0]  # exact, but below MIN_SHIFT
    big = small.assign(shift=[0.5] * 6 + [0.0] * 6)
    assert causal.unit_faithfulness(big)["faithful"].iloc[0]


# -------------------------------------------------------------------------------------- statistics


def test_accuracy_changes_known_answer():
    gold = np.array([0, 0, 1, 1, 2, 2])
    base = gold.copy()
    ablated = {("top excess IoU", 2): np.array([[0, 1, 1, 0, 2, 2]]),  # two errors: −1/3
               ("random", 2): np.array([[0, 0, 1, 1, 2, 1], [0, 0, 1, 1, 2, 2]])}  # −1/6, 0
    rows = causal.accuracy_changes(gold, base, ablated).set_index(["ranking", "class"])
    assert rows.loc[("top excess IoU", "all"), "delta"] == pytest.approx(-1 / 3)
    assert rows.loc[("random", "all"), "delta"] == pytest.approx(-1 / 12)
    assert rows.loc[("top excess − random", "all"), "delta"] == pytest.approx(-1 / 3 + 1 / 12)
    assert rows.loc[("top excess IoU", "entailment"), "delta"] == pytest.approx(-0.5)
    assert rows.loc[("top excess IoU", "contradiction"), "delta"] == pytest.approx(0.0)
    # within-model variances by hand: per-pair changes (ddof 1, floored at one changed pair in 6) / 6, plus the
    # spread of the random draws' means / their number
    assert rows.loc[("top excess IoU", "all"), "var"] == pytest.approx((4 / 15) / 6)  # one draw: no draw term
    assert rows.loc[("random", "all"), "var"] == pytest.approx((1 / 6) / 6 + (1 / 72) / 2)  # floored pair term
    assert rows.loc[("top excess − random", "all"), "var"] == pytest.approx(0.375 / 6 + (1 / 72) / 2)


def test_faithful_shares_and_adversarial_rates_pool_over_seeds():
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1, 2], 10), "unit": np.tile(range(10), 3),
                          "faithful": np.tile([True] * 8 + [False] * 2, 3),
                          "null_faithful": np.tile([False] * 9 + [True], 3)})
    shares = causal.faithful_shares(units).set_index("measure")
    assert shares.loc["faithful", "estimate"] == pytest.approx(0.8)
    assert shares.loc["null formula", "estimate"] == pytest.approx(0.1)
    assert shares.loc["faithful − null formula", "estimate"] == pytest.approx(0.7)
    assert shares.loc["faithful − null formula", "seeds"] == 3
    _assert_mover(shares, "faithful", "null formula", "faithful − null formula")
    few = units[units["unit"] < 3]  # fewer than MIN_UNITS per seed: nothing is pooled
    assert causal.faithful_shares(few).empty
    pairs = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1], 20),
                          "err_formula": np.tile([True] * 5 + [False] * 15, 2), "err_control": [False] * 40})
    rates = causal.adversarial_rates(pairs).set_index("measure")
    assert rates.loc["formula pairs", "estimate"] == pytest.approx(0.25)
    # pooled on the logit scale, a share of 0 counts as half an error: 0.5 of 20 in each seed
    assert rates.loc["control pairs", "estimate"] == pytest.approx(0.025)
    assert rates.loc["formula − control", "estimate"] == pytest.approx(0.25 - 0.025)  # the difference C3 tests
    assert rates.loc["formula − control", "pairs"] == 40
    _assert_mover(rates, "formula pairs", "control pairs", "formula − control")


def _assert_mover(table, first, second, difference):
    """Newcombe's MOVER interval of ``first − second`` from the two shares' own intervals, inside [−1, 1]."""
    (ea, la, ua), (eb, lb, ub), (d, low, high) = (table.loc[m, ["estimate", "ci_low", "ci_high"]].astype(float)
                                                  for m in (first, second, difference))
    assert low == pytest.approx(d - np.hypot(ea - la, ub - eb))
    assert high == pytest.approx(d + np.hypot(ua - ea, eb - lb))
    assert -1 <= low < d < high <= 1


def test_a_share_difference_stays_inside_minus_one_one_with_two_seeds():
    """Two seeds give a t interval on 1 df (critical value 12.7): on the share scale a Wald difference would
    leave [−1, 1]; the MOVER interval built from the two shares' logit intervals cannot."""
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1], 10), "unit": np.tile(range(10), 2),
                          "faithful": [True] * 9 + [False] + [True] * 10,
                          "null_faithful": [True] + [False] * 9 + [False] * 10})
    shares = causal.faithful_shares(units).set_index("measure")
    row = shares.loc["faithful − null formula"]
    assert row["seeds"] == 2
    assert -1 <= row["ci_low"] < 0 < row["estimate"] < row["ci_high"] <= 1  # wide, but a share difference
    _assert_mover(shares, "faithful", "null formula", "faithful − null formula")


def _pooled(estimate, low, high, seeds=3):
    return pd.DataFrame([{"estimate": estimate, "ci_low": low, "ci_high": high, "seeds": seeds,
                          "_pooled": {"estimate": estimate, "ci_low": low, "ci_high": high, "k": seeds}}])


def test_card_verdicts_follow_the_rules_and_the_random_networks():
    def ablation(enc, est, lo, hi):
        return _pooled(est, lo, hi).assign(encoder=enc, regime="> 0", mode="mean", ranking="top excess − random", k=64,
                                           **{"class": "all"})
    shares = pd.concat([_pooled(0.3, 0.15, 0.45).assign(encoder="lstm", regime="> 0", measure="formula − frequency"),
                        _pooled(0.0, -0.05, 0.05).assign(encoder="lstm", regime="> 0", measure="null − frequency")])
    adversarial = _pooled(0.002, -0.005, 0.008).assign(encoder="lstm", regime="> 0", measure="formula − control")
    frames = pd.concat([ablation("lstm", 0.05, 0.02, 0.08), ablation("lstm-untrained", 0.0, -0.01, 0.01)])
    card = causal.card(frames, shares, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    verdict = dict(zip(card["id"], card["verdict"]))
    assert verdict == {"C1": "holds", "C2": "holds", "C3": "does not hold"}
    both = pd.concat([ablation("lstm", 0.05, 0.02, 0.08), ablation("lstm-untrained", 0.05, 0.02, 0.08)])
    card = causal.card(both, shares, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert card.set_index("id").loc["C1", "verdict"] == "holds, as in a random network"
    null_moves = shares.assign(estimate=0.3, ci_low=0.15, ci_high=0.45,
                               _pooled=[shares["_pooled"].iloc[0]] * 2)  # the null formula's edits move units as much
    card = causal.card(frames, null_moves, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert card.set_index("id").loc["C2", "verdict"] == "holds, as in a random network"
    assert set(card["verdict"]) <= set(claims.VERDICTS)
    text = causal.markdown(card)
    assert "| C1 |" in text and "**holds, as in a random network**" in text


def test_the_causal_rule_at_each_of_its_branches():
    """Known answers of :func:`interventions.rule`: minimum 0.01, two seeds unless said."""
    def p(est, lo, hi, k=2):
        return {"estimate": est, "ci_low": lo, "ci_high": hi, "k": k}

    rule = causal.rule
    assert rule(p(0.05, 0.02, 0.08), 0.01, []) == ("holds", "")
    assert rule(p(0.01, 0.001, 0.02), 0.01, []) == ("holds", "")  # exactly the minimum effect is enough
    assert rule(p(0.005, 0.001, 0.009), 0.01, []) == ("too small to matter", "")
    assert rule(p(0.0, -0.01, 0.0099), 0.01, []) == ("does not hold", "")
    assert rule(p(0.0, -0.01, 0.01), 0.01, []) == ("inconclusive", "")  # the CI reaches the minimum
    assert rule(p(0.05, 0.0, 0.08), 0.01, []) == ("inconclusive", "")  # a CI touching 0 does not exclude it
    assert rule(p(-0.05, -0.08, -0.02), 0.01, []) == ("does not hold", "")  # the wrong sign
    assert rule(p(0.05, 0.02, 0.08), 0.01, [p(0.0, -0.01, 0.005), None]) == ("holds", "")
    assert rule(p(0.05, 0.02, 0.08), 0.01, [p(0.0, -0.01, 0.005), p(0.03, 0.01, 0.05)]) == \
        ("holds, as in a random network", "")
    assert rule(p(0.05, 0.02, 0.08), 0.01, [p(0.005, 0.001, 0.009)]) == ("holds", "")  # a small control does not
    one_seed = ("not testable in this build", "one seed: no between-model variance")
    assert rule(p(0.05, 0.02, 0.08, k=1), 0.01, []) == one_seed
    assert rule(p(0.05, 0.02, 0.08, k=0), 0.01, []) == one_seed
    no_count = {"estimate": 0.05, "ci_low": 0.02, "ci_high": 0.08}  # no seed count: not two seeds, so not testable
    assert rule(no_count, 0.01, []) == one_seed
    assert rule(p(0.05, 0.02, 0.08), 0.01, [], "untrained CLIP") == ("not testable in this build", "untrained CLIP")
    assert rule(p(0.05, 0.02, 0.08, k=1), 0.01, [], "untrained") == ("not testable in this build", "untrained")
    assert rule(None, 0.01, [p(0.05, 0.02, 0.08)]) == ("not testable in this build", "")
    assert rule(p(float("nan"), 0.02, 0.08), 0.01, []) == ("not testable in this build", "")


def test_causal_parameters_are_checked():
    assert RULES["ablation_ks"]([16, 64]) is None
    assert RULES["ablation_ks"]([16, 16]) and RULES["ablation_ks"]([]) and RULES["ablation_ks"]([0])
    assert RULES["faithfulness_edits"](3)
    assert RULES["ablation_draws"](1)


def test_no_edit_is_planned_where_the_formula_cannot_change(editor):
    """Every synthetic hypothesis has a noun, so ``hyp:tok:eating OR hyp:tag:NN`` is always true: no edit of
    ``eating`` can change its truth, and none is planned."""
    assert editor.plan("(hyp:tok:eating OR hyp:tag:NN)", "hyp:tok:eating", 8, np.random.default_rng(1)).empty


def test_the_first_page_shows_the_causal_verdicts_after_the_regimes(runs_tmp):
    from clipneuron_utils.render import provenance

    assert provenance.render_scorecard({}) == provenance.NO_SCORECARD
    provenance.record_causal("p", "## Causal\n")
    assert provenance.render_scorecard(provenance.load("p")) == provenance.NO_SCORECARD + "\n## Causal\n"
    provenance.record_scorecard("p", "## Scorecard\n")
    assert provenance.render_scorecard(provenance.load("p")) == "## Scorecard\n\n## Causal\n"
    provenance.record_regimes("p", "## Regimes\n")
    # the verdicts at every threshold take the place of chapter 06's at > 0; the causal verdicts follow them
    assert provenance.render_scorecard(provenance.load("p")) == "## Regimes\n\n## Causal\n"
    assert "Causal" not in provenance.render_markdown("p", provenance.load("p"))


def test_shift_effects_pool_the_per_unit_difference():
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1], 6), "unit": np.tile(range(6), 2),
                          "n_formula": 8, "n_frequency": 8, "n_null": [8] * 6 + [0] * 6,
                          "formula_shift": 0.5, "frequency_shift": np.tile([0.0, 0.2, 0.0, 0.2, 0.0, 0.2], 2),
                          "null_shift": [0.1] * 6 + [np.nan] * 6})
    effects = causal.shift_effects(units).set_index("measure")
    assert effects.loc["formula − frequency", "estimate"] == pytest.approx(0.4)
    assert effects.loc["formula − frequency", "seeds"] == 2
    assert effects.loc["null − frequency", "estimate"] == pytest.approx(0.0)
    assert effects.loc["null − frequency", "seeds"] == 1  # the second seed's null formulas name no word


def test_c2_without_a_null_formula_says_so():
    effects = _pooled(0.3, 0.15, 0.45).assign(encoder="lstm", regime="> 0", measure="formula − frequency")
    empty = _pooled(0.0, -0.1, 0.1).iloc[:0].assign(encoder="lstm", regime="> 0", measure="x")
    card = causal.card(empty.assign(mode="mean", ranking="r", k=64, **{"class": "all"}), effects, empty,
                             ["lstm"], {"> 0": "> 0"}, {})
    row = card.set_index("id").loc["C2"]
    assert row["verdict"] == "holds" and "no null control" in row["note"]
    assert "no null control" in causal.markdown(card)


def test_an_ablation_that_changes_nothing_still_counts_as_a_seed():
    gold = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    unchanged = causal.accuracy_changes(gold, gold, {("top IoU", 2): gold[None, :]})
    changed = causal.accuracy_changes(gold, gold, {("top IoU", 2): np.array([[1, 1, 2, 0, 1, 2, 0, 1]])})
    rows = pd.concat([unchanged.assign(seed=0), changed.assign(seed=1)])
    pooled = causal.pool_rows(rows[rows["class"] == "all"], ["ranking", "k", "class"])
    assert pooled["seeds"].iloc[0] == 2
    assert -1 / 8 < pooled["estimate"].iloc[0] < 0


def test_edits_of_the_controls_never_swap_the_formulas_words(editor):
    rng = np.random.default_rng(3)
    avoid = {"girl", "boy", "dog"}
    plan = editor.plan("hyp:tok:man", "hyp:tok:man", 10, rng, avoid=avoid)
    assert len(plan) and not (set(plan["old"]) | set(plan["new"])) & avoid


def test_untrained_clip_and_single_seeds_are_not_testable():
    effects = _pooled(0.3, 0.15, 0.45).assign(encoder="clip", regime="> 0", measure="formula − frequency")
    empty = effects.iloc[:0].assign(measure="x")
    ablation = empty.assign(mode="mean", ranking="r", k=64, **{"class": "all"})
    card = causal.card(ablation, effects, empty, ["clip"], {"> 0": "> 0"}, {},
                             untestable={"clip": "CLIP is untrained here"})
    row = card.set_index("id").loc["C2"]
    assert row["verdict"] == "not testable in this build" and row["note"] == "CLIP is untrained here"
    one = effects.assign(seeds=1, _pooled=[{**effects["_pooled"].iloc[0], "k": 1}])
    card = causal.card(ablation, one, empty, ["clip"], {"> 0": "> 0"}, {})
    assert card.set_index("id").loc["C2", "verdict"] == "not testable in this build"


def test_a_token_formula_gets_its_removals_and_insertions(editor):
    """``hyp:tok:girl`` with 8 edits of each kind on the synthetic probe: 8 removals (girl → a noun in neither
    sentence of the pair, so that noun's concept turns true) and 8 insertions (a hypothesis noun → girl)."""
    plan = editor.plan("hyp:tok:girl", "hyp:tok:girl", 8, np.random.default_rng(1))
    removal, insertion = plan[plan["edit"] == "removal"], plan[plan["edit"] == "insertion"]
    assert len(removal) == 8 and len(insertion) == 8
    assert set(removal["old"]) == {"girl"} and set(insertion["new"]) == {"girl"}
    assert (removal["direction"] == -1).all() and (insertion["direction"] == 1).all()
    for src, new in zip(removal["source"], removal["new"]):
        assert new not in editor.sets["hyp"][src] and new not in editor.sets["pre"][src]


def test_a_word_the_probe_never_has_gets_an_empty_plan_with_the_plan_columns(editor):
    """No pair has ``zebra``: nothing to plan, but the empty plan has the columns the causal steps read."""
    plan = editor.plan("hyp:tok:zebra", "hyp:tok:zebra", 8, np.random.default_rng(1))
    assert plan.empty
    assert list(plan.columns) == [*editor.probe.columns, "source", "edit", "old", "new", "direction"]


def test_shift_effects_known_interval_and_encoder_order():
    """One seed, five units with formula − frequency = 0.1 … 0.5: mean 0.3, within-seed variance
    var(d, ddof=1)/5 = 0.025/5 = 0.005, so the one-seed (normal) 95 % CI is 0.3 ± 1.96·√0.005 = [0.1614, 0.4386].
    Encoders come out in the order given (the chapter's), not sorted."""
    one = pd.DataFrame({"seed": 0, "regime": "> 0", "unit": range(5), "n_formula": 8, "n_frequency": 8, "n_null": 0,
                        "formula_shift": [0.1, 0.2, 0.3, 0.4, 0.5], "frequency_shift": 0.0, "null_shift": np.nan})
    effects = causal.shift_effects(pd.concat([one.assign(encoder="lstm"), one.assign(encoder="clip")]))
    assert list(effects["encoder"]) == ["lstm", "clip"] and set(effects["measure"]) == {"formula − frequency"}
    row = effects.iloc[0]
    assert row["estimate"] == pytest.approx(0.3)
    assert row["ci_low"] == pytest.approx(0.161410, abs=1e-6) and row["ci_high"] == pytest.approx(0.438590, abs=1e-6)
    assert row["seeds"] == 1 and row["units"] == 5


def test_unit_faithfulness_is_per_regime_and_reads_shifts_as_numbers():
    """Each regime's units are tested on their own edits: at ``> 0`` the formula's edits move the unit 0.5 and the
    control's 0.05 (faithful), at ``top`` both 0.05 (not). A shift column of objects gives the same answer."""
    def frame(regime, formula):
        return pd.DataFrame({"regime": regime, "unit": 3, "formula": "f", "atom": "a",
                             "kind": ["formula"] * 4 + ["frequency"] * 4, "shift": [*formula, 0.0, 0.1, 0.0, 0.1]})

    edits_frame = pd.concat([frame("> 0", [0.4, 0.5, 0.6, 0.5]), frame("top", [0.0, 0.1, 0.0, 0.1])], ignore_index=True)
    for shifts in (edits_frame, edits_frame.astype({"shift": object})):
        units = causal.unit_faithfulness(shifts)
        assert list(units["regime"]) == ["> 0", "top"] and list(units["unit"]) == [3, 3]
        assert list(units["faithful"]) == [True, False]
        assert units["formula_shift"].tolist() == pytest.approx([0.5, 0.05])
        assert units["n_formula"].tolist() == [4, 4]


def test_faithfulness_uses_welch_not_a_pooled_variance():
    """Four formula edits that disagree (0, 0.4, 0.8, 1.2) against twenty tight control edits (0, 0.1, …): Welch's
    t = (0.6 − 0.1 − 0.05)/√(0.2667/4 + 0.00263/20) = 1.74 on ≈ 3 df, p ≈ 0.09, so the unit is not faithful.
    A pooled-variance t-test would let the twenty tight controls shrink the error (t = 4.18 on 22 df, p ≈ 0.0002)."""
    shifts = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a", "kind": ["formula"] * 4 + ["frequency"] * 20,
                           "shift": [0.0, 0.4, 0.8, 1.2] + [0.0, 0.1] * 10})
    assert causal.unit_faithfulness(shifts)["faithful"].iloc[0] == False  # noqa: E712 (a numpy bool)
    moved = shifts.assign(shift=shifts["shift"] + np.repeat([0.5, 0.0], [4, 20]))  # 0.5 further: t = 3.68, p ≈ 0.017
    assert causal.unit_faithfulness(moved)["faithful"].iloc[0] == True  # noqa: E712


def test_faithfulness_silences_only_scipys_runtime_warnings(monkeypatch):
    """The test silences scipy's precision-loss RuntimeWarning on nearly constant shifts; any other warning of
    the t-test (a deprecation, say) still reaches the user."""
    real = causal.sps.ttest_ind

    def noisy(*args, **kwargs):
        import warnings
        warnings.warn("precision", RuntimeWarning)
        warnings.warn("deprecated call", DeprecationWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(causal.sps, "ttest_ind", noisy)
    shifts = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a", "kind": ["formula"] * 4 + ["frequency"] * 4,
                           "shift": [0.4, 0.5, 0.6, 0.5, 0.0, 0.1, 0.0, 0.1]})
    with pytest.warns(DeprecationWarning, match="deprecated call") as caught:
        assert causal.unit_faithfulness(shifts)["faithful"].iloc[0] == True  # noqa: E712
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_the_causal_section_in_markdown_known_answer():
    """Two regimes: the header has a figure and a verdict column for each, a claim missing at a regime reads
    n/a, and the section starts with its title and the sentences."""
    table = pd.DataFrame([
        {"id": "C1", "encoder": "lstm", "regime": "> 0", "this build": "0.05 [0.02, 0.08]", "verdict": "holds",
         "note": ""},
        {"id": "C1", "encoder": "lstm", "regime": "top", "this build": "0.01 [-0.01, 0.03]", "verdict": "inconclusive",
         "note": ""},
        {"id": "C2", "encoder": "lstm", "regime": "> 0", "this build": "0.3 [0.1, 0.5]", "verdict": "holds",
         "note": "a|b"}])
    c1, c2 = causal.CAUSAL["C1"].short, causal.CAUSAL["C2"].short
    assert causal.markdown(table, sentences=["One.", "Two."]) == (
        "## Do explained neurons matter? The causal tests\n\nOne. Two.\n\n"
        "| id | claim | encoder | at > 0 | verdict at > 0 | at top | verdict at top |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| C1 | {c1} | lstm | 0.05 [0.02, 0.08] | **holds** | 0.01 [-0.01, 0.03] | **inconclusive** |\n"
        f"| C2 | {c2} | lstm | 0.3 [0.1, 0.5] | **holds** (a\\|b) | n/a | n/a |\n")


def test_the_rules_table_states_each_causal_claim():
    """The rules table the book prints: one row per causal claim with its id, short claim, sentence and rule."""
    table = causal.rules_table()
    assert list(table.columns) == ["id", "claim", "as stated", "rule (minimum effect)"]
    assert list(table["id"]) == ["C1", "C2", "C3"]
    for row in table.itertuples(index=False):
        claim = causal.CAUSAL[row[0]]
        assert tuple(row[1:]) == (claim.short, claim.sentence, claim.rule)


def test_a_unit_with_no_spread_is_judged_exactly_and_otherwise_by_welch():
    """Constant shifts on both sides have no variance for a t test: the difference is exact (1 − 0 > 0.1
    passes). A constant formula side against a spread-out control is still Welch's test: a mean difference of
    0.15 over a control with SD 0.5 on a handful of edits is not evidence of a 0.1 shift."""
    n = causal.MIN_EDITS
    assert causal._passes(np.ones(n), np.zeros(n), 0.1, 0.05) is True
    assert causal._passes(np.full(n, 0.05), np.zeros(n), 0.1, 0.05) is False
    control = np.resize([0.35, 1.35], n)  # mean 0.85, SD 0.5
    control = control - control.mean() + 0.85
    assert causal._passes(np.ones(n), control, 0.1, 0.05) is False


def test_an_untrained_clip_is_one_line_under_the_causal_table():
    """CLIP, untrained here, is not testable in every row: one line says so instead of a row per claim and regime."""
    rows = [{"id": k, "encoder": e, "regime": "> 0", "this build": "0.1 [0.0, 0.2], 3 seeds",
             "verdict": "not testable in this build" if e == "clip" else "holds",
             "note": "CLIP is untrained here: an architecture-only control" if e == "clip" else ""}
            for k in ("C1", "C2") for e in ("lstm", "clip")]
    text = causal.markdown(pd.DataFrame(rows))
    assert "| C1 | " in text and "| clip |" not in text and text.count("| lstm |") == 2
    assert "**CLIP**: every causal claim is *not testable in this build*, because CLIP is untrained here" in text
    # a CLIP with one testable row keeps its rows
    rows[1]["verdict"], rows[1]["note"] = "holds", ""
    assert text != causal.markdown(pd.DataFrame(rows)) and "| clip |" in causal.markdown(pd.DataFrame(rows))
