"""The search's compatibility options with Mu & Andreas' code: ``penalty_counts_not`` (the original's
formula length in the complexity penalty) and ``duplicate_beam`` (the original's beam, with its
same-mask NEIGHBORS twins, unmerged duplicates and insertion-order ties).

Hand-made cases with the expected formulas written out, then comparisons with the brute-force
references of ``oracle.py``: ``naive_beam_search`` (our semantics) and ``original_beam_search`` (a
restatement of the original loop, ``compexp/nli/code/analyze.py`` ``compute_best_sentence_iou``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import naive_beam_search, original_beam_search

from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.formulas import evaluate, iou, parse
from clipneuron_utils.explain.search import beam_search, beam_search_by_length, beam_trace, penalty_length


def mask(n: int, rows) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(rows)] = True
    return out


def formulas(neuron, concepts, names, **kw) -> list[tuple[str, float, int]]:
    """(formula, iou, length) for max_length 1, 2, …"""
    long = beam_search_by_length(neuron[:, None], concepts, names=names, min_acts=1, progress=False, **kw)
    return [(f, i, int(n)) for f, i, n in zip(long["formula"], long["iou"], long["length"])]


# --------------------------------------------------------------------------------- defaults


def test_explicit_false_is_the_default_search():
    rng = np.random.default_rng(5)
    concepts = rng.random((120, 12)) < rng.uniform(0.05, 0.5, 12)
    neurons = rng.random((120, 5)) < rng.uniform(0.05, 0.5, 5)
    neurons[:, 0] = concepts[:, 0] & ~concepts[:, 1]
    for penalty in (1.0, 0.9):
        kw = dict(max_length=4, beam_size=5, min_acts=1, complexity_penalty=penalty, progress=False)
        pd.testing.assert_frame_equal(
            beam_search_by_length(neurons, concepts, penalty_counts_not=False, duplicate_beam=False, **kw),
            beam_search_by_length(neurons, concepts, **kw))


def test_at_penalty_one_counting_not_changes_nothing():
    rng = np.random.default_rng(6)
    concepts = rng.random((150, 14)) < rng.uniform(0.05, 0.5, 14)
    neurons = rng.random((150, 6)) < rng.uniform(0.05, 0.5, 6)
    neurons[:, 0] = concepts[:, 0] & ~concepts[:, 1] | concepts[:, 2]
    kw = dict(max_length=5, beam_size=10, min_acts=1, progress=False)
    for dup in (False, True):
        pd.testing.assert_frame_equal(
            beam_search_by_length(neurons, concepts, penalty_counts_not=True, duplicate_beam=dup, **kw),
            beam_search_by_length(neurons, concepts, duplicate_beam=dup, **kw))


# ------------------------------------------------------------------- penalty_counts_not


def test_penalty_length_is_the_originals_len():
    # compexp formula.py: Leaf 1; Not (a unary node) 1 + len(x); And / Or len(left) + len(right).
    assert penalty_length("c") == 1
    assert penalty_length("(c OR d)") == 2
    assert penalty_length("(a AND NOT b)") == 3
    assert penalty_length("((a AND NOT b) OR d)") == 4
    assert penalty_length("((a AND NOT b) OR NOT d)") == 5
    assert penalty_length("(((a AND NOT b) AND NOT c) OR d)") == 6
    assert penalty_length(parse("(a AND NOT b)"), counts_not=False) == 2  # ours: atoms
    assert penalty_length("(((a AND NOT b) AND NOT c) OR d)", counts_not=False) == 4


# 16 pairs. The neuron is {0..9, 14}; (a AND NOT b) = {0..9} has IoU 10/11; c has 9/12 = 0.75;
# (c OR d) = {0..10, 14, 15} has 11/13. At penalty 0.9:
#   atoms counted:  (a AND NOT b) 0.9 × 10/11 = 0.818 > (c OR d) 0.9 × 11/13 = 0.762 > c 0.75
#   NOT counted:    (a AND NOT b) 0.81 × 10/11 = 0.736 < c 0.75 < (c OR d) 0.762
PEN_N = 16
PEN_NEURON = mask(PEN_N, [*range(10), 14])
PEN_CONCEPTS = np.stack([mask(PEN_N, range(14)), mask(PEN_N, range(10, 15)), mask(PEN_N, [*range(9), 10]),
                         mask(PEN_N, [9, 14, 15])], axis=1)
PEN_NAMES = ["a", "b", "c", "d"]


def test_penalty_counts_not_picks_another_formula_at_0_9():
    kw = dict(max_length=3, beam_size=10, complexity_penalty=0.9)
    assert formulas(PEN_NEURON, PEN_CONCEPTS, PEN_NAMES, **kw) == [
        ("c", 9 / 12, 1), ("(a AND NOT b)", 10 / 11, 2), ("(a AND NOT b)", 10 / 11, 2)]
    assert formulas(PEN_NEURON, PEN_CONCEPTS, PEN_NAMES, penalty_counts_not=True, **kw) == [
        ("c", 9 / 12, 1), ("(c OR d)", 11 / 13, 2), ("(c OR d)", 11 / 13, 2)]
    # The original's lengths for these formulas, and the scores the beam compared.
    trace = beam_trace(PEN_NEURON, PEN_CONCEPTS, names=PEN_NAMES, penalty_counts_not=True, **kw)
    beam2 = trace[trace["max_length"] == 2].set_index("formula")
    assert beam2.loc["(c OR d)", "penalty_length"] == 2 and beam2.loc["c", "penalty_length"] == 1
    assert beam2.loc["(a AND NOT b)", "penalty_length"] == 3
    assert beam2.loc["(a AND NOT b)", "score"] == 0.9**2 * (10 / 11)
    assert beam2.loc["(c OR d)", "score"] == 0.9 * (11 / 13)
    assert beam2.loc["(a AND NOT b)", "length"] == 2  # the length column counts atoms either way
    # At penalty 1 the option changes nothing.
    assert (formulas(PEN_NEURON, PEN_CONCEPTS, PEN_NAMES, max_length=3, penalty_counts_not=True)
            == formulas(PEN_NEURON, PEN_CONCEPTS, PEN_NAMES, max_length=3)
            == [("c", 9 / 12, 1), ("(a AND NOT b)", 10 / 11, 2), ("((a AND NOT b) OR d)", 11 / 12, 3)])


def test_max_length_still_counts_atoms():
    # The original's MAX_FORMULA_LENGTH is the number of rounds + 1, each adding one atom, NOT or not:
    # ((a AND NOT b) OR d) has 3 atoms (its len is 4) and is found at max_length 3.
    got = formulas(PEN_NEURON, PEN_CONCEPTS, PEN_NAMES, max_length=3, penalty_counts_not=True, duplicate_beam=True)
    assert got[2] == ("((a AND NOT b) OR d)", 11 / 12, 3)
    assert penalty_length(got[2][0]) == 4


@pytest.mark.parametrize("seed", range(30))
def test_penalty_counts_not_matches_naive_beam_search(seed):
    rng = np.random.default_rng(2000 + seed)
    n, m = int(rng.integers(30, 120)), int(rng.integers(3, 12))
    concepts = rng.random((n, m)) < rng.uniform(0.03, 0.6, m)
    neurons = rng.random((n, 3)) < rng.uniform(0.05, 0.6, 3)
    neurons[:, 0] = concepts[:, 0] & ~concepts[:, 1] | (rng.random(n) < 0.05)
    names = [f"c{j:02d}" for j in range(m)]
    kw = dict(max_length=int(rng.integers(1, 5)), beam_size=int(rng.integers(1, 12)),
              expand_all=bool(rng.integers(2)), or_not=bool(rng.integers(2)),
              complexity_penalty=[0.9, 0.95, 0.6, 1.1][seed % 4])
    long = beam_search_by_length(neurons, concepts, names=names, min_acts=1, progress=False,
                                 chunk_neurons=int(rng.integers(1, 4)), penalty_counts_not=True, **kw)
    for u in range(neurons.shape[1]):
        want = naive_beam_search(neurons[:, u], concepts, names, penalty_counts_not=True, **kw)
        got = long[long["neuron"] == u].sort_values("max_length")
        assert list(zip(got["formula"], got["iou"], got["length"])) == want


# ------------------------------------------------------------------------ duplicate_beam


# 16 pairs, neuron {0..7}. a = {0..4, 8}: IoU 5/9; b = {0..3}: 4/8; d = {4..7, 9, 10}: 4/10;
# e = {0..5, 8, 11, 12}: 6/11. (b OR d) = {0..7, 9, 10} has IoU 8/10; (a OR d) = {0..10} 8/11.
# A beam of 2 (3 with e) that holds a and a's twin never keeps b, so it never builds (b OR d).
DUP_N = 16
DUP_NEURON = mask(DUP_N, range(8))
DUP_A, DUP_B, DUP_D, DUP_E = (mask(DUP_N, r) for r in ([*range(5), 8], range(4), [4, 5, 6, 7, 9, 10],
                                                      [*range(6), 8, 11, 12]))


@pytest.mark.parametrize("beam_size, concepts, names", [
    (2, [DUP_A, DUP_B, DUP_D], ["a", "b", "d"]),
    (3, [DUP_A, DUP_B, DUP_D, DUP_E], ["a", "b", "d", "e"]),
])
def test_duplicate_beam_loses_a_formula_the_default_beam_finds(beam_size, concepts, names):
    concepts = np.stack(concepts, axis=1)
    kw = dict(max_length=3, beam_size=beam_size)
    assert formulas(DUP_NEURON, concepts, names, **kw) == [
        ("a", 5 / 9, 1), ("(b OR d)", 8 / 10, 2), ("(b OR d)", 8 / 10, 2)]
    assert formulas(DUP_NEURON, concepts, names, duplicate_beam=True, **kw) == [
        ("a", 5 / 9, 1), ("(a OR d)", 8 / 11, 2), ("(a OR d)", 8 / 11, 2)]
    # The original's own loop (restated in oracle.py) agrees, at every length.
    beams = original_beam_search(DUP_NEURON, concepts, names, complexity_penalty=1.0, **kw)
    assert [b[0][:2] for b in beams] == [("a", 5 / 9), ("(a OR d)", 8 / 11), ("(a OR d)", 8 / 11)]


def test_duplicate_beam_holds_duplicates_after_round_one():
    concepts, names = np.stack([DUP_A, DUP_B, DUP_D], axis=1), ["a", "b", "d"]
    kw = dict(max_length=3, beam_size=2)
    dup = beam_trace(DUP_NEURON, concepts, names=names, duplicate_beam=True, **kw)
    rows = lambda t, k: list(zip(*(t[t["max_length"] == k][c] for c in ("formula", "twin", "duplicate"))))  # noqa: E731
    # Seeds: a, then its same-mask twin (NEIGHBORS a); b is pushed out.
    assert rows(dup, 1) == [("a", False, False), ("a", True, True)]
    # Round 1: a's candidates come first and each twice (the expansion list holds every atom twice):
    # (a OR d) with d, then (a OR d) with d's copy; (NEIGHBORS a)'s copies tie and come later.
    assert rows(dup, 2) == [("(a OR d)", False, False), ("(a OR d)", False, True)]
    assert rows(dup, 3) == [("(a OR d)", False, False), ("(a OR d)", False, True)]
    default = beam_trace(DUP_NEURON, concepts, names=names, **kw)
    assert rows(default, 1) == [("a", False, False), ("b", False, False)]
    assert rows(default, 2) == [("(b OR d)", False, False), ("(a OR d)", False, False)]
    assert not default["duplicate"].any() and not default["twin"].any()


def test_duplicate_beam_fills_with_duplicates_as_the_original():
    """Beam 10 on a compositional neuron: half the seeds are twins; most of the beam is duplicates
    later, like the original's 5/7/9 of 10 after rounds 1/2/4 on the SNLI models."""
    rng = np.random.default_rng(3)
    n, m = 200, 30
    concepts = rng.random((n, m)) < rng.uniform(0.02, 0.5, m)
    neuron = concepts[:, 0] & ~concepts[:, 1] | concepts[:, 2] & (rng.random(n) < 0.5) | (rng.random(n) < 0.05)
    names = [f"c{j:02d}" for j in range(m)]
    trace = beam_trace(neuron, concepts, names=names, max_length=5, beam_size=10, duplicate_beam=True,
                       penalty_counts_not=True)
    per_round = trace.groupby("max_length")["duplicate"].sum().tolist()
    assert per_round == [5, 7, 8, 9, 9]
    assert trace_as_oracle(trace) == original_beam_search(neuron, concepts, names, max_length=5, beam_size=10)
    assert not beam_trace(neuron, concepts, names=names, max_length=5, beam_size=10)["duplicate"].any()


