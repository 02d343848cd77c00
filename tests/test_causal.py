"""Chapter 10's causal tests: ablation hooks, the edit rules on the concept masks, the faithfulness test on a
planted unit, and the statistics and verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils.data import corpus
from clipneuron_utils.explain import edits, formulas
from clipneuron_utils.explain.concepts import build_concepts, masks_like
from clipneuron_utils.models.ablation import Ablator, ablate, fill_values
from clipneuron_utils.models.heads import HeadConfig, NLIModel
from clipneuron_utils.run import causal
from clipneuron_utils.run.parameters import RULES
from clipneuron_utils.stats import causal as causal_stats
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


def test_rankings_pick_top_bottom_and_random_sets():
    rows = pd.DataFrame({"neuron": [0, 1, 2, 3, 4], "iou": [0.1, 0.5, 0.3, np.nan, 0.2],
                         "excess_iou": [0.05, -0.1, 0.2, np.nan, 0.0], "explained": [True, True, True, False, True]})
    sets = causal.rankings(rows, hidden=10, k=2, draws=3, rng=np.random.default_rng(0))
    assert list(sets["top IoU"][0]) == [1, 2]
    assert list(sets["top excess IoU"][0]) == [2, 0]
    assert list(sets["bottom IoU"][0]) == [0, 4]
    assert len(sets["random"]) == 3 and all(len(set(s)) == 2 and set(s) <= {0, 1, 2, 4} for s in sets["random"])
    assert causal.rankings(rows, hidden=10, k=3, draws=3, rng=np.random.default_rng(0)) == {}  # 4 < 2k explained


# ------------------------------------------------------------------------------------------- edits


def test_masks_like_rebuilds_the_same_masks_on_the_same_pairs(probe, concepts):
    again = masks_like(probe, concepts)
    assert again.names == concepts.names
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
    assert edits.substitute(frame, [0], "hyp", ["girl"], ["boy"])["hypothesis"].iloc[0] == "Boy sits."
    mismatch = frame.assign(hypothesis=["The girl's girl sits."])  # text holds the word twice, tokens once
    assert edits.substitute(mismatch, [0], "hyp", ["girl"], ["boy"]).empty


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
        assert names <= {f"{side}:tok:{old}", f"{side}:tok:{new}"}  # the stated change and no other
        assert names  # and it did change
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
    assert list(out["hypothesis"]) == list(probe["hypothesis"].iloc[rows])
    assert formulas.evaluate("pre:tok:camera", masks_like(out, concepts)).all()
    assert edits.append_clause(probe, [0], "apple", "NN")["premise"].iloc[0].endswith("There is an apple.")
    assert edits.append_clause(probe, [0], "dogs", "NNS")["premise"].iloc[0].endswith("There are dogs.")
    with pytest.raises(ValueError, match="noun"):
        edits.append_clause(probe, [0], "eating", "VBG")


def test_frequency_control_has_the_same_tag_and_a_close_count(editor, concepts):
    control = editor.frequency_match("hyp:tok:girl", exclude={"hyp:tok:girl"})
    assert control is not None and control != "hyp:tok:girl" and control.startswith("hyp:tok:")
    assert editor.tags[control.split(":")[2]] == editor.tags["girl"]
    with pytest.raises(ValueError, match="standard"):
        edits.Editor(editor.probe, build_concepts(editor.probe, 100, "wordnet", progress=False))


# ----------------------------------------------------------------------------------- faithfulness


def _planted_acts(pairs, word="girl", noise_seed=0):
    """A unit that is 1 where the hypothesis has ``word`` (plus a little noise), and a random unit."""
    rng = np.random.default_rng(noise_seed)
    planted = np.array([1.0 if word in t else 0.0 for t in pairs["hypothesis_tokens"]]) + rng.normal(0, 0.05, len(pairs))
    noise = np.array([np.random.default_rng(abs(hash((p, h))) % 2**32).normal() for p, h in
                      zip(pairs["premise"], pairs["hypothesis"])])
    return np.column_stack([planted, noise])


def test_the_edit_test_finds_a_planted_token_unit_faithful_and_a_random_unit_not(editor):
    rows = pd.DataFrame({"neuron": [0, 1], "formula": ["hyp:tok:girl", "hyp:tok:girl"], "n_fires": [40, 40],
                         "explained": [True, True], "iou": [0.9, 0.1], "excess_iou": [0.5, 0.0]})
    plans = causal.edit_plans(editor, rows, units=2, edits=10, length=1, seed=0,
                              search_params={"beam_size": 5, "complexity_penalty": 1.0})
    assert {"formula", "frequency"} <= set(plans["kind"])
    probe_acts = _planted_acts(editor.probe)
    edited_acts = _planted_acts(plans, noise_seed=1)
    units = causal_stats.unit_faithfulness(causal.shifts(plans, probe_acts, edited_acts))
    verdict = dict(zip(units["unit"], units["faithful"]))
    assert verdict[0] == True  # noqa: E712 (a numpy bool)
    assert verdict[1] == False  # noqa: E712


def test_faithfulness_needs_enough_edits_and_a_margin():
    edits_frame = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a",
                                "kind": ["formula"] * 3 + ["frequency"] * 6, "shift": [1.0] * 3 + [0.0] * 6})
    assert pd.isna(causal_stats.unit_faithfulness(edits_frame)["faithful"].iloc[0])  # 3 < MIN_EDITS
    small = pd.DataFrame({"unit": 0, "formula": "f", "atom": "a", "kind": ["formula"] * 6 + ["frequency"] * 6,
                          "shift": [0.05] * 6 + [0.0] * 6})
    assert not causal_stats.unit_faithfulness(small)["faithful"].iloc[0]  # exact, but below MIN_SHIFT
    big = small.assign(shift=[0.5] * 6 + [0.0] * 6)
    assert causal_stats.unit_faithfulness(big)["faithful"].iloc[0]


# -------------------------------------------------------------------------------------- statistics


def test_accuracy_changes_known_answer():
    gold = np.array([0, 0, 1, 1, 2, 2])
    base = gold.copy()
    ablated = {("top excess IoU", 2): np.array([[0, 1, 1, 0, 2, 2]]),  # two errors: −1/3
               ("random", 2): np.array([[0, 0, 1, 1, 2, 1], [0, 0, 1, 1, 2, 2]])}  # −1/6, 0
    rows = causal_stats.accuracy_changes(gold, base, ablated).set_index(["ranking", "class"])
    assert rows.loc[("top excess IoU", "all"), "delta"] == pytest.approx(-1 / 3)
    assert rows.loc[("random", "all"), "delta"] == pytest.approx(-1 / 12)
    assert rows.loc[("top excess − random", "all"), "delta"] == pytest.approx(-1 / 3 + 1 / 12)
    assert rows.loc[("top excess IoU", "entailment"), "delta"] == pytest.approx(-0.5)
    assert rows.loc[("top excess IoU", "contradiction"), "delta"] == pytest.approx(0.0)
    assert (rows["var"] >= 0).all()


def test_faithful_shares_and_adversarial_rates_pool_over_seeds():
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1, 2], 10), "unit": np.tile(range(10), 3),
                          "faithful": np.tile([True] * 8 + [False] * 2, 3),
                          "null_faithful": np.tile([False] * 9 + [True], 3)})
    shares = causal_stats.faithful_shares(units).set_index("measure")
    assert shares.loc["faithful", "estimate"] == pytest.approx(0.8)
    assert shares.loc["null formula", "estimate"] == pytest.approx(0.1)
    assert shares.loc["faithful − null formula", "estimate"] == pytest.approx(0.7)
    assert shares.loc["faithful − null formula", "seeds"] == 3
    few = units[units["unit"] < 3]  # fewer than MIN_UNITS per seed: nothing is pooled
    assert causal_stats.faithful_shares(few).empty
    pairs = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1], 20),
                          "err_formula": np.tile([True] * 5 + [False] * 15, 2), "err_control": [False] * 40})
    rates = causal_stats.adversarial_rates(pairs).set_index("measure")
    assert rates.loc["formula pairs", "estimate"] == pytest.approx(0.25)
    assert rates.loc["control pairs", "estimate"] == pytest.approx(0.0)


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
    card = causal_stats.card(frames, shares, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    verdict = dict(zip(card["id"], card["verdict"]))
    assert verdict == {"C1": "holds", "C2": "holds", "C3": "does not hold"}
    both = pd.concat([ablation("lstm", 0.05, 0.02, 0.08), ablation("lstm-untrained", 0.05, 0.02, 0.08)])
    card = causal_stats.card(both, shares, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert card.set_index("id").loc["C1", "verdict"] == "holds, as in a random network"
    null_moves = shares.assign(estimate=0.3, ci_low=0.15, ci_high=0.45,
                               _pooled=[shares["_pooled"].iloc[0]] * 2)  # the null formula's edits move units as much
    card = causal_stats.card(frames, null_moves, adversarial, ["lstm"], {"> 0": "> 0"}, {"lstm": ["lstm-untrained"]})
    assert card.set_index("id").loc["C2", "verdict"] == "holds, as in a random network"
    assert set(card["verdict"]) <= set(claims.VERDICTS)
    text = causal_stats.markdown(card)
    assert "| C1 |" in text and "**holds, as in a random network**" in text


def test_the_causal_rule_at_each_of_its_branches():
    """Known answers of :func:`causal.rule`: minimum 0.01, two seeds unless said."""
    def p(est, lo, hi, k=2):
        return {"estimate": est, "ci_low": lo, "ci_high": hi, "k": k}

    rule = causal_stats.rule
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

    provenance.record_scorecard("p", "## Scorecard\n")
    provenance.record_causal("p", "## Causal\n")
    assert provenance.render_scorecard(provenance.load("p")) == "## Scorecard\n\n## Causal\n"
    provenance.record_regimes("p", "## Regimes\n")
    text = provenance.render_scorecard(provenance.load("p"))
    assert text.index("## Scorecard") < text.index("## Regimes") < text.index("## Causal")
    assert "Causal" not in provenance.render_markdown("p", provenance.load("p"))


def test_shift_effects_pool_the_per_unit_difference():
    units = pd.DataFrame({"encoder": "m", "regime": "> 0", "seed": np.repeat([0, 1], 6), "unit": np.tile(range(6), 2),
                          "n_formula": 8, "n_frequency": 8, "n_null": [8] * 6 + [0] * 6,
                          "formula_shift": 0.5, "frequency_shift": np.tile([0.0, 0.2, 0.0, 0.2, 0.0, 0.2], 2),
                          "null_shift": [0.1] * 6 + [np.nan] * 6})
    effects = causal_stats.shift_effects(units).set_index("measure")
    assert effects.loc["formula − frequency", "estimate"] == pytest.approx(0.4)
    assert effects.loc["formula − frequency", "seeds"] == 2
    assert effects.loc["null − frequency", "estimate"] == pytest.approx(0.0)
    assert effects.loc["null − frequency", "seeds"] == 1  # the second seed's null formulas name no word


def test_c2_without_a_null_formula_says_so():
    effects = _pooled(0.3, 0.15, 0.45).assign(encoder="lstm", regime="> 0", measure="formula − frequency")
    empty = _pooled(0.0, -0.1, 0.1).iloc[:0].assign(encoder="lstm", regime="> 0", measure="x")
    card = causal_stats.card(empty.assign(mode="mean", ranking="r", k=64, **{"class": "all"}), effects, empty,
                             ["lstm"], {"> 0": "> 0"}, {})
    row = card.set_index("id").loc["C2"]
    assert row["verdict"] == "holds" and "no null control" in row["note"]
    assert "no null control" in causal_stats.markdown(card)


def test_an_ablation_that_changes_nothing_still_counts_as_a_seed():
    gold = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    unchanged = causal_stats.accuracy_changes(gold, gold, {("top IoU", 2): gold[None, :]})
    changed = causal_stats.accuracy_changes(gold, gold, {("top IoU", 2): np.array([[1, 1, 2, 0, 1, 2, 0, 1]])})
    rows = pd.concat([unchanged.assign(seed=0), changed.assign(seed=1)])
    pooled = causal_stats.pool_rows(rows[rows["class"] == "all"], ["ranking", "k", "class"])
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
    card = causal_stats.card(ablation, effects, empty, ["clip"], {"> 0": "> 0"}, {},
                             untestable={"clip": "CLIP is untrained here"})
    row = card.set_index("id").loc["C2"]
    assert row["verdict"] == "not testable in this build" and row["note"] == "CLIP is untrained here"
    one = effects.assign(seeds=1, _pooled=[{**effects["_pooled"].iloc[0], "k": 1}])
    card = causal_stats.card(ablation, one, empty, ["clip"], {"> 0": "> 0"}, {})
    assert card.set_index("id").loc["C2", "verdict"] == "not testable in this build"
