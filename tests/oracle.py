"""Brute-force references for the search tests: plain Python, one IoU per formula."""

from __future__ import annotations

import numpy as np

OPS = ("AND", "OR", "AND NOT")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 0.0


def combine(f: np.ndarray, op: str, c: np.ndarray) -> np.ndarray:
    if op == "AND":
        return f & c
    if op == "OR":
        return f | c
    if op == "AND NOT":
        return f & ~c
    if op == "OR NOT":
        return f | ~c
    raise ValueError(op)


def exhaustive_best(neuron: np.ndarray, concepts: np.ndarray, names, *, restrict: bool, ops=OPS):
    """Best (iou, length, text) over every atom and every ``A op B`` (all ordered atom pairs).

    ``restrict``: second atoms B only among atoms with IoU > 0 with the neuron (the paper's rule).
    """
    m = concepts.shape[1]
    atom_iou = [iou(neuron, concepts[:, j]) for j in range(m)]
    pool = [(-atom_iou[j], 1, names[j]) for j in range(m)]
    second = [j for j in range(m) if atom_iou[j] > 0] if restrict else range(m)
    for i in range(m):
        for j in second:
            for op in ops:
                score = iou(neuron, combine(concepts[:, i], op, concepts[:, j]))
                pool.append((-score, 2, f"({names[i]} {op} {names[j]})"))
    best = min(pool)
    return -best[0], best[1], best[2]


def naive_beam_search(neuron, concepts, names, *, max_length, beam_size, expand_all=False, or_not=False,
                      complexity_penalty=1.0, penalty_counts_not=False):
    """The search as DESIGN.md states it, one IoU per candidate; best (text, iou) after each round.

    Formulas are kept as canonical text with their mask; identical formulas count once (a dict).
    ``penalty_counts_not``: the penalty's length also counts each NOT (AND NOT / OR NOT add 2).
    """
    m = concepts.shape[1]
    ops = OPS + (("OR NOT",) if or_not else ())
    atom_iou = [iou(neuron, concepts[:, j]) for j in range(m)]
    expansion = [j for j in range(m) if expand_all or atom_iou[j] > 0]

    def ranked(pool):  # text -> (iou, length, mask, penalty length)
        key = lambda t: (-pool[t][0] * complexity_penalty ** (pool[t][3] - 1), pool[t][1], t)  # noqa: E731
        return {t: pool[t] for t in sorted(pool, key=key)[:beam_size]}

    beam = ranked({names[j]: (atom_iou[j], 1, concepts[:, j], 1) for j in range(m)})
    best = [next(iter(beam.items()))]
    for _ in range(max_length - 1):
        pool = dict(beam)
        for text, (_, length, mask, plen) in beam.items():
            for j in expansion:
                for op in ops:
                    new = combine(mask, op, concepts[:, j])
                    grow = 2 if penalty_counts_not and op.endswith("NOT") else 1
                    pool.setdefault(f"({text} {op} {names[j]})", (iou(neuron, new), length + 1, new, plen + grow))
        beam = ranked(pool)
        best.append(next(iter(beam.items())))
    return [(t, v[0], v[1]) for t, v in best]


def original_beam_search(neuron, concepts, names, *, max_length, beam_size, complexity_penalty=1.0,
                         penalty_counts_not=True, expand_all=False, or_not=False):
    """Mu & Andreas' loop as their code runs it in the sentence setting (compexp ``nli/code/analyze.py``,
    ``compute_best_sentence_iou``; lengths from ``formula.py``), restated from reading it.

    - Seeding: for each concept in column order, the leaf, then ``NEIGHBORS(leaf)``, a no-op here (same
      mask) but a unary node, so ``len`` 2.
    - Expansion list: the seeds with score > 0, each contributing its leaf, so every atom twice.
    - Each round: pool = old beam, then for each beam formula, each expansion atom, each op in the
      order OR, AND, AND NOT (OR NOT appended here as an extension), the new formula; nothing is merged.
      Keep the best ``beam_size`` by score alone; Python's sort is stable, so ties keep pool order
      (as ``Counter.most_common`` does).
    - Score: IoU × penalty ** (len − 1); len: leaf 1, unary 1 + len(x), binary len(L) + len(R).
      ``penalty_counts_not=False`` counts atoms only (the twin's NEIGHBORS and the NOTs count 0).

    Returns the beam after each round: lists of (text, iou, score, penalty length, twin), where text
    is our canonical text (the NEIGHBORS wrapper dropped, the mask being the atom's) and twin says
    whether the formula's first atom is a NEIGHBORS twin.
    """
    m = concepts.shape[1]
    ops = ("OR", "AND", "AND NOT") + (("OR NOT",) if or_not else ())
    unary = 1 if penalty_counts_not else 0

    def entry(text, mask, plen, twin):
        value = iou(neuron, mask)
        return (text, value, complexity_penalty ** (plen - 1) * value, plen, twin, mask)

    seeds = []
    for j in range(m):
        seeds.append(entry(names[j], concepts[:, j], 1, False))
        seeds.append(entry(names[j], concepts[:, j], 1 + unary, True))
    expansion = [j for j in range(m) for _ in range(2) if expand_all or iou(neuron, concepts[:, j]) > 0]

    def trim(pool):
        return sorted(pool, key=lambda e: e[2], reverse=True)[:beam_size]

    beam = trim(seeds)
    beams = [beam]
    for _ in range(max_length - 1):
        pool = list(beam)
        for text, _, _, plen, twin, mask in beam:
            for j in expansion:
                for op in ops:
                    grow = 1 + (unary if op.endswith("NOT") else 0)
                    pool.append(entry(f"({text} {op} {names[j]})", combine(mask, op, concepts[:, j]), plen + grow, twin))
        beam = trim(pool)
        beams.append(beam)
    return [[e[:5] for e in b] for b in beams]
