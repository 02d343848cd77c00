"""The paper's first question: do neurons learn compositional concepts?

:func:`mean_iou_by_length` (mean best IoU per ``max_length``), :func:`encoding_difference` (WordNet minus
standard concepts, paired per neuron) and :func:`formula_kinds` (which operators and concept kinds the
best formulas use).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .tidy import DEFAULT_BY, check_columns, explained_mask, iter_groups, group_keys


OPERATORS = ("AND", "AND NOT", "OR", "OR NOT", "NOT")


CONCEPT_KINDS = ("pre:tok", "hyp:tok", "pre:tag", "hyp:tag", "oth:overlap")


def mean_iou_by_length(results: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean best IoU per ``max_length`` (paper, CLIP: 0.19 at length 1, 0.21 at length 2).

    Over explained units only; ``sem`` is the standard error of that mean (NaN below two units),
    ``n_explained`` the units it averages and ``n_units`` all units of the group. ``by`` defaults to
    ``encoder, encoding`` (those present).
    """
    check_columns(results, ["iou", "max_length"], "results")
    keys = group_keys(results, by, ("encoder", "encoding"), "results")
    keys = [k for k in keys if k != "max_length"] + ["max_length"]
    rows = []
    for key, sub in iter_groups(results, keys):
        iou = sub["iou"].to_numpy(dtype=float)[explained_mask(sub).to_numpy()]
        n = len(iou)
        rows.append({
            **key,
            "mean_iou": float(iou.mean()) if n else math.nan,
            "sem": float(iou.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan,
            "n_explained": n,
            "n_units": len(sub),
        })
    return pd.DataFrame(rows, columns=[*keys, "mean_iou", "sem", "n_explained", "n_units"])


def encoding_difference(
    results: pd.DataFrame, by: Sequence[str] | None = None, min_pairs: int = 5
) -> pd.DataFrame:
    """WordNet minus standard best IoU, paired per neuron (the paper: +0.0014 mean for CLIP).

    ``results`` holds both encodings' rows (column ``encoding`` = ``"standard"`` / ``"wordnet"``). Per
    group (``by`` defaults to ``encoder, max_length``, those present), over the neurons explained in both
    encodings: ``n``, ``mean_iou_standard``, ``mean_iou_wordnet``, ``mean_difference``, ``std``
    (ddof 1), ``median_difference``, ``n_nonzero`` and a Wilcoxon signed-rank test (zero differences
    dropped, scipy's default), NaN when fewer than ``min_pairs`` differences are non-zero.
    """
    check_columns(results, ["neuron", "iou", "encoding", "max_length"], "results")
    keys = group_keys(results, by, ("encoder", "max_length"), "results")
    if "encoding" in keys:
        raise ValueError("by must not hold 'encoding': the difference is taken between encodings")
    unknown = set(results["encoding"].dropna()) - {"standard", "wordnet"}
    if unknown:
        raise ValueError(f"results.encoding holds {sorted(unknown)}; expected 'standard' and 'wordnet'")
    explained = results[explained_mask(results)]
    index = keys + ["neuron"]
    if explained.duplicated(index + ["encoding"]).any():
        raise ValueError(f"results has more than one row per {index + ['encoding']}")
    wide = explained.pivot(index=index, columns="encoding", values="iou")
    for encoding in ("standard", "wordnet"):
        if encoding not in wide.columns:
            wide[encoding] = np.nan
    wide = wide.dropna(subset=["standard", "wordnet"]).reset_index()
    rows = []
    for key, sub in iter_groups(wide, keys):
        std_iou, wn_iou = sub["standard"].to_numpy(float), sub["wordnet"].to_numpy(float)
        diff = wn_iou - std_iou
        n, nonzero = len(diff), int(np.count_nonzero(diff))
        statistic = p = math.nan
        if nonzero >= min_pairs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                test = stats.wilcoxon(wn_iou, std_iou)
            statistic, p = float(test.statistic), float(test.pvalue)
        rows.append({
            **key,
            "n": n,
            "mean_iou_standard": float(std_iou.mean()) if n else math.nan,
            "mean_iou_wordnet": float(wn_iou.mean()) if n else math.nan,
            "mean_difference": float(diff.mean()) if n else math.nan,
            "std": float(diff.std(ddof=1)) if n >= 2 else math.nan,
            "median_difference": float(np.median(diff)) if n else math.nan,
            "n_nonzero": nonzero,
            "wilcoxon_statistic": statistic,
            "wilcoxon_p": p,
        })
    columns = [*keys, "n", "mean_iou_standard", "mean_iou_wordnet", "mean_difference", "std",
               "median_difference", "n_nonzero", "wilcoxon_statistic", "wilcoxon_p"]
    return pd.DataFrame(rows, columns=columns)


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def formula_parts(formula: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(operators, atom names) of a formula's canonical text, e.g. ``(A AND NOT B)`` → (AND NOT), (A, B)."""
    tokens = [t for t in _TOKEN.findall(formula) if t not in "()"]
    ops, atoms, i = [], [], 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("AND", "OR"):
            if i + 1 < len(tokens) and tokens[i + 1] == "NOT":
                ops.append(f"{tok} NOT")
                i += 1
            else:
                ops.append(tok)
        elif tok == "NOT":
            ops.append("NOT")
        else:
            atoms.append(tok)
        i += 1
    return tuple(ops), tuple(atoms)


def concept_kind(name: str) -> str:
    """``pre:tok:man`` → ``pre:tok``; ``oth:overlap:50`` → ``oth:overlap``."""
    parts = name.split(":")
    return ":".join(parts[:2]) if len(parts) >= 3 else name


def operator_mix(ops: Sequence[str]) -> str:
    """One label per combination of operators: ``atom only``, ``AND NOT``, ``AND + OR``, …"""
    used = [op for op in OPERATORS if op in set(ops)]
    return " + ".join(used) if used else "atom only"


def formula_kinds(results: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """What the best formulas are made of: operator mixes and concept kinds (share of explained units).

    Two ``aspect`` s in one tidy frame. ``operators``: ``category`` is the set of operators a formula
    uses (``atom only``, ``AND NOT``, ``AND + OR``, …); the shares of a group sum to 1. ``concept kind``:
    ``category`` is ``pre:tok``, ``hyp:tok``, ``pre:tag``, ``hyp:tag``, ``oth:overlap``; ``share`` is the
    fraction of formulas using at least one such atom (can sum to more than 1) and ``atom_share`` the
    fraction of all atoms. ``by`` defaults to ``encoder, encoding, max_length`` (those present).
    """
    check_columns(results, ["formula", "iou"], "results")
    keys = group_keys(results, by, DEFAULT_BY, "results")
    parsed: dict[str, tuple[str, tuple[str, ...]]] = {}
    rows = []
    for key, sub in iter_groups(results, keys):
        formulas = [f for f in sub.loc[explained_mask(sub), "formula"] if isinstance(f, str)]
        total = len(formulas)
        mixes: dict[str, int] = {}
        uses: dict[str, int] = {}
        atoms: dict[str, int] = {}
        for text in formulas:
            if text not in parsed:
                ops, names = formula_parts(text)
                parsed[text] = (operator_mix(ops), tuple(concept_kind(n) for n in names))
            mix, kinds = parsed[text]
            mixes[mix] = mixes.get(mix, 0) + 1
            for kind in set(kinds):
                uses[kind] = uses.get(kind, 0) + 1
            for kind in kinds:
                atoms[kind] = atoms.get(kind, 0) + 1
        n_atoms = sum(atoms.values())
        for mix in sorted(mixes, key=lambda m: (-mixes[m], m)):
            rows.append({**key, "aspect": "operators", "category": mix, "n_formulas": mixes[mix],
                         "share": mixes[mix] / total, "n_atoms": math.nan, "atom_share": math.nan})
        extra = sorted(set(uses) - set(CONCEPT_KINDS))
        for kind in [*CONCEPT_KINDS, *extra]:
            count = uses.get(kind, 0)
            rows.append({**key, "aspect": "concept kind", "category": kind, "n_formulas": count,
                         "share": count / total if total else math.nan, "n_atoms": atoms.get(kind, 0),
                         "atom_share": atoms.get(kind, 0) / n_atoms if n_atoms else math.nan})
    columns = [*keys, "aspect", "category", "n_formulas", "share", "n_atoms", "atom_share"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["n_atoms"] = frame["n_atoms"].astype("Int64")
    return frame
