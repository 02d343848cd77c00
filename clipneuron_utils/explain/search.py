"""Beam search for compositional explanations of neurons (Mu & Andreas 2020, NLI setting).

Semantics (DESIGN.md, "Search"): score every atom (concept) by IoU with the neuron mask. The expansion
set is the atoms with IoU > 0 (every atom with ``expand_all=True``; the original restriction means
``F AND NOT C`` never meets a concept C disjoint from the neuron). The beam starts as the best
``beam_size`` atoms over all atoms. Each round combines every beam formula F with every expansion atom
C by OR, AND, AND NOT (and OR NOT with ``or_not``); the pool is the old beam plus the new candidates,
with identical formulas counted once; the best ``beam_size`` survive. Score = IoU ×
``complexity_penalty``^(length − 1); ties break by higher score, then fewer atoms, then canonical
text. ``max_length`` counts atoms, so the answer for ``max_length = k`` is the best formula of the beam
after k − 1 rounds: :func:`beam_search_by_length` reports every k from one pass, :func:`beam_search`
its last slice. Units that fire on fewer than ``min_acts`` pairs are reported unexplained (formula
None, IoU NaN), not IoU 0.

Every neuron's result depends only on its own counts, so results do not depend on chunking, neuron
order, thread or process count. Benchmarks (``benchmarks/search.py``, 2 CPU cores): 1,024 neurons × 10,000
pairs × 4,000 concepts, max_length 5, beam 10 in ~6 s and ~200 MB, ~2,000× the per-candidate loop.

The vectorised rounds are :mod:`.beam`; the processes of ``n_jobs`` are :mod:`.parallel`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np

from .formulas import Leaf, Not, parse
from .beam import Searcher, as_concepts, check_int
from .parallel import neuron_blocks, compact_rounds, parallel_blocks, resolve_jobs


if TYPE_CHECKING:  # pandas is imported where frames are made: worker processes (n_jobs) start faster
    import pandas as pd


COLUMNS = ["neuron", "formula", "iou", "length", "best_atom", "best_atom_iou", "n_fires", "explained"]


def threshold_activations(acts: np.ndarray, alpha: float | None = None, *, what: str = "") -> np.ndarray:
    """Neuron masks (pairs × units) from activations.

    ``alpha=None``: a unit fires iff its activation > 0 (the NLI setting). ``alpha`` in (0, 1): it fires
    on exactly its top k = ⌈alpha · pairs⌉ pairs (the firing regime's sweep), so every unit has the same
    firing count and the matched null one count per alpha. Ties are broken by probe order: among pairs
    with equal activation, the earlier pair fires first. A pair whose activation is ≤ 0 never fires, so a
    post-ReLU unit that is active on fewer than k pairs fires where it is active (fewer than k), as at
    > 0; the firing regime's ``min_acts`` leaves it unexplained (:func:`~clipneuron_utils.explain.regime.
    regime_min_acts`). NaN or ±inf is an error, not a mask: +inf would "fire", NaN has no rank, and either
    gives IoUs that mean nothing. ``what`` (e.g. ``"lstm model"``) starts the message, so it names the model.
    """
    acts = np.asarray(acts)
    if acts.ndim != 2:
        raise ValueError(f"acts must be 2-D (pairs × units), got shape {acts.shape}")
    if acts.dtype.kind in "fc" and not np.isfinite(acts).all():
        bad = np.count_nonzero(~np.isfinite(acts), axis=0)
        units = np.flatnonzero(bad)
        shown = ", ".join(map(str, units[:5])) + (f" and {len(units) - 5} more" if len(units) > 5 else "")
        raise ValueError(
            f"{what + ': ' if what else ''}{int(bad.sum()):,} non-finite activations (NaN or ±inf) in "
            f"{len(units)} of {acts.shape[1]} units (unit{'s' if len(units) > 1 else ''} {shown}). Training "
            f"diverged (retrain with a lower learning rate lr) or the cached activations are corrupt (delete "
            f"the cache and rerun); no firing mask is computed from them."
        )
    if alpha is None:
        return acts > 0
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < float(alpha) < 1):
        raise ValueError(f"alpha must be None or a float in (0, 1), got {alpha!r}")
    k = top_count(acts.shape[0], alpha)
    # each unit's k-th largest activation (a partition, not a sort: ~7x faster on SNLI dev's 9,842 × 1,024);
    # every pair above it fires, and of the pairs equal to it the earliest ones, until k have fired
    kth = -np.partition(-acts, k - 1, axis=0)[k - 1]
    above = acts > kth
    tied = acts == kth
    mask = above | (tied & (np.cumsum(tied, axis=0) <= k - above.sum(axis=0)))
    return mask & (acts > 0)


def top_count(n_pairs: int, alpha: float) -> int:
    """k = ⌈alpha · n_pairs⌉, the firing count of every unit at the top-alpha regime (at least 1). The
    product is rounded to 9 decimals first, so that 0.07 × 100 (7.000000000000001 in floats) is 7, not 8."""
    return max(1, int(np.ceil(round(float(alpha) * int(n_pairs), 9))))


def beam_search_by_length(
    neuron_masks: np.ndarray,
    concept_masks,
    *,
    max_length: int = 5,
    beam_size: int = 10,
    min_acts: int = 500,
    names: Sequence[str] | None = None,
    complexity_penalty: float = 1.0,
    or_not: bool = False,
    expand_all: bool = False,
    penalty_counts_not: bool = False,
    duplicate_beam: bool = False,
    chunk_neurons: int = 16,
    progress: bool = True,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Best formula per neuron for every ``max_length`` in 1..max_length, from one search.

    ``neuron_masks``: boolean (pairs × units). ``concept_masks``: a Concepts object, a scipy sparse or
    dense boolean (pairs × concepts) matrix with ``names``. Returns one row per (neuron, max_length)
    with columns ``max_length`` + :data:`COLUMNS`.

    ``penalty_counts_not`` and ``duplicate_beam`` reproduce the original code (module docstring): the
    penalty's length counts each NOT, as its ``formula.py`` does; the beam holds the original's
    same-mask NEIGHBORS twins and duplicate formulas, ties in its insertion order. Both are off by
    default; ``max_length`` counts atoms either way, and so does the ``length`` column.

    ``n_jobs``: processes that search (an int; 1: this process only, no process is started; ≤ 0:
    one per usable core, :func:`usable_cores`). The neurons to explain are cut into contiguous blocks
    of whole ``chunk_neurons`` chunks (about 16 per process), searched by a joblib (loky) pool; the
    frame is identical to ``n_jobs=1`` (same formulas, bit-identical IoUs, same row order): every
    neuron's result depends only on its own counts, and the chunks are the same ones. The progress
    bar advances as blocks finish.
    """
    searcher, neuron_masks, max_length, min_acts, chunk_neurons = _setup(
        neuron_masks, concept_masks, names=names, max_length=max_length, beam_size=beam_size, min_acts=min_acts,
        complexity_penalty=complexity_penalty, or_not=or_not, expand_all=expand_all,
        penalty_counts_not=penalty_counts_not, duplicate_beam=duplicate_beam, chunk_neurons=chunk_neurons)
    import pandas as pd
    from tqdm.auto import tqdm

    jobs = resolve_jobs(n_jobs)
    n_fires = neuron_masks.sum(axis=0).astype(np.int64)
    todo = np.flatnonzero(n_fires >= min_acts)
    results: dict[int, list[tuple[str, float, int]]] = {}
    blocks = neuron_blocks(len(todo), chunk_neurons, jobs)
    with tqdm(total=len(todo), desc="beam search", unit="neuron", disable=not progress) as bar:
        if min(jobs, len(blocks)) <= 1:
            for start in range(0, len(todo), chunk_neurons):
                idx = todo[start : start + chunk_neurons]
                for u, best in zip(idx, searcher.run_chunk(neuron_masks[:, idx], max_length - 1)):
                    results[int(u)] = compact_rounds(best)
                bar.update(len(idx))
        else:
            for part in parallel_blocks(searcher, neuron_masks, todo, blocks, max_length - 1, chunk_neurons, jobs):
                results.update(part)
                bar.update(len(part))

    rows = []
    for u in range(neuron_masks.shape[1]):
        best = results.get(u)
        for k in range(1, max_length + 1):
            if best is None:
                rows.append((k, u, None, np.nan, pd.NA, None, np.nan, int(n_fires[u]), False))
            else:
                (text, iou, length), atom = best[k - 1], best[0]
                rows.append((k, u, text, iou, length, atom[0], atom[1], int(n_fires[u]), True))
    frame = pd.DataFrame(rows, columns=["max_length", *COLUMNS])
    frame["length"] = frame["length"].astype("Int64")
    frame["iou"] = frame["iou"].astype(float)
    frame["best_atom_iou"] = frame["best_atom_iou"].astype(float)
    frame["explained"] = frame["explained"].astype(bool)
    for col in ("formula", "best_atom"):  # None (not NaN) marks an unexplained unit
        frame[col] = pd.Series([v if ok else None for v, ok in zip(frame[col], frame["explained"])], dtype=object)
    return frame.sort_values(["max_length", "neuron"], kind="stable").reset_index(drop=True)


def _setup(neuron_masks, concept_masks, *, names, max_length, beam_size, min_acts, complexity_penalty, or_not,
           expand_all, penalty_counts_not, duplicate_beam, chunk_neurons):
    """Validated inputs and the searcher (shared by :func:`beam_search_by_length` and :func:`beam_trace`)."""
    neuron_masks = np.asarray(neuron_masks)
    if neuron_masks.ndim != 2:
        raise ValueError(f"neuron_masks must be 2-D (pairs × units), got shape {neuron_masks.shape}")
    neuron_masks = neuron_masks.astype(bool, copy=False)
    masks, names = as_concepts(concept_masks, names)
    if masks.shape[0] != neuron_masks.shape[0]:
        raise ValueError(
            f"neuron_masks has {neuron_masks.shape[0]} pairs (rows) but concept_masks has {masks.shape[0]}"
        )
    max_length = check_int("max_length", max_length, 1)
    beam_size = check_int("beam_size", beam_size, 1)
    min_acts = check_int("min_acts", min_acts, 0)
    chunk_neurons = check_int("chunk_neurons", chunk_neurons, 1)
    penalty = float(complexity_penalty)
    if not (math.isfinite(penalty) and penalty > 0):
        raise ValueError(f"complexity_penalty must be a finite float > 0, got {complexity_penalty!r}")
    if masks.shape[1] == 0:
        raise ValueError("concept_masks must have at least one concept (column)")
    flags = {"or_not": bool(or_not), "expand_all": bool(expand_all)}
    for flag, value in (("penalty_counts_not", penalty_counts_not), ("duplicate_beam", duplicate_beam)):
        if not isinstance(value, (bool, np.bool_)):  # 1 and True would make different cache keys
            raise ValueError(f"{flag} must be True or False, got {value!r}")
        flags[flag] = bool(value)
    searcher = Searcher(masks, names, beam_size=beam_size, complexity_penalty=penalty, **flags)
    return searcher, neuron_masks, max_length, min_acts, chunk_neurons


def beam_trace(neuron_mask: np.ndarray, concept_masks, *, max_length: int = 5, beam_size: int = 10,
               names: Sequence[str] | None = None, complexity_penalty: float = 1.0, or_not: bool = False,
               expand_all: bool = False, penalty_counts_not: bool = False,
               duplicate_beam: bool = False) -> pd.DataFrame:
    """The whole beam of one neuron after each round (to see what the beam holds, e.g. duplicates).

    ``neuron_mask``: boolean over pairs (1-D, or one column). Same options as
    :func:`beam_search_by_length` (no ``min_acts``: the neuron is searched whatever its firing count).
    One row per (max_length, rank): ``formula``, ``iou``, ``score`` (penalised), ``length`` (atoms),
    ``penalty_length`` (the length the penalty used), ``twin`` (``duplicate_beam``: the formula's first
    atom is the original's same-mask ``(NEIGHBORS atom)`` twin), ``duplicate`` (an entry above it in
    the same beam has the same formula text). A neuron that never fires keeps its first beam: every
    formula scores 0 and nothing beats the seeds (the original would still append zero-score
    candidates to a beam that is not full; the best formula is the same).
    """
    neuron_mask = np.asarray(neuron_mask)
    if neuron_mask.ndim == 1:
        neuron_mask = neuron_mask[:, None]
    if neuron_mask.ndim != 2 or neuron_mask.shape[1] != 1:
        raise ValueError(f"neuron_mask must be 1-D (pairs) or one column, got shape {neuron_mask.shape}")
    searcher, neuron_mask, max_length, _, _ = _setup(
        neuron_mask, concept_masks, names=names, max_length=max_length, beam_size=beam_size, min_acts=0,
        complexity_penalty=complexity_penalty, or_not=or_not, expand_all=expand_all,
        penalty_counts_not=penalty_counts_not, duplicate_beam=duplicate_beam, chunk_neurons=1)
    import pandas as pd

    trace: list = []
    searcher.run_chunk(neuron_mask, max_length - 1, trace=trace)
    rows = []
    for r, beams in enumerate(trace):
        seen: set[str] = set()
        for rank, e in enumerate(beams[0]):
            rows.append((r + 1, rank, e.text, e.iou, e.score, e.length, e.plen, e.twin, e.text in seen))
            seen.add(e.text)
    return pd.DataFrame(rows, columns=["max_length", "rank", "formula", "iou", "score", "length", "penalty_length",
                                       "twin", "duplicate"])


def penalty_length(formula, *, counts_not: bool = True) -> int:
    """The length the complexity penalty uses: atoms, or with ``counts_not`` the original's ``len()``
    (``formula.py``: leaf 1, NOT 1 + len(x), AND / OR len(L) + len(R); so ``(A AND NOT B)`` is 3)."""
    if isinstance(formula, str):
        formula = parse(formula)
    if not counts_not:
        return formula.length
    if isinstance(formula, Leaf):
        return 1
    if isinstance(formula, Not):
        return 1 + penalty_length(formula.x)
    return penalty_length(formula.left) + penalty_length(formula.right)


def beam_search(neuron_masks: np.ndarray, concept_masks, **kwargs) -> pd.DataFrame:
    """Best formula per neuron (one row per unit; columns :data:`COLUMNS`).

    Keyword arguments as :func:`beam_search_by_length` (``max_length=5, beam_size=10, min_acts=500,
    names=None, complexity_penalty=1.0, or_not=False, expand_all=False, penalty_counts_not=False,
    duplicate_beam=False, chunk_neurons=16, progress=True, n_jobs=1``); this is its ``max_length`` slice.
    """
    long = beam_search_by_length(neuron_masks, concept_masks, **kwargs)
    last = long[long["max_length"] == long["max_length"].max()]
    return last[COLUMNS].reset_index(drop=True)
