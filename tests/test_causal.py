"""Chapter 10_causal's causal tests: ablation hooks, the edit rules on the concept masks, the faithfulness test on a
planted unit, and the statistics and verdicts (the positive controls and nulls the issue asked for are in
``test_causal_controls.py``)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils.explain import edits, formulas
from clipneuron_utils.explain.concepts import build_concepts, masks_like
from clipneuron_utils.models.ablation import Ablator, ablate, fill_values
from clipneuron_utils.models.heads import HeadConfig, NLIModel
from clipneuron_utils.run import faithfulness, interventions
from clipneuron_utils.run.parameters import RULES
from clipneuron_utils.stats import ablation_effects, causal, claims, edit_effects, verdicts


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
    assert "top contribution" not in sets  # no contributions given: no positive control's ranking
    assert interventions.rankings(rows, hidden=10, k=3, draws=3, rng=np.random.default_rng(0)) == {}  # 4 < 2k explained


def test_the_contribution_ranking_picks_the_top_contributors_among_the_explained_units():
    """Unit 3 contributes most but is not explained, so it is never picked; 1 and 4 tie at 0.5 (lower index
    first)."""
    rows = pd.DataFrame({"neuron": [0, 1, 2, 3, 4], "iou": [0.1, 0.5, 0.3, np.nan, 0.2],
                         "excess_iou": [0.05, -0.1, 0.2, np.nan, 0.0], "explained": [True, True, True, False, True]})
    contribution = np.array([0.2, 0.5, -1.0, 9.0, 0.5, 7.0])
    sets = interventions.rankings(rows, hidden=6, k=2, draws=3, rng=np.random.default_rng(0), contribution=contribution)
    assert list(sets["top contribution"][0]) == [1, 4]
    assert list(sets["top excess IoU"][0]) == [2, 0]  # the other rankings do not change
    assert all(set(s) <= {0, 1, 2, 4} for s in sets["random"])


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


def test_no_edit_is_planned_where_the_formula_cannot_change(editor):
    """Every synthetic hypothesis has a noun, so ``hyp:tok:eating OR hyp:tag:NN`` is always true: no edit of
    ``eating`` can change its truth, and none is planned."""
    assert editor.plan("(hyp:tok:eating OR hyp:tag:NN)", "hyp:tok:eating", 8, np.random.default_rng(1)).empty


def test_edits_of_the_controls_never_swap_the_formulas_words(editor):
    rng = np.random.default_rng(3)
    avoid = {"girl", "boy", "dog"}
    plan = editor.plan("hyp:tok:man", "hyp:tok:man", 10, rng, avoid=avoid)
    assert len(plan) and not (set(plan["old"]) | set(plan["new"])) & avoid


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


# ----------------------------------------------------------------------------------- faithfulness


def _crc_noise(pairs, salt=""):
    """A standard normal per pair, seeded by its text (crc32, not hash(): the same in every process)."""
    return np.array([np.random.default_rng(zlib.crc32(f"{salt}{p}\t{h}".encode())).normal() for p, h in
                     zip(pairs["premise"], pairs["hypothesis"])])


def _planted_acts(pairs, noise_seed=0):
    """Three units: ``girl`` (+1 where the hypothesis has girl, −1 elsewhere, a little noise), a random unit
    (only the pair's text drives it), and ``dog`` (as girl)."""
    rng = np.random.default_rng(noise_seed)

    def word(w):
        return np.array([1.0 if w in t else -1.0 for t in pairs["hypothesis_tokens"]]) + rng.normal(0, 0.05, len(pairs))

    return np.column_stack([word("girl"), _crc_noise(pairs), word("dog")])


def test_the_edit_test_finds_a_token_unit_and_planted_units_faithful_and_their_twins_not(editor):
    """End to end on the synthetic probe (:func:`faithfulness.edit_plans` → :func:`faithfulness.shifts` →
    :func:`edit_effects.unit_faithfulness`): the girl unit's formula is found again on the search half, its
    edits start on the edit half only, and it passes, while the dog unit's formula on it (another unit's formula)
    barely moves it. Each planted unit whose word the half search found again passes, and its shuffled twin does
    not. (A planted unit whose search found its noise unit's word instead is left out: its twin has the same noise
    and is tested with the same formula.)"""
    rows = pd.DataFrame({"neuron": [0, 1, 2], "formula": ["hyp:tok:girl", "hyp:tok:girl", "hyp:tok:dog"],
                         "n_fires": [40, 40, 40], "explained": [True, True, True], "iou": [0.9, 0.1, 0.8],
                         "excess_iou": [0.5, 0.0, 0.4]})
    probe_acts = _planted_acts(editor.probe)
    _, edit_half = faithfulness.halves(len(editor.probe))
    clean = 0
    for seed in range(6):
        plans, tested = faithfulness.edit_plans(editor, rows, probe_acts, alpha=None, units=3, edits=10, length=1,
                                                seed=seed, search_params={"beam_size": 5, "complexity_penalty": 1.0},
                                                planted_units=2)
        assert set(plans["source"]) <= set(edit_half)
        assert set(plans["kind"]) <= set(faithfulness.KINDS)
        shifts = faithfulness.shifts(plans, tested, editor.probe, probe_acts, _planted_acts(plans, noise_seed=1))
        units = edit_effects.unit_faithfulness(shifts).set_index("unit")
        real = tested[tested["role"] == "unit"].set_index("unit")
        assert real.loc[0, "formula"] == "hyp:tok:girl" and real.loc[2, "formula"] == "hyp:tok:dog"
        assert 1 not in real.index  # the random unit's formula names no word: not tested
        assert units.loc[0, "faithful"] == True  # noqa: E712 (a numpy bool)
        assert units.loc[0, "effect"] > 2 and abs(units.loc[0, "other_effect"]) < 0.5
        assert units.loc[0, "controlled"] == pytest.approx(units.loc[0, "effect"] - units.loc[0, "other_effect"])
        planted = tested[(tested["role"] == "planted") & tested["recovered"].astype(bool)]
        for unit in planted["unit"]:
            if units.loc[unit, "faithful"] is None or pd.isna(units.loc[unit, "faithful"]):
                continue  # too few edit–sham pairs for this word
            assert units.loc[unit, "faithful"] == True  # noqa: E712
            assert units.loc[unit + 1, "faithful"] != True  # noqa: E712 (the twin: False, or untested)
            clean += 1
    assert clean >= 5  # the premise of the test (the planted word found again) held often enough


def test_faithfulness_needs_enough_edits_and_a_margin():
    def frame(n, formula, sham):
        return pd.DataFrame({"unit": 0, "formula": "f", "kind": ["formula"] * n + ["formula sham"] * n,
                             "link": [*range(n), *range(n)], "shift": [formula] * n + [sham] * n})

    few = edit_effects.unit_faithfulness(frame(edit_effects.MIN_EDITS - 1, 1.0, 0.0)).iloc[0]
    assert pd.isna(few["faithful"]) and pd.isna(few["effect"]) and few["n"] == edit_effects.MIN_EDITS - 1
    assert not edit_effects.unit_faithfulness(frame(6, 0.05, 0.0))["faithful"].iloc[0]  # exact, but below MIN_SHIFT
    assert edit_effects.unit_faithfulness(frame(6, 0.5, 0.0))["faithful"].iloc[0]
    # a sham without its edit (or an edit without its sham) is no pair
    unpaired = frame(6, 0.5, 0.0).assign(link=[*range(6), *range(10, 16)])
    assert edit_effects.unit_faithfulness(unpaired)["n"].iloc[0] == 0


def test_unit_faithfulness_is_per_regime_and_reads_shifts_as_numbers():
    """Each regime's units are tested on their own edits: at ``> 0`` the formula's edits move the unit 0.5 more than
    their shams (faithful), at ``top`` 0.05 more (not). A shift column of objects gives the same answer."""
    def frame(regime, formula):
        return pd.DataFrame({"regime": regime, "unit": 3, "formula": "f", "kind": ["formula"] * 4 + ["formula sham"] * 4,
                             "link": [0, 1, 2, 3] * 2, "shift": [*formula, 0.0, 0.1, 0.0, 0.1]})

    edits_frame = pd.concat([frame("> 0", [0.4, 0.6, 0.6, 0.5]), frame("top", [0.0, 0.2, 0.1, 0.1])], ignore_index=True)
    for shifts in (edits_frame, edits_frame.astype({"shift": object})):
        units = edit_effects.unit_faithfulness(shifts)
        assert list(units["regime"]) == ["> 0", "top"] and list(units["unit"]) == [3, 3]
        assert list(units["faithful"]) == [True, False]
        assert units["formula_shift"].tolist() == pytest.approx([0.525, 0.1])
        assert units["sham_shift"].tolist() == pytest.approx([0.05, 0.05])
        assert units["effect"].tolist() == pytest.approx([0.475, 0.05])
        assert units["n"].tolist() == [4, 4]
        assert units["moved"].tolist() == pytest.approx([1.0, 0.75])  # the share of formula edits with a shift > 0


def test_faithfulness_is_a_paired_test_of_edit_minus_sham():
    """Differences 0, 0.4, 0.8, 1.2 (mean 0.6, SD 0.516): t = (0.6 − 0.1)/(0.516/2) = 1.94 on 3 df, one-sided
    p ≈ 0.075, not faithful; 0.5 further, t = 3.87, p ≈ 0.015, faithful. The shams vary a lot from pair to pair,
    but each edit moves its own pair's unit 0.5 beyond its sham: paired, that is exact evidence (an unpaired
    test of the two sets of shifts would see the shams' spread and not find it)."""
    def frame(formula, sham):
        n = len(formula)
        return pd.DataFrame({"unit": 0, "formula": "f", "kind": ["formula"] * n + ["formula sham"] * n,
                             "link": [*range(n), *range(n)], "shift": [*formula, *sham]})

    diffs = np.array([0.0, 0.4, 0.8, 1.2])
    assert edit_effects.unit_faithfulness(frame(diffs, np.zeros(4)))["faithful"].iloc[0] == False  # noqa: E712
    assert edit_effects.unit_faithfulness(frame(diffs + 0.5, np.zeros(4)))["faithful"].iloc[0] == True  # noqa: E712
    sham = np.array([-3.0, 2.0, 0.5, 4.0, -1.0, 1.5])
    noisy = np.array([0.02, -0.03, 0.01, 0.0, 0.03, -0.02])
    units = edit_effects.unit_faithfulness(frame(sham + 0.5 + noisy, sham))
    assert units["faithful"].iloc[0] == True  # noqa: E712
    assert units["effect"].iloc[0] == pytest.approx(0.5 + noisy.mean())
    # the same shifts with the links shuffled pair each edit with another pair's sham: the evidence is gone
    shuffled = frame(sham + 0.5 + noisy, sham).assign(link=[*range(6), 3, 0, 5, 1, 4, 2])
    assert edit_effects.unit_faithfulness(shuffled)["faithful"].iloc[0] == False  # noqa: E712


def test_faithfulness_silences_only_scipys_runtime_warnings(monkeypatch):
    """The test silences scipy's precision-loss RuntimeWarning on nearly constant differences; any other warning
    of the t-test (a deprecation, say) still reaches the user."""
    real = edit_effects.sps.ttest_1samp

    def noisy(*args, **kwargs):
        import warnings
        warnings.warn("precision", RuntimeWarning)
        warnings.warn("deprecated call", DeprecationWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(edit_effects.sps, "ttest_1samp", noisy)
    shifts = pd.DataFrame({"unit": 0, "formula": "f", "kind": ["formula"] * 4 + ["formula sham"] * 4,
                           "link": [0, 1, 2, 3] * 2, "shift": [0.4, 0.5, 0.6, 0.5, 0.0, 0.1, 0.0, 0.1]})
    with pytest.warns(DeprecationWarning, match="deprecated call") as caught:
        assert edit_effects.unit_faithfulness(shifts)["faithful"].iloc[0] == True  # noqa: E712
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_a_unit_with_no_spread_is_judged_exactly_and_otherwise_by_a_t_test():
    """Constant differences have no variance for a t test: the difference is exact (1 > 0.1 passes, 0.05 does
    not). Differences with mean 0.15 and SD 0.5 on a handful of edits are no evidence of a 0.1 shift."""
    n = edit_effects.MIN_EDITS
    assert edit_effects._passes(np.ones(n), 0.1, 0.05) is True
    assert edit_effects._passes(np.full(n, 0.05), 0.1, 0.05) is False
    assert edit_effects._passes(np.ones(n - 1), 0.1, 0.05) is None
    spread = np.resize([-0.35, 0.65], n) + 0.0
    spread = spread - spread.mean() + 0.15
    assert edit_effects._passes(spread, 0.1, 0.05) is False


def _unit_rows(seed, effect, other=np.nan, role="unit", encoder="m", regime="> 0"):
    effect = np.asarray(effect, dtype=float)
    other = np.broadcast_to(np.asarray(other, dtype=float), effect.shape)
    return pd.DataFrame({"encoder": encoder, "regime": regime, "seed": seed, "role": role,
                         "unit": np.arange(len(effect)), "effect": effect, "other_effect": other,
                         "controlled": effect - other})


def test_shift_effects_pool_the_per_unit_difference():
    """Two seeds of six units: formula − sham 0.4 in each; another unit's formula − sham 0.1 in the first seed and
    missing in the second (its units had no other formula), so its figure and the controlled one rest on one
    seed. Planted units and their twins (three per seed) have figures of their own."""
    units = pd.concat([_unit_rows(0, [0.4] * 6, 0.1), _unit_rows(1, [0.4] * 6),
                       _unit_rows(0, [2.0, 2.1, 1.9], role="planted"), _unit_rows(1, [2.0, 2.2, 1.8], role="planted"),
                       _unit_rows(0, [0.0, 0.1, -0.1], role="twin"), _unit_rows(1, [0.1, 0.0, -0.1], role="twin")])
    effects = edit_effects.shift_effects(units).set_index("measure")
    assert effects.loc["formula − sham", "estimate"] == pytest.approx(0.4)
    assert effects.loc["formula − sham", "seeds"] == 2 and effects.loc["formula − sham", "units"] == 12
    assert effects.loc["other formula − sham", "estimate"] == pytest.approx(0.1)
    assert effects.loc["other formula − sham", "seeds"] == 1  # the second seed's units had no other formula
    assert effects.loc["(formula − sham) − (other formula − sham)", "estimate"] == pytest.approx(0.3)
    assert effects.loc["planted: formula − sham", "estimate"] == pytest.approx(2.0)
    assert effects.loc["twin: formula − sham", "estimate"] == pytest.approx(0.0)
    few = units[units["unit"] < edit_effects.MIN_UNITS - 1]  # fewer than MIN_UNITS per seed: nothing is pooled
    assert edit_effects.shift_effects(few).empty


def test_shift_effects_known_interval_and_encoder_order():
    """One seed, five units with formula − sham = 0.1 … 0.5: mean 0.3, within-seed variance
    var(d, ddof=1)/5 = 0.025/5 = 0.005, so the one-seed (normal) 95 % CI is 0.3 ± 1.96·√0.005 = [0.1614, 0.4386].
    Encoders come out in the order given (the chapter's), not sorted."""
    one = _unit_rows(0, [0.1, 0.2, 0.3, 0.4, 0.5])
    effects = edit_effects.shift_effects(pd.concat([one.assign(encoder="lstm"), one.assign(encoder="clip")]))
    assert list(effects["encoder"]) == ["lstm", "clip"] and set(effects["measure"]) == {"formula − sham"}
    row = effects.iloc[0]
    assert row["estimate"] == pytest.approx(0.3)
    assert row["ci_low"] == pytest.approx(0.161410, abs=1e-6) and row["ci_high"] == pytest.approx(0.438590, abs=1e-6)
    assert row["seeds"] == 1 and row["units"] == 5


def test_faithful_counts_count_tested_units_per_role():
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "role": ["unit"] * 4 + ["planted", "twin"],
                          "faithful": [True, False, None, True, True, False]})
    counts = edit_effects.faithful_counts(units).set_index("role")
    assert counts.loc["unit", "faithful"] == 2 and counts.loc["unit", "tested"] == 3  # None: not tested
    assert counts.loc["planted", "faithful"] == 1 and counts.loc["twin", "faithful"] == 0


