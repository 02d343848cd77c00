"""Beam search in several processes (``n_jobs``): identical frames to one process, and validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_search import problem

from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.parallel import neuron_blocks, resolve_jobs, usable_cores
from clipneuron_utils.explain.search import beam_search, beam_search_by_length


def _both(neurons, concepts, **kw):
    one = beam_search_by_length(neurons, concepts, progress=False, n_jobs=1, **kw)
    two = beam_search_by_length(neurons, concepts, progress=False, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    return one


@pytest.mark.parametrize("seed", range(4))
def test_two_processes_give_the_same_frame(seed):
    rng = np.random.default_rng(seed)
    neurons, concepts, names = problem(500 + seed, n_range=(60, 160), m_range=(6, 14), units=11)
    neurons[:, 3] = False  # never fires: unexplained
    neurons[:, 5] = False
    neurons[:2, 5] = True  # fires on 2 pairs: unexplained (min_acts 3)
    kw = dict(
        names=names, min_acts=3, max_length=seed + 1, beam_size=int(rng.integers(1, 8)),
        or_not=bool(seed % 2), expand_all=seed in (1, 2), complexity_penalty=[1.0, 0.9, 0.6, 1.1][seed],
        chunk_neurons=int(rng.integers(1, 3)),
    )
    long = _both(neurons, concepts, **kw)
    assert not long.loc[long["neuron"].isin([3, 5]), "explained"].any()
    assert long["explained"].sum() == (neurons.shape[1] - 2) * kw["max_length"]


def test_compatibility_modes_and_inputs_in_processes():
    neurons, concepts, names = problem(77, n_range=(120, 121), m_range=(10, 11), units=9)
    _both(neurons, concepts, names=names, min_acts=1, max_length=3, beam_size=4, chunk_neurons=2,
          penalty_counts_not=True, duplicate_beam=True, complexity_penalty=0.95)
    obj = Concepts(names, sp.csc_matrix(concepts))
    _both(neurons, obj, min_acts=0, max_length=2, chunk_neurons=1)


def test_every_core_and_the_last_slice():
    neurons, concepts, names = problem(9, units=6)
    kw = dict(names=names, min_acts=1, max_length=3, chunk_neurons=1, progress=False)
    base = beam_search(neurons, concepts, **kw)
    for n_jobs in (0, -1, 3):
        pd.testing.assert_frame_equal(beam_search(neurons, concepts, n_jobs=n_jobs, **kw), base, check_exact=True)
    assert resolve_jobs(0) == resolve_jobs(-1) == usable_cores() >= 1
    assert resolve_jobs(np.int64(3)) == 3


def test_blocks_are_contiguous_whole_chunks():
    for n_todo, chunk, jobs in ((1024, 16, 2), (1000, 7, 3), (5, 1, 2), (0, 4, 2), (3, 16, 8)):
        blocks = neuron_blocks(n_todo, chunk, jobs)
        assert [a for a, _ in blocks[1:]] == [b for _, b in blocks[:-1]]
        assert (blocks[0][0], blocks[-1][1]) == (0, n_todo) if n_todo else blocks == []
        assert all(a % chunk == 0 for a, _ in blocks)
    assert len(neuron_blocks(1024, 16, 2)) == 32
    assert neuron_blocks(1024, 16, 1) == [(0, 1024)]


@pytest.mark.parametrize("bad", ["2", 1.5, 2.0, None, True])
def test_bad_n_jobs_names_n_jobs(bad):
    neurons, concepts, names = problem(1)
    with pytest.raises(ValueError, match="n_jobs"):
        beam_search(neurons, concepts, names=names, min_acts=1, progress=False, n_jobs=bad)
