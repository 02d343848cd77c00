"""The causal tests' positive controls and nulls (issue 31, "causal tests that can succeed"): each test here shows that
a known effect is found where it was planted and not where it was not, or checks a figure against its closed form.

* C1: on a synthetic model, ablating the top units by exact contribution moves the gold margin far more than random
  units; one unit's ablation lowers the mean gold margin by exactly its mean contribution; the contribution
  correlation finds a planted monotone relation and its planted measure is negative on independent data.
* C2: sham edits keep every concept the formula names; the search and edit halves are disjoint; a planted unit passes
  and its shuffled twin does not.
* C3: the activation change is read on the unit chosen; how much of a formula's IoU its noun carries.
* The verdict: a positive control that was not detected makes a negative verdict *inconclusive: the test cannot
  detect the minimum effect*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from clipneuron_utils.explain import edits, formulas
from clipneuron_utils.explain.concepts import Concepts, masks_like
from clipneuron_utils.models.ablation import (Ablator, fill_values, gold_directions, gold_margins,
                                              mean_contributions)
from clipneuron_utils.run import adversarial, faithfulness, interventions
from clipneuron_utils.stats import ablation_effects, adversarial_effects, causal, edit_effects, verdicts


# ------------------------------------------------------------------------------------ C1: ablation


def _synthetic_model(n=2000, hidden=48, seed=0):
    """Post-ReLU activations with unit scales that differ (log-normal), random output weights and bias, and gold
    labels the model gets right about two times in three."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.normal(0, 0.75, hidden))
    h = np.maximum(rng.normal(0, 1, (n, hidden)) + 0.3, 0) * scales
    w, b = rng.normal(0, 1, (3, hidden)), rng.normal(0, 0.1, 3)
    logits = h @ w.T + b
    gold = (logits + rng.normal(0, logits.std(), logits.shape)).argmax(axis=1)
    return h, w, b, gold


def _mean_margin_changes(ablator, gold, unit_sets, fill):
    """The change of the mean gold margin when each set is ablated."""
    before = gold_margins(ablator.base, gold).mean()
    return np.array([gold_margins(ablator.base + d, gold).mean() - before
                     for d in ablator.logit_changes(unit_sets, fill)])


def test_gold_margins_and_directions_known_answer():
    """The gold logit less the mean of the other two: 3 − (1 + 2)/2, 0 − 0, 5 − (1 − 1)/2; and the margin is the
    units' activations times their gold directions (the gold row of W less the mean of the other rows)."""
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 5.0, -1.0]])
    assert np.allclose(gold_margins(logits, np.array([0, 0, 1])), [1.5, 0.0, 5.0])
    assert np.allclose(gold_margins(logits, np.array([2, 1, 2])), [0.0, 0.0, -4.0])
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert np.allclose(gold_directions(w, np.array([0, 2, 1])), [[0.5, -1.0], [0.5, 0.5], [-1.0, 0.5]])
    h = np.array([[2.0, 3.0], [1.0, -1.0], [0.5, 4.0]])
    gold = np.array([0, 2, 1])
    assert np.allclose(gold_margins(h @ w.T, gold), (h * gold_directions(w, gold)).sum(axis=1))


def test_logit_changes_and_predictions_agree_with_the_per_set_loop():
    h, w, b, _ = _synthetic_model(n=300, hidden=20, seed=1)
    ablator = Ablator(h, w, b)
    sets = [[], [3], [3, 3, 7], list(range(20)), [19, 0, 5, 11]]  # a repeat counts once
    for mode in ("zero", "mean"):
        fill = fill_values(h, mode)
        changes = ablator.logit_changes(sets, fill)
        assert changes.shape == (len(sets), 300, 3)
        preds = ablator.predictions(sets, fill)
        for row, units in enumerate(sets):
            s = np.unique(np.asarray(units, dtype=int))
            expected = ablator.base + (fill[s] - h[:, s]) @ w[:, s].T
            assert np.allclose(ablator.base + changes[row], expected)
            assert np.array_equal(preds[row], expected.argmax(axis=1))
        assert np.allclose(changes[0], 0.0)