# -------------------------------------------------------------------------------------- statistics


def test_ablation_changes_known_answer():
    """Six pairs, two of each class, every prediction right before. Top excess IoU breaks two (−1/3); random
    draws one, then none (−1/12 on average). Gold margins (SD 2 over the probe): the top excess set lowers them
    by 1, 2, 0, 1, 0, 0 (−1/3 SD on average), the random draws by 2 on the last pair, then nothing (−1/12), the
    top contribution set by 4 everywhere (−2)."""
    gold = np.array([0, 0, 1, 1, 2, 2])
    base = gold.copy()
    changes = {
        ("top excess IoU", 2): ablation_effects.per_pair_changes(gold, base, np.array([[0, 1, 1, 0, 2, 2]]),
                                                                 np.array([[-1.0, -2.0, 0.0, -1.0, 0.0, 0.0]]), 2.0),
        ("random", 2): ablation_effects.per_pair_changes(gold, base, np.array([[0, 0, 1, 1, 2, 1], [0, 0, 1, 1, 2, 2]]),
                                                         np.array([[0, 0, 0, 0, 0, -2.0], [0, 0, 0, 0, 0, 0]]), 2.0),
        ("top contribution", 2): ablation_effects.per_pair_changes(gold, base, np.array([gold]), np.full((1, 6), -4.0), 2.0),
    }
    assert np.array_equal(changes[("top excess IoU", 2)]["accuracy"], [[0, -1, 0, -1, 0, 0]])
    table = ablation_effects.ablation_changes(gold, changes)
    assert list(table.columns) == ["outcome", "ranking", "k", "class", "delta", "var"]
    acc = table[table["outcome"] == "accuracy"].set_index(["ranking", "class"])
    assert acc.loc[("top excess IoU", "all"), "delta"] == pytest.approx(-1 / 3)
    assert acc.loc[("random", "all"), "delta"] == pytest.approx(-1 / 12)
    assert acc.loc[("top excess − random", "all"), "delta"] == pytest.approx(-1 / 3 + 1 / 12)
    assert acc.loc[("top excess IoU", "entailment"), "delta"] == pytest.approx(-0.5)
    assert acc.loc[("top excess IoU", "contradiction"), "delta"] == pytest.approx(0.0)
    # within-model variances by hand: per-pair changes (ddof 1, floored at one changed pair in 6) / 6, plus the
    # spread of the random draws' means / their number
    assert acc.loc[("top excess IoU", "all"), "var"] == pytest.approx((4 / 15) / 6)  # one draw: no draw term
    assert acc.loc[("random", "all"), "var"] == pytest.approx((1 / 6) / 6 + (1 / 72) / 2)  # floored pair term
    assert acc.loc[("top excess − random", "all"), "var"] == pytest.approx(0.375 / 6 + (1 / 72) / 2)
    margin = table[table["outcome"] == "margin"].set_index(["ranking", "class"])
    assert margin.loc[("top excess IoU", "all"), "delta"] == pytest.approx(-1 / 3)
    assert margin.loc[("top excess IoU", "all"), "var"] == pytest.approx((1 / 6) / 6)  # no floor for the margin
    assert margin.loc[("random", "all"), "delta"] == pytest.approx(-1 / 12)
    assert margin.loc[("top excess − random", "all"), "delta"] == pytest.approx(-1 / 3 + 1 / 12)
    assert margin.loc[("contribution − random", "all"), "delta"] == pytest.approx(-2 + 1 / 12)
    assert margin.loc[("top excess IoU", "entailment"), "delta"] == pytest.approx(-0.75)
    assert margin.loc[("random", "contradiction"), "delta"] == pytest.approx(-0.25)
    assert set(table["outcome"]) == {"margin", "accuracy"}
    assert set(table["class"]) == {"all", "entailment", "neutral", "contradiction"}


