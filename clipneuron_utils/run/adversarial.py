"""Adversarial pairs (C3) of one model: a premise noun a unit's formula names is appended to pairs of another
class, and the model's response is read in the order the claim runs: the unit's activation, its push toward
the class it favours, then the prediction.

* **Which units.** The best-explained units whose formula names a premise noun W un-negated *and whose
  explanation W carries*: W alone scores at least :data:`ATOM_SHARE` of the formula's IoU, or the formula
  loses at least :data:`DROP_SHARE` of its IoU without W (:func:`carried`). ``(hyp:tag:. OR pre:tok:man)``,
  which the final full stop of any hypothesis satisfies, is not a test of *man*.
* **The pairs** (:func:`~clipneuron_utils.explain.edits.append_clause`): ``There is a W.`` appended to the
  premise of pairs from the edit half (:func:`~.faithfulness.halves`) whose gold label is entailment or
  contradiction but not the unit's class; the control appends a noun of the same tag and nearest frequency.
* **Positive control** (:func:`noun_control`): for each class a tested unit pushes to, the noun (among the
  most frequent premise nouns) whose clause moves the model's logit toward that class most on the search
  half, measured again on the edit half: an appended noun known to push, so that the test can be seen to
  detect one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.snli import LABELS
from ..explain import edits as edit_rules
from ..explain import formulas
from ..explain.concepts import masks_like
from ..explain.probe import polarity
from ..explain.search import threshold_activations
from .faithfulness import halves

ATOM_SHARE = 0.8  # the noun alone scores at least 80 % of the formula's IoU ...
DROP_SHARE = 0.25  # ... or the formula loses at least a quarter of its IoU without it
CANDIDATE_NOUNS = 8  # the positive control chooses among this many frequent premise nouns
SEARCH_PAIRS = 16  # base pairs per candidate noun on the search half


def noun_atom(formula, tags: dict) -> str | None:
    """The formula's first un-negated premise-noun token atom (``pre:tok:W``, W tagged NN or NNS), or None."""
    if not isinstance(formula, str):
        return None
    for atom, signs in polarity(formula).items():
        side, kind, word = atom.split(":", 2)
        if side == "pre" and kind == "tok" and True in signs and tags.get(word) in edit_rules.NOUN_TAGS:
            return atom
    return None


def carried(formula: str, atom: str, unit_mask: np.ndarray, concepts) -> dict:
    """How much of a formula's IoU with ``unit_mask`` its ``atom`` carries: the formula's IoU, the atom's
    alone, the formula's without the atom (:func:`formulas.without`; 0 when nothing is left), and whether
    it passes :data:`ATOM_SHARE` or :data:`DROP_SHARE`."""
    full = formulas.iou(formulas.evaluate(formula, concepts), unit_mask)
    alone = formulas.iou(concepts.mask(atom), unit_mask)
    rest = formulas.without(formula, atom)
    rest_iou = formulas.iou(formulas.evaluate(rest, concepts), unit_mask) if rest is not None else 0.0
    ok = full > 0 and (alone >= ATOM_SHARE * full or full - rest_iou >= DROP_SHARE * full)
    return {"formula_iou": full, "atom_iou": alone, "without_iou": rest_iou, "carried": bool(ok)}


def _clause_pairs(editor, base: np.ndarray, word: str, control: str, tag: str, formula: str | None, atom: str):
    """The base pairs with W's clause and with the control noun's, kept where the two differ in no concept but
    the two nouns' (and, given a ``formula``, where it holds with W and not with the control)."""
    with_w = edit_rules.append_clause(editor.probe, base, word, tag)
    with_c = edit_rules.append_clause(editor.probe, base, control, tag)
    masks_w, masks_c = masks_like(with_w, editor.concepts), masks_like(with_c, editor.concepts)
    ok = edit_rules.check_edits(masks_c, masks_w, np.arange(len(with_w)), [{atom, f"pre:tok:{control}"}] * len(with_w))
    if formula is not None:
        ok &= formulas.evaluate(formula, masks_w) & ~formulas.evaluate(formula, masks_c)
    return with_w, with_c, np.flatnonzero(ok)


def _bases(gold: np.ndarray, pushed: int, rows: np.ndarray, n: int, rng) -> np.ndarray:
    keep = [LABELS.index(x) for x in ("entailment", "contradiction") if LABELS.index(x) != pushed]
    return rng.permutation(rows[np.isin(gold[rows], keep)])[:n]


