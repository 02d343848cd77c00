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

from ..data.snli import LABELS

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
    from ..explain.formulas import evaluate, parse

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
    if len(acts) and sd <= 1e-12 * float(np.abs(acts).max()):
        sd = 0.0  # equal values whose std is only rounding noise (e.g. 7e-15 for three 43.2s): constant
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


# ------------------------------------------------- uncertainty: seeds, intervals, the firing confound
#
# Every function below follows the rule of :mod:`clipneuron_utils.stats.uncertainty`: a statistic is computed
# per training seed (column ``seed``; a frame without it is one seed), the estimate is its mean over
# seeds, ``seed_sd`` its SD over seeds (ddof 1) and ``n_seeds`` the seeds that have it; the CI
# (``confidence``, 95 % by default) is a percentile bootstrap that resamples units within each seed.
# Count columns (``n``, ``n_explained``, …) are units per seed: the mean over the group's seeds.
# ``n_resamples``, ``confidence`` and ``seed`` (of the bootstrap's random generator, so that tables are
# reproducible) are passed on to the bootstrap.

from . import uncertainty as _U  # noqa: E402  (kept beside the functions that use it)

#: The correlation tests of the firing-rate confound: name → (x, y, covariate).
CONFOUND_TESTS = {
    "IoU ~ log firing count": ("iou", "log_n_fires", None),
    "IoU ~ accuracy": ("iou", "acc_when_firing", None),
    "IoU ~ accuracy | log firing count": ("iou", "acc_when_firing", "log_n_fires"),
    "excess IoU ~ accuracy": ("excess_iou", "acc_when_firing", None),
    "null IoU ~ accuracy": ("null_mean_iou", "acc_when_firing", None),
}
_SOURCE = {"log_n_fires": "n_fires"}  # a derived variable → the column it comes from


def _seed_frames(frame: pd.DataFrame, keys: Sequence[str]) -> list[pd.DataFrame]:
    """The group's rows per training seed, in seed order; the whole group when there is no ``seed``."""
    if "seed" not in frame.columns or "seed" in keys:
        return [frame]
    return [sub for _, sub in frame.groupby("seed", sort=True, dropna=False)]


