"""Probing a trained model with written pairs; finding units by formula or by description."""

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.explain import concepts, probe
from clipneuron_utils.models import heads, outputs, training
from clipneuron_utils.data import synthetic


def test_polarity_follows_negations():
    signs = probe.polarity("((hyp:tok:man AND NOT pre:tok:man) OR (NOT (hyp:tag:JJ OR NOT pre:tok:dog)))")
    assert signs == {"hyp:tok:man": {True}, "pre:tok:man": {False}, "hyp:tag:JJ": {False}, "pre:tok:dog": {True}}


def test_units_matching_selects_by_polarity():
    results = pd.DataFrame({
        "neuron": [0, 1, 2, 3],
        "formula": ["(pre:tok:man AND NOT hyp:tok:man)", "(pre:tok:man AND hyp:tok:man)", None,
                    "((pre:tok:man AND NOT hyp:tok:man) OR hyp:tag:JJ)"],
        "iou": [0.2, 0.5, np.nan, 0.3],
    })
    hit = probe.units_matching(results, positive=["pre:tok:man"], negative=["hyp:tok:man"])
    assert hit["neuron"].tolist() == [3, 0]
    with pytest.raises(ValueError):
        probe.units_matching(results)


def test_description_iou_finds_the_unit_that_behaves_like_it():
    pairs = synthetic.make_pairs(120, seed=3)
    c = concepts.build_concepts(pairs, 60, progress=False)
    description = "(pre:tok:man AND NOT hyp:tok:man)"
    target = c.mask("pre:tok:man") & ~c.mask("hyp:tok:man")
    rng = np.random.default_rng(0)
    masks = rng.random((len(pairs), 5)) < 0.3
    masks[:, 2] = target
    ranked = probe.description_iou(description, c, masks)
    assert ranked.loc[0, "neuron"] == 2 and ranked.loc[0, "description_iou"] == 1.0
    assert ranked["description_iou"].between(0, 1).all()


def test_probe_scores_written_pairs():
    train = synthetic.make_pairs(150, seed=0)
    model = training.train("lstm", train, heads.HeadConfig(hidden=16, max_epochs=2, lstm_embedding_dim=8,
                                                        lstm_hidden_dim=8, val_fraction=0.0), progress=False, verbose=False)
    table = probe.probe(model, [("the boys said hello to the girls", "the girls said hello")], neurons=[0, 5])
    assert list(table.columns) == ["premise", "hypothesis", "prediction", "p(entailment)", "p(neutral)",
                                   "p(contradiction)", "unit 0", "unit 5"]
    assert table.loc[0, ["p(entailment)", "p(neutral)", "p(contradiction)"]].sum() == pytest.approx(1, abs=1e-3)
    acts = outputs.activations(model, [("the boys said hello to the girls", "the girls said hello")])
    assert table.loc[0, "unit 5"] == pytest.approx(acts[0, 5], abs=1e-4)
    with pytest.raises(ValueError, match="neurons must be unit indices in 0..15"):
        probe.probe(model, [("a", "b")], neurons=[16])
