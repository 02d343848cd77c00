"""Faithfulness (C2) of one model: formulas searched on one half of the probe pairs, edits made on the other,
each edit set against a sham edit of the same pair, with a planted unit and its shuffled twin.

* **The split.** A fixed random half of the probe pairs (:func:`halves`, the same for every model) is the
  *search half*: the tested units' formulas are searched again on it alone, as chapter 05_search searches
  (same beam, penalty, length; ``min_acts`` scaled to the half). Edits start only from the other half, so
  no edited pair helped choose the formula it tests. Chapter 05_search's formulas stay as they are; they
  only say which units are candidates (an explained unit whose formula names a word).
* **Sham edits** (:meth:`~clipneuron_utils.explain.edits.Editor.shams`): the same pair, one other word of
  the same tag swapped, the formula's truth and each of its concepts unchanged. The claim's figure is the
  formula edit's directed shift less its sham's, per unit.
* **Another unit's formula.** Each tested unit is also edited with the formula of the next tested unit of
  the same model (with its own shams): what the test finds when the words have nothing to do with the unit.
* **Planted units.** A planted unit's activation is a known function of one word plus this model's noise,
  ``2·[word] − 1 + 0.5·z`` (``z``: a random unit of this model, standardised over the probe pairs and cut to
  ±1.5, measured on every pair the model sees, edited ones included); its *shuffled twin* has the word's
  indicator of another probe pair (a fixed permutation), the same noise, and is tested with the planted
  unit's formula. Both go through the same search; where the search finds the planted word, both get edits
  and shams of it by the same rule (each its own draw of edit-half pairs): the planted unit must be found
  faithful, its twin not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..explain import edits as edit_rules
from ..explain.controls import SEARCH_KEYS
from ..explain.regime import regime_min_acts
from ..explain.search import beam_search_by_length, threshold_activations
from ..explain.vocabulary import SKIP_TOKENS

SPLIT_SEED = 13
KINDS = ("formula", "formula sham", "other formula", "other formula sham")
PLANTED_SHARE = (0.01, 0.15)  # a planted word holds on this share of probe pairs, so any regime can find it
PLANTED_SIGNAL, PLANTED_NOISE, NOISE_CUT = 2.0, 0.5, 1.5


def halves(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """(search half, edit half): a fixed random half of ``n_pairs`` probe rows and the rest, each sorted; the
    same for every model, so every model's formulas are searched on the same pairs."""
    order = np.random.default_rng(SPLIT_SEED).permutation(int(n_pairs))
    cut = int(n_pairs) // 2
    return np.sort(order[:cut]), np.sort(order[cut:])


def half_search(acts: np.ndarray, concepts, rows: np.ndarray, *, alpha: float | None, length: int,
                search_params: dict) -> pd.DataFrame:
    """The best formula of each column of ``acts`` (probe pairs × units) searched on the probe ``rows`` only,
    at ``length`` atoms, as chapter 05_search searches (its ``min_acts`` scaled to the share of pairs, and
    at a top-α regime to its count); columns ``unit`` (the column), ``formula``, ``iou``, ``explained``."""
    search = {k: v for k, v in search_params.items() if k in SEARCH_KEYS and k not in ("max_length", "min_acts")}
    masks = threshold_activations(np.asarray(acts)[rows], alpha or None)
    min_acts = int(round(int(search_params.get("min_acts", 0)) * len(rows) / concepts.n_pairs))
    min_acts = regime_min_acts(min_acts, alpha or None, len(rows))
    found = beam_search_by_length(masks, concepts.masks[rows], names=concepts.names, max_length=length,
                                  min_acts=0, progress=False, **search)
    found = found[found["max_length"] == length].sort_values("neuron").reset_index(drop=True)
    fires = masks.sum(axis=0)
    return pd.DataFrame({"unit": found["neuron"].to_numpy(dtype=np.int64), "formula": found["formula"],
                         "iou": found["iou"].to_numpy(dtype=float),
                         "explained": fires[found["neuron"].to_numpy(dtype=np.int64)] >= max(min_acts, 1)})


