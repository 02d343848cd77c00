"""One neuron at a time (after Goh et al., Distill 2021): :func:`conditional_probability`,
:func:`activation_spectrum`, :func:`top_activating`.

Activation bins. Activations are measured in standard deviations (SD, of the unit's activation over all
probe pairs, zeros included) from zero by default — Goh et al.'s "standard deviations from zero
activation": zero is the meaningful point of a ReLU unit ("not firing"); ``origin="mean"`` measures from
the mean instead. Pairs where the unit does not fire (activation ≤ 0, i.e. the exact zeros of a ReLU
unit, usually most pairs) get a bin of their own, labelled ``"0 (not firing)"`` and placed at the
position of activation 0, so the mass of zeros is neither spread over nor merged into the first firing
bin. Firing pairs fall in bins of ``w = bin_width_sd`` SD whose edges are ``z0 + k·w``, where ``z0`` is
the position of activation 0 (0 with ``origin="zero"``, so the edges are 0, w, 2w, …); only non-empty
bins are listed. Every pair is in exactly one bin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.snli import LABELS
from .tidy import check_columns, check_vector, label_codes


ZERO_BIN_LABEL = "0 (not firing)"


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
    acts = check_vector(acts_of_unit, "acts_of_unit").astype(np.float64)
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
    check_columns(pairs, ["premise", "hypothesis"], "pairs")
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
    acts = check_vector(acts_of_unit, "acts_of_unit").astype(np.float64)
    n = len(acts)
    pairs = _pairs_frame(pairs, n)
    if gold is None:
        check_columns(pairs, ["label"], "pairs (or pass gold)")
        gold = pairs["label"].to_numpy()
    gold_codes = label_codes(check_vector(gold, "gold", n), "gold")
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
        pred_codes = label_codes(check_vector(pred, "pred", n), "pred")
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
