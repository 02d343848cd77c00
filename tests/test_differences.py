"""The appendix's measurements: vocabulary ties, mask and formula changes between two runs of a step."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from clipneuron_utils.render import differences as diff
from clipneuron_utils.explain.concepts import Concepts


def tokens(*sentences):
    return pd.DataFrame({"premise_tokens": [s.split() for s in sentences], "hypothesis_tokens": [[] for _ in sentences]})


def test_vocabulary_ties_count_the_words_at_the_cut():
    pairs = tokens("dog dog dog cat cat bird fish", "the a of . ,")  # skip tokens never count
    assert diff.vocabulary_ties(pairs, 2) == {"cutoff_count": 2, "n_tied": 1, "n_kept": 1, "n_dropped": 0,
                                              "concepts_at_stake": 0}
    # bird and fish tie at 1; a cut of 3 keeps bird (alphabetical), drops fish: one word each side → 2 concepts
    assert diff.vocabulary_ties(pairs, 3) == {"cutoff_count": 1, "n_tied": 2, "n_kept": 1, "n_dropped": 1,
                                              "concepts_at_stake": 2}
    assert diff.vocabulary_ties(pairs, 10)["cutoff_count"] is None


def test_mask_changes_between_encodings():
    masks = lambda cols: sp.csc_matrix(np.array(cols, dtype=bool).T)  # noqa: E731
    a = Concepts(["x", "y"], masks([[1, 0, 0], [0, 1, 0]]), "standard")
    b = Concepts(["x", "y"], masks([[1, 1, 0], [0, 1, 0]]), "wordnet")
    assert diff.mask_changes(a, b) == {"masks_changed": 1, "pairs_added": 1, "concepts": 2}


def results(rows):
    return pd.DataFrame(rows, columns=["neuron", "max_length", "formula", "iou", "explained"])


def test_formula_changes_tell_ties_from_losses():
    ours = results([(0, 2, "(a OR b)", 0.5, True), (1, 2, "c", 0.4, True), (2, 2, "d", 0.3, True),
                    (3, 2, "e", 0.2, False), (0, 1, "a", 0.4, True)])
    theirs = results([(0, 2, "(b OR a)", 0.5, True), (1, 2, "(c AND f)", 0.35, True), (2, 2, "d", 0.3, True),
                      (3, 2, "g", 0.9, False)])
    change = diff.formula_changes(ours, theirs, 2)
    assert change["units"] == 3 and change["formula_changed"] == 2 and change["iou_lower"] == 1
    assert np.isclose(change["largest_drop"], 0.05) and np.isclose(change["iou_change"], -0.05 / 3)
    summary = diff.explained_summary(ours, 2)
    assert summary["explained"] == 3 and np.isclose(summary["mean_iou"], 0.4)
    assert np.isclose(diff.mean_difference(ours, theirs, 2), -0.05 / 3)
    assert diff.search_params({"max_length": 5, "vocab_size": 9, "beam_size": 3}, max_length=1) == {
        "max_length": 1, "beam_size": 3}
