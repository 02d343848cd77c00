"""The firing regime: top-alpha masks, the sweep's min_acts, what formulas name, the alpha nearest the paper's IoU,
top vs bulk, and the sweep's store (issue 19)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from clipneuron_utils.explain import controls, regime
from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations, top_count
from clipneuron_utils.render import cards, provenance, tables
from clipneuron_utils.render import scorecard as headline
from clipneuron_utils import run
from clipneuron_utils.run import parameters, regimes


def sparse_token_in_dense_noise(n=2000, seed=0):
    """Concepts: a near-constant tag (holds on 90 % of pairs), a mid tag (50 %), and 30 tokens of 2-6 %.
    Unit 0 is dense (fires on about half of the pairs, mostly where the mid tag holds) but its *largest*
    activations are exactly where ``hyp:tok:nobody`` holds; unit 1 is dense noise with no sparse part."""
    rng = np.random.default_rng(seed)
    names, cols = ["pre:tag:NN", "hyp:tag:VBG"], [rng.random(n) < 0.9, rng.random(n) < 0.5]
    for i in range(30):
        names.append("hyp:tok:nobody" if i == 0 else f"pre:tok:w{i}")
        cols.append(rng.random(n) < rng.uniform(0.02, 0.06))
    masks = np.column_stack(cols)
    concepts = Concepts(names, sp.csc_matrix(masks))
    token, mid = masks[:, 2], masks[:, 1]
    dense = np.where(mid, rng.uniform(0.1, 1.0, n), 0.0) + np.where(rng.random(n) < 0.1, rng.uniform(0.1, 1.0, n), 0.0)
    unit0 = np.where(token, 5.0 + rng.random(n), dense)
    unit1 = np.maximum(rng.normal(0, 1, n), 0)
    return concepts, np.column_stack([unit0, unit1]), token


def test_a_sparse_token_formula_in_dense_noise_is_recovered_at_a_sparse_alpha_and_not_at_zero():
    concepts, acts, token = sparse_token_in_dense_noise()
    k = int(token.sum())
    alpha = k / len(token)  # the unit's top k pairs are exactly the token's
    dense = beam_search_by_length(threshold_activations(acts), concepts, max_length=3, beam_size=5, min_acts=10)
    sparse = beam_search_by_length(threshold_activations(acts, alpha), concepts, max_length=3, beam_size=5,
                                   min_acts=regime.regime_min_acts(500, alpha, len(token)))
    at0 = dense[(dense.neuron == 0) & (dense.max_length == 1)].iloc[0]
    top = sparse[(sparse.neuron == 0) & (sparse.max_length == 1)].iloc[0]
    assert "nobody" not in at0["formula"] and at0["formula"].startswith("hyp:tag")  # the bulk: the mid tag
    assert top["formula"] == "hyp:tok:nobody" and top["iou"] == pytest.approx(1.0)
    assert "nobody" not in sparse[(sparse.neuron == 1) & (sparse.max_length == 3)].iloc[0]["formula"]  # noise: no
    # and at a coarser alpha (twice the token's share) the token is still the best single concept
    twice = beam_search_by_length(threshold_activations(acts, 2 * alpha), concepts, max_length=1, beam_size=5, min_acts=1)
    assert twice[twice.neuron == 0].iloc[0]["formula"] == "hyp:tok:nobody"


@pytest.mark.parametrize("alpha", [0.2, 0.1, 0.05, 0.02])
def test_the_null_at_each_alpha_keeps_each_units_firing_count(alpha):
    concepts, acts, _ = sparse_token_in_dense_noise(n=600, seed=1)
    masks = threshold_activations(acts, alpha)
    k = top_count(600, alpha)
    assert masks.sum(axis=0).tolist() == [k, k]
    draws = controls.random_masks(masks.sum(axis=0), 600, n_draws=5, seed=0)
    assert draws.shape == (600, 10) and (draws.sum(axis=0) == k).all()  # every random mask has exactly the unit's count
    null = controls.matched_null(masks, concepts, n_draws=4, seed=0, max_length=2, beam_size=3,
                                 min_acts=regime.regime_min_acts(500, alpha, 600))
    assert (null["null_count"] == k).all() and (null["n_draws"] == 4).all()


def test_regime_min_acts_keeps_every_full_unit_explained_and_leaves_the_paper_threshold_alone():
    assert regime.regime_min_acts(500, None, 9842) == 500 and regime.regime_min_acts(500, 0.0, 9842) == 500
    assert regime.regime_min_acts(500, 0.05, 9842) == 493  # below the paper's 500: every unit explained
    assert regime.regime_min_acts(500, 0.2, 9842) == 500
    assert regime.regime_min_acts(500, 0.02, 9842) == 197
    acts = np.zeros((100, 2))
    acts[:30, 0] = np.arange(30, 0, -1)
    acts[:3, 1] = 1.0  # active on 3 pairs only: fewer than its top 10, so it stays unexplained
    masks = threshold_activations(acts, 0.1)
    assert masks.sum(axis=0).tolist() == [10, 3]
    found = beam_search_by_length(masks, Concepts(["pre:tok:x"], sp.csc_matrix(acts[:, :1] > 25)), max_length=1,
                                  min_acts=regime.regime_min_acts(500, 0.1, 100))
    assert found.set_index("neuron")["explained"].tolist() == [True, False]


def test_check_alphas_names_the_bad_value():
    assert regime.check_alphas([0.2, 0.05]) == [0.2, 0.05] and regime.check_alphas([]) == []
    for bad, said in ((0.2, "must be a list"), ([0.2, 1.0], "1.0 is not"), ([0.1, 0.1], "given twice"),
                      (["x"], "'x' is not"), ([True], "True is not")):
        with pytest.raises(ValueError, match=said):
            regime.check_alphas(bad)
    param = parameters.Parameter("activation_alphas", "list", [], "the sweep", "05_search")
    with pytest.raises(parameters.ParameterError, match="activation_alphas must be a list of distinct numbers"):
        parameters.check_value(param, [0.5, 2], "params/x.yaml")
    assert parameters.check_value(param, [0.5, 0.25], "params/x.yaml") == [0.5, 0.25]


def test_labels_and_atom_kinds():
    assert regime.label(0) == "> 0" and regime.label(None) == "> 0" and regime.label(0.05) == "top 5 %"
    assert regime.label(0.2) == "top 20 %" and regime.label(0.025) == "top 2.5 %"
    f = "((hyp:tok:nobody AND NOT pre:tag:NN) OR oth:overlap:50)"
    assert regime.atom_kinds(f) == ["token", "tag", "overlap"]
    assert regime.atom_kinds(float("nan")) == [] and regime.atom_kinds("") == []


def test_kind_shares_count_the_first_atom_of_explained_units():
    rows = pd.DataFrame({"encoder": ["a"] * 5, "alpha": 0.0, "explained": [True, True, True, True, False],
                         "formula": ["hyp:tok:x", "(pre:tag:NN AND hyp:tok:y)", "pre:tag:DT", "oth:overlap:25", np.nan]})
    out = regime.kind_shares(rows).iloc[0]
    assert (out["token"], out["tag"], out["overlap"], out["units"]) == (0.25, 0.5, 0.25, 4)


def test_concept_base_rates():
    concepts = Concepts(["pre:tok:a", "hyp:tag:NN", "oth:overlap:50"],
                        sp.csc_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)))
    base = regime.concept_base_rates(concepts)
    assert base["base_rate"].tolist() == [0.25, 0.75, 0.25] and base["kind"].tolist() == ["token", "tag", "overlap"]


def sweep_rows(means: dict) -> pd.DataFrame:
    return pd.DataFrame([{"alpha": a, "max_length": 1, "explained": True, "iou": m + d, "encoder": "e"}
                         for a, m in means.items() for d in (-0.01, 0.01)])


def test_paper_matched_alpha_is_the_closest_mean_length_one_iou_to_019():
    assert regime.paper_matched_alpha(sweep_rows({0.2: 0.30, 0.1: 0.21, 0.05: 0.14}), [0.2, 0.1, 0.05], target=0.19) == 0.1
    assert regime.paper_matched_alpha(sweep_rows({0.2: 0.26, 0.1: 0.13}), [0.2, 0.1], target=0.19) == 0.1
    # a tie goes to the larger alpha (nearer the paper's threshold)
    assert regime.paper_matched_alpha(sweep_rows({0.2: 0.24, 0.1: 0.14}), [0.1, 0.2], target=0.19) == 0.2
    with pytest.raises(ValueError, match="no explained unit"):
        regime.paper_matched_alpha(sweep_rows({0.2: 0.3}).assign(explained=False), [0.2], target=0.19)


def test_top_vs_bulk_differ_when_no_concept_is_shared():
    key = {"encoder": "e", "encoding": "standard", "seed": 0}
    bulk = pd.DataFrame([{**key, "neuron": n, "formula": f, "iou": 0.4, "excess_iou": 0.0, "explained": True}
                         for n, f in [(0, "pre:tag:NN"), (1, "(hyp:tok:no AND pre:tag:NN)"), (2, "pre:tag:DT")]])
    top = pd.DataFrame([{**key, "neuron": n, "formula": f, "iou": 0.2, "excess_iou": 0.1}
                        for n, f in [(0, "hyp:tok:nobody"), (1, "hyp:tok:no"), (2, "hyp:tok:x")]]
                       ).assign(explained=[True, True, False])
    out = regime.top_vs_bulk(bulk, top).set_index("neuron")
    assert out["differ"].tolist() == [True, False] and out["shared_atoms"].tolist() == [0, 1]
    assert out["kind_bulk"].tolist() == ["tag", "token"] and out["kind_top"].tolist() == ["token", "token"]


def test_the_first_page_shows_the_verdicts_at_every_threshold_in_place_of_the_scorecard(runs_tmp):
    """Chapter 08's matrix (a verdict per threshold, then its reading across them) takes the place of chapter 06's
    verdicts at > 0 on the first page; chapter 10's causal verdicts follow it."""
    def card(a1, a1_stable):
        return pd.DataFrame([{"id": "A1", "encoder": "lstm", "verdict": a1, "stable": a1_stable},
                             {"id": "A2", "encoder": "lstm", "verdict": "not testable in this build", "stable": None}])

    cards = {"> 0": card("inconclusive", True), "top 10 %": card("holds", False)}
    text = headline.markdown(cards, ["lstm"], untrained_clip=False, seeds={"lstm": 3}, notes=["A note."])
    assert "| A1 IoU grows with formula length (§5.1) | ? ✓† · holds at top 10 % only |" in text
    assert "(> 0 · top 10 %)" in text and "A note." in text
    assert "0 hold at every threshold, 1 holds at some thresholds only and 0 hold nowhere." in text
    assert "Holding at some thresholds only: A1 (lstm) at top 10 %." in text
    assert "Not testable here: A2 (lstm) at > 0, top 10 %" in text
    assert "1 of 2 testable verdicts are fragile" in text and "they rest on 3 seeds (BiLSTM)" in text
    at_zero = headline.markdown({"> 0": cards["> 0"]}, ["lstm"], untrained_clip=False, seeds={"lstm": 3})
    assert "| A1 IoU grows with formula length (§5.1) | ? |" in at_zero  # one threshold: no reading across them
    provenance.record_scorecard("p", at_zero)
    provenance.record("p", "data", {"text": "SNLI"})
    assert provenance.render_scorecard(provenance.load("p")) == at_zero
    provenance.record_regimes("p", text)
    provenance.record_causal("p", "## Causal\n")
    entries = provenance.load("p")
    assert provenance.render_scorecard(entries) == text + "\n## Causal\n"  # chapter 06's text is not shown
    assert "firing threshold" not in provenance.render_markdown("p", entries)  # not a provenance line


