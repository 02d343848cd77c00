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
                      complexity_penalty=1.0):
    """The search as DESIGN.md states it, one IoU per candidate; best (text, iou) after each round.

    Formulas are kept as canonical text with their mask; identical formulas count once (a dict).
    """
    m = concepts.shape[1]
    ops = OPS + (("OR NOT",) if or_not else ())
    atom_iou = [iou(neuron, concepts[:, j]) for j in range(m)]
    expansion = [j for j in range(m) if expand_all or atom_iou[j] > 0]

    def ranked(pool):  # text -> (iou, length, mask)
        key = lambda t: (-pool[t][0] * complexity_penalty ** (pool[t][1] - 1), pool[t][1], t)  # noqa: E731
        return {t: pool[t] for t in sorted(pool, key=key)[:beam_size]}

    beam = ranked({names[j]: (atom_iou[j], 1, concepts[:, j]) for j in range(m)})
    best = [next(iter(beam.items()))]
    for _ in range(max_length - 1):
        pool = dict(beam)
        for text, (_, length, mask) in beam.items():
            for j in expansion:
                for op in ops:
                    new = combine(mask, op, concepts[:, j])
                    pool.setdefault(f"({text} {op} {names[j]})", (iou(neuron, new), length + 1, new))
        beam = ranked(pool)
        best.append(next(iter(beam.items())))
    return [(t, v[0], v[1]) for t, v in best]