def planted(acts: np.ndarray, concepts, editor: edit_rules.Editor, n: int, rng: np.random.Generator) -> list[dict]:
    """``n`` planted units of this model: each a word's atom (a token of a tag with substitutes, holding on a
    share of pairs in :data:`PLANTED_SHARE`), a noise unit (an active unit of ``acts``), its mean and SD,
    and the twin's permutation of the probe rows."""
    counts = concepts.counts() / concepts.n_pairs
    words = [name for name, share in zip(concepts.names, counts)
             if name.split(":")[1] == "tok" and PLANTED_SHARE[0] <= share <= PLANTED_SHARE[1]
             and name.split(":", 2)[2] not in SKIP_TOKENS
             and len(editor.by_tag.get(editor.tags.get(name.split(":", 2)[2]), ())) > 3]
    active = np.flatnonzero(np.asarray(acts).std(axis=0) > 0)
    if not words or not len(active):
        return []
    out = []
    for atom in rng.choice(words, size=min(n, len(words)), replace=False):
        unit = int(rng.choice(active))
        out.append({"atom": str(atom), "noise": unit, "mean": float(acts[:, unit].mean()),
                    "sd": float(acts[:, unit].std()), "perm": rng.permutation(concepts.n_pairs)})
    return out


def planted_activation(plant: dict, noise: np.ndarray, holds: np.ndarray) -> np.ndarray:
    """A planted unit's activation from its noise unit's activations and whether its word holds. The noise
    is the unit's standardised value cut to ±:data:`NOISE_CUT` SDs: a sparse unit's rare large values would
    otherwise outweigh the word, and the search would find the noise unit's own words instead."""
    z = np.clip((np.asarray(noise, dtype=float) - plant["mean"]) / plant["sd"], -NOISE_CUT, NOISE_CUT)
    return PLANTED_SIGNAL * np.asarray(holds, dtype=float) - PLANTED_SIGNAL / 2 + PLANTED_NOISE * z


def word_holds(frame: pd.DataFrame, atom: str) -> np.ndarray:
    """Whether ``atom``'s token is on its side of each pair of ``frame`` (edited pairs included)."""
    side, _, word = atom.split(":", 2)
    return np.array([word in set(t) for t in frame[edit_rules.COLUMNS[side][1]]], dtype=bool)


def _plans(editor: edit_rules.Editor, formula: str, atom: str, n_edits: int, rng, rows, avoid) -> pd.DataFrame:
    """A formula's edits and their shams on ``rows``, with ``link`` tying each sham to its edit."""
    plan = editor.plan(formula, atom, n_edits, rng, avoid=avoid, rows=rows).reset_index(drop=True)
    if plan.empty:
        return plan
    shams = editor.shams(formula, atom, plan, rng, avoid=avoid)
    return pd.concat([plan.assign(link=np.arange(len(plan)), sham=False), shams.assign(sham=True)], ignore_index=True)