def trace_as_oracle(trace: pd.DataFrame) -> list:
    return [list(zip(b["formula"], b["iou"], b["score"], b["penalty_length"], b["twin"]))
            for _, b in trace.groupby("max_length")]


@pytest.mark.parametrize("seed", range(40))
def test_duplicate_beam_matches_the_original_loop_beam_for_beam(seed):
    rng = np.random.default_rng(3000 + seed)
    n, m = int(rng.integers(20, 150)), int(rng.integers(2, 14))
    concepts = rng.random((n, m)) < rng.uniform(0.03, 0.6, m)
    if seed % 3 == 0:
        concepts[:, -1] = concepts[:, 0]  # identical concepts: ties everywhere
    neuron = concepts[:, 0] & ~concepts[:, 1] | (rng.random(n) < 0.1)
    names = [f"c{j:02d}" for j in rng.permutation(m)]  # ties follow columns, not names
    kw = dict(max_length=int(rng.integers(1, 6)), beam_size=int(rng.integers(1, 13)),
              complexity_penalty=[1.0, 0.9, 0.6, 1.1][seed % 4], penalty_counts_not=bool(seed % 2),
              expand_all=seed % 5 == 0, or_not=seed % 7 == 0)
    got = beam_trace(neuron, concepts, names=names, duplicate_beam=True, **kw)
    assert trace_as_oracle(got) == original_beam_search(neuron, concepts, names, **kw)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 9), st.booleans(), st.booleans(),
       st.sampled_from([1.0, 0.9, 0.5, 1.5]))