def browser_inputs():
    results = pd.DataFrame([{"encoder": "e", "encoding": "standard", "seed": 0, "neuron": n, "max_length": 1,
                             "formula": f"pre:tag:T{n}", "iou": 0.5, "excess_iou": 0.01, "best_atom": f"pre:tag:T{n}",
                             "best_atom_iou": 0.5, "null_mean_iou": 0.49,
                             "null_sd_iou": 0.01, "n_fires": 100, "explained": True, "acc_when_firing": 0.7}
                            for n in range(3)])
    matched = pd.DataFrame([{"encoder": "e", "encoding": "standard", "seed": 0, "neuron": n, "max_length": 1,
                             "formula": f"hyp:tok:w{n}", "iou": 0.2, "excess_iou": 0.1, "explained": n != 2}
                            for n in range(3)])
    return results, matched


def test_the_browser_shows_each_units_formula_at_the_regime_nearest_the_papers_iou():
    results, matched = browser_inputs()
    rows = tables.browser_rows(results, "e", np.ones((3, 3)), regime=matched, regime_label="top 5 %")
    assert rows["formula, top 5 %"].tolist() == ["hyp:tok:w0", "hyp:tok:w1", ""]
    assert rows["IoU, top 5 %"].tolist()[:2] == [0.2, 0.2] and np.isnan(rows["IoU, top 5 %"].iloc[2])
    assert rows["excess IoU, top 5 %"].tolist()[:2] == [0.1, 0.1]
    assert "formula, top 5 %" not in tables.browser_rows(results, "e", np.ones((3, 3))).columns