def test_ablating_one_unit_lowers_the_mean_gold_margin_by_exactly_its_mean_contribution():
    """The output layer is linear in the units: ablating a unit alone changes the mean gold margin by minus its mean
    contribution, and a set by minus the sum of its units' contributions."""
    h, w, b, gold = _synthetic_model(n=500, hidden=24, seed=2)
    ablator = Ablator(h, w, b)
    for mode in ("zero", "mean"):
        fill = fill_values(h, mode)
        contribution = mean_contributions(h, w, gold, fill)
        alone = _mean_margin_changes(ablator, gold, [[j] for j in range(24)], fill)
        assert np.allclose(alone, -contribution, rtol=1e-10, atol=1e-12)
        assert np.isclose(_mean_margin_changes(ablator, gold, [[1, 4, 9]], fill)[0], -contribution[[1, 4, 9]].sum())
    # by hand: one pair, gold 0, w = [[2], [0], [1]]: direction 2 − 0.5 = 1.5; h = 3 above fill 1 contributes 3
    assert mean_contributions(np.array([[3.0]]), np.array([[2.0], [0.0], [1.0]]), np.array([0]), np.array([1.0])) == \
        pytest.approx([3.0])


def test_ablating_the_top_contributors_moves_the_gold_margin_far_more_than_random_units():
    """The positive control of C1k on a synthetic model: the top k units by mean contribution cost the mean gold
    margin at least 3× what random k cost on average; the first k of a random ranking cost what random k cost."""
    h, w, b, gold = _synthetic_model()
    ablator = Ablator(h, w, b)
    fill = fill_values(h, "mean")
    contribution = mean_contributions(h, w, gold, fill)
    rng = np.random.default_rng(5)
    k = 6
    top = np.argsort(-contribution)[:k]
    random_sets = [rng.choice(48, size=k, replace=False) for _ in range(200)]
    drop = _mean_margin_changes(ablator, gold, [top], fill)[0]
    draws = _mean_margin_changes(ablator, gold, random_sets, fill)
    assert drop < 0 and draws.mean() < 0
    assert drop <= 3 * draws.mean()  # at least 3× the mean random loss
    assert drop < draws.min()  # no random draw costs as much
    shuffled = rng.permutation(48)[:k]  # a random ranking
    again = _mean_margin_changes(ablator, gold, [shuffled], fill)[0]
    assert abs(again - draws.mean()) <= 3 * draws.std()
    assert again > 0.5 * drop


def test_the_ablation_of_a_model_reads_the_contribution_ranking_as_its_positive_control():
    """:func:`interventions.ablation` on the synthetic model, where excess IoU runs against contribution (the best
    explained units contribute least): the top excess IoU set spares the margin (its difference from random k is
    > 0), the top contributors' costs it (< 0), and that set's mean margin change is exactly minus the sum of the k
    largest contributions (in probe SDs of the margin); the contributions frame holds them per explained unit."""
    h, w, b, gold = _synthetic_model(n=1000, hidden=40, seed=3)
    margin_sd = float(np.std(gold_margins(h @ w.T + b, gold)))
    contribution = mean_contributions(h, w, gold, fill_values(h, "mean")) / margin_sd
    explained = np.ones(40, bool)
    explained[[0, 1]] = False
    rows = pd.DataFrame({"neuron": np.arange(40), "iou": 0.3, "excess_iou": -contribution, "explained": explained})
    changes, units = interventions.ablation({0.0: rows}, h, w, b, gold, ks=[5], draws=50, seed=0)
    table = changes[(changes["outcome"] == "margin") & (changes["class"] == "all")].set_index(["mode", "ranking"])
    pool = np.flatnonzero(explained)
    top = pool[np.argsort(-contribution[pool])[:5]]
    assert table.loc[("mean", "top contribution"), "delta"] == pytest.approx(-contribution[top].sum())
    assert table.loc[("mean", "top excess − random"), "delta"] > 0
    assert table.loc[("mean", "contribution − random"), "delta"] < 0
    assert set(changes["mode"]) == {"zero", "mean"} and set(changes["regime"]) == {0.0}
    assert list(units["neuron"]) == list(pool)
    assert np.allclose(units["contribution"], contribution[pool])


def _units(x, y, seeds=(0, 1, 2), encoder="lstm", regime="> 0"):
    return pd.concat([pd.DataFrame({"encoder": encoder, "regime": regime, "seed": s, "excess_iou": x(s), "contribution": y(s)})
                      for s in seeds], ignore_index=True)


def test_the_contribution_correlation_finds_a_planted_monotone_relation():
    """Contribution a falling (rising) function of excess IoU in each of three seeds: Spearman r = −1 (+1) per seed,
    pooled near −1 (+1) over the three; a seed with fewer than 10 units does not count."""
    grid = np.linspace(0.0, 0.3, 40)
    falling = ablation_effects.contribution_correlation(_units(lambda s: grid + s, lambda s: np.exp(-5 * grid)))
    row = falling.set_index("measure").loc[ablation_effects.CORRELATION]
    assert row["estimate"] < -0.99 and row["ci_high"] < -0.9
    assert row["seeds"] == 3 and row["units"] == 120
    assert causal.rule(row["_pooled"], causal.CAUSAL["C1"], 0.1)[0] == verdicts.HOLDS
    rising = ablation_effects.contribution_correlation(_units(lambda s: grid, lambda s: grid ** 3))
    assert rising.set_index("measure").loc[ablation_effects.CORRELATION, "estimate"] > 0.99
    short = _units(lambda s: grid[: 40 if s < 2 else 9], lambda s: -grid[: 40 if s < 2 else 9])
    assert ablation_effects.contribution_correlation(short).set_index("measure").loc[
        ablation_effects.CORRELATION, "seeds"] == 2


