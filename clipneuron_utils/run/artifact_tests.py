"""Chapter 11_artifacts' per-model work: each trained model's explained units with the class each pushes to, the
artifact detectors among them, and the per-seed figures of the two tests (:mod:`..stats.artifact_effects`).

Reads what chapters 03_head_training and 05_search left (activations, output weights, formulas); computes
nothing expensive: the ablation is exact arithmetic on the cached activations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import annotation_artifacts as words
from ..stats import artifact_effects as effects
from . import trained


def explained_units(rows: pd.DataFrame, weights: dict) -> pd.DataFrame:
    """The explained units of ``rows`` (search rows of one formula length and encoding; any models and seeds) with
    ``pushed``, the class of each unit's largest output weight (``weights``: ``(model, seed) → (3, hidden)``)."""
    rows = rows[rows["explained"].astype(bool)].reset_index(drop=True)
    pushed = []
    for (m, s), group in rows.groupby(["encoder", "seed"], sort=False):
        pushed.append(pd.Series(words.pushed_classes(weights[m, int(s)], group["neuron"]), index=group.index))
    rows["pushed"] = pd.concat(pushed) if pushed else pd.Series(dtype=object)
    return rows.reset_index(drop=True)


def run(book, units: pd.DataFrame, artifacts: dict, easy: np.ndarray | None, *, draws: int = effects.DRAWS,
        sets: int = effects.RANDOM_SETS, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """H1 and H2 per model, regime and seed: ``(units, shares, ablation)``, ``units`` with ``detector``. ``units``: :func:`explained_units` with a
    ``regime`` column; ``easy``: per probe pair, whether the hypothesis-only baseline gets it right (None: no
    baseline, so no H2)."""
    from ..models.heads import label_ids

    units = units.assign(detector=words.detectors(units, artifacts))
    shares = effects.detector_shares(units, artifacts, draws=draws, seed=seed)
    rows = []
    if easy is not None:
        gold = label_ids(book.pairs.probe)
        for (m, s), group in units.groupby(["encoder", "seed"], sort=False):
            model = book.trained[m, int(s)]
            acts = trained.probe_outputs(book.profile, m, book.pairs.probe, seed=int(s))["activations"]
            bias = model.mlp[3].bias.detach().cpu().numpy()
            for regime, at in group.groupby("regime", sort=False):
                at = at.sort_values("neuron")
                found = effects.easy_hard_changes(acts, book.weights[m, int(s)], bias, gold, easy,
                                                  at.loc[at["detector"], "neuron"], at["neuron"], at["pushed"],
                                                  n_sets=sets, seed=seed + int(s))
                if found is not None:
                    rows.append({"encoder": m, "regime": regime, "seed": int(s), **found})
    return units, shares, pd.DataFrame(rows)
