"""Beam search: against brute-force oracles, invariances, ties, unexplained units, validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import exhaustive_best, naive_beam_search

from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.formulas import evaluate, iou, parse
from clipneuron_utils.explain.search import (COLUMNS, beam_search, beam_search_by_length, beam_trace, threshold_activations,
                                             top_count)
from clipneuron_utils.explain.beam import OPS


def problem(seed, n_range=(40, 200), m_range=(8, 15), units=4):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(*n_range)), int(rng.integers(*m_range))
    concepts = rng.random((n, m)) < rng.uniform(0.03, 0.6, m)
    neurons = rng.random((n, units)) < rng.uniform(0.05, 0.6, units)
    # Make some neurons compositional, so that length 2 matters.
    neurons[:, 0] = concepts[:, 0] & ~concepts[:, 1] | (rng.random(n) < 0.05)
    names = [f"c{j:02d}" for j in range(m)]
    return neurons, concepts, names


@pytest.mark.parametrize("seed", range(60))
def test_length_two_matches_exhaustive_oracle(seed):
    neurons, concepts, names = problem(seed)
    m = concepts.shape[1]
    for expand_all in (True, False):
        result = beam_search(neurons, concepts, names=names, max_length=2, beam_size=m + seed % 3,
                             min_acts=1, expand_all=expand_all, progress=False)
        for u in range(neurons.shape[1]):
            want = exhaustive_best(neurons[:, u], concepts, names, restrict=not expand_all)
            row = result.iloc[u]
            assert row["iou"] == want[0]
            assert (row["formula"], row["length"]) == (want[2], want[1])  # same tie-breaking too


@pytest.mark.parametrize("seed", range(40))
def test_every_length_matches_naive_beam_search(seed):
    rng = np.random.default_rng(1000 + seed)
    neurons, concepts, names = problem(1000 + seed, n_range=(30, 120), m_range=(3, 12), units=3)
    kw = dict(
        max_length=int(rng.integers(1, 5)),
        beam_size=int(rng.integers(1, 14)),
        expand_all=bool(rng.integers(2)),
        or_not=bool(rng.integers(2)),
        complexity_penalty=[1.0, 0.95, 0.6, 1.1][seed % 4],
    )
    long = beam_search_by_length(neurons, concepts, names=names, min_acts=1, progress=False,
                                 chunk_neurons=int(rng.integers(1, 4)), **kw)
    for u in range(neurons.shape[1]):
        want = naive_beam_search(neurons[:, u], concepts, names, **kw)
        got = long[long["neuron"] == u].sort_values("max_length")
        assert list(zip(got["formula"], got["iou"], got["length"])) == want


def test_independent_of_chunking_and_neuron_order():
    neurons, concepts, names = problem(7, n_range=(150, 151), m_range=(14, 15), units=12)
    kw = dict(names=names, max_length=4, beam_size=5, min_acts=3, progress=False)
    base = beam_search(neurons, concepts, chunk_neurons=16, **kw)
    for chunk in (1, 5):
        pd.testing.assert_frame_equal(beam_search(neurons, concepts, chunk_neurons=chunk, **kw), base)
    perm = np.random.default_rng(0).permutation(neurons.shape[1])
    shuffled = beam_search(neurons[:, perm], concepts, chunk_neurons=4, **kw)
    expected = base.iloc[perm].reset_index(drop=True).assign(neuron=np.arange(len(perm)))
    pd.testing.assert_frame_equal(shuffled, expected)


def test_accepts_concepts_sparse_and_dense_inputs():
    neurons, concepts, names = problem(3)
    dense = beam_search(neurons, concepts, names=names, min_acts=1, max_length=3, progress=False)
    sparse = beam_search(neurons, sp.csr_matrix(concepts), names=names, min_acts=1, max_length=3, progress=False)
    obj = beam_search(neurons, Concepts(names, sp.csc_matrix(concepts)), min_acts=1, max_length=3, progress=False)
    pd.testing.assert_frame_equal(dense, sparse)
    pd.testing.assert_frame_equal(dense, obj)
    assert list(dense.columns) == COLUMNS


def test_reported_iou_is_the_formulas_iou():
    neurons, concepts, names = problem(11, units=6)
    lookup = {n: concepts[:, j] for j, n in enumerate(names)}
    long = beam_search_by_length(neurons, concepts, names=names, min_acts=1, max_length=4, progress=False)
    for row in long.itertuples():
        mask = evaluate(parse(row.formula), lookup)
        assert row.iou == iou(neurons[:, row.neuron], mask)
        assert row.length == parse(row.formula).length <= row.max_length
        assert row.best_atom_iou == iou(neurons[:, row.neuron], lookup[row.best_atom])


def test_unexplained_units_are_reported_not_zero():
    neurons, concepts, names = problem(5, n_range=(100, 101))
    neurons[:, 1] = False
    neurons[:3, 1] = True  # fires on 3 pairs
    neurons[:, 2] = False  # never fires
    result = beam_search(neurons, concepts, names=names, min_acts=4, max_length=3, progress=False)
    for u in (1, 2):
        row = result.iloc[u]
        assert not row["explained"] and row["formula"] is None and math.isnan(row["iou"])
        assert pd.isna(row["length"]) and row["best_atom"] is None and math.isnan(row["best_atom_iou"])
    assert result["n_fires"].tolist()[1:3] == [3, 0]
    assert result["explained"].tolist() == [True, False, False, True]
    # With min_acts=0 a silent unit is explained, with IoU 0 by its alphabetically first atom.
    silent = beam_search(neurons[:, [2]], concepts, names=names, min_acts=0, max_length=3, progress=False)
    assert silent.loc[0, "iou"] == 0.0 and silent.loc[0, "formula"] == names[0] and silent.loc[0, "explained"]


def test_ties_break_by_fewer_atoms_then_text():
    n = 20
    x = np.zeros(n, bool)
    x[:10] = True
    concepts = np.stack([x, x, np.zeros(n, bool), ~x], axis=1)  # "b" and "a" identical
    neuron = x[:, None]
    result = beam_search(neuron, concepts, names=["b", "a", "empty", "notx"], min_acts=1, max_length=3,
                         beam_size=4, expand_all=True, progress=False)
    # IoU 1 by "a", "b", "(a AND b)", "(a OR empty)", ...: the shortest, then alphabetically first.
    assert result.loc[0, "formula"] == "a" and result.loc[0, "iou"] == 1.0 and result.loc[0, "length"] == 1
    assert result.loc[0, "best_atom"] == "a"
    # The complexity penalty never prefers longer formulas of equal IoU either.
    pen = beam_search(neuron, concepts, names=["b", "a", "empty", "notx"], min_acts=1, max_length=3,
                      complexity_penalty=0.5, progress=False)
    assert pen.loc[0, "formula"] == "a"


def test_and_not_needs_expand_all_for_concepts_disjoint_from_the_neuron():
    n = 40
    rng = np.random.default_rng(0)
    a = rng.random(n) < 0.6
    b = a & (rng.random(n) < 0.4)
    neuron = a & ~b  # "a AND NOT b", but b never meets the neuron: IoU(b) = 0
    concepts = np.stack([a, b], axis=1)
    kw = dict(names=["a", "b"], min_acts=1, max_length=2, progress=False)
    assert beam_search(neuron[:, None], concepts, expand_all=True, **kw).loc[0, "formula"] == "(a AND NOT b)"
    assert beam_search(neuron[:, None], concepts, **kw).loc[0, "formula"] == "a"


def test_by_length_matches_separate_calls_and_is_monotone():
    neurons, concepts, names = problem(21, units=5)
    kw = dict(names=names, beam_size=4, min_acts=2, progress=False)
    long = beam_search_by_length(neurons, concepts, max_length=4, **kw)
    assert list(long.columns) == ["max_length", *COLUMNS]
    for k in range(1, 5):
        part = long[long["max_length"] == k].drop(columns="max_length").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, beam_search(neurons, concepts, max_length=k, **kw))
    by_unit = long.pivot(index="neuron", columns="max_length", values="iou")
    assert (by_unit.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    first = long[long["max_length"] == 1]
    assert (first["formula"] == first["best_atom"]).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 6), st.booleans())
def test_iou_in_unit_interval_and_length_bounded(seed, max_length, beam_size, or_not):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(5, 60)), int(rng.integers(1, 8))
    concepts = rng.random((n, m)) < rng.random(m)
    neurons = rng.random((n, 3)) < rng.random(3)
    result = beam_search(neurons, concepts, max_length=max_length, beam_size=beam_size, or_not=or_not,
                         min_acts=0, progress=False)
    assert result["iou"].between(0, 1).all() and result["best_atom_iou"].between(0, 1).all()
    assert (result["length"] <= max_length).all()
    assert (result["iou"] >= result["best_atom_iou"]).all()
    assert result["n_fires"].tolist() == neurons.sum(axis=0).tolist()


def test_candidate_text_order_is_parent_order_then_suffix():
    """The search orders tied candidates by (text of F, "OP name)") without building their text."""
    names = ["N", "NO", "NOTE", "a", "ab", "a:b"]
    parents = ["N", "NO", "NOT N", "NOT NO", "(N AND NO)", "(N AND NOT NO)", "a", "ab", "(a OR ab)"]
    suffixes = [f"{op} {name})" for op in OPS for name in names]
    cands = [(p, s) for p in parents for s in suffixes]
    by_text = sorted(cands, key=lambda ps: f"({ps[0]} {ps[1]}")
    assert by_text == sorted(cands)


def test_threshold_activations():
    acts = np.array([[0.0, -1.0], [0.5, 2.0], [2.0, 3.0], [0.0, 1.0]])
    assert threshold_activations(acts).tolist() == [[False, False], [True, True], [True, True], [False, True]]
    top = threshold_activations(acts, alpha=0.25)
    assert top.sum(axis=0).tolist() == [1, 1] and top[2].all()
    for bad in (0, 1, 1.5, -0.1, "x"):
        with pytest.raises(ValueError, match="alpha"):
            threshold_activations(acts, alpha=bad)


def test_top_alpha_fires_on_exactly_its_top_k_pairs_ties_by_probe_order():
    """At alpha a unit fires on exactly its top ⌈alpha·N⌉ pairs; equal activations fire in probe order
    (the earlier pair first); pairs at ≤ 0 never fire, so a unit active on fewer pairs fires on fewer."""
    tied = np.array([[0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [1.0], [2.0]])
    assert threshold_activations(tied, alpha=0.5)[:, 0].tolist() == [False] * 8 + [True, True]  # zeros never fire
    plateau = np.array([[1.0], [2.0], [2.0], [2.0], [2.0], [3.0]])  # k = ⌈1.2⌉ = 2: 3.0 and the first 2.0
    assert threshold_activations(plateau, alpha=0.2)[:, 0].tolist() == [False, True, False, False, False, True]
    assert threshold_activations(np.zeros((5, 1)), alpha=0.4).sum() == 0  # all zero: nothing fires
    assert threshold_activations(np.array([[0.0], [1e-9]]))[:, 0].tolist() == [False, True]  # > 0, not ≥ 0
    assert top_count(100, 0.07) == 7 and top_count(9842, 0.05) == 493 and top_count(10, 0.01) == 1
    rng = np.random.default_rng(0)
    acts = np.round(rng.exponential(size=(997, 40)), 1)  # rounded: many ties, none at 0 among the top
    for alpha in (0.2, 0.1, 0.05, 0.02):
        k = int(np.ceil(alpha * 997))
        mask = threshold_activations(acts, alpha)
        assert (mask.sum(axis=0) == k).all()
        for u in range(acts.shape[1]):
            fired, silent = acts[mask[:, u], u], acts[~mask[:, u], u]
            assert fired.min() >= silent.max()  # the top k by activation
            edge = fired.min()  # at the edge value, the earliest tied pairs fire
            tied_at_edge = np.flatnonzero(acts[:, u] == edge)
            assert mask[tied_at_edge, u].tolist() == sorted(mask[tied_at_edge, u].tolist(), reverse=True)


def test_the_default_min_acts_is_the_originals():
    """Mu & Andreas explain a unit only if it fires on at least 500 probe pairs; the default must not drift."""
    import inspect

    assert inspect.signature(beam_search_by_length).parameters["min_acts"].default == 500
    neurons = np.zeros((600, 2), dtype=bool)
    neurons[:500, 0] = True
    neurons[:499, 1] = True
    concepts = neurons.copy()
    found = beam_search_by_length(neurons, concepts, names=["c0", "c1"], max_length=1, progress=False)
    assert found.set_index("neuron")["explained"].to_dict() == {0: True, 1: False}


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"max_length": 0}, "max_length"),
        ({"beam_size": 0}, "beam_size"),
        ({"min_acts": -1}, "min_acts"),
        ({"chunk_neurons": 0}, "chunk_neurons"),
        ({"complexity_penalty": 0}, "complexity_penalty"),
        ({"names": ["a", "b"]}, "names"),
        ({"names": ["a b"] + [f"c{i}" for i in range(1, 8)]}, "leaf name"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, word):
    neurons = np.ones((10, 2), bool)
    concepts = np.eye(10, 8, dtype=bool)
    with pytest.raises(ValueError, match=word):
        beam_search(neurons, concepts, progress=False, **kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="pairs"):
        beam_search(np.ones((10, 2), bool), np.ones((9, 3), bool), progress=False)
    with pytest.raises(ValueError, match="neuron_masks"):
        beam_search(np.ones(10, bool), np.ones((10, 3), bool), progress=False)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 8), st.booleans(), st.booleans(),
    st.sampled_from([1.0, 0.9, 0.5, 1.5]),
)
def test_tiny_tie_heavy_problems_match_naive(seed, max_length, beam_size, expand_all, or_not, penalty):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 14)), int(rng.integers(1, 7))
    concepts = rng.random((n, m)) < rng.random(m)
    neurons = rng.random((n, 2)) < rng.random(2)
    names = list(rng.permutation([f"k{j}" for j in range(m)]))
    kw = dict(max_length=max_length, beam_size=beam_size, expand_all=expand_all, or_not=or_not,
              complexity_penalty=penalty)
    long = beam_search_by_length(neurons, concepts, names=names, min_acts=0, progress=False, **kw)
    for u in range(2):
        got = long[long["neuron"] == u].sort_values("max_length")
        want = naive_beam_search(neurons[:, u], concepts, names, **kw)
        assert list(zip(got["formula"], got["iou"], got["length"])) == want


def test_a_searcher_rebuilt_from_its_spec_is_the_same_searcher():
    """Worker processes (n_jobs > 1) rebuild the searcher from its spec: masks, names and options must survive."""
    from clipneuron_utils.explain.beam import Searcher
    from clipneuron_utils.explain.search import _setup

    rng = np.random.default_rng(0)
    concepts = rng.random((50, 6)) < 0.3
    searcher = _setup(np.zeros((50, 1), dtype=bool), concepts, names=[f"c{i}" for i in range(6)], max_length=2,
                      beam_size=3, min_acts=1, complexity_penalty=0.9, or_not=True, expand_all=False,
                      penalty_counts_not=True, duplicate_beam=False, chunk_neurons=8)[0]
    again = Searcher.from_spec(searcher.spec())
    assert again.names == searcher.names and again.options == searcher.options
    assert (again.masks != searcher.masks).nnz == 0 and again.masks.shape == (50, 6)
    assert [again.column(c).tolist() for c in range(6)] == concepts.T.tolist()


def test_beam_trace_takes_one_unit_and_searches_it_whatever_it_fires_on():
    concepts = Concepts(["pre:tok:a", "pre:tok:b"], sp.csc_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)))
    with pytest.raises(ValueError, match="one column"):
        beam_trace(np.zeros((3, 2), dtype=bool), concepts, max_length=1)
    trace = beam_trace(np.array([True, False, False]), concepts, max_length=1, beam_size=2)
    assert trace.iloc[0]["formula"] == "pre:tok:a" and trace.iloc[0]["iou"] == pytest.approx(0.5)


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_a_tie_between_an_old_beam_formula_and_a_new_candidate_keeps_the_smaller_text():
    """b is the unit (IoU 1); a ⊃ b. Round 1 keeps b and, of the IoU-1 length-2 ties, ``(a AND b)`` (smallest text).
    Round 2 makes ``(b AND a)``, tied with the old ``(a AND b)`` in score and length: the text decides over old
    beam and new candidates together, so the beam stays as it was."""
    concepts = np.array([[0, 0], [1, 1], [1, 0]], dtype=bool)  # a = {1, 2}, b = {1}
    trace = beam_trace(np.array([False, True, False]), concepts, names=["a", "b"], max_length=3, beam_size=2)
    beams = trace.groupby("max_length")["formula"].apply(list).to_dict()
    assert beams == {1: ["b", "a"], 2: ["b", "(a AND b)"], 3: ["b", "(a AND b)"]}
    assert trace.loc[trace["max_length"] == 3, "iou"].tolist() == [1.0, 1.0]


def test_beam_trace_default_beam_is_ten_formulas():
    """Without ``beam_size`` the trace holds the documented default beam of 10 (as beam_search_by_length)."""
    concepts = np.eye(12, dtype=bool)  # 12 distinct atoms, each on one pair
    trace = beam_trace(np.ones(12, dtype=bool), concepts, max_length=1)
    assert len(trace) == 10 and trace["rank"].tolist() == list(range(10))
    assert trace["formula"].tolist() == ["c0", "c1", "c10", "c11", "c2", "c3", "c4", "c5", "c6", "c7"]  # IoU ties: by text


def test_non_finite_activations_message_starts_with_the_count_unless_a_model_is_named():
    """Without ``what`` the message starts with the count (no stray prefix); with it, with the model's name."""
    acts = np.array([[np.nan, 1.0], [0.5, np.inf]])
    with pytest.raises(ValueError, match=r"^2 non-finite activations \(NaN or ±inf\) in 2 of 2 units \(units 0, 1\)"):
        threshold_activations(acts)
    with pytest.raises(ValueError, match=r"^lstm model: 2 non-finite"):
        threshold_activations(acts, what="lstm model")


def test_the_progress_bar_counts_the_neurons_of_each_finished_block(monkeypatch, capsys):
    """With several processes the bar advances by the neurons of each block as it finishes (3 of 3 at the
    end), and the frame is the one-process frame. The pool is replaced by the same blocks searched here, so
    the test starts no process."""
    from clipneuron_utils.explain import search
    from clipneuron_utils.explain.parallel import compact_rounds

    def in_process(searcher, masks, todo, blocks, rounds, chunk_neurons, jobs):
        for a, b in blocks:
            units = todo[a:b]
            yield {int(u): compact_rounds(best) for u, best in zip(units, searcher.run_chunk(masks[:, units], rounds))}

    monkeypatch.setattr(search, "parallel_blocks", in_process)
    concepts = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    units = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    one = beam_search_by_length(units, concepts, max_length=2, min_acts=0, progress=False)
    capsys.readouterr()
    two = beam_search_by_length(units, concepts, max_length=2, min_acts=0, chunk_neurons=1, n_jobs=2, progress=True)
    assert "3/3" in capsys.readouterr().err
    pd.testing.assert_frame_equal(one, two)
    assert two.loc[two["max_length"] == 1, "formula"].tolist() == ["c0", "c1", "c0"]