def test_the_planted_correlation_is_negative_on_independent_data():
    """Excess IoU and contribution drawn independently: the correlation itself is near 0, while the planted measure
    (excess IoU − ½ contribution against contribution) is negative, so the positive control is detected."""
    rng = np.random.default_rng(0)
    draws = {s: (rng.normal(size=200), rng.normal(size=200)) for s in range(3)}
    table = ablation_effects.contribution_correlation(_units(lambda s: draws[s][0], lambda s: draws[s][1])).set_index("measure")
    planted = table.loc[ablation_effects.PLANTED]
    assert planted["estimate"] < -0.3 and planted["ci_high"] < 0
    assert causal.detected(planted["_pooled"], -1) is True
    corr = table.loc[ablation_effects.CORRELATION]
    assert abs(corr["estimate"]) < 0.15 and corr["ci_low"] < 0 < corr["ci_high"]


# ---------------------------------------------------------------------------------------- C2: edits


@pytest.mark.parametrize("formula, atom", [("hyp:tok:girl", "hyp:tok:girl"),
                                           ("(hyp:tok:dog AND NOT pre:tok:man)", "hyp:tok:dog"),
                                           ("(hyp:tok:eating OR pre:tok:kitchen)", "hyp:tok:eating")])
def test_a_sham_edit_keeps_every_concept_its_formula_names(editor, concepts, formula, atom):
    """Each sham changes only its two substituted tokens' concepts, none of them a word of the formula, so every
    concept the formula names and the formula's truth stay as on its source pair; its ``link`` is the row of the
    plan it shadows: the same pair, the same direction, a substitution that shares one word with that edit."""
    rng = np.random.default_rng(2)
    plan = editor.plan(formula, atom, 10, rng)
    shams = editor.shams(formula, atom, plan, rng)
    assert len(shams) >= 4
    side = atom.split(":")[0]
    src = shams["source"].to_numpy(dtype=int)
    after = masks_like(shams, concepts)
    names = formulas.parse(formula).atoms()
    for name in names:
        assert np.array_equal(after.mask(name), concepts.mask(name)[src])
    assert np.array_equal(formulas.evaluate(formula, after), formulas.evaluate(formula, concepts)[src])
    words = {n.split(":", 2)[2] for n in names}
    for changed, old, new in zip(edits.changed_concepts(concepts, after, src), shams["old"], shams["new"]):
        assert changed == {f"{side}:tok:{old}", f"{side}:tok:{new}"}
        assert old not in words and new not in words
    for sham in shams.itertuples(index=False):
        edit = plan.iloc[int(sham.link)]
        assert int(edit["source"]) == int(sham.source)
        assert sham.direction == edit["direction"] and sham.edit == "sham " + edit["edit"]
        if edit["edit"] == "insertion":
            assert sham.old == edit["old"]  # the same token replaced, by another word of the formula word's tag
        else:
            assert sham.new == edit["new"]  # another word of the same tag replaced by the same substitute
    assert edits.check_edits(concepts, after, src, [{f"{side}:tok:{o}", f"{side}:tok:{n}"}
                                                    for o, n in zip(shams["old"], shams["new"])]).all()


def test_the_shams_of_an_empty_plan_are_empty_with_a_link_column(editor):
    plan = editor.plan("hyp:tok:zebra", "hyp:tok:zebra", 8, np.random.default_rng(1))
    shams = editor.shams("hyp:tok:zebra", "hyp:tok:zebra", plan, np.random.default_rng(1))
    assert shams.empty and "link" in shams.columns


@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_the_search_and_edit_halves_are_disjoint_cover_the_pairs_and_never_change(n):
    search, edit = faithfulness.halves(n)
    assert not set(search) & set(edit)
    assert sorted([*search, *edit]) == list(range(n))
    assert len(search) == n // 2 and list(search) == sorted(search) and list(edit) == sorted(edit)
    again = faithfulness.halves(n)
    assert np.array_equal(again[0], search) and np.array_equal(again[1], edit)


