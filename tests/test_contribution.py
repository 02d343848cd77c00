"""Accuracy when a unit fires and its correlation with IoU (stats.contribution)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clipneuron_utils.data.snli import LABELS
from fixtures import results_frame

from clipneuron_utils.stats import contribution


def correlation_case():
    """Group (clip, standard, 1): acc = 1 − iou exactly; (clip, standard, 2): random; lstm: tiny."""
    rng = np.random.default_rng(3)
    rows, acc = [], []
    iou_1 = np.linspace(0.05, 0.5, 8)
    for u in range(8):
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=iou_1[u]))
        acc.append(dict(encoder="clip", neuron=u, acc_when_firing=1 - iou_1[u]))
    for u in range(8):
        rows.append(dict(encoder="clip", encoding="standard", max_length=2, neuron=u, iou=rng.random()))
    for u in range(8, 10):  # unexplained units: acc values that would spoil r = -1 if they counted
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=np.nan))
        acc.append(dict(encoder="clip", neuron=u, acc_when_firing=0.99))
    for u in range(3):
        rows.append(dict(encoder="lstm", encoding="standard", max_length=1, neuron=u, iou=0.1 * (u + 1) if u < 2 else np.nan))
        acc.append(dict(encoder="lstm", neuron=u, acc_when_firing=0.5 + 0.1 * u))
    rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=10, iou=0.5))
    acc.append(dict(encoder="clip", neuron=10, acc_when_firing=0.99))
    results = results_frame(rows)
    results.loc[results.neuron.eq(10), "explained"] = False  # flagged unexplained: ignored despite its IoU
    return results, pd.DataFrame(acc), rng

def test_acc_when_firing_matches_a_loop_over_neurons():
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(500, 40)), 0).astype(np.float32)
    acts[:, 7] = 0  # never fires
    acts[:, 8] = 0
    acts[3, 8] = 1.0  # fires once
    masks = acts > 0
    pred, gold = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    table = contribution.acc_when_firing(masks, pred, gold)
    assert list(table.columns) == ["neuron", "n_fires", "acc_when_firing"]
    assert table["neuron"].tolist() == list(range(40))
    for u in range(40):
        fires = masks[:, u]
        assert table.loc[u, "n_fires"] == fires.sum()
        if fires.any():
            assert table.loc[u, "acc_when_firing"] == pytest.approx(np.mean(pred[fires] == gold[fires]), abs=1e-12)
        else:
            assert math.isnan(table.loc[u, "acc_when_firing"])
    assert table.loc[8, "acc_when_firing"] == float(pred[3] == gold[3])

def test_acc_when_firing_accepts_label_strings():
    rng = np.random.default_rng(1)
    masks = rng.random((60, 5)) < 0.4
    pred, gold = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    codes = contribution.acc_when_firing(masks, pred, gold)
    names = contribution.acc_when_firing(masks, np.array(LABELS)[pred], list(np.array(LABELS)[gold]))
    pd.testing.assert_frame_equal(codes, names)

@pytest.mark.parametrize(
    "masks, pred, gold, word",
    [
        (np.ones((5, 3), bool), np.zeros(4, int), np.zeros(5, int), "pred"),
        (np.ones((5, 3), bool), np.zeros(5, int), np.zeros(6, int), "gold"),
        (np.ones(5, bool), np.zeros(5, int), np.zeros(5, int), "neuron_masks"),
        (np.ones((5, 3)), np.zeros(5, int), np.zeros(5, int), "neuron_masks"),
        (np.ones((5, 3), bool), np.full(5, "yes"), np.zeros(5, int), "pred"),
    ],
)
def test_acc_when_firing_names_the_bad_argument(masks, pred, gold, word):
    with pytest.raises(ValueError, match=word):
        contribution.acc_when_firing(masks, pred, gold)

def test_correlation_against_scipy_and_perfect_anticorrelation():
    results, accuracy, _ = correlation_case()
    table = contribution.iou_accuracy_correlation(results, accuracy).set_index(["encoder", "encoding", "max_length"])
    perfect = table.loc[("clip", "standard", 1)]
    assert perfect["n"] == 8 and perfect["n_units"] == 11
    assert perfect["pearson_r"] == pytest.approx(-1.0)
    assert perfect["spearman_rho"] == pytest.approx(-1.0)
    assert perfect["pearson_p"] < 1e-6
    assert perfect["slope"] == pytest.approx(-1.0) and perfect["intercept"] == pytest.approx(1.0)

    merged = contribution.attach_accuracy(results, accuracy)
    sub = merged[(merged.encoder == "clip") & (merged.max_length == 2)]
    x, y = sub["iou"].to_numpy(), sub["acc_when_firing"].to_numpy()
    row = table.loc[("clip", "standard", 2)]
    assert row["pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert row["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert row["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert row["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert row["mean_iou"] == pytest.approx(x.mean())

def test_correlation_is_nan_for_tiny_or_constant_groups():
    results, accuracy, _ = correlation_case()
    table = contribution.iou_accuracy_correlation(results, accuracy, min_neurons=3)
    tiny = table[table.encoder == "lstm"].iloc[0]
    assert tiny["n"] == 2 and tiny["n_units"] == 3
    for col in ("pearson_r", "pearson_p", "spearman_rho", "spearman_p", "slope", "intercept"):
        assert math.isnan(tiny[col])
    constant = results_frame([dict(neuron=u, iou=0.2, max_length=1) for u in range(5)])
    constant["acc_when_firing"] = np.linspace(0, 1, 5)
    row = contribution.iou_accuracy_correlation(constant).iloc[0]
    assert row["n"] == 5 and math.isnan(row["pearson_r"])

def test_correlation_grouping_and_errors():
    results, accuracy, _ = correlation_case()
    single = contribution.iou_accuracy_correlation(results[results.encoder == "clip"].drop(columns="encoder"),
                                        accuracy[accuracy.encoder == "clip"].drop(columns="encoder"))
    assert list(single.columns[:2]) == ["encoding", "max_length"]
    with pytest.raises(ValueError, match="acc_when_firing"):
        contribution.iou_accuracy_correlation(results)
    with pytest.raises(ValueError, match="seed"):
        contribution.iou_accuracy_correlation(results, accuracy, by=["seed"])
    with pytest.raises(ValueError, match="min_neurons"):
        contribution.iou_accuracy_correlation(results, accuracy, min_neurons=1)

def test_attach_accuracy_spans_both_encodings():
    results = results_frame([dict(encoder="clip", encoding=e, max_length=1, neuron=u, iou=0.1)
                             for e in ("standard", "wordnet") for u in range(3)])
    accuracy = pd.DataFrame(dict(encoder="clip", neuron=range(3), n_fires=7, acc_when_firing=[0.1, 0.2, 0.3]))
    merged = contribution.attach_accuracy(results, accuracy)
    assert len(merged) == 6 and merged["n_fires"].eq(50).all()
    assert merged.groupby("encoding")["acc_when_firing"].apply(list).tolist() == [[0.1, 0.2, 0.3]] * 2
