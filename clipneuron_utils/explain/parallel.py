"""Searching neurons in several processes, with results identical to one process's.

Processes (``n_jobs``): the search is single-threaded numpy/scipy, so more cores need more processes.
With ``n_jobs`` ≠ 1 (≤ 0: every usable core) the neurons to explain are cut into contiguous blocks of
whole chunks (the chunks of one process, about :data:`BLOCKS_PER_JOB` blocks per process, so the last
blocks finish close together) and searched by a joblib pool of loky worker processes; the frame is
identical to one process's, row for row and bit for bit. A task carries its block's mask columns
and the concept matrix as its index arrays (:meth:`Searcher.spec`, ~1.3 MB for SNLI dev's 4,083
concepts: ~2 ms to pickle and unpickle, about 16 times per process); each worker builds its searcher
from the first one (~10 ms) and keeps it for the rest of the call, and returns only each neuron's
(formula, IoU, length) per round, not the beams' masks. (joblib's automatic memory maps would send the
matrix once, but their clean-up costs ~1 s at the end of every call.) loky keeps the workers up
between calls (starting them costs ~0.5–1 s, once) and limits their native thread pools (BLAS, OpenMP)
to cores / processes; a worker keeps the rounds' temporaries in its heap (:func:`_keep_heap`: a fresh
process otherwise spends ~20 % of its time in page faults). The parent only dispatches (~0.25 s of
CPU for 1,024 units). With ``n_jobs=1`` no process is started. Measured (``benchmarks/search.py
--real --compare-jobs --n-jobs 2``, 2 cores shared with other jobs, so ±15 %): 1,024 real SNLI-dev
units of a trained model (4,083 concepts, length 5, beam 10) in 10–13 s with one process, 6.0–7.2 s
with two including starting them (1.6–2.2×), 5.6–6.1 s once they are up (1.8–2.2×; above 2× because
the workers' heap setting saves the page faults the single process pays).
"""

from __future__ import annotations

import math
import os


import numpy as np

from .beam import BeamEntry, Searcher


#: blocks of neurons per process: enough that the last ones finish close together (the cost of a
#: neuron varies with its firing rate and expansion set), few enough that dispatch costs nothing
BLOCKS_PER_JOB = 16


def usable_cores() -> int:
    """Cores this process may use: joblib's count (CPU affinity and cgroup quotas of containers)."""
    try:
        from joblib import cpu_count

        return max(int(cpu_count()), 1)
    except Exception:  # noqa: BLE001 - joblib missing or failing: the affinity mask
        try:
            return max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # not on Linux
            return max(os.cpu_count() or 1, 1)


def resolve_jobs(n_jobs) -> int:
    """The number of processes ``n_jobs`` asks for (≤ 0: :func:`usable_cores`); ValueError if not an int."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs must be an integer (1: one process; <= 0: every core), got {n_jobs!r}")
    return int(n_jobs) if n_jobs > 0 else usable_cores()


def neuron_blocks(n_todo: int, chunk_neurons: int, jobs: int) -> list[tuple[int, int]]:
    """Contiguous (start, stop) ranges of the neurons to search, each of whole chunks (the last may be short)."""
    if jobs <= 1:
        return [(0, n_todo)] if n_todo else []
    chunks = math.ceil(n_todo / chunk_neurons)
    size = chunk_neurons * max(1, chunks // (jobs * BLOCKS_PER_JOB))
    return [(start, min(start + size, n_todo)) for start in range(0, n_todo, size)]


def compact_rounds(best: list[BeamEntry]) -> list[tuple[str, float, int]]:
    """(text, IoU, atoms) of a neuron's best formula after each round: all the frame needs (no masks)."""
    return [(e.text, e.iou, e.length) for e in best]


#: in a worker process: the searcher of the current call (token → Searcher), built by its first block
_WORKER_SEARCHER: dict[str, Searcher] = {}


def _keep_heap() -> None:
    """In a worker process (glibc only; elsewhere nothing): serve the search's temporaries from the heap.

    Each round allocates and frees arrays of a few MB. A fresh process's glibc maps each one anew
    (``mmap``, then page faults on every page) until its adaptive threshold has grown; measured on
    SNLI dev, that made a fresh worker ~25 % slower per neuron than a long-lived process (~18 % of
    its time in the kernel). Fixed thresholds (mmap above 64 MB, return memory to the system above
    256 MB free) keep that memory in the worker instead; results do not change."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _search_block(token: str, spec: tuple, block: np.ndarray, units: np.ndarray, rounds: int,
                  chunk_neurons: int) -> dict[int, list[tuple[str, float, int]]]:
    """Worker side: search one block of neurons (``block``: their mask columns) chunk by chunk."""
    searcher = _WORKER_SEARCHER.get(token)
    if searcher is None:
        if not _WORKER_SEARCHER:
            _keep_heap()
        _WORKER_SEARCHER.clear()  # a previous call's searcher is not needed any more
        searcher = _WORKER_SEARCHER[token] = Searcher.from_spec(spec)
    out = {}
    for start in range(0, block.shape[1], chunk_neurons):
        part = block[:, start : start + chunk_neurons]
        for u, best in zip(units[start : start + chunk_neurons], searcher.run_chunk(part, rounds)):
            out[int(u)] = compact_rounds(best)
    return out


def parallel_blocks(searcher: Searcher, neuron_masks, todo, blocks, rounds, chunk_neurons, jobs):
    """Each block's results, as the blocks finish, from a joblib pool of ``jobs`` loky processes.

    The concept matrix travels as :meth:`Searcher.spec` (its index arrays, names, options), pickled
    with each block: ~1.3 MB and ~2 ms a block for SNLI dev's 4,083 concepts, and a process gets ~16
    blocks. Each worker builds its searcher from the first spec it receives and keeps it for the rest
    of the call (``token``), so the matrix is set up once per worker. (joblib's automatic memory
    maps, ``max_nbytes``, would send it once, but cleaning them up costs ~1 s at the end of every
    call: more than all the pickling.) loky keeps the workers up between calls and runs them with
    native thread pools (BLAS, OpenMP) limited to cores / jobs, so they do not oversubscribe."""
    import uuid

    from joblib import Parallel, delayed

    token, spec = uuid.uuid4().hex, searcher.spec()
    tasks = (delayed(_search_block)(token, spec, np.ascontiguousarray(neuron_masks[:, todo[a:b]]), todo[a:b],
                                    rounds, chunk_neurons)
             for a, b in blocks)
    pool = Parallel(n_jobs=min(jobs, len(blocks)), backend="loky", batch_size=1, max_nbytes=None,
                    return_as="generator_unordered")
    yield from pool(tasks)
