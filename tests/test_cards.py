"""Neuron cards: the right unit, its formula and weights, and the most/least explainable picks."""

import numpy as np
import pytest

from clipneuron_utils.render import cards
from clipneuron_utils.explain import concepts
from clipneuron_utils.data import synthetic
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations


@pytest.fixture(scope="module")
def setup():
    probe = synthetic.make_pairs(150, seed=5)
    c = concepts.build_concepts(probe, 40, progress=False)
    rng = np.random.default_rng(0)
    acts = rng.random((len(probe), 4)).astype(np.float32) - 0.5
    acts[:, 0] = np.where(c.mask("hyp:tag:JJ"), 1.0 + rng.random(len(probe)), 0.0)  # a clean unit
    acts[:, 3] = np.where(np.arange(len(probe)) < 3, 1.0, 0.0)  # fires on 3 pairs: unexplained
    acts = np.maximum(acts, 0)
    results = beam_search_by_length(threshold_activations(acts), c, max_length=2, min_acts=10, progress=False)
    results = results.assign(encoder="lstm", encoding="standard")
    pred = rng.integers(0, 3, len(probe))
    weights = rng.normal(size=(3, 4))
    return probe, c, acts, results, pred, weights


def test_card_of_a_clean_unit(setup):
    probe, c, acts, results, pred, weights = setup
    card = cards.neuron_card("lstm", 0, results, acts, probe, pred, c, weights, top_k=5)
    assert card.row["formula"] == "hyp:tag:JJ" and card.row["iou"] == 1.0
    assert "`hyp:tag:JJ` — IoU **1.000**" in card.header()
    assert card.weights["weight"].tolist() == pytest.approx(weights[:, 0].round(4).tolist())
    assert len(card.top) == 5 and card.top["activation"].is_monotonic_decreasing
    top_bin = card.conditional[card.conditional["bin_order"] == card.conditional["bin_order"].max()]
    assert (top_bin.loc[top_bin.concept == "hyp:tag:JJ", "share"] == 1.0).all()


def test_unexplained_unit_has_no_conditional_plot(setup):
    probe, c, acts, results, pred, weights = setup
    card = cards.neuron_card("lstm", 3, results, acts, probe, pred, c, weights)
    assert card.conditional is None and "unexplained" in card.header()
    with pytest.raises(ValueError, match="no search result for lstm unit 9"):
        cards.neuron_card("lstm", 9, results, acts, probe, pred, c, weights)


def test_extremes_pick_best_and_worst_explained(setup):
    _, _, _, results, _, _ = setup
    picks = cards.extremes(results, "lstm", n=1)
    final = results[(results.max_length == 2) & results.explained]
    assert picks["most"] == [0]
    assert picks["least"] == [int(final.sort_values(["iou", "neuron"]).iloc[0]["neuron"])]
    assert 3 not in picks["most"] + picks["least"]