def test_an_ablation_that_changes_nothing_still_counts_as_a_seed():
    gold = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    zero = np.zeros((1, 8))
    unchanged = ablation_effects.ablation_changes(gold, {("top IoU", 2): ablation_effects.per_pair_changes(
        gold, gold, gold[None, :], zero, 1.0)})
    changed = ablation_effects.ablation_changes(gold, {("top IoU", 2): ablation_effects.per_pair_changes(
        gold, gold, np.array([[1, 1, 2, 0, 1, 2, 0, 1]]), zero, 1.0)})
    rows = pd.concat([unchanged.assign(seed=0), changed.assign(seed=1)])
    rows = rows[(rows["class"] == "all") & (rows["outcome"] == "accuracy")]
    pooled = causal.pool_rows(rows, ["ranking", "k", "class"])
    assert pooled["seeds"].iloc[0] == 2
    assert -1 / 8 < pooled["estimate"].iloc[0] < 0


def _pooled(estimate, low, high, seeds=3):
    return pd.DataFrame([{"estimate": estimate, "ci_low": low, "ci_high": high, "seeds": seeds,
                          "_pooled": {"estimate": estimate, "ci_low": low, "ci_high": high, "k": seeds}}])


def _figures(encoder="lstm", control="lstm-untrained", *, c1k=(0.08, 0.05, 0.11), control_c1k=(0.0, -0.01, 0.01),
             controlled=(0.25, 0.1, 0.4), control_shift=(0.0, -0.05, 0.05), nouns_push=(0.5, 0.3, 0.7),
             nouns_predictions=(0.001, -0.01, 0.012), regime="> 0"):
    """Every figure :func:`causal.card` reads, for one encoder and its random-network control."""
    def ablation(enc, ranking, fig):
        return _pooled(*fig).assign(encoder=enc, regime=regime, mode="mean", outcome="margin", ranking=ranking, k=64,
                                    **{"class": "all"})

    def measure(enc, name, fig, reg=regime):
        return _pooled(*fig).assign(encoder=enc, regime=reg, measure=name)

    return {
        "ablation": pd.concat([ablation(encoder, "top excess − random", c1k),
                               ablation(encoder, "contribution − random", (-0.5, -0.7, -0.3)),
                               ablation(control, "top excess − random", control_c1k),
                               ablation(encoder, "top excess − random", (0.9, 0.8, 1.0)).assign(outcome="accuracy")]),
        "correlation": pd.concat([measure(encoder, ablation_effects.CORRELATION, (-0.3, -0.4, -0.2)),
                                  measure(encoder, ablation_effects.PLANTED, (-0.5, -0.6, -0.4)),
                                  measure(control, ablation_effects.CORRELATION, (0.0, -0.05, 0.05))]),
        "shifts": pd.concat([measure(encoder, "formula − sham", (0.3, 0.15, 0.45)),
                             measure(encoder, "(formula − sham) − (other formula − sham)", controlled),
                             measure(encoder, "planted: formula − sham", (2.0, 1.5, 2.5)),
                             measure(control, "formula − sham", control_shift),
                             measure(control, "(formula − sham) − (other formula − sham)", control_shift)]),
        "adversarial": pd.concat([measure(encoder, "push", (0.002, -0.005, 0.008)),
                                  measure(encoder, "class predictions", (0.0, -0.005, 0.005))]),
        "nouns": pd.concat([measure(encoder, "push", nouns_push, "any"),
                            measure(encoder, "class predictions", nouns_predictions, "any")]),
    }