def test_edits_start_only_from_the_rows_they_are_given(editor):
    """Edits restricted to the edit half start there only, and so do their shams: no pair that chose a formula is
    edited to test it. Unrestricted, the same plan would start from search-half pairs too."""
    search, edit = faithfulness.halves(len(editor.probe))
    free = editor.plan("hyp:tok:girl", "hyp:tok:girl", 50, np.random.default_rng(0))
    assert set(free["source"]) & set(search)
    for rows in (edit, list(edit)):
        rng = np.random.default_rng(0)
        plan = editor.plan("hyp:tok:girl", "hyp:tok:girl", 50, rng, rows=rows)
        assert len(plan) and set(plan["edit"]) == {"removal", "insertion"}
        assert set(plan["source"]) <= set(edit)
        shams = editor.shams("hyp:tok:girl", "hyp:tok:girl", plan, rng)
        assert len(shams) and set(shams["source"]) <= set(edit)
    assert set(editor.plan("hyp:tok:girl", "hyp:tok:girl", 50, np.random.default_rng(0), rows=search)["source"]) <= set(search)


def test_a_planted_unit_is_two_signal_units_higher_where_its_word_holds():
    """Noise 1, 3, −1 around a mean of 1 with SD 2: z = 0, 1, −1, so the planted activation is 2·[word] − 1 + 0.5·z;
    with the same noise, a pair where the word holds is exactly 2 higher."""
    plant = {"mean": 1.0, "sd": 2.0}
    noise = np.array([1.0, 3.0, -1.0])
    assert np.allclose(faithfulness.planted_activation(plant, noise, np.array([True, False, True])), [1.0, -0.5, 0.5])
    gap = faithfulness.planted_activation(plant, noise, np.ones(3, bool)) - \
        faithfulness.planted_activation(plant, noise, np.zeros(3, bool))
    assert np.allclose(gap, faithfulness.PLANTED_SIGNAL) and faithfulness.PLANTED_SIGNAL == 2.0
    frame = pd.DataFrame({"premise_tokens": [["x"], ["girl", "y"], []], "hypothesis_tokens": [["a", "girl"], ["boy"], []]})
    assert list(faithfulness.word_holds(frame, "hyp:tok:girl")) == [True, False, False]
    assert list(faithfulness.word_holds(frame, "pre:tok:girl")) == [False, True, False]


def test_the_shifts_of_a_planted_unit_and_its_twin_known_answer():
    """Four probe pairs (girl in the hypothesis of pairs 0 and 2), a real unit 0 and a noise unit 1. One insertion
    of girl into pair 1 (direction +1) is read on the real unit (3 above its source, over its SD), on the planted
    unit (its word now holds and its noise is the same: 2 higher) and on its twin, whose word indicator belongs to
    another pair and does not move (0)."""
    probe = pd.DataFrame({"premise": list("abcd"), "hypothesis": ["girl", "boy", "girl", "dog"],
                          "premise_tokens": [["a"], ["b"], ["c"], ["d"]],
                          "hypothesis_tokens": [["girl"], ["boy"], ["girl"], ["dog"]]})
    probe_acts = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 3.0]])
    edited = {"premise": "b", "hypothesis": "girl", "hypothesis_tokens": ["girl"], "source": 1, "direction": 1,
              "kind": "formula", "link": 0, "formula": "hyp:tok:girl", "atom": "hyp:tok:girl", "edit": "insertion",
              "old": "boy", "new": "girl"}
    plans = pd.DataFrame([{**edited, "unit": u, "role": r} for u, r in ((0, "unit"), (2, "planted"), (3, "twin"))])
    perm = np.array([1, 0, 3, 2])  # the twin's pair 1 reads pair 0's word: girl, before and after
    tested = pd.DataFrame([{"unit": 2, "role": "planted", "noise": 1, "word": "hyp:tok:girl"},
                           {"unit": 3, "role": "twin", "noise": 1, "word": "hyp:tok:girl", "perm": perm}])
    edited_acts = np.array([[5.0, 1.0]] * 3)  # the real unit moves to 5; the noise unit keeps its value 1
    out = faithfulness.shifts(plans, tested, probe, probe_acts, edited_acts).set_index("unit")
    assert out.loc[0, "shift"] == pytest.approx(3.0 / probe_acts[:, 0].std())
    plant = {"mean": 1.5, "sd": probe_acts[:, 1].std()}
    planted_sd = faithfulness.planted_activation(plant, probe_acts[:, 1], np.array([True, False, True, False])).std()
    assert out.loc[2, "after"] - out.loc[2, "before"] == pytest.approx(2.0)
    assert out.loc[2, "shift"] == pytest.approx(2.0 / planted_sd)
    assert out.loc[3, "after"] == pytest.approx(out.loc[3, "before"]) and out.loc[3, "shift"] == pytest.approx(0.0)