def _measure_list(measures) -> list[str]:
    measures = [measures] if isinstance(measures, str) else list(measures)
    if not measures or not all(isinstance(m, str) for m in measures):
        raise ValueError(f"measures must be a non-empty list of column names, got {measures!r}")
    return measures


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _variable(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A unit variable of a correlation test: a column, or ``log_n_fires`` (NaN where a unit never fires)."""
    if name == "log_n_fires":
        fires = _float(frame, "n_fires")
        return np.log(np.where(fires > 0, fires, np.nan))
    return _float(frame, name)


def _no_length_key(keys: Sequence[str], column: str) -> None:
    if column in keys:
        raise ValueError(f"by must not hold {column!r}: the comparison is taken across {column}")


def _bootstrap_options(n_resamples, confidence, seed) -> dict:
    return {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}


def _interval(out: dict, j: int) -> dict:
    """The CI of output ``j`` of a bootstrap result."""
    return {"ci_low": float(out["low"][j]), "ci_high": float(out["high"][j])}


def iou_summary(
    scored: pd.DataFrame,
    by: Sequence[str] | None = None,
    measures: Sequence[str] = ("iou", "null_mean_iou", "excess_iou"),
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean IoU, its null and its excess per group, with seed-stratified bootstrap CIs: a row per measure.

    The mean IoU alone mixes explanation quality with firing rate (a unit that fires often gets a high
    IoU from a random mask too), hence ``null_mean_iou`` and ``excess_iou`` beside it. Means are over
    explained units, NaNs dropped per measure; measures the frame lacks are skipped. With ``"iou"``
    among the measures, a row ``measure="iou_paper"`` follows it: the mean over all units with the
    unexplained ones counted as IoU 0 (the original compexp code's convention), lower whenever some
    units are unexplained. ``by`` defaults to ``encoder, encoding, max_length`` (those present).
    Columns: keys, ``measure, mean, ci_low, ci_high, seed_sd, n_seeds, n_explained, n_units``.
    """
    _columns(scored, ["iou"], "scored")
    present = [m for m in _measure_list(measures) if m in scored.columns]
    keys = _keys(scored, by, DEFAULT_BY, "scored")
    order = [x for m in present for x in ([m, "iou_paper"] if m == "iou" else [m])]
    columns = [*keys, "measure", "mean", "ci_low", "ci_high", "seed_sd", "n_seeds", "n_explained", "n_units"]
    if not order:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, sub in _groups(scored, keys):
        frames = _seed_frames(sub, keys)
        samples = []
        for frame in frames:  # all units, NaN where a measure is undefined: one resampling for all
            explained = _explained(frame).to_numpy()
            values = {m: np.where(explained, _float(frame, m), np.nan) for m in present}
            if "iou" in present:  # unexplained units as IoU 0
                values["iou_paper"] = np.where(explained, _float(frame, "iou"), 0.0)
            samples.append(np.column_stack([values[m] for m in order]).reshape(len(frame), len(order)))
        out = _U.bootstrap_means(samples, **_bootstrap_options(n_resamples, confidence, seed))
        counts = {"n_explained": float(np.mean([_explained(f).sum() for f in frames])),
                  "n_units": float(np.mean([len(f) for f in frames]))}
        rows.extend({**key, "measure": m, "mean": float(out["estimate"][j]), **_interval(out, j),
                     "seed_sd": float(out["seed_sd"][j]), "n_seeds": int(out["n_seeds"][j]), **counts}
                    for j, m in enumerate(order))
    return pd.DataFrame(rows, columns=columns)


def _paired_change(
    scored: pd.DataFrame,
    keys: list[str],
    column: str,
    before,
    after,
    measures: list[str],
    options: dict,
) -> list[dict]:
    """Per group and measure: the mean over seeds of the mean per-unit ``after − before`` difference.

    Units are paired by (seed, neuron) across the two values of ``column`` and must be explained (and
    the measure finite) under both. Each row has ``mean_before, mean_after`` (of the paired units),
    ``mean`` (the difference), its CI, ``seed_sd, n_seeds, n``.
    """
    present = [m for m in measures if m in scored.columns]
    if not present:
        return []
    pair_keys = keys + (["seed"] if "seed" in scored.columns and "seed" not in keys else []) + ["neuron"]
    explained = scored[_explained(scored) & scored[column].isin([before, after])]
    twice = explained.duplicated(pair_keys + [column], keep=False)
    if twice.any():
        raise ValueError(f"scored has more than one row per {pair_keys + [column]}; add keys to by")
    rows = []
    for key, sub in _groups(scored, keys):
        samples = []  # per seed: paired units × (before, after, after − before) per measure
        for frame in _seed_frames(sub, keys):
            frame = frame[_explained(frame)]
            a = frame[frame[column] == before].set_index("neuron")
            b = frame[frame[column] == after].set_index("neuron")
            common = a.index.intersection(b.index)
            columns = []
            for m in present:
                x, y = _float(a.loc[common], m), _float(b.loc[common], m)
                ok = np.isfinite(x) & np.isfinite(y)
                columns += [np.where(ok, x, np.nan), np.where(ok, y, np.nan), np.where(ok, y - x, np.nan)]
            samples.append(np.column_stack(columns).reshape(len(common), 3 * len(present)))
        out = _U.bootstrap_means(samples, **options)
        for j, m in enumerate(present):
            rows.append({
                **key, "measure": m,
                "mean_before": float(out["estimate"][3 * j]), "mean_after": float(out["estimate"][3 * j + 1]),
                "mean": float(out["estimate"][3 * j + 2]), **_interval(out, 3 * j + 2),
                "seed_sd": float(out["seed_sd"][3 * j + 2]), "n_seeds": int(out["n_seeds"][3 * j + 2]),
                "n": float(out["n"][3 * j + 2]),
            })
    return rows


def length_gain(
    scored: pd.DataFrame,
    from_length: int = 1,
    to_length: int = 2,
    measures: Sequence[str] = ("iou", "excess_iou"),
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """What longer formulas add: the mean per-unit change from ``from_length`` to ``to_length``.

    Paired per unit (seed, neuron), over units explained at both lengths, so the change is not
    confounded by which units are explained; ``excess_iou`` tells whether a gain in IoU is more than
    the larger null a longer formula also gets. ``by`` defaults to ``encoder, encoding`` (those
    present). Columns: keys, ``measure, from_length, to_length, mean_from, mean_to`` (of the paired
    units), ``mean`` (the change), ``ci_low, ci_high, seed_sd, n_seeds, n`` (paired units per seed).
    """
    _columns(scored, ["neuron", "max_length", "iou"], "scored")
    if from_length == to_length:
        raise ValueError(f"from_length and to_length must differ, got {from_length} twice")
    keys = _keys(scored, by, ("encoder", "encoding"), "scored")
    _no_length_key(keys, "max_length")
    rows = _paired_change(scored, keys, "max_length", from_length, to_length, _measure_list(measures),
                          _bootstrap_options(n_resamples, confidence, seed))
    frame = pd.DataFrame(rows, columns=[*keys, "measure", "mean_before", "mean_after", "mean", "ci_low",
                                        "ci_high", "seed_sd", "n_seeds", "n"])
    frame = frame.rename(columns={"mean_before": "mean_from", "mean_after": "mean_to"})
    frame.insert(len(keys) + 1, "from_length", from_length)
    frame.insert(len(keys) + 2, "to_length", to_length)
    return frame


def encoding_effect(
    scored: pd.DataFrame,
    measures: Sequence[str] = ("iou", "excess_iou"),
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """WordNet minus standard concepts: the mean per-unit difference, with a seed-stratified CI.

    Paired by seed and neuron over units explained under both encodings (the same model units searched
    with two concept sets). ``by`` defaults to ``encoder, max_length`` (those present). Columns: keys,
    ``measure, mean_standard, mean_wordnet`` (of the paired units), ``mean`` (the difference),
    ``ci_low, ci_high, seed_sd, n_seeds, n`` (paired units per seed).
    """
    _columns(scored, ["neuron", "encoding", "iou"], "scored")
    unknown = set(scored["encoding"].dropna()) - {"standard", "wordnet"}
    if unknown:
        raise ValueError(f"scored.encoding holds {sorted(unknown)}; expected 'standard' and 'wordnet'")
    keys = _keys(scored, by, ("encoder", "max_length"), "scored")
    _no_length_key(keys, "encoding")
    rows = _paired_change(scored, keys, "encoding", "standard", "wordnet", _measure_list(measures),
                          _bootstrap_options(n_resamples, confidence, seed))
    frame = pd.DataFrame(rows, columns=[*keys, "measure", "mean_before", "mean_after", "mean", "ci_low",
                                        "ci_high", "seed_sd", "n_seeds", "n"])
    return frame.rename(columns={"mean_before": "mean_standard", "mean_after": "mean_wordnet"})


def _pingouin(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, method: str) -> tuple[float, float]:
    """(r, p) of one seed: ``pingouin.corr``, or ``pingouin.partial_corr`` given a covariate."""
    import pingouin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if z is None:
            result = pingouin.corr(x, y, method=method)
        else:
            data = pd.DataFrame({"x": x, "y": y, "z": z})
            result = pingouin.partial_corr(data=data, x="x", y="y", covar="z", method=method)
    p_column = "p_val" if "p_val" in result.columns else "p-val"
    return float(result["r"].iloc[0]), float(result[p_column].iloc[0])


def _test_names(test) -> tuple[str, str, str | None]:
    if test not in CONFOUND_TESTS:
        raise ValueError(f"test must be one of {list(CONFOUND_TESTS)}, got {test!r}")
    return CONFOUND_TESTS[test]


def _has_columns(frame: pd.DataFrame, variables) -> bool:
    return all(_SOURCE.get(v, v) in frame.columns for v in variables if v is not None)


def _test_data(frame: pd.DataFrame, variables) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A seed's explained units: the test's variables and which units have all of them finite."""
    frame = frame[_explained(frame)]
    data = {v: _variable(frame, v) for v in dict.fromkeys(variables) if v is not None}
    ok = np.logical_and.reduce([np.isfinite(v) for v in data.values()])
    return data, ok


def firing_confound(
    scored: pd.DataFrame,
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Is the paper's IoU ~ accuracy correlation more than firing rate? The family of tests that asks.

    A unit that fires on many probe pairs gets a high IoU even from a random mask, and its accuracy
    when firing is pulled towards the model's overall accuracy; so IoU and accuracy can correlate
    through firing rate alone. :data:`CONFOUND_TESTS` puts the paper's ``"IoU ~ accuracy"`` beside IoU
    vs log firing count, the partial correlation of IoU and accuracy controlling for log firing count,
    and the correlation of accuracy with the excess IoU and with the null IoU (the correlation to
    expect if IoU carried nothing beyond firing rate). Over explained units with every variable
    finite; tests whose columns are absent are skipped. Per seed, r and p come from pingouin
    (``corr`` / ``partial_corr``); ``r`` is their mean over seeds, ``p`` their Fisher-z combination
    (:func:`~clipneuron_utils.stats.uncertainty.combined_p`; one seed: pingouin's p), and the CI a
    seed-stratified bootstrap. ``p_holm``: Holm over all rows of the returned frame (the family the
    book reports). ``by`` defaults to ``encoder, encoding, max_length`` (those present). Columns: keys,
    ``test, method, r, ci_low, ci_high, p, seed_sd, n_seeds, n, p_holm``.
    """
    _columns(scored, ["iou"], "scored")
    keys = _keys(scored, by, DEFAULT_BY, "scored")
    options = _bootstrap_options(n_resamples, confidence, seed)
    tests = [t for t, variables in CONFOUND_TESTS.items() if _has_columns(scored, variables)]
    methods = _U.METHODS
    rows = []
    for key, sub in _groups(scored, keys):
        frames = _seed_frames(sub, keys)
        found = {}  # test → (data of the seeds where it is defined, per-method [(r, p)], units per seed)
        together: dict[tuple, list[str]] = {}  # tests of the same units share one bootstrap
        for test in tests:
            x, y, z = CONFOUND_TESTS[test]
            used, data, counts = [], [], []
            for s, frame in enumerate(frames):
                values, ok = _test_data(frame, (x, y, z))
                values = {v: a[ok] for v, a in values.items()}
                counts.append(int(ok.sum()))
                if _U.correlation_defined([values[v] for v in values], int(z is not None)):
                    used.append((s, ok.tobytes()))
                    data.append(values)
            fits = {m: [_pingouin(d[x], d[y], d.get(z), m) for d in data] for m in methods}
            found[test] = (data, fits, counts)
            together.setdefault(tuple(used), []).append(test)
        intervals = {}
        for group in together.values():
            data = [{k: v for t in group for k, v in found[t][0][i].items()}
                    for i in range(len(found[group[0]][0]))]
            specs = [(*CONFOUND_TESTS[t], m) for t in group for m in methods]
            out = (_U.bootstrap_correlations(data, specs, **options) if data else
                   {"low": np.full(len(specs), np.nan), "high": np.full(len(specs), np.nan)})
            for j, (test, method) in enumerate((t, m) for t in group for m in methods):
                intervals[test, method] = _interval(out, j)
        for test in tests:
            data, fits, counts = found[test]
            k = int(CONFOUND_TESTS[test][2] is not None)
            for method in methods:
                rs = np.array([r for r, _ in fits[method]], dtype=float)
                ps = np.array([p for _, p in fits[method]], dtype=float)
                ns = np.array([len(next(iter(d.values()))) for d in data], dtype=float)
                rows.append({
                    **key, "test": test, "method": method,
                    "r": float(rs.mean()) if len(rs) else math.nan,
                    **intervals[test, method],
                    "p": _U.combined_p(rs, ns, k, pvalues=ps)[1] if len(rs) else math.nan,
                    "seed_sd": _U.seed_sd(rs), "n_seeds": len(rs),
                    "n": float(np.mean(counts)) if counts else math.nan,
                })
    columns = [*keys, "test", "method", "r", "ci_low", "ci_high", "p", "seed_sd", "n_seeds", "n"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["p_holm"] = _U.holm(frame["p"].to_numpy(dtype=float)) if len(frame) else pd.Series(dtype=float)
    return frame


def correlation_change(
    scored: pd.DataFrame,
    from_length: int = 1,
    to_length: int = 2,
    test: str = "IoU ~ accuracy",
    method: str = "pearson",
    by: Sequence[str] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """How a :data:`CONFOUND_TESTS` correlation changes from ``from_length`` to ``to_length``.

    The paper reads meaning into the IoU ~ accuracy correlation growing with formula length; this gives
    that change an interval. Per seed, r at each length (pingouin, over the units explained at that
    length, as in :func:`firing_confound`) and ``change = r_to − r_from``; the bootstrap resamples a
    seed's units once for both lengths (the same units), so the CI accounts for the two r's sharing
    units. ``by`` defaults to ``encoder, encoding`` (those present). Columns: keys, ``test, method,
    from_length, to_length, r_from, r_to, change, ci_low, ci_high, seed_sd`` (of the per-seed change),
    ``n_seeds, n`` (units per seed explained at either length), ``n_from, n_to``.
    """
    x, y, z = _test_names(test)
    _U.check_method(method)
    if from_length == to_length:
        raise ValueError(f"from_length and to_length must differ, got {from_length} twice")
    _columns(scored, ["neuron", "max_length", "iou"], "scored")
    missing = [_SOURCE.get(v, v) for v in (x, y, z) if v is not None and _SOURCE.get(v, v) not in scored]
    if missing:
        raise ValueError(f"scored lacks column(s) {', '.join(missing)} needed by {test!r}")
    keys = _keys(scored, by, ("encoder", "encoding"), "scored")
    _no_length_key(keys, "max_length")
    variables = [v for v in (x, y, z) if v is not None]
    k = int(z is not None)
    rows = []
    for key, sub in _groups(scored, keys):
        frames = _seed_frames(sub, keys)
        seeds, masks, fits, n_from, n_to, n_any = [], [], [], [], [], []
        for frame in frames:
            per_length = []
            for length in (from_length, to_length):
                part = frame[frame["max_length"] == length]
                if part["neuron"].duplicated().any():
                    raise ValueError(f"scored has more than one row per neuron at max_length {length}; "
                                     "add keys to by")
                values, ok = _test_data(part, variables)
                neurons = part.loc[_explained(part), "neuron"].to_numpy()
                per_length.append(pd.DataFrame(values, index=neurons)[ok])
            a, b = per_length
            union = a.index.union(b.index)
            a, b = a.reindex(union), b.reindex(union)
            ok_a, ok_b = a.notna().all(axis=1).to_numpy(), b.notna().all(axis=1).to_numpy()
            n_from.append(int(ok_a.sum()))
            n_to.append(int(ok_b.sum()))
            n_any.append(len(union))
            sides = ((a, ok_a), (b, ok_b))
            defined = [_U.correlation_defined([d[v].to_numpy()[ok] for v in variables], k) for d, ok in sides]
            if not all(defined):
                continue
            fits.append([_pingouin(*(d[v].to_numpy()[ok] if v else None for v in (x, y, z)), method)[0]
                         for d, ok in sides])
            seeds.append({f"{side}:{v}": d[v].fillna(0.0).to_numpy() for side, d in (("from", a), ("to", b))
                          for v in variables})
            masks.append({"from": ok_a.astype(float), "to": ok_b.astype(float)})
        fits = np.array(fits, dtype=float).reshape(-1, 2)
        low = high = math.nan
        if seeds:
            specs = [(f"{side}:{x}", f"{side}:{y}", f"{side}:{z}" if z else None, method, side)
                     for side in ("from", "to")]
            out = _U.bootstrap_correlations(
                seeds, specs, combine=lambda r: (r[:, 1] - r[:, 0]).mean(axis=0)[None], masks=masks,
                **_bootstrap_options(n_resamples, confidence, seed),
            )
            low, high = float(out["low"][0]), float(out["high"][0])
        change = fits[:, 1] - fits[:, 0]
        rows.append({
            **key, "test": test, "method": method, "from_length": from_length, "to_length": to_length,
            "r_from": float(fits[:, 0].mean()) if len(fits) else math.nan,
            "r_to": float(fits[:, 1].mean()) if len(fits) else math.nan,
            "change": float(change.mean()) if len(fits) else math.nan,
            "ci_low": low, "ci_high": high, "seed_sd": _U.seed_sd(change), "n_seeds": len(fits),
            "n": float(np.mean(n_any)), "n_from": float(np.mean(n_from)), "n_to": float(np.mean(n_to)),
        })
    columns = [*keys, "test", "method", "from_length", "to_length", "r_from", "r_to", "change", "ci_low",
               "ci_high", "seed_sd", "n_seeds", "n", "n_from", "n_to"]
    return pd.DataFrame(rows, columns=columns)


__all__ += [
    "iou_summary", "length_gain", "encoding_effect", "firing_confound", "correlation_change",
    "CONFOUND_TESTS",
]
