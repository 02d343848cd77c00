"""IoU by formula length, the encodings' difference and formula kinds (stats.compositionality)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fixtures import results_frame

from clipneuron_utils.stats import compositionality


def test_mean_iou_by_length_ignores_unexplained_units():
    rows = []
    for length, ious in ((1, [0.1, 0.2, 0.3, np.nan]), (2, [0.2, 0.4, np.nan, np.nan])):
        rows += [dict(encoder="clip", encoding="standard", max_length=length, neuron=u, iou=i) for u, i in enumerate(ious)]
    rows.append(dict(encoder="lstm", encoding="standard", max_length=1, neuron=0, iou=0.5))
    table = compositionality.mean_iou_by_length(results_frame(rows)).set_index(["encoder", "encoding", "max_length"])
    assert table.loc[("clip", "standard", 1), "mean_iou"] == pytest.approx(0.2)
    assert table.loc[("clip", "standard", 1), "sem"] == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1) / math.sqrt(3))
    assert table.loc[("clip", "standard", 2), "mean_iou"] == pytest.approx(0.3)
    assert table.loc[("clip", "standard", 2), "n_explained"] == 2
    assert table.loc[("clip", "standard", 2), "n_units"] == 4
    assert math.isnan(table.loc[("lstm", "standard", 1), "sem"])

def test_explained_flag_wins_over_a_stray_iou():
    frame = results_frame([dict(max_length=1, neuron=u, iou=0.5) for u in range(3)])
    frame.loc[0, "explained"] = False
    assert compositionality.mean_iou_by_length(frame).loc[0, "n_explained"] == 2

def test_encoding_difference_on_a_crafted_case():
    rng = np.random.default_rng(5)
    standard = rng.uniform(0.1, 0.4, 12)
    delta = np.array([0.01, -0.002, 0.0, 0.004, 0.003, 0.0, 0.001, 0.002, -0.001, 0.005, 0.0, 0.003])
    rows = []
    for u in range(12):
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=standard[u]))
        rows.append(dict(encoder="clip", encoding="wordnet", max_length=1, neuron=u, iou=standard[u] + delta[u]))
    # explained in one encoding only: left out of the paired difference
    rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=12, iou=0.9))
    rows.append(dict(encoder="clip", encoding="wordnet", max_length=1, neuron=12, iou=np.nan))
    # a group with too few pairs for a test
    rows += [dict(encoder="lstm", encoding=e, max_length=1, neuron=0, iou=0.2) for e in ("standard", "wordnet")]
    table = compositionality.encoding_difference(results_frame(rows)).set_index(["encoder", "max_length"])
    clip = table.loc[("clip", 1)]
    assert clip["n"] == 12 and clip["n_nonzero"] == 9
    assert clip["mean_difference"] == pytest.approx(delta.mean())
    assert clip["std"] == pytest.approx(np.std(delta, ddof=1))
    assert clip["mean_iou_wordnet"] - clip["mean_iou_standard"] == pytest.approx(delta.mean())
    assert clip["wilcoxon_p"] == pytest.approx(stats.wilcoxon(standard + delta, standard).pvalue)
    lstm = table.loc[("lstm", 1)]
    assert lstm["n"] == 1 and lstm["mean_difference"] == 0 and math.isnan(lstm["wilcoxon_p"])

def test_encoding_difference_rejects_bad_input():
    frame = results_frame([dict(encoding="other", max_length=1, neuron=0, iou=0.1)])
    with pytest.raises(ValueError, match="encoding"):
        compositionality.encoding_difference(frame)
    frame = results_frame([dict(encoding="standard", max_length=1, neuron=0, iou=0.1)] * 2)
    with pytest.raises(ValueError, match="more than one row"):
        compositionality.encoding_difference(frame)

def test_formula_parts_and_kinds():
    assert compositionality.formula_parts("((hyp:tok:man AND NOT pre:tok:man) OR hyp:tag:JJ)") == (
        ("AND NOT", "OR"), ("hyp:tok:man", "pre:tok:man", "hyp:tag:JJ"))
    assert compositionality.formula_parts("(pre:tag:NN OR NOT oth:overlap:50)") == (("OR NOT",), ("pre:tag:NN", "oth:overlap:50"))
    assert compositionality.operator_mix(()) == "atom only"
    frame = pd.DataFrame({
        "max_length": 3,
        "formula": ["hyp:tok:man", "(hyp:tok:man AND NOT pre:tok:man)", "((pre:tag:NN AND hyp:tag:JJ) OR oth:overlap:75)",
                    "(hyp:tok:dog AND NOT pre:tok:dog)", None],
        "iou": [0.2, 0.3, 0.1, 0.25, np.nan],
        "explained": [True, True, True, True, False],
    })
    table = compositionality.formula_kinds(frame)
    ops = table[table.aspect == "operators"].set_index("category")
    assert ops["share"].sum() == pytest.approx(1.0)
    assert ops.loc["AND NOT", "n_formulas"] == 2 and ops.loc["AND + OR", "n_formulas"] == 1
    assert ops.loc["atom only", "share"] == pytest.approx(0.25)
    kinds = table[table.aspect == "concept kind"].set_index("category")
    assert list(kinds.index) == list(compositionality.CONCEPT_KINDS)
    assert kinds.loc["hyp:tok", "share"] == pytest.approx(0.75)
    assert kinds.loc["pre:tok", "n_atoms"] == 2
    assert kinds["atom_share"].sum() == pytest.approx(1.0)

def test_mean_iou_by_length_has_a_standard_error_from_two_units_and_names_a_bad_frame():
    rows = [dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=i) for u, i in enumerate([0.1, 0.3])]
    table = compositionality.mean_iou_by_length(results_frame(rows))
    assert table.loc[0, "sem"] == pytest.approx(np.std([0.1, 0.3], ddof=1) / math.sqrt(2))
    with pytest.raises(ValueError, match="results"):
        compositionality.mean_iou_by_length(pd.DataFrame({"iou": [0.1]}))
    with pytest.raises(ValueError, match="results"):
        compositionality.formula_kinds(pd.DataFrame({"iou": [0.1]}))

def test_encoding_difference_edges():
    rows = []
    for u, (s, w) in enumerate([(0.2, 0.25), (0.3, 0.29)]):  # two pairs: a standard deviation, no test
        for length in (1, 2):
            rows += [dict(encoder="clip", encoding="standard", max_length=length, neuron=u, iou=s),
                     dict(encoder="clip", encoding="wordnet", max_length=length, neuron=u, iou=w + length / 100)]
    frame = results_frame(rows)
    table = compositionality.encoding_difference(frame)
    assert list(table.columns) == ["encoder", "max_length", "n", "mean_iou_standard", "mean_iou_wordnet", "mean_difference",
                                   "std", "median_difference", "n_nonzero", "wilcoxon_statistic", "wilcoxon_p"]
    first = table[table.max_length == 1].iloc[0]
    assert first["std"] == pytest.approx(np.std([0.06, 0.0], ddof=1)) and first["median_difference"] == pytest.approx(0.03)
    by_length = compositionality.encoding_difference(frame, by=["max_length"])  # grouped as asked, not by default
    assert list(by_length.columns)[:2] == ["max_length", "n"] and by_length["n"].tolist() == [2, 2]
    for only in ("standard", "wordnet"):  # one encoding searched: no pair, an empty table with the columns
        empty = compositionality.encoding_difference(frame[frame.encoding == only])
        assert empty.empty and list(empty.columns) == list(table.columns)

def test_formula_kinds_counts_zero_atoms_as_zero():
    frame = pd.DataFrame({"max_length": 1, "formula": ["hyp:tok:man", "pre:tok:dog"], "iou": [0.2, 0.3],
                          "explained": True})
    kinds = compositionality.formula_kinds(frame)
    assert str(kinds["n_atoms"].dtype) == "Int64"
    per = kinds[kinds.aspect == "concept kind"].set_index("category")["n_atoms"]
    assert per["hyp:tok"] == 1 and per["pre:tok"] == 1 and per["oth:overlap"] == 0

def test_mean_iou_by_length_puts_max_length_last_when_asked_to_group_by_it():
    """An explicit ``by`` naming max_length groups by it once, as the last key (one row per length)."""
    rows = [dict(encoder="clip", max_length=length, neuron=u, iou=0.1 * length + 0.1 * u)
            for length in (1, 2) for u in range(2)]
    table = compositionality.mean_iou_by_length(results_frame(rows), by=["max_length", "encoder"])
    assert list(table.columns) == ["encoder", "max_length", "mean_iou", "sem", "n_explained", "n_units"]
    assert table["max_length"].tolist() == [1, 2]
    assert table["mean_iou"].tolist() == pytest.approx([0.15, 0.25])

def test_encoding_difference_tests_five_nonzero_pairs_by_default():
    """Five neurons, WordNet − standard = +0.01, +0.02, −0.005, +0.03, +0.04: the default min_pairs is 5, so the
    test runs; the one negative difference has the smallest |d| (rank 1), so W = 1 and the exact two-sided p is
    2 · P(W ≤ 1) = 2 · 2/32 = 0.125."""
    delta = [0.01, 0.02, -0.005, 0.03, 0.04]
    rows = []
    for u, d in enumerate(delta):
        rows += [dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=0.2),
                 dict(encoder="clip", encoding="wordnet", max_length=1, neuron=u, iou=0.2 + d)]
    row = compositionality.encoding_difference(results_frame(rows)).iloc[0]
    assert row["n_nonzero"] == 5
    assert row["wilcoxon_statistic"] == 1.0 and row["wilcoxon_p"] == pytest.approx(0.125)
    assert math.isnan(compositionality.encoding_difference(results_frame(rows), min_pairs=6).iloc[0]["wilcoxon_p"])

def test_compositionality_tables_name_the_results_frame():
    """A results frame lacking a needed column, or a ``by`` column, is refused with the parameter's name."""
    frame = results_frame([dict(max_length=1, neuron=0, iou=0.1)])  # no encoding column
    with pytest.raises(ValueError, match="^results lacks column"):
        compositionality.encoding_difference(frame)
    with pytest.raises(ValueError, match=r"^results lacks column\(s\) seed"):
        compositionality.formula_kinds(frame, by=["seed"])

def test_formula_kinds_counts_formulas_per_concept_kind():
    """Two formulas, 'hyp:tok:man' and '(hyp:tok:man AND NOT pre:tok:man)': hyp:tok is used by both, pre:tok by
    one, the other kinds by none — the concept-kind rows' n_formulas, with share = n_formulas / 2."""
    frame = pd.DataFrame({"max_length": 2, "formula": ["hyp:tok:man", "(hyp:tok:man AND NOT pre:tok:man)"],
                          "iou": [0.2, 0.3], "explained": True})
    kinds = compositionality.formula_kinds(frame)
    kinds = kinds[kinds.aspect == "concept kind"].set_index("category")
    assert kinds["n_formulas"].to_dict() == {"pre:tok": 1, "hyp:tok": 2, "pre:tag": 0, "hyp:tag": 0, "oth:overlap": 0}
    assert kinds["share"].tolist() == pytest.approx([0.5, 1.0, 0.0, 0.0, 0.0])