def _edits_of(unit, role, formula_shifts, sham_shifts, seed=0, encoder="m", regime="> 0"):
    n = len(formula_shifts)
    frame = pd.DataFrame({"encoder": encoder, "seed": seed, "regime": regime, "role": role, "unit": unit, "formula": "f",
                          "kind": ["formula"] * n + ["formula sham"] * n, "link": [*range(n), *range(n)],
                          "shift": [*formula_shifts, *sham_shifts]})
    return frame.sample(frac=1.0, random_state=seed)  # the rows in any order: shams are paired by their link


def test_a_planted_unit_passes_and_its_shuffled_twin_fails():
    """Per seed, three planted units whose formula edits shift them 2 SD beyond their shams, and their twins with
    the very same noise on both kinds of edit but no word effect: each planted unit is faithful with an effect of
    2 + (its noise difference), each twin is not, and pooled over three seeds the planted figure is 2 above the
    twin's, which is the noise alone (about 0)."""
    rng = np.random.default_rng(4)
    frames, noise = [], []
    for seed in range(3):
        for j in range(3):
            e, s = rng.normal(0, 0.3, 12), rng.normal(0, 0.3, 12)
            noise.append((e - s).mean())
            frames += [_edits_of(100 + 2 * j, "planted", 2.0 + e, s, seed), _edits_of(101 + 2 * j, "twin", e, s, seed)]
    units = edit_effects.unit_faithfulness(pd.concat(frames, ignore_index=True))
    planted, twins = units[units["role"] == "planted"], units[units["role"] == "twin"]
    assert planted["faithful"].tolist() == [True] * 9 and twins["faithful"].tolist() == [False] * 9
    assert np.allclose(planted["effect"].to_numpy() - twins["effect"].to_numpy(), 2.0)
    assert (planted["effect"] > 1.5).all() and (twins["effect"].abs() < 0.5).all()
    effects = edit_effects.shift_effects(units).set_index("measure")
    assert effects.loc["planted: formula − sham", "seeds"] == 3 and effects.loc["planted: formula − sham", "units"] == 9
    planted_fig, twin_fig = (effects.loc[m, "estimate"] for m in ("planted: formula − sham", "twin: formula − sham"))
    assert planted_fig - twin_fig == pytest.approx(2.0)  # the same noise, seed by seed: the word's 2 SD is the gap
    assert abs(twin_fig) < 0.2 and abs(twin_fig - np.mean(noise)) < 0.05
    assert causal.detected(effects.loc["planted: formula − sham", "_pooled"], 1) is True
    assert causal.detected(effects.loc["twin: formula − sham", "_pooled"], 1) is False
    counts = edit_effects.faithful_counts(units).set_index("role")
    assert counts.loc["planted", "faithful"] == 9 and counts.loc["twin", "faithful"] == 0


# ------------------------------------------------------------------------------- C3: adversarial pairs


def _adversarial_frame():
    """Two units (5: activation SD 2, pushes contradiction, margin SD 4; 9: SD 0.5, pushes entailment, margin SD 2)
    on two base pairs each, a formula and a control pair per base pair, rows in scrambled order; and the noun
    control (unit −3, no activation)."""
    rows = []
    for unit, pushed, a_sd, m_sd, values in (
            (5, "contradiction", 2.0, 4.0, {0: ((3.0, 1.0), (2.0, -2.0), (1.0, 0.0), ("contradiction", "entailment")),
                                            1: ((1.0, 2.0), (0.0, 0.0), (0.5, 0.5), ("entailment", "entailment"))}),
            (9, "entailment", 0.5, 2.0, {0: ((0.5, 0.0), (1.0, 0.0), (0.1, 0.0), ("entailment", "entailment")),
                                         1: ((2.0, 1.0), (3.0, 1.0), (0.4, 0.2), ("neutral", "contradiction"))}),
            (-3, "contradiction", np.nan, 4.0, {4: ((np.nan, np.nan), (4.0, 0.0), (0.0, 0.0),
                                                    ("contradiction", "entailment"))})):
        for source, (act, margin, push, predicted) in values.items():
            for i, kind in enumerate(("formula", "control")):
                rows.append({"encoder": "lstm", "seed": 0, "regime": "> 0", "unit": unit, "source": source,
                             "kind": kind, "pushed": pushed, "gold": "entailment" if unit != 9 else "contradiction",
                             "predicted": predicted[i], "activation": act[i], "activation_sd": a_sd,
                             "margin": margin[i], "margin_sd": m_sd, "unit_push": push[i]})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)


