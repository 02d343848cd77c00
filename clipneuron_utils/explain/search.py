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

Design (why it is fast): no Python call per candidate. For a chunk of neurons (``chunk_neurons``),
each neuron's beam masks F ∧ N and the chunk's distinct beam masks F are stacked as dense columns and
multiplied by the sparse concept matrix once per round (``concepts.T @ rows``: scipy's CSR kernel
does contiguous axpys; int16 while n < 2^15, exact and about twice as fast as float32, which it uses
beyond; torch.sparse was slower here). That gives, for every atom C at once, a = |N ∧ F ∧ C| and
b = |F ∧ C|; with |N|, |F|, |N ∧ F|, |C|, |N ∧ C| every candidate's IoU follows from counts:

- AND:     inter = a,                 union = b + |N| − a
- OR:      inter = |N∧F| + |N∧C| − a,  union = |F| + |C| − b + |N| − inter
- AND NOT: inter = |N∧F| − a,         union = |F| − b + |N| − inter
- OR NOT:  inter = |N| − |N∧C| + a,   union = n − |C| + b + |N| − inter

Top-k without sorting 10 × 3 × 4,000 candidates per neuron: scores are first computed in float32
(counts are exact there, n < 2^24). The old beam and the best candidate of each (F, op) group are
distinct pool members, so the ``beam_size``-th best of them bounds the pool's ``beam_size``-th best
from below; only candidates within a 1e-6 margin of it survive (a few, plus exact ties) and are
rescored in float64 from the integer counts, so IoUs equal a plain ``inter / union``. The exact
k-th score comes from a partition; every candidate tied with it is resolved by the full key.
Candidate texts are ``"(" + text(F) + " " + OP + " " + name + ")"`` and a canonical text is never a
proper prefix of another one followed by a space, so text order among candidates is (rank of
text(F), rank of ``"OP name)"``), both precomputed: only the texts of formulas that enter the beam
are built. A beam keeps each formula's mask, so the next round needs no re-evaluation.

Compatibility with the original code (Mu & Andreas' ``compexp``, ``nli/code/analyze.py``,
``compute_best_sentence_iou``, and ``formula.py``); both off by default, the default search is unchanged:

- ``penalty_counts_not``: the complexity penalty uses the original's length, ``len()`` of its formula
  classes: a leaf is 1, ``NOT x`` is 1 + len(x), ``L AND R`` / ``L OR R`` is len(L) + len(R) (the
  binary operator itself counts nothing), so ``(A AND NOT B)`` has length 3 where ours counts 2 atoms
  (:func:`penalty_length`). Score = IoU × penalty^(length − 1) with that length. ``max_length`` still
  counts atoms, as the original's ``MAX_FORMULA_LENGTH`` does (it is the number of rounds + 1, each round
  adding one atom, with or without a NOT); the reported ``length`` column stays the number of atoms.
- ``duplicate_beam``: the original's beam as shipped. Its ``OPS["lemma"]`` (``NEIGHBORS``) is applied to
  every concept when the beam is seeded, and is a no-op in the sentence setting (GloVe keys are bare
  lemmas, the look-ups ``tok:man``), so each atom A gets a twin ``(NEIGHBORS A)`` with A's mask, inserted
  right after A. The expansion list (``nonzero_iou = [k.val for k, v in formulas.items() if v > 0]``)
  therefore holds every atom twice: A itself and the leaf inside its twin, both plain leaves. Formulas
  are dict keys without equality (hash only), so nothing is ever merged: the twin, a candidate built
  twice, and a candidate identical to an old beam formula are distinct entries. The pool is the old beam
  (in beam order) followed by the candidates in the order the loops make them (beam formula, then atom
  in column order, its twin copy next, then OR, AND, AND NOT — OR NOT last when ``or_not``);
  ``Counter.most_common`` keeps the best ``beam_size`` by score alone, ties in that insertion order
  (``heapq.nlargest`` equals a stable sort). So ties break by position, not by length or text, and
  the beam's order is that order. A twin counts as its atom for the penalty, or as 1 + 1 with
  ``penalty_counts_not`` (``NEIGHBORS`` is a unary node in ``formula.py``), so both options together are
  the original's search. Formulas are reported without the ``NEIGHBORS`` wrapper (the mask is A's);
  :func:`beam_trace` marks entries that descend from a twin. This mode runs on the same vectorised
  rounds (only the seeding and the selection differ: :meth:`_Searcher.select_duplicates`), at about
  the default's speed; its ties follow the column order of the concept matrix, as the original's follow
  its feature indices.