def test_card_verdicts_follow_the_rules_and_the_random_networks():
    card = causal.card(_figures(), ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert list(card["id"]) == ["C1", "C1k", "C2", "C3", "C3e"]
    rows = card.set_index("id")
    assert dict(rows["verdict"]) == {"C1": verdicts.HOLDS, "C1k": verdicts.HOLDS, "C2": verdicts.HOLDS,
                                     "C3": verdicts.DOES_NOT_HOLD, "C3e": verdicts.INSENSITIVE}
    # C1k's minimum is a tenth of what the top contributors' ablation removes: 0.1 × 0.5
    assert rows.loc["C1k", "minimum"] == "≥ 0.050" and rows.loc["C1", "minimum"] == "≤ −0.100"
    assert rows.loc["C3e", "minimum"] == "≥ 1.0 pt"
    assert rows.loc["C1k", "positive control"].endswith("(detected)")
    assert rows.loc["C3e", "positive control"].endswith("(not detected)")
    assert rows.loc["C3e", "note"] == "its positive control was not detected"
    assert rows.loc["C3", "note"] == ""  # its noun control was detected: a plain "does not hold"
    assert set(card["verdict"]) <= set(claims.VERDICTS)
    # C1k below a tenth of the positive control's effect is too small, even though it is significant
    small = causal.card(_figures(c1k=(0.03, 0.01, 0.045)), ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert small.set_index("id").loc["C1k", "verdict"] == verdicts.TOO_SMALL
    # the random network's ablation shows the same effect
    both = causal.card(_figures(control_c1k=(0.08, 0.05, 0.11)), ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert both.set_index("id").loc["C1k", "verdict"] == verdicts.HOLDS_RANDOM
    # the random network's edits move its units as much, controlled figure included
    moves = causal.card(_figures(control_shift=(0.3, 0.15, 0.45)), ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert moves.set_index("id").loc["C2", "verdict"] == verdicts.HOLDS_RANDOM
    # another unit's formula moves the unit as much: the controlled figure excludes the minimum
    before = causal.card(_figures(controlled=(0.0, -0.05, 0.05)), ["lstm"], {"> 0": "> 0"}, {})
    assert before.set_index("id").loc["C2", "verdict"] == verdicts.BEFORE_CONTROLS
    text = causal.markdown(both)
    assert "| C1k |" in text and f"**{verdicts.HOLDS_RANDOM}**" in text


def test_the_causal_rule_at_each_of_its_branches():
    """Known answers of :func:`causal.rule` for C2 (minimum 0.01 here), two seeds unless said."""
    def p(est, lo, hi, k=2):
        return {"estimate": est, "ci_low": lo, "ci_high": hi, "k": k}

    c2 = causal.CAUSAL["C2"]

    def rule(pooled, *args, **kw):
        return causal.rule(pooled, c2, 0.01, *args, **kw)

    assert rule(p(0.05, 0.02, 0.08)) == ("holds", "")
    assert rule(p(0.01, 0.001, 0.02)) == ("holds", "")  # exactly the minimum effect is enough
    assert rule(p(0.005, 0.001, 0.009)) == ("too small to matter", "")
    assert rule(p(0.0, -0.01, 0.0099)) == ("does not hold", "")
    assert rule(p(0.0, -0.01, 0.01)) == ("inconclusive", "")  # the CI reaches the minimum
    assert rule(p(0.05, 0.0, 0.08)) == ("inconclusive", "")  # a CI touching 0 does not exclude it
    assert rule(p(-0.05, -0.08, -0.02)) == ("does not hold", "")  # the wrong sign
    # the controlled figure: excluding the minimum, unclear, missing
    assert rule(p(0.05, 0.02, 0.08), controlled=p(0.0, -0.01, 0.005)) == (verdicts.BEFORE_CONTROLS, "")
    assert rule(p(0.05, 0.02, 0.08), controlled=p(0.005, -0.01, 0.02)) == (verdicts.HOLDS_CONTROLLED_UNCLEAR, "")
    assert rule(p(0.05, 0.02, 0.08), controlled=p(0.05, 0.02, 0.08)) == ("holds", "")
    assert rule(p(0.05, 0.02, 0.08), controlled=None) == (verdicts.NOT_TESTABLE, "")
    # the random networks: (figure, controlled figure), each through the same two stages
    assert rule(p(0.05, 0.02, 0.08), controls=[(p(0.0, -0.01, 0.005), "n/a"), (None, "n/a")]) == ("holds", "")
    assert rule(p(0.05, 0.02, 0.08), controls=[(p(0.0, -0.01, 0.005), "n/a"), (p(0.03, 0.01, 0.05), "n/a")]) == \
        ("holds, as in a random network", "")
    assert rule(p(0.05, 0.02, 0.08), controls=[(p(0.03, 0.01, 0.05), p(0.0, -0.01, 0.005))]) == ("holds", "")
    assert rule(p(0.05, 0.02, 0.08), controls=[(p(0.03, 0.01, 0.05), p(0.03, 0.01, 0.05))]) == \
        ("holds, as in a random network", "")
    assert rule(p(0.05, 0.02, 0.08), controls=[(p(0.005, 0.001, 0.009), "n/a")]) == ("holds", "")  # a small control
    one_seed = ("not testable in this build", "one seed: no between-model variance")
    assert rule(p(0.05, 0.02, 0.08, k=1)) == one_seed
    assert rule(p(0.05, 0.02, 0.08, k=0)) == one_seed
    no_count = {"estimate": 0.05, "ci_low": 0.02, "ci_high": 0.08}  # no seed count: not two seeds, so not testable
    assert rule(no_count) == one_seed
    assert rule(p(0.05, 0.02, 0.08), untestable="untrained CLIP") == ("not testable in this build", "untrained CLIP")
    assert rule(p(0.05, 0.02, 0.08, k=1), untestable="untrained") == ("not testable in this build", "untrained")
    assert rule(None, controls=[(p(0.05, 0.02, 0.08), "n/a")]) == ("not testable in this build", "")
    assert rule(p(float("nan"), 0.02, 0.08)) == ("not testable in this build", "")
    # C1 reads the other way (a negative correlation) on the Fisher scale
    c1 = causal.CAUSAL["C1"]
    assert causal.rule(p(-0.3, -0.4, -0.2), c1, claims.MIN_R) == ("holds", "")
    assert causal.rule(p(0.3, 0.2, 0.4), c1, claims.MIN_R) == ("does not hold", "")


def test_a_positive_control_seen_only_when_its_interval_excludes_0_on_its_side():
    def p(est, lo, hi):
        return {"estimate": est, "ci_low": lo, "ci_high": hi, "k": 3}

    assert causal.detected(p(0.5, 0.3, 0.7), 1) is True
    assert causal.detected(p(0.5, 0.3, 0.7), -1) is False
    assert causal.detected(p(-0.5, -0.7, -0.3), -1) is True
    assert causal.detected(p(0.1, -0.1, 0.3), 1) is False
    assert causal.detected(p(0.1, 0.0, 0.3), 1) is False  # touching 0 is not excluding it
    assert causal.detected(None, 1) is None and causal.detected(p(float("nan"), 0.1, 0.2), 1) is None


def test_causal_parameters_are_checked():
    assert RULES["ablation_ks"]([16, 64]) is None
    assert RULES["ablation_ks"]([16, 16]) and RULES["ablation_ks"]([]) and RULES["ablation_ks"]([0])
    assert RULES["faithfulness_edits"](3)
    assert RULES["ablation_draws"](1)
    assert RULES["planted_units"](0) is None and RULES["planted_units"](-1)


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


def test_c2_without_a_controlled_figure_says_so():
    """No unit had another unit's formula: C2 has no controlled figure, so it is not testable, and the note says
    why (in the card and on the first page)."""
    figures = _figures()
    figures["shifts"] = figures["shifts"][figures["shifts"]["measure"] == "formula − sham"]
    card = causal.card(figures, ["lstm"], {"> 0": "> 0"}, {})
    row = card.set_index("id").loc["C2"]
    assert row["verdict"] == verdicts.NOT_TESTABLE and "no controlled figure" in row["note"]
    assert "no controlled figure" in causal.markdown(card)


def test_untrained_clip_and_single_seeds_are_not_testable():
    figures = _figures("clip", "clip-untrained")
    card = causal.card(figures, ["clip"], {"> 0": "> 0"}, {}, untestable={"clip": "CLIP is untrained here"})
    assert (card["verdict"] == verdicts.NOT_TESTABLE).all() and (card["note"] == "CLIP is untrained here").all()
    one = {name: frame.assign(seeds=1, _pooled=[{**d, "k": 1} for d in frame["_pooled"]])
           for name, frame in figures.items()}
    card = causal.card(one, ["clip"], {"> 0": "> 0"}, {}).set_index("id")
    assert card.loc["C2", "verdict"] == verdicts.NOT_TESTABLE
    assert card.loc["C2", "note"].startswith("one seed: no between-model variance")


def test_the_causal_section_in_markdown_known_answer():
    """Two regimes: the header has a figure and a verdict column for each, each figure carries its minimum, MDE and
    positive control, a claim missing at a regime reads n/a, and the section starts with its title and the
    sentences."""
    extra = {"minimum": "≥ 0.100", "MDE": "0.050", "positive control": "2.0 [1.5, 2.5], 3 seeds (detected)"}
    table = pd.DataFrame([
        {"id": "C1", "encoder": "lstm", "regime": "> 0", "this build": "0.05 [0.02, 0.08]", "verdict": "holds",
         "note": "", **extra},
        {"id": "C1", "encoder": "lstm", "regime": "top", "this build": "0.01 [-0.01, 0.03]", "verdict": "inconclusive",
         "note": "", **extra},
        {"id": "C2", "encoder": "lstm", "regime": "> 0", "this build": "0.3 [0.1, 0.5]", "verdict": "holds",
         "note": "a|b", **extra}])
    c1, c2 = causal.CAUSAL["C1"].short, causal.CAUSAL["C2"].short
    more = "(minimum ≥ 0.100; MDE 0.050; positive control 2.0 [1.5, 2.5], 3 seeds (detected))"
    assert causal.markdown(table, sentences=["One.", "Two."]) == (
        "## Do explained neurons matter? The causal tests\n\nOne. Two.\n\n"
        "| id | claim | encoder | at > 0 | verdict at > 0 | at top | verdict at top |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| C1 | {c1} | lstm | 0.05 [0.02, 0.08] {more} | **holds** | 0.01 [-0.01, 0.03] {more} | **inconclusive** |\n"
        f"| C2 | {c2} | lstm | 0.3 [0.1, 0.5] {more} | **holds** (a\\|b) | n/a | n/a |\n")


def test_the_rules_table_states_each_causal_claim():
    """The rules table the book prints: one row per causal claim with its id, short claim, sentence, rule and
    positive control."""
    table = causal.rules_table()
    assert list(table.columns) == ["id", "claim", "as stated", "rule (minimum effect)", "positive control"]
    assert list(table["id"]) == ["C1", "C1k", "C2", "C3", "C3e"]
    for row in table.itertuples(index=False):
        claim = causal.CAUSAL[row[0]]
        assert tuple(row[1:]) == (claim.short, claim.sentence, claim.rule, claim.control)


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