def test_a_card_names_the_units_formula_at_the_regime_nearest_the_papers_iou():
    results, matched = browser_inputs()
    concepts = Concepts([f"pre:tag:T{n}" for n in range(3)], sp.csc_matrix(np.eye(4, 3, dtype=bool)))
    probe = pd.DataFrame({"pair_id": list("abcd"), "premise": list("pqrs"), "hypothesis": list("wxyz"),
                          "label": ["entailment"] * 4})
    acts = np.arange(12, dtype=float).reshape(4, 3)
    card = cards.neuron_card("e", 1, results, acts, probe, np.zeros(4, int), concepts, np.ones((3, 3)),
                             regime=matched, regime_label="top 5 %")
    assert ("At the firing regime nearest the paper's IoU (it fires on its top 5 % of probe pairs, chapter "
            "08_firing_regime): `hyp:tok:w1`, IoU 0.200, +0.100 over its matched null.") in card.header()
    unexplained = cards.neuron_card("e", 2, results, acts, probe, np.zeros(4, int), concepts, np.ones((3, 3)),
                                    regime=matched, regime_label="top 5 %")
    assert unexplained.header().endswith("chapter 08_firing_regime): unexplained.")
    assert "firing regime nearest" not in cards.neuron_card("e", 1, results, acts, probe, np.zeros(4, int), concepts,
                                                            np.ones((3, 3))).header()
    assert "paper-matched" not in card.header()  # the old wording is gone


