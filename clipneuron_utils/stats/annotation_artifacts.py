"""SNLI's annotation artifacts: hypothesis words that predict the label without the premise.

Gururangan et al. (2018, "Annotation Artifacts in Natural Language Inference Data", §3) rank each class's
hypothesis words by pointwise mutual information with the class, with add-k smoothing. Here, on the
training pairs' hypothesis tokens (lowercased, each word once per hypothesis):

    p(w | c) = (n(w, c) + k) / (n(c) + k·|V|),   p(w) = (n(w) + k·|C|) / (N + k·|V|·|C|),
    PMI(w, c) = log p(w | c) − log p(w),

where n(w, c) counts the hypotheses of class c holding w, n(c) the word tokens of class c, |V| the
vocabulary of words seen at least ``min_count`` times and |C| the three classes. A large k (theirs is 100)
keeps rare words from topping the list on a handful of counts.

A unit is an **artifact detector** (:func:`detectors`) when its formula names, on the hypothesis side and not
under a negation, an artifact word of the class the unit pushes to (its largest output weight): the unit fires
where the hypothesis holds a word that predicts that class. The permutation control (:func:`permuted_shares`)
keeps every formula and every class's count of units, and shuffles which unit has which class: the share it
gives is what the formulas' own word frequencies produce by chance.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from ..data.snli import LABELS
from ..explain import formulas
from .tidy import check_columns

SMOOTHING = 100  # Gururangan et al.'s add-100
MIN_COUNT = 10  # a word seen in fewer hypotheses is not ranked
TOP = 10  # artifact words per class


def hypothesis_pmi(pairs: pd.DataFrame, *, k: float = SMOOTHING, min_count: int = MIN_COUNT) -> pd.DataFrame:
    """One row per (class, word) of the vocabulary: ``count`` (hypotheses of the class holding it), ``total``
    (hypotheses holding it) and ``pmi``; sorted by class, then PMI (highest first), then word."""
    check_columns(pairs, ["hypothesis_tokens", "label"], "pairs")
    if not k > 0:
        raise ValueError(f"the PMI's smoothing k must be > 0 (add-k; Gururangan et al. use 100), got {k!r}")
    labelled = pairs[pairs["label"].isin(LABELS)]
    joint: dict[str, Counter] = {c: Counter() for c in LABELS}
    for tokens, label in zip(labelled["hypothesis_tokens"], labelled["label"]):
        joint[label].update({t.lower() for t in tokens})
    total = sum((joint[c] for c in LABELS), Counter())
    vocab = sorted(w for w, n in total.items() if n >= min_count)
    if not vocab:
        raise ValueError(f"no hypothesis word occurs in {min_count} or more labelled pairs: too few training pairs "
                         f"({len(labelled)}) for the artifact words, or lower min_count")
    size = len(vocab)
    n_all = sum(total[w] for w in vocab)
    rows = []
    for c in LABELS:
        n_c = sum(joint[c][w] for w in vocab)
        for w in vocab:
            p_given = (joint[c][w] + k) / (n_c + k * size)
            p_word = (total[w] + k * len(LABELS)) / (n_all + k * size * len(LABELS))
            rows.append({"label": c, "word": w, "count": int(joint[c][w]), "total": int(total[w]),
                         "pmi": math.log(p_given) - math.log(p_word)})
    out = pd.DataFrame(rows)
    out["label"] = pd.Categorical(out["label"], categories=list(LABELS), ordered=True)
    return out.sort_values(["label", "pmi", "word"], ascending=[True, False, True]).reset_index(drop=True)


def artifact_words(pmi: pd.DataFrame, top: int = TOP) -> dict[str, list[str]]:
    """Each class's ``top`` words by PMI (the table of :func:`hypothesis_pmi`)."""
    return {c: pmi[pmi["label"] == c].head(top)["word"].tolist() for c in LABELS}


def default_artifact_words(train: pd.DataFrame) -> dict[str, list[str]]:
    """The artifact words with chapter 11_artifacts' default settings (the other chapters' notes use these)."""
    return artifact_words(hypothesis_pmi(train))