def test_the_activation_change_is_read_on_the_unit_chosen():
    out = adversarial_effects.pair_effects(_adversarial_frame()).set_index(["unit", "source"])
    assert list(out.columns[-5:]) == list(adversarial_effects.MEASURES)
    assert out.loc[(5, 0), "activation"] == pytest.approx((3.0 - 1.0) / 2.0)
    assert out.loc[(5, 1), "activation"] == pytest.approx((1.0 - 2.0) / 2.0)
    assert out.loc[(9, 0), "activation"] == pytest.approx((0.5 - 0.0) / 0.5)
    assert out.loc[(9, 1), "activation"] == pytest.approx((2.0 - 1.0) / 0.5)
    assert out.loc[(5, 0), "push"] == pytest.approx((2.0 + 2.0) / 4.0)
    assert out.loc[(9, 1), "push"] == pytest.approx((3.0 - 1.0) / 2.0)
    assert out.loc[(5, 0), "unit push"] == pytest.approx(1.0 / 4.0)
    assert out.loc[(9, 1), "unit push"] == pytest.approx(0.2 / 2.0)
    # predictions of the pushed class, and errors, formula − control
    assert out.loc[(5, 0), "class predictions"] == 1 and out.loc[(5, 0), "errors"] == 1
    assert out.loc[(5, 1), "class predictions"] == 0 and out.loc[(5, 1), "errors"] == 0
    assert out.loc[(9, 1), "class predictions"] == 0 and out.loc[(9, 1), "errors"] == 1  # neutral vs contradiction (gold)
    # the noun control has no unit: no activation, but its push and predictions count
    assert np.isnan(out.loc[(-3, 4), "activation"]) and out.loc[(-3, 4), "push"] == pytest.approx(1.0)
    assert out.loc[(-3, 4), "class predictions"] == 1
    assert adversarial_effects.pair_effects(_adversarial_frame().iloc[:0]).empty


def test_adversarial_effects_average_units_then_pool_seeds():
    """Per seed, the mean over units of each unit's mean (a unit needs MIN_PAIRS pairs, a seed MIN_UNITS units):
    seed 0's units move 1 and 3 (mean 2), seed 1's 2 and 4 (mean 3), equal variances: pooled 2.5. A third unit with
    too few pairs does not count; over pairs instead of units the second seed's items are its pairs."""
    rows = []
    for seed, means in ((0, (1.0, 3.0)), (1, (2.0, 4.0))):
        for unit, m in zip((1, 2), means):
            for source in range(adversarial_effects.MIN_PAIRS):
                rows.append({"encoder": "lstm", "regime": "> 0", "seed": seed, "unit": unit, "source": source,
                             **{k: m + 0.1 * (source - 2) for k in adversarial_effects.MEASURES}})
        rows.append({"encoder": "lstm", "regime": "> 0", "seed": seed, "unit": 7, "source": 0,
                     **{k: 100.0 for k in adversarial_effects.MEASURES}})
    pairs = pd.DataFrame(rows)
    table = adversarial_effects.effects(pairs).set_index("measure")
    assert table.loc["activation", "estimate"] == pytest.approx(2.5)
    assert table.loc["push", "seeds"] == 2
    nouns = adversarial_effects.effects(pairs.drop(columns="regime"), by_unit=False, label="noun: ")
    assert set(nouns["regime"]) == {"any"} and "noun: push" in set(nouns["measure"])
    assert nouns.set_index("measure").loc["noun: push", "estimate"] > 2.5  # the 100s now count as pairs


def _concepts(columns: dict) -> Concepts:
    names = list(columns)
    return Concepts(names, sp.csc_matrix(np.column_stack([np.asarray(columns[n], bool) for n in names])))


def test_how_much_of_a_formula_a_noun_carries_known_answer():
    """Ten pairs, the unit fires on the first four. ``(hyp:tag:. OR pre:tok:man)``: the full stop holds everywhere
    (IoU 0.4), man alone 1/8, and without man the formula keeps its 0.4: not carried. ``(pre:tok:man AND
    hyp:tok:x)``: IoU 1, man alone 4/6 (below 0.8), but without man x alone scores 4/6, a third less: carried."""
    unit = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    stop = _concepts({"hyp:tag:.": [1] * 10, "pre:tok:man": [1, 0, 0, 0, 1, 1, 1, 1, 0, 0]})
    out = adversarial.carried("(hyp:tag:. OR pre:tok:man)", "pre:tok:man", unit, stop)
    assert out == pytest.approx({"formula_iou": 0.4, "atom_iou": 0.125, "without_iou": 0.4, "carried": False})
    both = _concepts({"pre:tok:man": [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], "hyp:tok:x": [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]})
    out = adversarial.carried("(pre:tok:man AND hyp:tok:x)", "pre:tok:man", unit, both)
    assert out == pytest.approx({"formula_iou": 1.0, "atom_iou": 4 / 6, "without_iou": 4 / 6, "carried": True})
    alone = adversarial.carried("pre:tok:man", "pre:tok:man", unit, both)  # nothing left without it: IoU 0
    assert alone["without_iou"] == 0.0 and alone["carried"] is True
    never = adversarial.carried("pre:tok:man", "pre:tok:man", np.zeros(10, bool), both)
    assert never["formula_iou"] == 0.0 and never["carried"] is False