def test_a_sweep_of_other_search_results_is_refused(runs_tmp):
    results = pd.DataFrame({"encoder": ["e"], "encoding": ["standard"], "neuron": [0], "seed": [0]})
    run.save_latest_search("t", results, {"activation_alphas": [0.1]}, {})
    with pytest.raises(FileNotFoundError, match=r"regimes.pkl is missing: chapter 05_search stopped before .* --only 05"):
        regimes.latest_regimes("t")
    regimes.save_regimes("t", results.assign(alpha=0.1), {"activation_alphas": [0.1]})
    assert len(regimes.latest_regimes("t")) == 1
    run.save_latest_search("t", results.assign(neuron=1), {"activation_alphas": [0.1]}, {})  # chapter 05_search again
    with pytest.raises(run.StaleArtifactError, match="other search results than chapter 05_search's latest"):
        regimes.latest_regimes("t")
    run.save_latest_search("t", results, {"activation_alphas": []}, {})  # no sweep: nothing to read
    assert regimes.latest_regimes("t") is None and regimes.matched_primary("t", run.latest_search("t")) == (None, "")


def test_the_books_paper_matched_alpha_uses_trained_encoders_standard_concepts_and_the_papers_figure():
    rows = pd.concat([sweep_rows({0.2: 0.26, 0.1: 0.17}).assign(encoding="standard", encoder="lstm"),
                      sweep_rows({0.2: 0.19, 0.1: 0.05}).assign(encoding="wordnet", encoder="lstm"),  # left out
                      sweep_rows({0.2: 0.19, 0.1: 0.05}).assign(encoding="standard", encoder="lstm-shuffled")])  # a control
    rows.attrs["params"] = {"activation_alphas": [0.2, 0.1]}
    assert regimes.paper_matched(rows) == 0.1  # |0.17 − 0.19| < |0.26 − 0.19|


