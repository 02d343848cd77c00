"""The vectorised beam search engine: one neuron chunk's rounds as sparse-matrix products, the IoU of
every candidate from counts, and the selection of the next beam.

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
  rounds (only the seeding and the selection differ: :meth:`Searcher.select_duplicates`), at about
  the default's speed; its ties follow the column order of the concept matrix, as the original's follow
  its feature indices.
"""

from __future__ import annotations



import numpy as np
import scipy.sparse as sp

from .formulas import And, Leaf, Not, Or


OPS = ("AND", "OR", "AND NOT", "OR NOT")


_AND, _OR, _AND_NOT, _OR_NOT = range(4)


_MARGIN = 1e-6


def as_concepts(concept_masks, names) -> tuple[sp.csc_matrix, list[str]]:
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


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class BeamEntry:
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


class Searcher:
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
    def from_spec(cls, spec: tuple) -> Searcher:
        indptr, indices, shape, names, options = spec
        masks = sp.csc_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=shape, copy=False)
        masks.has_sorted_indices = True  # sorted by as_concepts
        return cls(masks, list(names), **options)

    def rows(self, c: int) -> np.ndarray:
        return self.masks.indices[self.masks.indptr[c] : self.masks.indptr[c + 1]]

    def column(self, c: int) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[self.rows(c)] = True
        return out

    def combine(self, parent: BeamEntry, o: int, c: int, score, iou, inter, union, n_n) -> BeamEntry:
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
        return BeamEntry(formula, parent.length + 1, float(score), float(iou), mask, n_f, int(inter),
                      (parent.text, o, c), parent.plen + 1 + int(self.op_extra[o]), parent.twin)

    # ------------------------------------------------------------------------------- one chunk

    def run_chunk(self, neuron_masks: np.ndarray, rounds: int, trace: list | None = None) -> list[list[BeamEntry]]:
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

    def initial_beam(self, iou, n_nc) -> list[BeamEntry]:
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
            BeamEntry(self.leaves[c], 1, float(iou[c]), float(iou[c]), self.column(c), int(self.n_c[c]), int(n_nc[c]))
            for c in chosen
        ]

    def initial_duplicates(self, iou, n_nc) -> list[BeamEntry]:
        """``duplicate_beam``: every atom, then its same-mask twin, best ``beam_size`` by score only
        (ties in that order: atom before twin, columns in order)."""
        k = min(self.beam_size, 2 * self.m)
        twin_plen = 2 if self.counts_not else 1
        score = np.stack([iou * self.penalty**0, iou * self.penalty ** (twin_plen - 1)], axis=1).ravel()
        chosen = np.argsort(-score, kind="stable")[:k]  # position 2c: atom c, 2c + 1: its twin
        out = []
        for p in chosen:
            c, twin = divmod(int(p), 2)
            out.append(BeamEntry(self.leaves[c], 1, float(score[p]), float(iou[c]), self.column(c), int(self.n_c[c]),
                              int(n_nc[c]), plen=twin_plen if twin else 1, twin=bool(twin)))
        return out

    def round(self, beams, columns, n_n, n_nc, expand) -> list[list[BeamEntry]]:
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

    def select(self, beam, k, o, c, score, iou, inter, union, n_n) -> list[BeamEntry]:
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
        out.sort(key=BeamEntry.key)
        return out

    def select_duplicates(self, beam, k, o, c, score, iou, inter, union, n_n) -> list[BeamEntry]:
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
