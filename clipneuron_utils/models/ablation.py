"""Ablating hidden units: the model's predictions with some probed units held at zero or at their mean.

The probed units feed the output layer only (``mlp[1]`` → Dropout → ``mlp[3]``), so an ablated model's
logits are the saved activations with those columns replaced, times the output weights: no encoder runs
again (:class:`Ablator`, what the book uses). :func:`ablate` does the same inside the model,
with a forward hook on the ReLU that is removed on exit; the tests check that both agree and that the
model is restored exactly.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch

from .heads import NLIModel

MODES = ("zero", "mean")


def _units(units: Sequence[int], hidden: int) -> np.ndarray:
    idx = np.unique(np.asarray(list(units), dtype=np.int64))
    if len(idx) and (idx.min() < 0 or idx.max() >= hidden):
        raise ValueError(f"ablated units must be in [0, {hidden}); got {idx.min()}..{idx.max()}")
    return idx


def fill_values(activations: np.ndarray, mode: str) -> np.ndarray:
    """What an ablated unit outputs: 0 (``zero``) or its mean activation over the probe pairs (``mean``)."""
    if mode not in MODES:
        raise ValueError(f"ablation mode must be one of {MODES}; got {mode!r}")
    if mode == "zero":
        return np.zeros(activations.shape[1], dtype=np.float64)
    return activations.astype(np.float64).mean(axis=0)


@contextmanager
def ablate(model: NLIModel, units: Sequence[int], fill: np.ndarray | float = 0.0) -> Iterator[NLIModel]:
    """Inside the block, ``model``'s hidden ``units`` output ``fill`` (a scalar, or one value per hidden
    unit); every other unit and weight is untouched, and the hook is removed on exit, error or not."""
    idx = torch.from_numpy(_units(units, model.config.hidden))
    values = torch.as_tensor(np.broadcast_to(np.asarray(fill, dtype=np.float32), (model.config.hidden,)).copy())

    def hook(_module, _inputs, output):
        out = output.clone()
        out[:, idx.to(out.device)] = values.to(out.device, out.dtype)[idx.to(out.device)]
        return out

    handle = model.mlp[1].register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


class Ablator:
    """One model's saved activations and output layer: predictions with any set of units ablated.

    The intact logits are computed once; a set ``S`` held at ``fill`` changes them by
    ``(fill[S] − h[:, S]) @ W[:, S].T``, so each set costs only its own columns."""

    def __init__(self, activations: np.ndarray, weights: np.ndarray, bias: np.ndarray):
        self.h = np.ascontiguousarray(activations, dtype=np.float64)
        self.w = np.asarray(weights, dtype=np.float64)
        self.base = logits(self.h, self.w, bias)
        self.hidden = self.h.shape[1]

    def logit_changes(self, unit_sets, fill: np.ndarray) -> np.ndarray:
        """How each set of ``unit_sets`` held at ``fill`` changes every logit: ``(len(unit_sets), n, classes)``.
        All sets at once: with M the sets' membership matrix, class c changes by
        M·(fill ⊙ w_c) − h·(M ⊙ w_c)ᵀ, two matrix products and no (n × hidden) temporary."""
        member = np.zeros((len(unit_sets), self.hidden))
        for row, units in enumerate(unit_sets):
            member[row, _units(units, self.hidden)] = 1.0
        fill = np.asarray(fill, dtype=np.float64)
        out = np.empty((len(unit_sets), len(self.h), self.w.shape[0]))
        for c, w in enumerate(self.w):
            out[:, :, c] = (member @ (fill * w))[:, None] - (self.h @ (member * w).T).T
        return out

    def predictions(self, unit_sets, fill: np.ndarray) -> np.ndarray:
        """Predicted classes with each set of ``unit_sets`` ablated: ``(len(unit_sets), n)``."""
        return (self.base[None, :, :] + self.logit_changes(unit_sets, fill)).argmax(axis=2)



def logits(activations: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The head's logits from its hidden units (the output layer is linear in them), in float64."""
    return np.asarray(activations, dtype=np.float64) @ np.asarray(weights, dtype=np.float64).T + \
        np.asarray(bias, dtype=np.float64)


def gold_directions(weights: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per pair, each unit's output weight toward the gold class less the mean of its weights toward the
    other classes, ``(n, hidden)``: the gold margin (the gold logit less the mean of the others) is linear
    in the units with these coefficients, so a unit's share of it on each pair is exact."""
    w = np.asarray(weights, dtype=np.float64)
    k = w.shape[0]
    others = (w.sum(axis=0, keepdims=True) - w) / (k - 1)  # row c: the mean of the rows other than c
    return (w - others)[np.asarray(gold, dtype=np.int64)]


def gold_margins(logits: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """The gold class's logit less the mean of the other classes' logits, per pair."""
    z = np.asarray(logits, dtype=np.float64)
    g = np.asarray(gold, dtype=np.int64)
    own = z[np.arange(len(z)), g]
    return own - (z.sum(axis=1) - own) / (z.shape[1] - 1)


def mean_contributions(activations: np.ndarray, weights: np.ndarray, gold: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Each unit's exact mean contribution to the gold margin over the pairs, above its ablated value:
    the mean over pairs of (h − fill)·(w_gold − mean of the other w). Ablating a unit alone lowers the mean
    gold margin by exactly this much (the output layer is linear in the units), which is what makes a
    ranking by it the ablation's positive control."""
    h = np.asarray(activations, dtype=np.float64)
    g = np.asarray(gold, dtype=np.int64)
    fill = np.asarray(fill, dtype=np.float64)
    d = gold_directions(weights, np.arange(np.asarray(weights).shape[0]))  # row c: the direction for gold c
    total = np.zeros(h.shape[1])
    for c in np.unique(g):
        rows = g == c
        total += (h[rows].sum(axis=0) - rows.sum() * fill) * d[c]
    return total / len(h)
