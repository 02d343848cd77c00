"""SNLI's annotation artifacts: hypothesis words that predict the label without the premise.

Gururangan et al. (2018, "Annotation Artifacts in Natural Language Inference Data", §3) rank each class's
hypothesis words by pointwise mutual information with the class, with add-k smoothing. Here, on the
training pairs' hypothesis tokens (lowercased, each word once per hypothesis):

    p(w | c) = (n(w, c) + k) / (n(c) + k·|V|),   p(w) = (n(w) + k·|C|) / (N + k·|V|·|C|),
    PMI(w, c) = log p(w | c) − log p(w),

where n(w, c) counts the hypotheses of class c holding w, n(c) the word tokens of class c, |V| the
vocabulary of words seen at least ``min_count`` times and |C| the three classes. A large k (theirs is 100)
keeps rare words from topping the list on a handful of counts.

A unit is an **artifact detector** (:func:`detectors`) when its formula names, on the hypothesis side, an
artifact word of the class the unit pushes to (its largest output weight). The permutation control keeps
every formula and every unit's class, and shuffles which unit has which class: the share it gives is what the
formulas' own word frequencies produce by chance.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from ..data.snli import LABELS
from ..explain.edits import token_atoms
from .tidy import check_columns

SMOOTHING = 100  # Gururangan et al.'s add-100
MIN_COUNT = 10  # a word seen in fewer hypotheses is not ranked
TOP = 10  # artifact words per class


def hypothesis_pmi(pairs: pd.DataFrame, *, k: float = SMOOTHING, min_count: int = MIN_COUNT) -> pd.DataFrame:
    """One row per (class, word) of the vocabulary: ``count`` (hypotheses of the class holding it), ``total``
    (hypotheses holding it) and ``pmi``; sorted by class, then PMI (highest first), then word."""
    check_columns(pairs, ["hypothesis_tokens", "label"], "pairs")
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


def hypothesis_words(formula) -> set[str]:
    """The words a formula names on the hypothesis side (``hyp:tok:W``)."""
    if not isinstance(formula, str):
        return set()
    return {a.split(":", 2)[2] for a in token_atoms(formula) if a.startswith("hyp:")}


def detectors(units: pd.DataFrame, artifacts: dict[str, list[str]]) -> np.ndarray:
    """Whether each unit (``formula``, ``pushed``: the class it pushes to) names an artifact word of its class."""
    check_columns(units, ["formula", "pushed"], "units")
    sets = {c: set(w) for c, w in artifacts.items()}
    return np.array([bool(hypothesis_words(f) & sets.get(c, set())) for f, c in zip(units["formula"], units["pushed"])],
                    dtype=bool)


def permuted_share(units: pd.DataFrame, artifacts: dict[str, list[str]], *, draws: int = 200, seed: int = 0) -> float:
    """The mean share of artifact detectors when the units' classes are shuffled among them (each formula and
    the classes' counts kept): what the formulas' word frequencies alone give."""
    rng = np.random.default_rng(seed)
    pushed = units["pushed"].to_numpy()
    shares = [detectors(units.assign(pushed=rng.permutation(pushed)), artifacts).mean() for _ in range(draws)]
    return float(np.mean(shares)) if shares else math.nan