def edit_plans(editor: edit_rules.Editor, rows: pd.DataFrame, acts: np.ndarray, *, alpha: float | None, units: int,
               edits: int, length: int, seed: int, search_params: dict, planted_units: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every C2 edit of one model at one regime, and the tested units (``role`` unit / planted / twin, the
    half-search formula, its IoU on the search half, and whether a planted unit's formula names its word).

    Candidates: chapter 05_search's explained units whose formula names a word, in a seeded order; their
    formulas are searched again on the search half, and the first ``units`` whose new formula names a word
    are tested."""
    rng = np.random.default_rng([seed, 7])
    search_rows, edit_rows = halves(len(editor.probe))
    named = rows[rows["explained"].astype(bool) & rows["formula"].map(
        lambda f: isinstance(f, str) and bool(edit_rules.token_atoms(f)))]
    candidates = named["neuron"].to_numpy(dtype=np.int64)[rng.permutation(len(named))[: 3 * units]]
    plants = planted(acts, editor.concepts, editor, planted_units, rng)
    columns = [acts[:, candidates]]
    for p in plants:
        holds = editor.concepts.mask(p["atom"])
        noise = acts[:, p["noise"]]
        columns += [planted_activation(p, noise, holds)[:, None], planted_activation(p, noise, holds[p["perm"]])[:, None]]
    found = half_search(np.hstack(columns), editor.concepts, search_rows, alpha=alpha, length=length,
                        search_params=search_params) if sum(c.shape[1] for c in columns) else pd.DataFrame()
    tested = []
    for i, unit in enumerate(candidates):
        f = found.iloc[i]
        if bool(f["explained"]) and isinstance(f["formula"], str) and edit_rules.token_atoms(f["formula"]):
            tested.append({"unit": int(unit), "role": "unit", "formula": f["formula"], "search_iou": float(f["iou"]),
                           "atom": edit_rules.token_atoms(f["formula"])[0]})
        if len(tested) == units:
            break
    hidden = acts.shape[1]
    for j, p in enumerate(plants):
        f = found.iloc[len(candidates) + 2 * j]
        formula = f["formula"] if isinstance(f["formula"], str) else None
        atoms = edit_rules.token_atoms(formula) if formula else []
        recovered = p["atom"] in atoms
        base = {"formula": formula, "atom": p["atom"], "word": p["atom"], "recovered": recovered, "noise": p["noise"],
                "search_iou": float(f["iou"])}
        tested.append({"unit": hidden + 2 * j, "role": "planted", **base})
        twin = found.iloc[len(candidates) + 2 * j + 1]
        tested.append({"unit": hidden + 2 * j + 1, "role": "twin", **base, "twin_formula": twin["formula"],
                       "perm": p["perm"]})
    tested = pd.DataFrame(tested)
    plans = []
    real = tested[tested["role"] == "unit"].reset_index(drop=True) if len(tested) else tested
    for t in tested.itertuples(index=False) if len(tested) else ():
        if t.role != "unit" and not t.recovered:  # a planted unit the search did not find is counted, not edited
            continue
        jobs = [("formula", t.formula, t.atom)]
        if t.role == "unit":  # the next tested unit's formula that names none of this unit's words, on this unit
            other = _other_formula(real, t.unit, t.formula)
            if other is not None:
                jobs.append(("other formula", other["formula"], other["atom"]))
        avoid = {a.split(":", 2)[2] for _, f, _ in jobs for a in edit_rules.token_atoms(f)}
        for kind, formula, atom in jobs:
            plan = _plans(editor, formula, atom, edits, rng, edit_rows, avoid)
            if len(plan):
                plans.append(plan.assign(unit=int(t.unit), role=t.role, kind=np.where(plan["sham"], kind + " sham", kind),
                                         formula=formula, atom=atom))
    return (pd.concat(plans, ignore_index=True) if plans else pd.DataFrame()), tested


def _other_formula(real: pd.DataFrame, unit: int, formula: str):
    """The first tested unit after ``unit`` (cyclically) whose formula names none of ``formula``'s words: the
    null's words must have nothing to do with this unit's own; None when every other formula shares one."""
    own = set(edit_rules.token_atoms(formula))
    start = int(np.flatnonzero(real["unit"].to_numpy() == unit)[0])
    for step in range(1, len(real)):
        other = real.iloc[(start + step) % len(real)]
        if not own & set(edit_rules.token_atoms(other["formula"])):
            return other
    return None


def shifts(plans: pd.DataFrame, tested: pd.DataFrame, probe: pd.DataFrame, probe_acts: np.ndarray,
           edited_acts: np.ndarray) -> pd.DataFrame:
    """Each edit's unit activation ``before`` (its source pair) and ``after`` (the edited pair), and its
    directed ``shift``: the change times the predicted direction, in the unit's probe SDs. Planted units'
    activations are computed from their noise unit, measured on the same pairs."""
    hidden = probe_acts.shape[1]
    units = plans["unit"].to_numpy(dtype=np.int64)
    src = plans["source"].to_numpy(dtype=np.int64)
    before, after, sd = np.empty(len(plans)), np.empty(len(plans)), np.empty(len(plans))
    real = units < hidden
    before[real] = probe_acts[src[real], units[real]]
    after[real] = edited_acts[np.flatnonzero(real), units[real]]
    sd[real] = probe_acts.std(axis=0)[units[real]]
    by_unit = tested.set_index("unit") if len(tested) else None
    for unit in np.unique(units[~real]):
        t = by_unit.loc[int(unit)]
        at = np.flatnonzero(units == unit)
        noise = int(t["noise"])
        plant = {"mean": float(probe_acts[:, noise].mean()), "sd": float(probe_acts[:, noise].std())}
        word = t["word"]
        holds_probe = word_holds(probe, word)
        if t["role"] == "twin":
            holds_probe = holds_probe[t["perm"]]
            holds_after = holds_probe[src[at]]  # the twin's word indicator belongs to another pair: edits leave it
        else:
            holds_after = word_holds(plans.iloc[at], word)
        probe_values = planted_activation(plant, probe_acts[:, noise], holds_probe)
        before[at] = probe_values[src[at]]
        after[at] = planted_activation(plant, edited_acts[at, noise], holds_after)
        sd[at] = probe_values.std()
    shift = plans["direction"].to_numpy(dtype=float) * (after - before) / np.where(sd > 0, sd, np.nan)
    keep = ["unit", "role", "kind", "link", "formula", "atom", "edit", "old", "new", "direction", "source",
            "premise", "hypothesis"]
    return plans[keep].assign(before=before, after=after, shift=shift)

