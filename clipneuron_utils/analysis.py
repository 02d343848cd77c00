"""Tidy tables for the results chapters: the paper's two questions, then a look at single neurons.

1. Do neurons learn compositional concepts? :func:`mean_iou_by_length` (mean best IoU per
   ``max_length``), :func:`encoding_difference` (WordNet minus standard concepts, paired per neuron),
   :func:`formula_kinds` (which operators and concept kinds the best formulas use).
2. Do interpretable neurons contribute to accuracy? :func:`acc_when_firing` (the model's accuracy on the
   probe pairs where a unit fires) and :func:`iou_accuracy_correlation` (Pearson and Spearman between
   it and the unit's best IoU, per encoder × concept encoding × ``max_length``: the paper's Figures 4–5).
3. One neuron at a time (after Goh et al., Distill 2021): :func:`conditional_probability`,
   :func:`activation_spectrum`, :func:`top_activating`.

Conventions. A unit fires on a pair iff its activation is > 0 (as in the search). Unexplained units
(formula None, IoU NaN: they fired on fewer than ``min_acts`` pairs) are left out of every IoU
statistic and counted separately, never treated as IoU 0. Grouping columns default to those of
``("encoder", "encoding", "max_length")`` that the frame has (a notebook that analyses one encoder
need not add an ``encoder`` column); a ``by`` given explicitly must exist. Statistics that need more
data than a group has are NaN, never an exception.

Activation bins (:func:`conditional_probability`, :func:`activation_spectrum`). Activations are
measured in standard deviations (SD, of the unit's activation over all probe pairs, zeros included)
from zero by default — Goh et al.'s "standard deviations from zero activation": zero is the meaningful
point of a ReLU unit ("not firing"); ``origin="mean"`` measures from the mean instead. Pairs where the
unit does not fire (activation ≤ 0, i.e. the exact zeros of a ReLU unit, usually most pairs) get a bin
of their own, labelled ``"0 (not firing)"`` and placed at the position of activation 0, so the mass of
zeros is neither spread over nor merged into the first firing bin. Firing pairs fall in bins of
``w = bin_width_sd`` SD whose edges are ``z0 + k·w``, where ``z0`` is the position of activation 0
(0 with ``origin="zero"``, so the edges are 0, w, 2w, …); only non-empty bins are listed. Every pair is
in exactly one bin.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .data import LABELS

DEFAULT_BY = ("encoder", "encoding", "max_length")
ZERO_BIN_LABEL = "0 (not firing)"
OPERATORS = ("AND", "AND NOT", "OR", "OR NOT", "NOT")
CONCEPT_KINDS = ("pre:tok", "hyp:tok", "pre:tag", "hyp:tag", "oth:overlap")

# ------------------------------------------------------------------------------------------ checks


def _vector(values, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} entries but {n} were expected (one per probe pair)")
    return array


def _columns(frame: pd.DataFrame, needed: Sequence[str], name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")


def _keys(frame: pd.DataFrame, by, default: Sequence[str], name: str) -> list[str]:
    """Grouping columns: the defaults the frame has, or every column of an explicit ``by``."""
    if by is None:
        return [c for c in default if c in frame.columns]
    by = [by] if isinstance(by, str) else list(by)
    _columns(frame, by, name)
    return by


def _groups(frame: pd.DataFrame, keys: list[str]):
    """(key dict, sub-frame) per group; the whole frame as one group when there are no keys."""
    if not keys:
        yield {}, frame
        return
    for values, sub in frame.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values)), sub


def _explained(frame: pd.DataFrame) -> pd.Series:
    """Rows with a formula and a finite IoU (``explained`` when the column is there)."""
    ok = np.isfinite(pd.to_numeric(frame["iou"], errors="coerce").to_numpy(dtype=float))
    if "explained" in frame.columns:
        ok &= frame["explained"].fillna(False).to_numpy(dtype=bool)
    return pd.Series(ok, index=frame.index)


def label_codes(values, name: str = "labels") -> np.ndarray:
    """Labels as integer codes in the order of ``LABELS``; accepts codes or label strings."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        codes = array.astype(np.int64)
    elif array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        codes = array.astype(np.int64)
    else:
        lookup = {label: i for i, label in enumerate(LABELS)}
        unknown = sorted({str(v) for v in array.ravel() if v not in lookup})
        if unknown:
            raise ValueError(f"{name} holds values that are not labels {LABELS}: {unknown[:5]}")
        codes = np.array([lookup[v] for v in array.ravel()], dtype=np.int64).reshape(array.shape)
    if codes.size and (codes.min() < 0 or codes.max() >= len(LABELS)):
        raise ValueError(f"{name} holds codes outside 0..{len(LABELS) - 1}")
    return codes