def test_tiny_tie_heavy_problems_match_the_original_loop(seed, max_length, beam_size, counts_not, expand_all,
                                                         penalty):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 14)), int(rng.integers(1, 7))
    concepts = rng.random((n, m)) < rng.random(m)
    neurons = rng.random((n, 2)) < rng.random(2)
    names = list(rng.permutation([f"k{j}" for j in range(m)]))
    kw = dict(max_length=max_length, beam_size=beam_size, complexity_penalty=penalty, penalty_counts_not=counts_not,
              expand_all=expand_all)
    long = beam_search_by_length(neurons, concepts, names=names, min_acts=0, progress=False, duplicate_beam=True,
                                 **kw)
    for u in range(2):
        want = original_beam_search(neurons[:, u], concepts, names, **kw)
        got = long[long["neuron"] == u].sort_values("max_length")
        assert list(zip(got["formula"], got["iou"])) == [b[0][:2] for b in want]
        if neurons[:, u].any():  # a silent unit's beam_trace keeps its seeds (documented); its best is right
            assert trace_as_oracle(beam_trace(neurons[:, u], concepts, names=names, duplicate_beam=True, **kw)) == want


def test_duplicate_beam_results_are_consistent():
    rng = np.random.default_rng(12)
    n, m = 150, 14
    concepts = rng.random((n, m)) < rng.uniform(0.05, 0.5, m)
    neurons = rng.random((n, 9)) < rng.uniform(0.05, 0.5, 9)
    neurons[:, 0] = concepts[:, 0] & ~concepts[:, 1]
    neurons[:, 3] = False  # a silent unit
    names = [f"c{j:02d}" for j in range(m)]
    lookup = {name: concepts[:, j] for j, name in enumerate(names)}
    kw = dict(names=names, max_length=4, beam_size=6, min_acts=0, progress=False, duplicate_beam=True,
              penalty_counts_not=True, complexity_penalty=0.9)
    long = beam_search_by_length(neurons, concepts, **kw)
    for row in long.itertuples():
        assert row.iou == iou(neurons[:, row.neuron], evaluate(row.formula, lookup))
        assert row.length == parse(row.formula).length <= row.max_length
    # Chunking, sparse input and the Concepts object change nothing.
    for chunk in (1, 4):
        pd.testing.assert_frame_equal(beam_search_by_length(neurons, concepts, chunk_neurons=chunk, **kw), long)
    pd.testing.assert_frame_equal(beam_search_by_length(neurons, sp.csr_matrix(concepts), **kw), long)
    for u in range(neurons.shape[1]):
        trace = beam_trace(neurons[:, u], concepts, **{k: v for k, v in kw.items() if k not in ("min_acts", "progress")})
        top = trace[trace["rank"] == 0]
        got = long[long["neuron"] == u]
        assert top["formula"].tolist() == got["formula"].tolist() and top["iou"].tolist() == got["iou"].tolist()
    last = beam_search(neurons, concepts, **kw)
    pd.testing.assert_frame_equal(last, long[long["max_length"] == 4].drop(columns="max_length").reset_index(drop=True))


@pytest.mark.parametrize("flag", ["penalty_counts_not", "duplicate_beam"])
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_flags_must_be_booleans(flag, value):
    with pytest.raises(ValueError, match=flag):
        beam_search(np.ones((10, 2), bool), np.eye(10, 4, dtype=bool), progress=False, **{flag: value})


def test_options_are_part_of_the_search_cache_key(runs_tmp):
    from clipneuron_utils import run

    concepts = Concepts(["a", "b", "d"], sp.csc_matrix(np.stack([DUP_A, DUP_B, DUP_D], axis=1)))
    params = dict(max_length=2, beam_size=2, min_acts=1, progress=False)
    found = {}
    for dup in (False, True):
        found[dup] = run.search_results("t", "lstm", "standard", DUP_NEURON[:, None], concepts,
                                               activations_key="k", duplicate_beam=dup, **params)
    assert len(list((runs_tmp / "t" / "search" / "cache").glob("*.pkl"))) == 2
    assert found[False]["formula"].tolist() == ["a", "(b OR d)"]
    assert found[True]["formula"].tolist() == ["a", "(a OR d)"]
