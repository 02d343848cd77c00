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


def test_a_probe_pair_gets_the_label_of_a_model_built_to_decide_it():
    """A head wired by hand: unit 0 and unit 1 are ReLU(±Σ(u − v)), zero exactly when the hypothesis repeats
    the premise; the contradiction logit is 1000 × (unit 0 + unit 1), entailment's a bias of 1. So a
    repeated sentence is an entailment with p = e/(e + 2) and any other pair a contradiction."""
    import math

    import torch

    vocab = ["<pad>", "<unk>", "the", "boys", "said", "hello", "to", "girls"]
    config = heads.HeadConfig(hidden=4, dropout=0.0, lstm_embedding_dim=6, lstm_hidden_dim=5)
    torch.manual_seed(0)
    model = heads.NLIModel("lstm", config, 0, vocab=vocab).eval()
    d = model.dim
    with torch.no_grad():
        first, last = model.mlp[0], model.mlp[3]
        first.weight.zero_(), first.bias.zero_(), last.weight.zero_(), last.bias.zero_()
        first.weight[0, 2 * d:3 * d] = 1.0  # the u − v block
        first.weight[1, 2 * d:3 * d] = -1.0
        first.bias[3] = 0.25  # a constant unit: its activation is known exactly
        last.weight[2, 0] = last.weight[2, 1] = 1000.0
        last.bias[0] = 1.0
    pairs = [("the boys said hello to the girls", "the boys said hello to the girls"),
             ("the boys said hello to the girls", "the girls said hello")]
    table = probe.probe(model, pairs, neurons=[0, 1, 3])
    assert table["prediction"].tolist() == ["entailment", "contradiction"]
    assert table.loc[0, "p(entailment)"] == pytest.approx(math.e / (math.e + 2), abs=1e-4)
    assert table.loc[0, "p(neutral)"] == pytest.approx(1 / (math.e + 2), abs=1e-4)
    assert table.loc[0, "unit 0"] == table.loc[0, "unit 1"] == 0.0
    assert table.loc[1, "unit 0"] + table.loc[1, "unit 1"] > 0.002  # so contradiction's logit is > 2
    assert table.loc[1, "p(contradiction)"] > 0.99
    assert table["unit 3"].tolist() == [0.25, 0.25]
