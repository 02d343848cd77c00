"""The firing regime: what "a unit fires" means, and what the explanations become when it fires sparsely.

At the paper's threshold (activation > 0) the heads trained here fire on a third to a half of the probe
pairs, where near-constant part-of-speech tags explain every unit and random masks with the same firing
counts score almost as well. The paper's figures (mean length-1 IoU 0.19) and examples (lexical units
such as 870) live in a sparser regime. The sweep thresholds each unit at its top-alpha quantile
(:func:`~clipneuron_utils.explain.search.threshold_activations`: exactly ⌈alpha·N⌉ pairs) for several
alpha, and this module holds the pieces that say what changes: the scaled ``min_acts``, the kind of
concept a formula names, the *paper-matched* alpha, and the comparison of a unit's top with its bulk.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .search import top_count

DEFAULT_ALPHAS = (0.2, 0.1, 0.05, 0.02)
KINDS = ("token", "tag", "overlap")
_ATOM = re.compile(r"(?:pre|hyp|oth):(tok|tag|overlap):[^\s()]+")
_KIND = {"tok": "token", "tag": "tag", "overlap": "overlap"}


def check_alphas(alphas) -> list[float]:
    """The sweep's alphas as floats, each in (0, 1), without repeats, in the given order; a clear error
    otherwise (``activation_alphas`` is a notebook parameter). An empty list means no sweep."""
    if isinstance(alphas, (str, bytes)) or not hasattr(alphas, "__iter__"):
        raise ValueError(f"activation_alphas must be a list of numbers in (0, 1), e.g. [0.2, 0.1, 0.05, 0.02]; "
                         f"got {alphas!r}")
    out = []
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, (int, float, np.floating)) or not 0 < float(a) < 1:
            raise ValueError(f"activation_alphas: {a!r} is not a number in (0, 1) (the share of probe pairs "
                             f"on which each unit fires, e.g. 0.05)")
        if float(a) in out:
            raise ValueError(f"activation_alphas: {a!r} is given twice")
        out.append(float(a))
    return out


def regime_min_acts(min_acts: int, alpha: float | None, n_pairs: int) -> int:
    """``min_acts`` at a regime: unchanged at > 0 (``alpha`` None or 0); at top-alpha, min(min_acts, k)
    with k = ⌈alpha·N⌉, the count every unit fires on. So a unit with its full top-alpha count is always
    explained, and a unit that is active (> 0) on fewer than k pairs never is (at alpha = 0.05 of 9,842
    pairs k is 493, below the paper's 500, which would leave every unit unexplained)."""
    if not alpha:
        return int(min_acts)
    return min(int(min_acts), top_count(n_pairs, alpha))


def label(alpha: float | None) -> str:
    """How the book names a regime: ``> 0`` or ``top 5 %``."""
    if not alpha:
        return "> 0"
    pct = float(alpha) * 100
    return f"top {pct:g} %"


def atom_kinds(formula) -> list[str]:
    """The kinds (token / tag / overlap) of a formula's atoms, in order; [] for an empty or missing one."""
    if not isinstance(formula, str):
        return []
    return [_KIND[m.group(1)] for m in _ATOM.finditer(formula)]


def kind_shares(results: pd.DataFrame, by=("encoder", "alpha")) -> pd.DataFrame:
    """Per group of explained units: the share whose formula's *first* atom is a token, a tag, an overlap
    (columns ``token``, ``tag``, ``overlap``; they sum to 1), and ``units``."""
    rows = results[results["explained"].astype(bool)]
    first = rows["formula"].map(lambda f: (atom_kinds(f) or [None])[0])
    table = pd.crosstab([rows[c] for c in by], first, normalize="index")
    out = table.reindex(columns=list(KINDS), fill_value=0.0)
    out["units"] = rows.groupby(list(by)).size()
    return out.reset_index()


def concept_base_rates(concepts) -> pd.DataFrame:
    """Each concept's base rate (share of probe pairs on which it holds) and kind; what a formula can
    cover at best, to set against a unit's firing rate."""
    counts = np.asarray(concepts.masks.sum(axis=0)).ravel()  # masks: pairs × concepts
    n = concepts.masks.shape[0]
    return pd.DataFrame({"concept": list(concepts.names), "kind": [(atom_kinds(c) or ["other"])[0] for c in concepts.names],
                         "base_rate": counts / n})


def near_universal_iou(base: pd.DataFrame, alphas) -> pd.DataFrame:
    """Why raw IoU at a top-α threshold is mostly α: the IoU that the commonest concept (base rate b, e.g. a
    tag of almost every hypothesis) gets with any mask firing on a share α of the pairs, independent of
    it: E|M ∩ C| / E|M ∪ C| = αb / (α + b − αb), ≈ α when b ≈ 1. ``base``: :func:`concept_base_rates`.
    Columns: ``alpha, concept, base_rate, iou``."""
    top = base.sort_values(["base_rate", "concept"], ascending=[False, True]).iloc[0]
    b = float(top["base_rate"])
    rows = [{"alpha": float(a), "concept": top["concept"], "base_rate": b,
             "iou": float(a) * b / (float(a) + b - float(a) * b) if float(a) + b > 0 else 0.0} for a in alphas]
    return pd.DataFrame(rows, columns=["alpha", "concept", "base_rate", "iou"])


def firing_rates(masks_by_model: dict) -> pd.DataFrame:
    """``{(encoder, seed): pairs × units boolean mask}`` → one row per unit: encoder, seed, neuron, rate."""
    frames = [pd.DataFrame({"encoder": name, "seed": seed, "neuron": np.arange(m.shape[1]),
                            "rate": np.asarray(m, dtype=bool).mean(axis=0)})
              for (name, seed), m in masks_by_model.items()]
    return pd.concat(frames, ignore_index=True)


def paper_matched_alpha(results: pd.DataFrame, alphas, *, target: float) -> float:
    """The alpha of the sweep whose mean length-1 IoU (explained units of every model in ``results``, all
    seeds and encodings given) is closest to ``target`` (the paper's, ``stats.reported``); ties go to the
    larger alpha (the denser regime, nearer the paper's threshold)."""
    alphas = check_alphas(alphas)
    if not alphas:
        raise ValueError("paper_matched_alpha needs at least one alpha of the sweep")
    means = {}
    for a in alphas:
        rows = results[np.isclose(results["alpha"], a) & (results["max_length"] == 1) & results["explained"].astype(bool)]
        if len(rows):
            means[a] = float(rows["iou"].mean())
    if not means:
        raise ValueError("no explained unit at length 1 in any alpha of the sweep: nothing to match the paper's 0.19")
    return min(means, key=lambda a: (round(abs(means[a] - target), 12), -a))


def top_vs_bulk(bulk: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """Per unit explained in both: its formula at the bulk regime (> 0) and at the top of its range, whether
    the two formulas share no atom (``differ``), and whether the first atoms' kinds differ. ``bulk`` and
    ``top``: search rows of one max_length, keyed by encoder, encoding, seed and neuron."""
    keys = ["encoder", "encoding", "seed", "neuron"]
    keep = keys + ["formula", "iou", "excess_iou"]
    left = bulk[bulk["explained"].astype(bool)][[c for c in keep if c in bulk.columns]]
    right = top[top["explained"].astype(bool)][[c for c in keep if c in top.columns]]
    both = left.merge(right, on=keys, suffixes=("_bulk", "_top"))
    def atoms(formula) -> set[str]:
        return {m.group(0) for m in _ATOM.finditer(formula)} if isinstance(formula, str) else set()

    both["shared_atoms"] = [len(atoms(a) & atoms(b)) for a, b in zip(both["formula_bulk"], both["formula_top"])]
    both["differ"] = both["shared_atoms"] == 0
    both["kind_bulk"] = both["formula_bulk"].map(lambda f: (atom_kinds(f) or [None])[0])
    both["kind_top"] = both["formula_top"].map(lambda f: (atom_kinds(f) or [None])[0])
    return both