def test_firing_rates_and_more_known_answers():
    masks = {("lstm", 0): np.array([[1, 0], [1, 0], [0, 0], [1, 1]], dtype=np.int64)}  # 0/1 ints
    rates = regime.firing_rates(masks)
    assert list(rates.columns) == ["encoder", "seed", "neuron", "rate"]
    assert rates["neuron"].tolist() == [0, 1] and rates["rate"].tolist() == [0.75, 0.25]
    key = {"encoder": "e", "encoding": "standard", "seed": 0, "neuron": 0, "excess_iou": 0.0, "explained": True}
    out = regime.top_vs_bulk(pd.DataFrame([{**key, "formula": "pre:tok:a", "iou": 0.4}]),
                             pd.DataFrame([{**key, "formula": "hyp:tok:b", "iou": 0.2}])).iloc[0]
    assert out["differ"] and out["shared_atoms"] == 0 and (out["iou_bulk"], out["iou_top"]) == (0.4, 0.2)
    odd = Concepts(["pre:tok:a", "custom"], sp.csc_matrix(np.array([[1, 0], [0, 1]], dtype=bool)))
    assert regime.concept_base_rates(odd)["kind"].tolist() == ["token", "other"]


def test_firing_rates_count_any_non_zero_entry_as_firing():
    """Masks given as counts (2, 3) are "fires" like 1: the rate is the share of pairs, never above 1."""
    rates = regime.firing_rates({("lstm", 0): np.array([[2, 0], [1, 0], [0, 0], [1, 3]])})
    assert rates["rate"].tolist() == [0.75, 0.25]


def test_top_vs_bulk_keeps_both_excess_ious_and_a_missing_formula_shares_nothing():
    """The comparison carries each regime's excess IoU (what the book plots), and a formula that is missing
    (None) on one side shares no atom with the other, rather than failing."""
    key = {"encoder": "e", "encoding": "standard", "seed": 0, "explained": True}
    bulk = pd.DataFrame([{**key, "neuron": 0, "formula": "pre:tok:a", "iou": 0.4, "excess_iou": 0.05},
                         {**key, "neuron": 1, "formula": None, "iou": 0.3, "excess_iou": 0.01}])
    top = pd.DataFrame([{**key, "neuron": 0, "formula": "(pre:tok:a OR hyp:tok:b)", "iou": 0.2, "excess_iou": 0.15},
                        {**key, "neuron": 1, "formula": "hyp:tok:b", "iou": 0.1, "excess_iou": 0.02}])
    out = regime.top_vs_bulk(bulk, top).set_index("neuron")
    assert out["excess_iou_bulk"].tolist() == [0.05, 0.01] and out["excess_iou_top"].tolist() == [0.15, 0.02]
    assert out["shared_atoms"].tolist() == [1, 0] and out["differ"].tolist() == [False, True]
    assert pd.isna(out.loc[1, "kind_bulk"]) and out.loc[1, "kind_top"] == "token"


def test_concept_base_rates_columns():
    """One row per concept under the column names the book reads: concept, kind, base_rate."""
    concepts = Concepts(["pre:tok:a", "hyp:tag:NN"], sp.csc_matrix(np.array([[1, 1], [0, 1]], dtype=bool)))
    base = regime.concept_base_rates(concepts)
    assert list(base.columns) == ["concept", "kind", "base_rate"]
    assert base["concept"].tolist() == ["pre:tok:a", "hyp:tag:NN"] and base["base_rate"].tolist() == [0.5, 1.0]


def test_kind_shares_report_every_kind_even_one_no_formula_starts_with():
    """A kind no formula starts with is a share of 0.0 (not missing, not NaN), in the fixed order token, tag,
    overlap; each group's shares sum to 1."""
    rows = pd.DataFrame({"encoder": ["a", "a", "a", "b"], "alpha": 0.1, "explained": True,
                         "formula": ["hyp:tok:x", "pre:tag:NN", "(pre:tag:DT OR oth:overlap:25)", "pre:tag:NN"]})
    out = regime.kind_shares(rows)
    assert list(out.columns) == ["encoder", "alpha", "token", "tag", "overlap", "units"]
    assert out[["token", "tag", "overlap"]].to_numpy().tolist() == [[1 / 3, 2 / 3, 0.0], [0.0, 1.0, 0.0]]
    assert out["units"].tolist() == [3, 1]