# ------------------------------------------------------------------------- question 2: accuracy


def acc_when_firing(neuron_masks, pred, gold, neurons: Sequence[int] | None = None) -> pd.DataFrame:
    """Model accuracy on the probe pairs where each unit fires (NaN for a unit that never fires).

    ``neuron_masks``: boolean (pairs × units), e.g. ``threshold_activations(acts)``; ``pred`` and
    ``gold``: one label per pair (codes in ``LABELS`` order, or label strings). One matrix product
    counts the correct firing pairs of every unit at once. Returns ``neuron, n_fires, acc_when_firing``.
    """
    masks = np.asarray(neuron_masks)
    if masks.ndim != 2:
        raise ValueError(f"neuron_masks must be 2-D (pairs × units), got shape {masks.shape}")
    if masks.dtype != bool:
        raise ValueError(
            f"neuron_masks must be boolean (got dtype {masks.dtype}); use threshold_activations(acts)"
        )
    n_pairs, n_units = masks.shape
    correct = label_codes(_vector(pred, "pred", n_pairs), "pred") == label_codes(_vector(gold, "gold", n_pairs), "gold")
    neurons = np.arange(n_units) if neurons is None else _vector(neurons, "neurons", n_units)
    if len(neurons) != n_units:
        raise ValueError(f"neurons has {len(neurons)} entries but neuron_masks has {n_units} units")
    # counts are exact integers in float32 below 2**24 pairs
    dtype = np.float32 if n_pairs < 2**24 else np.float64
    n_fires = masks.sum(axis=0, dtype=np.int64)
    n_correct = np.rint(correct.astype(dtype) @ masks.astype(dtype)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_fires > 0, n_correct / np.maximum(n_fires, 1), np.nan)
    return pd.DataFrame({"neuron": neurons.astype(np.int64), "n_fires": n_fires, "acc_when_firing": acc})


def attach_accuracy(results: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """``results`` with an ``acc_when_firing`` column, matched on ``neuron`` and shared key columns.

    Shared columns such as ``encoder`` are keys; accuracy does not depend on the concept encoding, so
    an accuracy frame without ``encoding`` is matched to both encodings' rows. ``results`` keeps its own
    ``n_fires``.
    """
    _columns(results, ["neuron"], "results")
    _columns(accuracy, ["neuron", "acc_when_firing"], "accuracy")
    keys = ["neuron"] + [
        c for c in accuracy.columns if c in results.columns and c not in ("neuron", "n_fires", "acc_when_firing")
    ]
    right = accuracy[keys + ["acc_when_firing"]]
    if right.duplicated(keys).any():
        raise ValueError(f"accuracy has more than one row per {keys}")
    left = results.drop(columns=["acc_when_firing"], errors="ignore")
    return left.merge(right, on=keys, how="left", validate="many_to_one")


def _fit(x: np.ndarray, y: np.ndarray, min_neurons: int) -> dict:
    out = dict.fromkeys(
        ["pearson_r", "pearson_p", "spearman_rho", "spearman_p", "slope", "intercept"], math.nan
    )
    if len(x) < min_neurons or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out  # a correlation needs variation in both variables
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
        line = stats.linregress(x, y)
    out.update(
        pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
        spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue),
        slope=float(line.slope), intercept=float(line.intercept),
    )
    return out


