"""Probe a trained classifier with pairs a reader writes, and find the units a description points to.

The paper's Figure 6 shows a unit whose formula says "*man* in the premise, not in the hypothesis", and an
adversarial pair that trips it ("the boys said hello to the girls" / "the girls said hello"). ``probe``
scores any such pairs and shows chosen units' activations next to the prediction; ``units_matching``
finds, in this run's results, the units whose formula uses given concepts with given polarity, and
``description_iou`` ranks every unit by how well a description formula matches its firing mask.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import formulas
from ..data.snli import LABELS


def probe(model, pairs, neurons: Sequence[int] = (), *, cache=None) -> pd.DataFrame:
    """One row per pair: premise, hypothesis, prediction, class probabilities, chosen units' activations.

    ``pairs``: a DataFrame with premise/hypothesis columns, or a list of (premise, hypothesis[, label]).
    """
    from ..models.heads import NLIModel, as_pairs
    from ..models.outputs import activations, predict

    if not isinstance(model, NLIModel):
        raise TypeError(
            f"model must be a trained classifier (heads.NLIModel, from training.train, saving.fit_or_load or "
            f"saving.load_model); got {_shown(model)}. Example: {_EXAMPLE}"
        )
    frame = as_pairs(_check_pairs(pairs))
    neurons = [int(n) for n in neurons]
    hidden = model.config.hidden
    bad = [n for n in neurons if not 0 <= n < hidden]
    if bad:
        raise ValueError(f"neurons must be unit indices in 0..{hidden - 1}; got {bad}")
    labels, probs = predict(model, frame, cache=cache)
    out = pd.DataFrame({"premise": frame["premise"].values, "hypothesis": frame["hypothesis"].values,
                        "prediction": [LABELS[i] for i in labels]})
    for j, label in enumerate(LABELS):
        out[f"p({label})"] = probs[:, j].round(4)
    if neurons:
        acts = activations(model, frame, cache=cache)
        for n in neurons:
            out[f"unit {n}"] = acts[:, n].round(4)
    return out


_EXAMPLE = 'probe(model, [("the boys said hello to the girls", "the girls said hello")], neurons=[5])'


def _shown(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '…' if len(text) > 60 else text}"


def _check_pairs(pairs):
    """``pairs`` as :func:`heads.as_pairs` takes them, or an error that shows the expected shape.

    Checked here because ``as_pairs`` turns None, a string or one bare pair into errors that do not
    say what to write instead.
    """
    expected = ("pairs must be a list of (premise, hypothesis) string pairs, or a DataFrame with premise "
                "and hypothesis columns")
    if isinstance(pairs, pd.DataFrame):
        missing = [c for c in ("premise", "hypothesis") if c not in pairs.columns]
        if missing:
            raise ValueError(f"{expected}; the DataFrame has no column {', '.join(missing)} "
                             f"(it has {', '.join(map(str, pairs.columns)) or 'none'}). Example: {_EXAMPLE}")
        rows, kind = zip(pairs["premise"], pairs["hypothesis"]), "row"
    elif isinstance(pairs, (str, bytes, dict)) or not isinstance(pairs, Iterable):
        raise TypeError(f"{expected}; got {_shown(pairs)}. Example: {_EXAMPLE}")
    else:
        pairs = list(pairs)
        rows, kind = pairs, "item"
        if len(pairs) in (2, 3) and all(isinstance(x, str) for x in pairs):
            raise ValueError(f"{expected}; got one bare pair {_shown(tuple(pairs))}: wrap it in a list, "
                             f"[(premise, hypothesis)]. Example: {_EXAMPLE}")
    n = 0
    for i, row in enumerate(rows):
        n += 1
        if not isinstance(row, (tuple, list)) or len(row) not in (2, 3) or not all(isinstance(x, str) for x in row[:2]):
            raise ValueError(f"{expected} (an optional third item is the gold label); {kind} {i} is "
                             f"{_shown(row)}. Example: {_EXAMPLE}")
    if not n:
        raise ValueError(f"{expected}; got no pairs. Example: {_EXAMPLE}")
    return pairs


def polarity(formula: formulas.Formula | str) -> dict[str, set[bool]]:
    """Atom → {True if it occurs un-negated, False if under an odd number of NOTs}."""
    tree = formulas.parse(formula) if isinstance(formula, str) else formula
    found: dict[str, set[bool]] = {}

    def walk(node, positive: bool) -> None:
        if isinstance(node, formulas.Leaf):
            found.setdefault(node.name, set()).add(positive)
        elif isinstance(node, formulas.Not):
            walk(node.x, not positive)
        else:
            walk(node.left, positive)
            walk(node.right, positive)

    walk(tree, True)
    return found


def units_matching(results: pd.DataFrame, positive: Iterable[str] = (), negative: Iterable[str] = ()) -> pd.DataFrame:
    """Rows of ``results`` whose formula uses every ``positive`` atom un-negated and every ``negative`` one
    negated, best IoU first."""
    positive, negative = list(positive), list(negative)
    if not positive and not negative:
        raise ValueError("give at least one positive or negative concept name")

    def matches(text) -> bool:
        if not isinstance(text, str):
            return False
        signs = polarity(text)
        return all(True in signs.get(a, ()) for a in positive) and all(False in signs.get(a, ()) for a in negative)

    hit = results[results["formula"].map(matches)]
    return hit.sort_values(["iou", "neuron"], ascending=[False, True])


def description_iou(description: str, concepts, neuron_masks: np.ndarray) -> pd.DataFrame:
    """IoU of a description formula (e.g. ``"(pre:tok:man AND NOT hyp:tok:man)"``) with every unit's
    firing mask: the units that behave like the description, whatever formula the search gave them."""
    mask = formulas.evaluate(description, concepts)
    neuron_masks = np.asarray(neuron_masks, dtype=bool)
    if neuron_masks.shape[0] != mask.shape[0]:
        raise ValueError(f"neuron_masks has {neuron_masks.shape[0]} pairs but the concepts have {mask.shape[0]}")
    inter = mask.astype(np.int64) @ neuron_masks
    union = mask.sum() + neuron_masks.sum(axis=0) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    frame = pd.DataFrame({"neuron": np.arange(neuron_masks.shape[1]), "description_iou": iou,
                          "n_fires": neuron_masks.sum(axis=0), "n_description": int(mask.sum())})
    return frame.sort_values(["description_iou", "neuron"], ascending=[False, True]).reset_index(drop=True)