Every neuron's result depends only on its own counts, so results do not depend on chunking, neuron
order, thread or process count. Benchmarks (``benchmarks/search.py``, 2 CPU cores): 1,024 neurons × 10,000
pairs × 4,000 concepts, max_length 5, beam 10 in ~6 s and ~200 MB, ~2,000× the per-candidate loop.

Processes (``n_jobs``): the search is single-threaded numpy/scipy, so more cores need more processes.
With ``n_jobs`` ≠ 1 (≤ 0: every usable core) the neurons to explain are cut into contiguous blocks of
whole chunks (the chunks of one process, about :data:`BLOCKS_PER_JOB` blocks per process, so the last
blocks finish close together) and searched by a joblib pool of loky worker processes; the frame is
identical to one process's, row for row and bit for bit. A task carries its block's mask columns
and the concept matrix as its index arrays (:meth:`_Searcher.spec`, ~1.3 MB for SNLI dev's 4,083
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
from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .formulas import And, Leaf, Not, Or, parse

if TYPE_CHECKING:  # pandas is imported where frames are made: worker processes (n_jobs) start faster
    import pandas as pd

OPS = ("AND", "OR", "AND NOT", "OR NOT")
_AND, _OR, _AND_NOT, _OR_NOT = range(4)
_MARGIN = 1e-6
COLUMNS = ["neuron", "formula", "iou", "length", "best_atom", "best_atom_iou", "n_fires", "explained"]


def threshold_activations(acts: np.ndarray, alpha: float | None = None, *, what: str = "") -> np.ndarray:
    """Neuron masks (pairs × units) from activations.

    ``alpha=None``: a unit fires iff its activation > 0 (the NLI setting). ``alpha`` in (0, 1): it fires
    iff its activation > its own (1 − alpha) quantile (strictly, so ties at the quantile do not fire
    and a post-ReLU unit that is zero on more than 1 − alpha of the pairs fires exactly where > 0).
    No extra "> 0" condition: for post-ReLU units it is implied, for signed units it would not be
    the top-alpha quantile any more. NaN or ±inf is an error, not a mask: +inf would "fire", NaN makes
    the unit's quantile NaN, and either gives IoUs that mean nothing. ``what`` (e.g. ``"lstm model"``)
    starts the message, so it names the model.
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
    q = np.quantile(acts, 1 - float(alpha), axis=0, keepdims=True)
    return acts > q


# ------------------------------------------------------------------------------------------- setup


def _as_concepts(concept_masks, names) -> tuple[sp.csc_matrix, list[str]]:
    if hasattr(concept_masks, "masks") and hasattr(concept_masks, "names"):
        if names is not None and list(names) != list(concept_masks.names):
            raise ValueError("names must be None or equal to the Concepts object's names")
        names, concept_masks = concept_masks.names, concept_masks.masks
    if sp.issparse(concept_masks):
        masks = sp.csc_matrix(concept_masks)
        masks.sum_duplicates()
        masks.eliminate_zeros()
        masks = masks.astype(bool)
    else:
        masks = np.asarray(concept_masks)
        if masks.ndim != 2:
            raise ValueError(f"concept_masks must be 2-D (pairs × concepts), got shape {masks.shape}")
        masks = sp.csc_matrix(masks.astype(bool))
    masks.sort_indices()
    if names is None:
        names = [f"c{j}" for j in range(masks.shape[1])]
    names = [str(n) for n in names]
    if len(names) != masks.shape[1]:
        raise ValueError(f"names has {len(names)} entries but concept_masks has {masks.shape[1]} columns")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    for n in names:
        Leaf(n)  # raises ValueError for names that would make formula text ambiguous
    return masks, names


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class _Entry:
    """One beam formula: its scores, counts and mask (kept so the next round needs no re-evaluation)."""

    __slots__ = ("formula", "text", "length", "score", "iou", "mask", "n_f", "n_nf", "origin", "plen", "twin")

    def __init__(self, formula, length, score, iou, mask, n_f, n_nf, origin=None, plen=None, twin=False):
        self.formula, self.text, self.length = formula, formula.text, length
        self.score, self.iou, self.mask, self.n_f, self.n_nf = score, iou, mask, n_f, n_nf
        self.origin = origin  # (parent text, op, atom) for candidates: identical formulas count once
        self.plen = length if plen is None else plen  # the length the complexity penalty sees
        self.twin = twin  # duplicate_beam: the first atom is the original's (NEIGHBORS atom) twin

    def key(self):
        return (-self.score, self.length, self.text)


class _Searcher:
    """State shared by all neurons: the concept matrix, its counts and precomputed text ranks."""

    def __init__(self, masks, names, *, beam_size, complexity_penalty, or_not, expand_all,
                 penalty_counts_not=False, duplicate_beam=False):
        self.masks, self.names = masks, names
        self.options = dict(beam_size=beam_size, complexity_penalty=complexity_penalty, or_not=or_not,
                            expand_all=expand_all, penalty_counts_not=penalty_counts_not,
                            duplicate_beam=duplicate_beam)
        self.n, self.m = masks.shape
        if self.n >= 2**24:
            raise ValueError("at most 2**24 pairs (counts must stay exact in float32)")
        # int16 products are exact while counts fit (n < 2**15) and twice as fast as float32.
        self.dtype = np.int16 if self.n < 2**15 else np.float32
        self.ct = masks.T.tocsr().astype(self.dtype)  # (m × n): the product kernel's operand
        self.n_c = np.diff(masks.indptr).astype(np.int64)
        self.beam_size = beam_size
        self.penalty, self.expand_all = float(complexity_penalty), expand_all
        self.ops = 4 if or_not else 3
        self.counts_not, self.duplicates = bool(penalty_counts_not), bool(duplicate_beam)
        # Extra penalty length of each op: 1 for the NOT of AND NOT / OR NOT when NOT counts.
        self.op_extra = np.array([0, 0, 1, 1][: self.ops] if self.counts_not else [0] * self.ops, dtype=np.int64)
        # The original's op order (OPS["all"]: OR, AND, AND NOT; OR NOT, not in the original, last).
        self.op_rank = np.array([1, 0, 2, 3][: self.ops], dtype=np.int64)
        self.leaves = [Leaf(n) for n in names]
        order = sorted(range(self.m), key=names.__getitem__)
        self.name_rank = np.empty(self.m, dtype=np.int64)
        self.name_rank[order] = np.arange(self.m)
        suffixes = [f" {OPS[o]} {n})" for o in range(self.ops) for n in names]
        order = sorted(range(len(suffixes)), key=suffixes.__getitem__)
        self.suffix_rank = np.empty(len(suffixes), dtype=np.int64)
        self.suffix_rank[order] = np.arange(len(suffixes))
        self.suffix_rank = self.suffix_rank.reshape(self.ops, self.m)

    def spec(self) -> tuple:
        """What a worker process needs to rebuild this searcher: the mask's index arrays, shape, names,
        options (a few pickled buffers; the derived arrays and leaves are rebuilt, not sent)."""
        return (self.masks.indptr, self.masks.indices, self.masks.shape, self.names, self.options)

    @classmethod
    def from_spec(cls, spec: tuple) -> _Searcher:
        indptr, indices, shape, names, options = spec
        masks = sp.csc_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=shape, copy=False)
        masks.has_sorted_indices = True  # sorted by _as_concepts
        return cls(masks, list(names), **options)

    def rows(self, c: int) -> np.ndarray:
        return self.masks.indices[self.masks.indptr[c] : self.masks.indptr[c + 1]]

    def column(self, c: int) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[self.rows(c)] = True
        return out

    def combine(self, parent: _Entry, o: int, c: int, score, iou, inter, union, n_n) -> _Entry:
        leaf, idx = self.leaves[c], self.rows(c)
        if o in (_AND, _OR_NOT):
            mask = np.zeros(self.n, dtype=bool) if o == _AND else np.ones(self.n, dtype=bool)
            mask[idx] = parent.mask[idx]
        else:
            mask = parent.mask.copy()
            mask[idx] = o == _OR
        formula = {
            _AND: And(parent.formula, leaf),
            _OR: Or(parent.formula, leaf),
            _AND_NOT: And(parent.formula, Not(leaf)),
            _OR_NOT: Or(parent.formula, Not(leaf)),
        }[o]
        n_f = int(union - n_n + inter)
        return _Entry(formula, parent.length + 1, float(score), float(iou), mask, n_f, int(inter),
                      (parent.text, o, c), parent.plen + 1 + int(self.op_extra[o]), parent.twin)

    # ------------------------------------------------------------------------------- one chunk

    def run_chunk(self, neuron_masks: np.ndarray, rounds: int, trace: list | None = None) -> list[list[_Entry]]:
        """Best entry after each round (0..rounds) for each neuron of the chunk.

        ``trace`` (a list): receives each neuron's whole beam after each round, ``trace[r][i]``.
        """
        nb = neuron_masks.shape[1]
        n_n = neuron_masks.sum(axis=0).astype(np.int64)
        n_nc = np.asarray(self.ct @ neuron_masks.astype(self.dtype)).T.astype(np.int64)  # (B, m)
        union = n_n[:, None] + self.n_c[None, :] - n_nc
        atom_iou = np.divide(n_nc, union, out=np.zeros(n_nc.shape), where=union > 0)
        seed = self.initial_duplicates if self.duplicates else self.initial_beam
        beams = [seed(atom_iou[i], n_nc[i]) for i in range(nb)]
        best = [[b[0]] for b in beams]
        if trace is not None:
            trace.append(list(beams))
        # A unit that never fires scores 0 everywhere; longer formulas never beat its atoms.
        live = np.flatnonzero(n_n > 0)
        if len(live) < nb:
            for i in np.flatnonzero(n_n == 0):
                best[i] *= rounds + 1
            neuron_masks, n_n, n_nc = neuron_masks[:, live], n_n[live], n_nc[live]
            beams = [beams[i] for i in live]
        expand = np.ones_like(n_nc, dtype=bool) if self.expand_all else n_nc > 0
        columns = np.ascontiguousarray(neuron_masks.T)
        for r in range(rounds):
            if len(live):
                beams = self.round(beams, columns, n_n, n_nc, expand)
            for i, b in zip(live, beams):
                best[i].append(b[0])
            if trace is not None:  # a silent unit's beam stays its first one (nothing beats it)
                full = list(trace[-1])
                for i, b in zip(live, beams):
                    full[i] = b
                trace.append(full)
        return best

    def initial_beam(self, iou, n_nc) -> list[_Entry]:
        k, m = min(self.beam_size, self.m), self.m
        if k < m:
            v = np.partition(iou, m - k)[m - k]
            above = np.flatnonzero(iou > v)
            tie = np.flatnonzero(iou == v)
            tie = tie[np.argsort(self.name_rank[tie], kind="stable")][: k - len(above)]
            chosen = np.concatenate([above, tie])
        else:
            chosen = np.arange(m)
        chosen = chosen[np.lexsort((self.name_rank[chosen], -iou[chosen]))]
        return [
            _Entry(self.leaves[c], 1, float(iou[c]), float(iou[c]), self.column(c), int(self.n_c[c]), int(n_nc[c]))
            for c in chosen
        ]

    def initial_duplicates(self, iou, n_nc) -> list[_Entry]:
        """``duplicate_beam``: every atom, then its same-mask twin, best ``beam_size`` by score only
        (ties in that order: atom before twin, columns in order)."""
        k = min(self.beam_size, 2 * self.m)
        twin_plen = 2 if self.counts_not else 1
        score = np.stack([iou * self.penalty**0, iou * self.penalty ** (twin_plen - 1)], axis=1).ravel()
        chosen = np.argsort(-score, kind="stable")[:k]  # position 2c: atom c, 2c + 1: its twin
        out = []
        for p in chosen:
            c, twin = divmod(int(p), 2)
            out.append(_Entry(self.leaves[c], 1, float(score[p]), float(iou[c]), self.column(c), int(self.n_c[c]),
                              int(n_nc[c]), plen=twin_plen if twin else 1, twin=bool(twin)))
        return out

    def round(self, beams, columns, n_n, n_nc, expand) -> list[list[_Entry]]:
        """One expansion of every beam of the chunk: counts → float32 scores → bound → exact top-k."""
        nb, K, m, n_ops = len(beams), self.beam_size, self.m, self.ops
        # Each neuron's F ∧ N, then the unique beam masks F (by text), as columns of one matrix.
        nbk = nb * K
        uniq: dict[str, int] = {}
        slot = np.empty(nbk, dtype=np.int64)
        short = any(len(beam) < K for beam in beams)  # only while the pool is smaller than beam_size
        stacked = (np.zeros if short else np.empty)((2 * nbk, self.n), dtype=bool)
        n_f, n_nf, length = (np.zeros((nb, K), dtype=np.int64) for _ in range(3))  # length: penalty length
        old_scores = np.full((nb, K), -np.inf)
        slot[:] = nbk  # padding slots point at the first unique mask; their scores are masked below
        dup = []  # (neuron, op, beam slot, atom) of candidates identical to an old beam entry
        for i, beam in enumerate(beams):
            pos = {} if self.duplicates else {e.text: k for k, e in enumerate(beam)}
            for k, e in enumerate(beam):
                j = uniq.get(e.text)
                if j is None:
                    j = uniq[e.text] = len(uniq)
                    stacked[nbk + j] = e.mask
                slot[i * K + k] = nbk + j
                np.logical_and(e.mask, columns[i], out=stacked[i * K + k])
                n_f[i, k], n_nf[i, k], length[i, k], old_scores[i, k] = e.n_f, e.n_nf, e.plen, e.score
                if e.origin is not None and e.origin[0] in pos:
                    dup.append((i, e.origin[1], pos[e.origin[0]], e.origin[2]))
        stacked = stacked[: nbk + len(uniq)]
        prod = self.ct @ np.ascontiguousarray(stacked.T, dtype=self.dtype)  # (m, B·K + U)
        prod = np.ascontiguousarray(prod.T)  # (B·K + U, m): atoms innermost for the arithmetic
        f32 = np.float32
        a = prod[:nbk].reshape(nb, K, m).astype(f32)  # |N ∧ F ∧ C|
        b = prod[slot].reshape(nb, K, m).astype(f32)  # |F ∧ C|
        # Float32 scores of every candidate from counts; layout (neuron, op, beam slot, atom).
        nN = n_n.astype(f32)[:, None, None]
        nC = self.n_c.astype(f32)[None, None, :]
        nNC = n_nc.astype(f32)[:, None, :]
        nF = n_f.astype(f32)[:, :, None]
        nNF = n_nf.astype(f32)[:, :, None]
        score32 = np.empty((nb, n_ops, K, m), dtype=f32)
        with np.errstate(divide="ignore", invalid="ignore"):  # only padding slots, masked below
            for o in range(n_ops):
                inter, uni = self._counts(o, a, b, nN, nC, nNC, nF, nNF, f32(self.n))
                np.divide(inter, uni, out=score32[:, o])  # n_n > 0 here, so real unions are > 0
        # Candidate penalty length = parent's + 1 (+ 1 for a counted NOT): weight per (neuron, op, slot).
        exponent = length[:, None, :] + self.op_extra[None, :, None]
        if self.counts_not or self.duplicates:
            # The original's weight is Python's float ** int (libm pow); numpy's vectorised power can
            # differ from it in the last bit (1.1 ** 7), which would move ties of the compatible modes.
            weight = np.array([self.penalty**e for e in range(int(exponent.max()) + 1)])[exponent]
        else:
            weight = self.penalty ** exponent.astype(np.float64)
        if self.penalty != 1.0:
            score32 *= weight.astype(f32)[:, :, :, None]
        if not self.expand_all:
            np.copyto(score32, f32(-1), where=~expand[:, None, None, :])
        if short:
            filled = np.arange(K)[None, :] < np.array([len(beam) for beam in beams])[:, None]
            np.copyto(score32, f32(-1), where=~filled[:, None, :, None])
        if dup:
            score32[tuple(np.array(dup).T)] = -1
        # Lower bound on each pool's beam_size-th best: the old beam and the best candidate of each
        # (F, op) group are distinct pool members. Candidates below it cannot enter the beam.
        members = np.concatenate([old_scores, score32.max(axis=3).reshape(nb, -1)], axis=1)
        kth = -np.partition(-members, K - 1, axis=1)[:, K - 1]
        thr = (np.maximum(kth, 0) * (1 - _MARGIN)).astype(f32)
        flat = np.flatnonzero(score32 >= thr[:, None, None, None])  # sorted by neuron
        bi, oi, ki, ci = np.unravel_index(flat, score32.shape)
        # Exact rescoring of the survivors from integer counts.
        inter, uni = self._counts_exact(oi, prod[bi * K + ki, ci], prod[slot[bi * K + ki], ci], n_n[bi],
                                        self.n_c[ci], n_nc[bi, ci], n_f[bi, ki], n_nf[bi, ki])
        iou = inter / uni
        score = iou * weight[bi, oi, ki]
        bounds = np.searchsorted(bi, np.arange(nb + 1))
        select = self.select_duplicates if self.duplicates else self.select
        new = []
        for i, beam in enumerate(beams):
            s = slice(bounds[i], bounds[i + 1])
            new.append(select(beam, ki[s], oi[s], ci[s], score[s], iou[s], inter[s], uni[s], int(n_n[i])))
        return new

    @staticmethod
    def _counts(o, a, b, nN, nC, nNC, nF, nNF, n):
        """Float32 (intersection, union) of F op C with N, for every atom C (see module docstring)."""
        if o == _AND:
            uni = b - a
            uni += nN
            return a, uni
        if o == _OR:
            inter = (nNF + nNC) - a
            uni = nC - b
            uni += nF + nN
            uni -= inter
            return inter, uni
        if o == _AND_NOT:
            inter = nNF - a
            uni = a - b
            uni += nF + nN - nNF
            return inter, uni
        inter = (nN - nNC) + a
        uni = b - nC
        uni += n + nN
        uni -= inter
        return inter, uni

    def _counts_exact(self, o, a, b, nN, nC, nNC, nF, nNF):
        a, b = a.astype(np.int64), b.astype(np.int64)
        inter = np.select([o == _AND, o == _OR, o == _AND_NOT], [a, nNF + nNC - a, nNF - a], nN - nNC + a)
        union = np.select(
            [o == _AND, o == _OR, o == _AND_NOT],
            [b + nN - a, nF + nC - b + nN - inter, nF - b + nN - inter],
            self.n - nC + b + nN - inter,
        )
        return inter, union

    def select(self, beam, k, o, c, score, iou, inter, union, n_n) -> list[_Entry]:
        """The best ``beam_size`` of old beam + candidates, by (−score, length, text)."""
        K = len(beam)
        old_score = np.array([e.score for e in beam])
        old_len = np.array([e.length for e in beam], dtype=np.int64)
        all_score = np.concatenate([old_score, score])
        all_len = np.concatenate([old_len, old_len[k] + 1])
        total = len(all_score)
        if total <= self.beam_size:
            chosen = list(range(total))
        else:
            v = np.partition(all_score, total - self.beam_size)[total - self.beam_size]
            chosen = np.flatnonzero(all_score > v).tolist()
            tie = np.flatnonzero(all_score == v)
            need = self.beam_size - len(chosen)
            for L in np.unique(all_len[tie]):
                if need == 0:
                    break
                group = tie[all_len[tie] == L]
                if len(group) <= need:
                    chosen += group.tolist()
                    need -= len(group)
                else:
                    chosen += self._smallest_texts(beam, group, need, k, o, c)
                    need = 0
        out = []
        for j in chosen:
            if j < K:
                out.append(beam[j])
            else:
                j -= K
                out.append(self.combine(beam[k[j]], o[j], c[j], score[j], iou[j], inter[j], union[j], n_n))
        out.sort(key=_Entry.key)
        return out

    def select_duplicates(self, beam, k, o, c, score, iou, inter, union, n_n) -> list[_Entry]:
        """``duplicate_beam``: the best ``beam_size`` of the original's pool, by score only, ties in pool
        order. The pool is the old beam in its order, then for each beam slot k, each expansion atom c
        (column order) and its twin copy (d = 0, 1), each op in the original's order, the candidate;
        nothing is merged. Only the survivors of the bound (every candidate that can reach the beam,
        ties included) are ranked; each stands for its two copies."""
        K = len(beam)
        n = len(score)
        zeros = np.zeros(K, dtype=np.int64)
        all_score = np.concatenate([[e.score for e in beam], score, score])
        group = np.concatenate([zeros, np.ones(2 * n, dtype=np.int64)])
        slot = np.concatenate([np.arange(K), k, k])
        atom = np.concatenate([zeros, c, c])
        copy = np.concatenate([zeros, np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
        op = np.concatenate([zeros, self.op_rank[o], self.op_rank[o]])
        order = np.lexsort((op, copy, atom, slot, group, -all_score))[: self.beam_size]
        out = []
        for j in order:
            if j < K:
                out.append(beam[j])
            else:
                j = (j - K) % n
                out.append(self.combine(beam[k[j]], o[j], c[j], score[j], iou[j], inter[j], union[j], n_n))
        return out

    def _smallest_texts(self, beam, group, need, k, o, c) -> list[int]:
        """``need`` members of ``group`` (pool indices, tied in score and length) with smallest text."""
        K = len(beam)
        old = group[group < K]
        cand = group[group >= K] - K
        parent_rank = np.empty(K, dtype=np.int64)
        parent_rank[sorted(range(K), key=lambda j: beam[j].text)] = np.arange(K)
        cand = cand[np.lexsort((self.suffix_rank[o[cand], c[cand]], parent_rank[k[cand]]))][:need]
        texts = [(beam[j].text, int(j)) for j in old]
        texts += [(f"({beam[k[j]].text} {OPS[o[j]]} {self.names[c[j]]})", int(j) + K) for j in cand]
        texts.sort()
        return [j for _, j in texts[:need]]


# -------------------------------------------------------------------------------------------- API


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
    blocks = _blocks(len(todo), chunk_neurons, jobs)
    with tqdm(total=len(todo), desc="beam search", unit="neuron", disable=not progress) as bar:
        if min(jobs, len(blocks)) <= 1:
            for start in range(0, len(todo), chunk_neurons):
                idx = todo[start : start + chunk_neurons]
                for u, best in zip(idx, searcher.run_chunk(neuron_masks[:, idx], max_length - 1)):
                    results[int(u)] = _compact(best)
                bar.update(len(idx))
        else:
            for part in _parallel_blocks(searcher, neuron_masks, todo, blocks, max_length - 1, chunk_neurons, jobs):
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


# ------------------------------------------------------------------------------------ processes

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


def _blocks(n_todo: int, chunk_neurons: int, jobs: int) -> list[tuple[int, int]]:
    """Contiguous (start, stop) ranges of the neurons to search, each of whole chunks (the last may be short)."""
    if jobs <= 1:
        return [(0, n_todo)] if n_todo else []
    chunks = math.ceil(n_todo / chunk_neurons)
    size = chunk_neurons * max(1, chunks // (jobs * BLOCKS_PER_JOB))
    return [(start, min(start + size, n_todo)) for start in range(0, n_todo, size)]


def _compact(best: list[_Entry]) -> list[tuple[str, float, int]]:
    """(text, IoU, atoms) of a neuron's best formula after each round: all the frame needs (no masks)."""
    return [(e.text, e.iou, e.length) for e in best]


#: in a worker process: the searcher of the current call (token → _Searcher), built by its first block
_WORKER_SEARCHER: dict[str, _Searcher] = {}


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
        searcher = _WORKER_SEARCHER[token] = _Searcher.from_spec(spec)
    out = {}
    for start in range(0, block.shape[1], chunk_neurons):
        part = block[:, start : start + chunk_neurons]
        for u, best in zip(units[start : start + chunk_neurons], searcher.run_chunk(part, rounds)):
            out[int(u)] = _compact(best)
    return out


def _parallel_blocks(searcher: _Searcher, neuron_masks, todo, blocks, rounds, chunk_neurons, jobs):
    """Each block's results, as the blocks finish, from a joblib pool of ``jobs`` loky processes.

    The concept matrix travels as :meth:`_Searcher.spec` (its index arrays, names, options), pickled
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


def _setup(neuron_masks, concept_masks, *, names, max_length, beam_size, min_acts, complexity_penalty, or_not,
           expand_all, penalty_counts_not, duplicate_beam, chunk_neurons):
    """Validated inputs and the searcher (shared by :func:`beam_search_by_length` and :func:`beam_trace`)."""
    neuron_masks = np.asarray(neuron_masks)
    if neuron_masks.ndim != 2:
        raise ValueError(f"neuron_masks must be 2-D (pairs × units), got shape {neuron_masks.shape}")
    neuron_masks = neuron_masks.astype(bool, copy=False)
    masks, names = _as_concepts(concept_masks, names)
    if masks.shape[0] != neuron_masks.shape[0]:
        raise ValueError(
            f"neuron_masks has {neuron_masks.shape[0]} pairs (rows) but concept_masks has {masks.shape[0]}"
        )
    max_length = _check_int("max_length", max_length, 1)
    beam_size = _check_int("beam_size", beam_size, 1)
    min_acts = _check_int("min_acts", min_acts, 0)
    chunk_neurons = _check_int("chunk_neurons", chunk_neurons, 1)
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
    searcher = _Searcher(masks, names, beam_size=beam_size, complexity_penalty=penalty, **flags)
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