@pytest.mark.parametrize("formula, atom, rest", [
    ("(A OR B)", "B", "A"), ("NOT A", "A", None), ("(NOT A AND B)", "B", "NOT A"), ("(NOT A AND B)", "A", "B"),
    ("A", "A", None), ("A", "B", "A"), ("((A OR B) AND NOT B)", "B", "A"), ("((A AND B) OR C)", "C", "(A AND B)"),
    ("(A OR A)", "A", None)])
def test_a_formula_without_one_atom_known_answers(formula, atom, rest):
    out = formulas.without(formula, atom)
    assert (out is None) if rest is None else (str(out) == rest)


def test_the_noun_atom_is_the_first_unnegated_premise_noun():
    tags = {"dog": "NN", "man": "NN", "dogs": "NNS", "running": "VBG"}
    assert adversarial.noun_atom("(NOT pre:tok:dog AND pre:tok:man)", tags) == "pre:tok:man"
    assert adversarial.noun_atom("(pre:tok:running OR pre:tok:dogs)", tags) == "pre:tok:dogs"
    assert adversarial.noun_atom("(hyp:tok:man OR NOT pre:tok:dog)", tags) is None
    assert adversarial.noun_atom(None, tags) is None


# ------------------------------------------------------------------------------------------ verdicts


def test_an_undetected_positive_control_makes_a_negative_verdict_insensitive():
    """A figure that does not hold, with a positive control that was not detected: the test could not have seen the
    effect, so it is *inconclusive: the test cannot detect the minimum effect*, and the note says why. A detected
    control (or none) leaves the verdict; a verdict that holds is not touched."""
    def p(est, lo, hi):
        return {"estimate": est, "ci_low": lo, "ci_high": hi, "k": 3}

    c3 = causal.CAUSAL["C3"]
    flat = p(0.0, -0.01, 0.0099)
    assert causal.rule(flat, c3, 0.01, positive=False) == (verdicts.INSENSITIVE, "its positive control was not detected")
    assert causal.rule(flat, c3, 0.01, positive=True) == (verdicts.DOES_NOT_HOLD, "")
    assert causal.rule(flat, c3, 0.01, positive=None) == (verdicts.DOES_NOT_HOLD, "")
    unclear = p(0.0, -0.01, 0.02)
    assert causal.rule(unclear, c3, 0.01, positive=False) == (verdicts.INSENSITIVE, "its positive control was not detected")
    assert causal.rule(p(0.05, 0.02, 0.08), c3, 0.01, positive=False) == (verdicts.HOLDS, "")
    assert causal.rule(p(0.05, 0.02, 0.08), c3, 0.01, positive=False, untestable="untrained") == \
        (verdicts.NOT_TESTABLE, "untrained")


def test_the_card_reads_each_claims_positive_control():
    """C3's push does not hold; its noun control was detected in one build (a plain *does not hold*) and not in
    another (*inconclusive: the test cannot detect the minimum effect*)."""
    def p(est, lo, hi):
        return pd.DataFrame([{"estimate": est, "ci_low": lo, "ci_high": hi, "seeds": 3,
                              "_pooled": {"estimate": est, "ci_low": lo, "ci_high": hi, "k": 3}}])

    adversarial_fig = p(0.002, -0.005, 0.008).assign(encoder="lstm", regime="> 0", measure="push")
    for noun, verdict, note in (((0.5, 0.3, 0.7), verdicts.DOES_NOT_HOLD, ""),
                                ((0.05, -0.1, 0.2), verdicts.INSENSITIVE, "its positive control was not detected")):
        nouns = p(*noun).assign(encoder="lstm", regime="any", measure="push")
        card = causal.card({"adversarial": adversarial_fig, "nouns": nouns}, ["lstm"], {"> 0": "> 0"}, {})
        row = card.set_index("id").loc["C3"]
        assert (row["verdict"], row["note"]) == (verdict, note)
        assert row["positive control"].endswith("(detected)" if verdict == verdicts.DOES_NOT_HOLD else "(not detected)")
        assert card.set_index("id").loc["C1", "verdict"] == verdicts.NOT_TESTABLE  # no figure: not testable