def iou_accuracy_correlation(
    results: pd.DataFrame,
    accuracy: pd.DataFrame | None = None,
    by: Sequence[str] | None = None,
    min_neurons: int = 3,
) -> pd.DataFrame:
    """Correlation between best IoU and accuracy when firing, over the explained neurons of a group.

    The paper's Figures 4–5 ask whether interpretable units help the model: a negative r means the
    better a unit is explained, the less accurate the model is where it fires. ``accuracy`` is an
    :func:`acc_when_firing` frame (or None when ``results`` already has ``acc_when_firing``). ``by``
    defaults to ``encoder, encoding, max_length`` (those present). Per group: ``n_units``, ``n`` (explained
    units that fire), ``mean_iou``, ``mean_acc_when_firing``, Pearson and Spearman with p-values, and
    the least-squares line ``acc = intercept + slope · iou``; NaN when ``n < min_neurons`` or either
    variable is constant.
    """
    if not isinstance(min_neurons, (int, np.integer)) or min_neurons < 2:
        raise ValueError(f"min_neurons must be an int ≥ 2, got {min_neurons!r}")
    frame = results if accuracy is None else attach_accuracy(results, accuracy)
    _columns(frame, ["neuron", "iou", "acc_when_firing"], "results")
    keys = _keys(frame, by, DEFAULT_BY, "results")
    rows = []
    for key, sub in _groups(frame, keys):
        acc = pd.to_numeric(sub["acc_when_firing"], errors="coerce").to_numpy(dtype=float)
        use = _explained(sub).to_numpy() & np.isfinite(acc)
        x = sub["iou"].to_numpy(dtype=float)[use]
        y = acc[use]
        rows.append({
            **key,
            "n_units": len(sub),
            "n": int(use.sum()),
            "mean_iou": float(x.mean()) if len(x) else math.nan,
            "mean_acc_when_firing": float(y.mean()) if len(y) else math.nan,
            **_fit(x, y, int(min_neurons)),
        })
    columns = [*keys, "n_units", "n", "mean_iou", "mean_acc_when_firing", "pearson_r", "pearson_p",
               "spearman_rho", "spearman_p", "slope", "intercept"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------------ question 1: formulas


def mean_iou_by_length(results: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean best IoU per ``max_length`` (paper, CLIP: 0.19 at length 1, 0.21 at length 2).

    Over explained units only; ``sem`` is the standard error of that mean (NaN below two units),
    ``n_explained`` the units it averages and ``n_units`` all units of the group. ``by`` defaults to
    ``encoder, encoding`` (those present).
    """
    _columns(results, ["iou", "max_length"], "results")
    keys = _keys(results, by, ("encoder", "encoding"), "results")
    keys = [k for k in keys if k != "max_length"] + ["max_length"]
    rows = []
    for key, sub in _groups(results, keys):
        iou = sub["iou"].to_numpy(dtype=float)[_explained(sub).to_numpy()]
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
    _columns(results, ["neuron", "iou", "encoding", "max_length"], "results")
    keys = _keys(results, by, ("encoder", "max_length"), "results")
    if "encoding" in keys:
        raise ValueError("by must not hold 'encoding': the difference is taken between encodings")
    unknown = set(results["encoding"].dropna()) - {"standard", "wordnet"}
    if unknown:
        raise ValueError(f"results.encoding holds {sorted(unknown)}; expected 'standard' and 'wordnet'")
    explained = results[_explained(results)]
    index = keys + ["neuron"]
    if explained.duplicated(index + ["encoding"]).any():
        raise ValueError(f"results has more than one row per {index + ['encoding']}")
    wide = explained.pivot(index=index, columns="encoding", values="iou")
    for encoding in ("standard", "wordnet"):
        if encoding not in wide.columns:
            wide[encoding] = np.nan
    wide = wide.dropna(subset=["standard", "wordnet"]).reset_index()
    rows = []
    for key, sub in _groups(wide, keys):
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
    _columns(results, ["formula", "iou"], "results")
    keys = _keys(results, by, DEFAULT_BY, "results")
    parsed: dict[str, tuple[str, tuple[str, ...]]] = {}
    rows = []
    for key, sub in _groups(results, keys):
        formulas = [f for f in sub.loc[_explained(sub), "formula"] if isinstance(f, str)]
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


# ----------------------------------------------------------------------- question 3: one neuron


def formula_concepts(formula: str, lookup) -> dict[str, np.ndarray]:
    """Masks of every atom of ``formula`` and of the formula itself (last), for the conditional plot.

    ``lookup``: a Concepts object (``.mask(name)``), a mapping name → mask, or a callable.
    """
    from .formulas import evaluate, parse

    tree = parse(formula)
    get = lookup.mask if hasattr(lookup, "mask") else (lookup if callable(lookup) else lookup.__getitem__)
    out = {name: np.asarray(get(name), dtype=bool).ravel() for name in dict.fromkeys(tree.atoms())}
    out[tree.text] = evaluate(tree, out)
    return out


def _activation_bins(acts: np.ndarray, bin_width_sd: float, origin: str, separate_zero: bool) -> dict:
    """Bin code, centre (SD), edges and label per pair; see the module docstring."""
    if not (isinstance(bin_width_sd, (int, float, np.floating)) and math.isfinite(bin_width_sd) and bin_width_sd > 0):
        raise ValueError(f"bin_width_sd must be a finite number > 0, got {bin_width_sd!r}")
    if origin not in ("zero", "mean"):
        raise ValueError(f"origin must be 'zero' or 'mean', got {origin!r}")
    if not np.all(np.isfinite(acts)):
        raise ValueError("acts_of_unit holds NaN or infinite values")
    sd = float(acts.std()) if len(acts) else 0.0
    scale = sd if sd > 0 else 1.0  # a constant unit: one bin, positions in raw units
    center = 0.0 if origin == "zero" else float(acts.mean())
    z = (acts - center) / scale
    w = float(bin_width_sd)
    zero_pos = (0.0 - center) / scale  # where activation 0 lies on the SD axis
    # edges at zero_pos + j·w, so firing bins start exactly at activation 0; the tolerance keeps a value
    # on an edge in the bin above it
    k = np.floor((z - zero_pos) / w + 1e-9).astype(np.int64)
    firing = acts > 0 if separate_zero else np.ones(len(acts), dtype=bool)
    ks = np.unique(k[firing])
    code = np.full(len(acts), -1, dtype=np.int64)  # -1: the not-firing bin
    code[firing] = np.searchsorted(ks, k[firing])
    return {"code": code, "ks": ks, "w": w, "sd": sd, "scale": scale, "center": center, "z": z,
            "zero_pos": zero_pos, "has_zero": bool((~firing).any())}


def _bin_table(bins: dict) -> pd.DataFrame:
    """One row per non-empty bin, ordered: the not-firing bin first, then by activation."""
    rows = []
    if bins["has_zero"]:
        rows.append({"bin_code": -1, "bin": bins["zero_pos"], "bin_low": bins["zero_pos"],
                     "bin_high": bins["zero_pos"], "bin_label": ZERO_BIN_LABEL, "firing": False})
    w, zero = bins["w"], bins["zero_pos"]
    for j, k in enumerate(bins["ks"]):
        low, high = round(zero + k * w, 10), round(zero + (k + 1) * w, 10)
        rows.append({"bin_code": j, "bin": (low + high) / 2, "bin_low": low, "bin_high": high,
                     "bin_label": f"[{low:g}, {high:g}) SD", "firing": True})
    table = pd.DataFrame(rows, columns=["bin_code", "bin", "bin_low", "bin_high", "bin_label", "firing"])
    table.insert(0, "bin_order", np.arange(len(table), dtype=np.int64))
    return table


def conditional_probability(
    acts_of_unit,
    concept_masks: Mapping[str, np.ndarray],
    bin_width_sd: float = 0.5,
    *,
    origin: str = "zero",
    separate_zero: bool = True,
) -> pd.DataFrame:
    """Share of pairs in which each concept holds, per activation level (Goh et al.'s plot).

    A good explanation makes the share rise with activation: near 1 in the top bins, low in the
    not-firing bin. ``concept_masks``: name → boolean mask over the probe pairs (the formula's atoms and,
    as one more entry, the formula itself: :func:`formula_concepts`). Binning as in the module docstring.
    Returns one row per (non-empty bin, concept): ``bin_order, bin`` (centre, SD), ``bin_low, bin_high,
    bin_label, firing, concept, concept_order, share, n_concept, n_pairs`` (pairs in the bin),
    ``act_min, act_max`` (raw activations seen in the bin). ``attrs`` hold ``sd`` and ``origin``.
    """
    acts = _vector(acts_of_unit, "acts_of_unit").astype(np.float64)
    if not isinstance(concept_masks, Mapping) or not concept_masks:
        raise ValueError("concept_masks must be a non-empty mapping name → boolean mask")
    masks = {}
    for name, mask in concept_masks.items():
        mask = np.asarray(mask)
        if mask.shape != acts.shape:
            raise ValueError(f"concept_masks[{name!r}] has shape {mask.shape}, acts_of_unit {acts.shape}")
        masks[str(name)] = mask.astype(bool)
    bins = _activation_bins(acts, bin_width_sd, origin, separate_zero)
    table = _bin_table(bins)
    slot = bins["code"] + (1 if bins["has_zero"] else 0)  # row of `table` for every pair
    n_bins = len(table)
    n_pairs = np.bincount(slot, minlength=n_bins)
    act_min = np.full(n_bins, np.inf)
    act_max = np.full(n_bins, -np.inf)
    np.minimum.at(act_min, slot, acts)
    np.maximum.at(act_max, slot, acts)
    frames = []
    for order, (name, mask) in enumerate(masks.items()):
        n_concept = np.bincount(slot, weights=mask, minlength=n_bins).astype(np.int64)
        part = table.copy()
        part["concept"] = name
        part["concept_order"] = order
        part["share"] = n_concept / np.maximum(n_pairs, 1)
        part["n_concept"] = n_concept
        part["n_pairs"] = n_pairs
        part["act_min"] = act_min
        part["act_max"] = act_max
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True).drop(columns="bin_code")
    frame.attrs.update(sd=bins["sd"], origin=origin, center=bins["center"], bin_width_sd=bins["w"])
    return frame


def _pairs_frame(pairs: pd.DataFrame, n: int) -> pd.DataFrame:
    _columns(pairs, ["premise", "hypothesis"], "pairs")
    if len(pairs) != n:
        raise ValueError(f"pairs has {len(pairs)} rows but acts_of_unit has {n} (one per probe pair)")
    return pairs.reset_index(drop=True)


def activation_spectrum(
    acts_of_unit,
    pairs: pd.DataFrame,
    pred=None,
    gold=None,
    *,
    bin_width_sd: float = 0.5,
    origin: str = "zero",
) -> pd.DataFrame:
    """Every probe pair's activation with its rank, gold label and prediction: the full spectrum.

    Top-activating pairs alone hide what a unit does across its range (Goh et al.); this frame keeps
    every pair, sorted by ``rank`` (1 = strongest, ties in pair order). ``gold`` defaults to
    ``pairs["label"]``; ``pred`` is optional (codes or label strings). Columns: ``rank, pair_id,
    premise, hypothesis, activation, activation_sd`` (activation / SD, or from the mean with
    ``origin="mean"``), ``firing``, the activation bin of :func:`conditional_probability`
    (``bin_order, bin, bin_low, bin_high, bin_label``), ``gold`` and, with ``pred``, ``predicted`` and ``correct``.
    """
    acts = _vector(acts_of_unit, "acts_of_unit").astype(np.float64)
    n = len(acts)
    pairs = _pairs_frame(pairs, n)
    if gold is None:
        _columns(pairs, ["label"], "pairs (or pass gold)")
        gold = pairs["label"].to_numpy()
    gold_codes = label_codes(_vector(gold, "gold", n), "gold")
    bins = _activation_bins(acts, bin_width_sd, origin, separate_zero=True)
    table = _bin_table(bins)
    slot = bins["code"] + (1 if bins["has_zero"] else 0)
    order = np.lexsort((np.arange(n), -acts))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    frame = pd.DataFrame({
        "rank": rank,
        "pair_id": pairs["pair_id"].astype(str).to_numpy() if "pair_id" in pairs else np.arange(n).astype(str),
        "premise": pairs["premise"].to_numpy(),
        "hypothesis": pairs["hypothesis"].to_numpy(),
        "activation": acts,
        "activation_sd": bins["z"],
        "firing": acts > 0,
        "bin_order": table["bin_order"].to_numpy()[slot],
        "bin": table["bin"].to_numpy()[slot],
        "bin_low": table["bin_low"].to_numpy()[slot],
        "bin_high": table["bin_high"].to_numpy()[slot],
        "bin_label": table["bin_label"].to_numpy()[slot],
        "gold": np.asarray(LABELS, dtype=object)[gold_codes],
    })
    if pred is not None:
        pred_codes = label_codes(_vector(pred, "pred", n), "pred")
        frame["predicted"] = np.asarray(LABELS, dtype=object)[pred_codes]
        frame["correct"] = pred_codes == gold_codes
    frame = frame.iloc[order].reset_index(drop=True)
    frame.attrs.update(sd=bins["sd"], origin=origin, center=bins["center"], bin_width_sd=bins["w"])
    return frame


def top_activating(acts_of_unit, pairs: pd.DataFrame, pred=None, k: int = 10, gold=None) -> pd.DataFrame:
    """The ``k`` pairs on which the unit is most active (the paper's Figure 6 examples).

    Only pairs where the unit fires are listed, so a unit firing on fewer than ``k`` pairs gives fewer
    rows rather than arbitrary zero-activation pairs. Columns: ``rank, pair_id, premise, hypothesis,
    gold, predicted, correct`` (with ``pred``), ``activation``.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int ≥ 1, got {k!r}")
    spectrum = activation_spectrum(acts_of_unit, pairs, pred, gold)
    top = spectrum[spectrum["firing"]].head(int(k))
    columns = ["rank", "pair_id", "premise", "hypothesis", "gold"]
    columns += ["predicted", "correct"] if "predicted" in top else []
    return top[columns + ["activation"]].reset_index(drop=True)


__all__ = [
    "acc_when_firing", "attach_accuracy", "iou_accuracy_correlation", "mean_iou_by_length",
    "encoding_difference", "formula_kinds", "formula_parts", "operator_mix", "concept_kind",
    "formula_concepts", "conditional_probability", "activation_spectrum", "top_activating",
    "label_codes", "ZERO_BIN_LABEL",
]