def hypothesis_words(formula) -> set[str]:
    """The words a formula names on the hypothesis side (``hyp:tok:W``) under an even number of negations: the
    words whose presence makes it true (``NOT hyp:tok:W`` names W's absence, not W)."""
    if not isinstance(formula, (str, formulas.Leaf, formulas.Not, formulas.And, formulas.Or)):
        return set()
    f = formulas.parse(formula) if isinstance(formula, str) else formula
    found, stack = set(), [(f, True)]
    while stack:
        node, positive = stack.pop()
        if isinstance(node, formulas.Leaf):
            side, kind, word = (node.name.split(":", 2) + ["", ""])[:3]
            if positive and side == "hyp" and kind == "tok":
                found.add(word)
        elif isinstance(node, formulas.Not):
            stack.append((node.x, not positive))
        else:
            stack.extend(((node.left, positive), (node.right, positive)))
    return found


def _named(units: pd.DataFrame, artifacts: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(names, pushed)``: per unit and class (in :data:`LABELS` order), whether the unit's formula names an
    artifact word of that class; and the index of the class each unit pushes to (−1: not one of the labels)."""
    check_columns(units, ["formula", "pushed"], "units")
    sets = [set(artifacts.get(c, ())) for c in LABELS]
    names = np.array([[bool(hypothesis_words(f) & words) for words in sets] for f in units["formula"]],
                     dtype=bool).reshape(len(units), len(LABELS))
    index = {c: j for j, c in enumerate(LABELS)}
    return names, np.array([index.get(c, -1) for c in units["pushed"]], dtype=np.int64)


def _own_class_named(names: np.ndarray, pushed: np.ndarray) -> np.ndarray:
    """Per unit, whether it names an artifact word of the class at ``pushed`` (never for −1)."""
    return np.where(pushed >= 0, names[np.arange(len(pushed)), np.maximum(pushed, 0)], False)


def detectors(units: pd.DataFrame, artifacts: dict[str, list[str]]) -> np.ndarray:
    """Whether each unit (``formula``, ``pushed``: the class it pushes to) names an artifact word of its class."""
    return _own_class_named(*_named(units, artifacts)).astype(bool)


def permuted_shares(units: pd.DataFrame, artifacts: dict[str, list[str]], *, draws: int = 200,
                    seed: int = 0) -> np.ndarray:
    """The share of artifact detectors in each of ``draws`` shuffles of the units' classes among them (each
    formula, and how many units push to each class, kept): the null distribution of :func:`detectors`' share
    that the formulas' word frequencies alone give."""
    names, pushed = _named(units, artifacts)
    if not len(units):
        return np.full(draws, np.nan)
    rng = np.random.default_rng(seed)
    return np.array([_own_class_named(names, rng.permutation(pushed)).mean() for _ in range(draws)])


def pushed_classes(weights: np.ndarray, units) -> list[str]:
    """The class each unit pushes to: that of its largest output weight (``weights``: (3, hidden))."""
    w = np.asarray(weights)
    return [LABELS[int(np.argmax(w[:, int(u)]))] for u in units]


def unit_870_note(formulas_found, artifacts: dict[str, list[str]]) -> str:
    """Whether the units of the unit-870 pattern (``pre:tok:W AND NOT hyp:tok:W``, pushing to contradiction) are
    artifact detectors, for claim A10's note: how many are, and whether their words W are artifact words."""
    found = [f for f in formulas_found if isinstance(f, str)]
    if not found:
        return ""
    units = pd.DataFrame({"formula": found, "pushed": "contradiction"})
    n = int(detectors(units, artifacts).sum())
    named = sorted({a.split(":", 2)[2] for f in found for a in formulas.parse(f).atoms() if a.startswith("pre:tok:")})
    listed = {w: c for c in LABELS for w in artifacts.get(c, ())}
    words = ", ".join(f"*{w}*" + (f" (an artifact word of {listed[w]})" if w in listed else "") for w in named)
    return (f"artifact detectors (chapter 11_artifacts): {n} of {len(found)}; the formula names the word's absence from "
            f"the hypothesis, not a hypothesis word: {words}")


def unit_examples(units: pd.DataFrame, artifacts: dict[str, list[str]], n: int) -> pd.DataFrame:
    """The ``n`` artifact detectors of ``units`` with the highest excess IoU, one per artifact word (a unit whose
    words were all shown already is skipped), with ``words``: the artifact words of its class it names."""
    check_columns(units, ["formula", "pushed", "excess_iou"], "units")
    chosen, seen = [], set()
    for index, row in units.sort_values("excess_iou", ascending=False, kind="stable").iterrows():
        named = hypothesis_words(row["formula"]) & set(artifacts.get(row["pushed"], ()))
        if not named or named <= seen:
            continue
        seen |= named
        chosen.append(row.to_dict() | {"words": sorted(named)})
        if len(chosen) >= n:
            break
    return pd.DataFrame(chosen, columns=[*units.columns, "words"])