def test_a_random_network_counts_only_where_the_trained_effect_is_not_larger():
    """C2 holds in the trained model and in a random network. Where the trained model's shift is significantly
    larger than the network's, the verdict is *holds* and the note gives the difference; where it is not, it is
    *holds, as in a random network*; a network that does not show the effect changes nothing."""
    from clipneuron_utils.stats import replicates

    def pooled(values):
        values = np.asarray(values, dtype=float)
        return replicates.pool(values, np.full(len(values), 1e-4), seeds=range(len(values)))

    c2 = causal.CAUSAL["C2"]
    trained = pooled([0.60, 0.62, 0.58, 0.61, 0.59])
    weaker = pooled([0.20, 0.22, 0.18, 0.21, 0.19])
    same = pooled([0.58, 0.66, 0.55, 0.63, 0.60])
    silent = pooled([0.0, 0.01, -0.01, 0.0, 0.005])
    verdict, note = causal.rule(trained, c2, 0.1, controls=[(weaker, "n/a")])
    assert verdict == verdicts.HOLDS and note.startswith("a random network shows it too, but less: trained − random +0.400")
    assert causal.rule(trained, c2, 0.1, controls=[(same, "n/a")]) == (verdicts.HOLDS_RANDOM, "")
    assert causal.rule(trained, c2, 0.1, controls=[(weaker, "n/a"), (same, "n/a")])[0] == verdicts.HOLDS_RANDOM
    assert causal.rule(trained, c2, 0.1, controls=[(silent, "n/a")]) == (verdicts.HOLDS, "")


def test_unchanged_predictions_are_not_a_certain_zero():
    """No prediction changed on 180 pairs (3 seeds × 3 units × 20): the share's interval still has the width of one
    changed pair in each seed's pairs, so a 1-point minimum cannot be ruled out by a zero-width interval."""
    rows = [{"encoder": "lstm", "seed": s, "regime": "> 0", "unit": u, "source": i, "activation": 0.0, "unit push": 0.0,
             "push": 0.0, "class predictions": 0.0, "errors": 0.0} for s in range(3) for u in range(3) for i in range(20)]
    fig = adversarial_effects.effects(pd.DataFrame(rows))
    share = fig[fig["measure"] == "class predictions"].iloc[0]
    assert share["ci_high"] - share["ci_low"] > 0.01
    assert causal.rule(share["_pooled"], causal.CAUSAL["C3e"], 0.01, positive=True)[0] != verdicts.DOES_NOT_HOLD


def test_a_one_seed_random_network_cannot_veto_a_claim():
    """A random network pooled from one seed has no between-model variance: it is not counted as showing the effect."""
    from clipneuron_utils.stats import replicates

    trained = replicates.pool([0.30, 0.31, 0.29, 0.30, 0.32], [1e-4] * 5, seeds=range(5))
    one = replicates.pool([0.29], [1e-4], seeds=[0])
    assert causal.rule(trained, causal.CAUSAL["C2"], 0.1, controls=[(one, "n/a")])[0] == verdicts.HOLDS


def test_the_card_says_when_a_positive_control_is_missing():
    """C3 with no noun control at all: the test cannot be shown to see anything, so a figure below its minimum is
    inconclusive, and the note says the control is missing (not that it was missed)."""
    def p(est, lo, hi):
        return pd.DataFrame([{"estimate": est, "ci_low": lo, "ci_high": hi, "seeds": 3,
                              "_pooled": {"estimate": est, "ci_low": lo, "ci_high": hi, "k": 3}}])

    fig = p(0.002, -0.005, 0.008).assign(encoder="lstm", regime="> 0", measure="push")
    card = causal.card({"adversarial": fig}, ["lstm"], {"> 0": "> 0"}, {})
    row = card[card["id"] == "C3"].iloc[0]
    assert row["verdict"] == verdicts.INSENSITIVE and row["note"] == "no positive control in this build"


def test_the_other_formula_names_none_of_the_units_words():
    """The null edits another tested unit's formula; one that shares a word with the unit's own is skipped for the
    next, and with none left there is no null for that unit."""
    real = pd.DataFrame({"unit": [1, 2, 3], "formula": ["hyp:tok:man", "(hyp:tok:man OR pre:tok:dog)", "pre:tok:cat"],
                         "atom": ["hyp:tok:man", "hyp:tok:man", "pre:tok:cat"]})
    assert faithfulness._other_formula(real, 1, "hyp:tok:man")["unit"] == 3
    assert faithfulness._other_formula(real, 3, "pre:tok:cat")["unit"] == 1
    only = real.iloc[:2]
    assert faithfulness._other_formula(only, 1, "hyp:tok:man") is None