def plans(editor: edit_rules.Editor, rows: pd.DataFrame, acts: np.ndarray, weights: np.ndarray, gold: np.ndarray, *,
          alpha: float | None, units: int, pairs: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The adversarial pairs (``kind`` formula / control, one of each per base pair) of up to ``units`` units
    whose premise noun carries their formula, best IoU first; and every candidate unit with its
    :func:`carried` figures (``tested``: whether it got pairs)."""
    rng = np.random.default_rng([seed, 11])
    _, edit_rows = halves(len(editor.probe))
    cand = rows[rows["explained"].astype(bool)].assign(atom=lambda f: f["formula"].map(lambda x: noun_atom(x, editor.tags)))
    cand = cand.dropna(subset=["atom"]).sort_values(["iou", "neuron"], ascending=[False, True])
    out, seen = [], []
    for row in cand.itertuples():
        if sum(bool(s["tested"]) for s in seen) >= units:
            break
        mask = threshold_activations(acts[:, [int(row.neuron)]], alpha or None)[:, 0]
        share = carried(row.formula, row.atom, mask, editor.concepts)
        info = {"unit": int(row.neuron), "formula": row.formula, "atom": row.atom, **share, "tested": False}
        seen.append(info)
        if not share["carried"]:
            continue
        word = row.atom.split(":", 2)[2]
        tag = editor.tags[word]
        control = editor.frequency_match(row.atom, exclude=set(formulas.parse(row.formula).atoms()))
        if control is None:
            continue
        pushed = int(np.argmax(weights[:, row.neuron]))
        base = _bases(gold, pushed, edit_rows, 3 * pairs, rng)
        with_w, with_c, ok = _clause_pairs(editor, base, word, control.split(":", 2)[2], tag, row.formula, row.atom)
        ok = ok[:pairs]
        if len(ok) == 0:
            continue
        info["tested"] = True
        meta = dict(unit=int(row.neuron), formula=row.formula, word=word, control=control.split(":", 2)[2],
                    pushed=LABELS[pushed])
        out.append(pd.concat([with_w.iloc[ok].assign(kind="formula", **meta),
                              with_c.iloc[ok].assign(kind="control", **meta)], ignore_index=True))
    return (pd.concat(out, ignore_index=True) if out else pd.DataFrame()), pd.DataFrame(seen)


def noun_candidates(editor: edit_rules.Editor, n: int = CANDIDATE_NOUNS) -> list[str]:
    """The ``n`` most frequent premise nouns (NN) with a frequency-matched control noun."""
    counts = editor.concepts.counts()
    names = [nm for nm in editor.concepts.names if nm.startswith("pre:tok:")
             and editor.tags.get(nm.split(":", 2)[2]) == "NN"]
    names.sort(key=lambda nm: (-int(counts[editor.concepts.index[nm]]), nm))
    return [nm for nm in names if editor.frequency_match(nm) is not None][:n]


def noun_control(editor: edit_rules.Editor, gold: np.ndarray, classes, push, *, pairs: int, seed: int) -> pd.DataFrame:
    """The positive control's pairs: per class in ``classes``, the candidate noun whose clause raises that
    class's logit margin most on the search half (``push(frame, cls)``: the model's margin toward ``cls`` on
    those pairs), then its pairs and their controls on the edit half (``kind`` formula / control)."""
    rng = np.random.default_rng([seed, 19])
    search_rows, edit_rows = halves(len(editor.probe))
    nouns = noun_candidates(editor)
    out = []
    for cls in classes:
        pushed = LABELS.index(cls)
        best, gain = None, None
        for atom in nouns:
            word, control = atom.split(":", 2)[2], editor.frequency_match(atom).split(":", 2)[2]
            base = _bases(gold, pushed, search_rows, SEARCH_PAIRS, rng)
            with_w, with_c, ok = _clause_pairs(editor, base, word, control, "NN", None, atom)
            if len(ok) < 2:
                continue
            g = float(np.mean(push(with_w.iloc[ok], cls) - push(with_c.iloc[ok], cls)))
            if gain is None or g > gain:
                best, gain = (atom, word, control), g
        if best is None:
            continue
        atom, word, control = best
        base = _bases(gold, pushed, edit_rows, pairs, rng)
        with_w, with_c, ok = _clause_pairs(editor, base, word, control, "NN", None, atom)
        if len(ok):
            meta = dict(unit=-1 - pushed, formula=atom, word=word, control=control, pushed=cls)
            out.append(pd.concat([with_w.iloc[ok].assign(kind="formula", **meta),
                                  with_c.iloc[ok].assign(kind="control", **meta)], ignore_index=True))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()
