"""Heuristics or artifacts? The two tests of chapter 11_artifacts, per trained model (the replicate), pooled over
seeds, and judged by the causal chapter's rule (:func:`.causal.rule`).

**H1, artifact detectors outnumber chance.** Per model, regime and seed: the share of explained units that
are artifact detectors (:func:`.annotation_artifacts.detectors`) less its permutation null's mean (the units'
classes shuffled among them), with the null's variance as the seed's. Positive control: the same units with
each class set to agree with the artifact words its formula names (the share a model of pure artifact
detectors would give), against its own null.

**H2, they carry the easy pairs, not the hard ones.** Per model, regime and seed: hold the detectors at their
mean (the head is linear in its units, so this is exact, :class:`~clipneuron_utils.models.ablation.Ablator`)
and read the gold margin (probe SDs) on the *easy* pairs (a hypothesis-only model gets them right) and on
the *hard* ones. The figure is (loss on easy − loss on hard) of the detectors less that of random explained
units with the same classes: positive where the detectors carry what a hypothesis-only model can do.
Positive control: the same number of explained units with the largest (contribution on easy − contribution
on hard), the most any such set can show.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.snli import LABELS
from ..models.ablation import Ablator, gold_margins, mean_contributions
from . import replicates
from .annotation_artifacts import detectors, hypothesis_words, permuted_shares
from .causal import CausalClaim, MIN_SHARE_OF_CONTROL, detected, rule
from .tidy import check_columns

RANDOM_SETS = 20  # class-matched random unit sets per seed (H2's baseline)
DRAWS = 200  # class shuffles per seed (H1's null)

CLAIMS = {c.key: c for c in (
    CausalClaim("H1", "explained units detect the class's artifact words more often than chance",
                "unit 870 \"learns a simple heuristic that can effectively predict contradictions\" (§5.3); "
                "Gururangan et al.: hypothesis words alone predict SNLI's label",
                f"share of explained units whose formula names an artifact word of the class they push to − the "
                f"same share with the units' classes shuffled, > 0 (95 % CI) and ≥ {MIN_SHARE_OF_CONTROL:.0%} of "
                "the positive control's",
                "the same units with each class set to agree with its formula's artifact words, against its own "
                "shuffles"),
    CausalClaim("H2", "…and carry the model's margin on the pairs a hypothesis-only model gets right, not on the hard ones",
                "what a detector of hypothesis-only cues would do (Gururangan et al.'s easy / hard split)",
                "gold-margin loss on easy − on hard pairs (probe SDs) when the detectors are held at their mean, "
                f"− that of random explained units of the same classes, > 0 (95 % CI) and ≥ "
                f"{MIN_SHARE_OF_CONTROL:.0%} of the positive control's",
                "as many explained units as detectors, those with the largest (contribution on easy − on hard)"),
)}


def aligned_classes(units: pd.DataFrame, artifacts: dict[str, list[str]]) -> list[str]:
    """Each unit's class set to the first class (in label order) whose artifact words its formula names; a unit
    naming none keeps its class: H1's positive control."""
    sets = {c: set(artifacts.get(c, ())) for c in LABELS}
    out = []
    for formula, pushed in zip(units["formula"], units["pushed"]):
        named = hypothesis_words(formula)
        out.append(next((c for c in LABELS if named & sets[c]), pushed))
    return out


def _share_row(units: pd.DataFrame, artifacts: dict, draws: int, seed: int) -> tuple[float, float, float, float]:
    """(share, null mean, excess, variance) of one seed's units."""
    share = float(detectors(units, artifacts).mean())
    null = permuted_shares(units, artifacts, draws=draws, seed=seed)
    floor = 1.0 / len(units) ** 2  # one unit more or less
    return share, float(null.mean()), share - float(null.mean()), max(float(null.var(ddof=1)), floor)


def detector_shares(units: pd.DataFrame, artifacts: dict[str, list[str]], *, draws: int = DRAWS,
                    seed: int = 0) -> pd.DataFrame:
    """H1 per seed: one row per ``encoder, regime, seed`` of ``units`` (explained units with ``formula`` and
    ``pushed``) with ``units``, ``detectors``, ``share``, ``null`` (the permutation mean), ``delta`` (share −
    null), ``var`` (the null's variance), and the positive control's ``planted_delta``, ``planted_var``."""
    check_columns(units, ["encoder", "regime", "seed", "formula", "pushed"], "units")
    rows = []
    for (encoder, regime, s), group in units.groupby(["encoder", "regime", "seed"], sort=False):
        if not len(group):
            continue
        share, null, delta, var = _share_row(group, artifacts, draws, seed + int(s))
        aligned = group.assign(pushed=aligned_classes(group, artifacts))
        _, _, planted, planted_var = _share_row(aligned, artifacts, draws, seed + int(s))
        rows.append({"encoder": encoder, "regime": regime, "seed": int(s), "units": len(group),
                     "detectors": int(round(share * len(group))), "share": share, "null": null, "delta": delta,
                     "var": var, "planted_delta": planted, "planted_var": planted_var})
    return pd.DataFrame(rows, columns=["encoder", "regime", "seed", "units", "detectors", "share", "null", "delta",
                                       "var", "planted_delta", "planted_var"])


def _random_sets(pool_units: np.ndarray, pool_classes: np.ndarray, classes: np.ndarray, rng, n_sets: int) -> list:
    """``n_sets`` draws of units from ``pool_units`` with as many of each class as ``classes`` holds (a class
    short of units is filled from the others); empty when the pool is smaller than the set."""
    size = len(classes)
    if len(pool_units) < size:
        return []
    sets = []
    for _ in range(n_sets):
        chosen = []
        for c in np.unique(classes):
            of_c = pool_units[pool_classes == c]
            take = min(int((classes == c).sum()), len(of_c))
            chosen.extend(rng.choice(of_c, take, replace=False).tolist())
        rest = np.setdiff1d(pool_units, chosen)
        chosen.extend(rng.choice(rest, size - len(chosen), replace=False).tolist())
        sets.append(chosen)
    return sets


def easy_hard_changes(activations: np.ndarray, weights: np.ndarray, bias: np.ndarray, gold: np.ndarray,
                      easy: np.ndarray, detector_units, explained_units, pushed, *, n_sets: int = RANDOM_SETS,
                      seed: int = 0) -> dict | None:
    """H2 on one model: the margin change (probe SDs of the gold margin) of holding the detectors, the positive
    control's units and ``n_sets`` class-matched random explained units at their mean, on easy and hard pairs;
    ``delta`` (loss on easy − on hard, detectors − random) with its ``var``, the same for the positive control,
    and accuracy changes (points) for display. None when the model has no detector, no hard or no easy pair,
    or too few other explained units to draw from."""
    h = np.asarray(activations, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    easy = np.asarray(easy, dtype=bool)
    found = np.asarray(list(detector_units), dtype=np.int64)
    explained = np.asarray(list(explained_units), dtype=np.int64)
    pushed = np.asarray(list(pushed))  # the class of each explained unit, in explained's order
    if not len(found) or easy.all() or not easy.any():
        return None
    others = ~np.isin(explained, found)
    rng = np.random.default_rng(seed)
    class_of = dict(zip(explained.tolist(), pushed.tolist()))
    classes = np.array([class_of[u] for u in found.tolist()])
    randoms = _random_sets(explained[others], pushed[others], classes, rng, n_sets)
    if not randoms:
        return None
    fill = h.mean(axis=0)
    ablator = Ablator(h, weights, bias)
    c_easy = mean_contributions(h[easy], weights, gold[easy], fill)
    c_hard = mean_contributions(h[~easy], weights, gold[~easy], fill)
    ceiling = explained[np.argsort(-(c_easy - c_hard)[explained], kind="stable")[:len(found)]]
    changes = ablator.logit_changes([found, ceiling, *randoms], fill)
    sd = gold_margins(ablator.base, gold).std() or 1.0
    margin = np.stack([gold_margins(c, gold) for c in changes]) / sd  # the margin is linear in the logits
    random_margin = margin[2:].mean(axis=0)
    base_right = ablator.base.argmax(axis=1) == gold
    right = (ablator.base[None] + changes).argmax(axis=2) == gold[None]
    acc = (right.astype(float) - base_right[None].astype(float)) * 100

    def figure(d):  # loss on easy − loss on hard of per-pair changes d (loss = −change)
        e, k = d[easy], d[~easy]
        return float(k.mean() - e.mean()), replicates.mean_variance(float(e.var(ddof=1)) if len(e) > 1 else 0.0, len(e)) + \
            replicates.mean_variance(float(k.var(ddof=1)) if len(k) > 1 else 0.0, len(k))

    delta, var = figure(margin[0] - random_margin)
    planted, planted_var = figure(margin[1] - random_margin)
    return {"detectors": int(len(found)), "easy": int(easy.sum()), "hard": int((~easy).sum()),
            "margin easy": float(margin[0][easy].mean()), "margin hard": float(margin[0][~easy].mean()),
            "random margin easy": float(random_margin[easy].mean()), "random margin hard": float(random_margin[~easy].mean()),
            "accuracy easy": float(acc[0][easy].mean()), "accuracy hard": float(acc[0][~easy].mean()),
            "random accuracy easy": float(acc[2:, easy].mean()), "random accuracy hard": float(acc[2:, ~easy].mean()),
            "delta": delta, "var": var, "planted_delta": planted, "planted_var": planted_var}


def pooled(per_seed: pd.DataFrame, by=("encoder", "regime")) -> pd.DataFrame:
    """Per group of ``by``: the figure (``delta``) and its positive control (``planted_delta``) pooled over
    seeds (:func:`.replicates.pool`), as columns ``figure`` and ``positive``."""
    rows = []
    for key, group in per_seed.groupby(list(by), sort=False):
        seeds = group["seed"].to_numpy()
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "figure": replicates.pool(group["delta"], group["var"], seeds=seeds),
                     "positive": replicates.pool(group["planted_delta"], group["planted_var"], seeds=seeds)})
    return pd.DataFrame(rows, columns=[*by, "figure", "positive"])


#: why a test has no figure for a model and regime, unless the chapter gives another reason
NO_FIGURE = {"H1": "no explained unit in this regime",
             "H2": "no seed has an artifact detector (with enough other explained units to draw random sets of "
                   "its classes from) or a hard pair"}


def verdicts(figures: dict[str, pd.DataFrame], encoders, regimes, controls: dict,
             untestable: dict | None = None, reasons: dict | None = None) -> pd.DataFrame:
    """One row per claim (H1, H2) × encoder × regime: the figure, its minimum (a tenth of the positive
    control's), the MDE, the positive control, the random networks' figures and the verdict
    (:func:`.causal.rule`). ``figures``: claim → :func:`pooled` frame; ``controls``: encoder → its
    random-network models; ``reasons``: claim → why it has no figure at all (e.g. no hypothesis-only baseline)."""
    from . import claims as C
    from . import verdicts as V

    untestable = untestable or {}
    rows = []
    for key, claim in CLAIMS.items():
        frame = figures.get(key, pd.DataFrame(columns=["encoder", "regime", "figure", "positive"]))

        def pick(model, regime, column):
            sel = frame[(frame["encoder"] == model) & (frame["regime"] == regime)]
            return sel[column].iloc[0] if len(sel) else None

        for regime in regimes:
            for encoder in encoders:
                figure, positive = pick(encoder, regime, "figure"), pick(encoder, regime, "positive")
                floor = (MIN_SHARE_OF_CONTROL * abs(positive["estimate"])
                         if positive and math.isfinite(positive.get("estimate", math.nan)) else math.nan)
                against = [(pick(c, regime, "figure"), "n/a") for c in controls.get(encoder, ())]
                seen = detected(positive, 1)
                if figure is None or figure.get("k", 0) == 0:
                    verdict, note = V.NOT_TESTABLE, (reasons or {}).get(key) or NO_FIGURE[key]
                elif not math.isfinite(floor) and not untestable.get(encoder):
                    verdict, note = V.INSENSITIVE, "its positive control could not be computed: no minimum to test against"
                else:
                    verdict, note = rule(figure, claim, floor, controls=against, positive=bool(seen),
                                         untestable=untestable.get(encoder))
                scale, unit = 1, "" if key == "H1" else " SD"
                rows.append({"id": key, "claim": claim.short, "encoder": encoder, "regime": regime,
                             "this build": C.describe(figure, "", scale, unit) if p_ok(figure) else "n/a",
                             "minimum": f"≥ {claims_fmt(floor)}{unit}" if math.isfinite(floor) else "n/a",
                             "MDE": _mde(figure, scale, unit),
                             "positive control": (C.describe(positive, "", scale, unit) if p_ok(positive) else "n/a")
                             + ("" if seen is None else (" (detected)" if seen else " (not detected)")),
                             "random networks": "; ".join(f"{c}: {C.describe(f, '', scale, unit)}"
                                                          for c, (f, _) in zip(controls.get(encoder, ()), against)
                                                          if p_ok(f)) or "n/a",
                             "verdict": verdict, "note": note})
    return pd.DataFrame(rows)


def p_ok(pooled_figure: dict | None) -> bool:
    return bool(pooled_figure) and math.isfinite(pooled_figure.get("estimate", math.nan))


def claims_fmt(x: float) -> str:
    from .claims import fmt

    return fmt(x).lstrip("+")


def _mde(figure: dict | None, scale: float, unit: str) -> str:
    from . import verdicts as V

    value = V.mde(figure) if p_ok(figure) else math.nan
    return f"{claims_fmt(value * scale)}{unit}" if math.isfinite(value) else "n/a"


def rules_table() -> pd.DataFrame:
    """Each test's claim, what it reads, its rule and its positive control."""
    return pd.DataFrame([{"id": c.key, "claim": c.short, "as stated": c.sentence, "rule (minimum effect)": c.rule,
                          "positive control": c.control} for c in CLAIMS.values()])


def markdown(table: pd.DataFrame, *, sentences: list[str] | None = None) -> str:
    """The artifact tests' verdicts as a Markdown section for the first page: one row per test and encoder,
    a figure and verdict per regime (an untestable encoder, an untrained CLIP, left out)."""
    from . import verdicts as V

    regimes = list(dict.fromkeys(table["regime"]))
    lines = ["## Heuristics or artifacts? The annotation-artifact tests", ""]
    if sentences:
        lines += [" ".join(sentences), ""]
    head = " | ".join(f"at {r} | verdict at {r}" for r in regimes)
    lines += [f"| id | claim | encoder | {head} |", "|---|---|---|" + "---|---|" * len(regimes)]
    shown = table[~table.groupby("encoder")["verdict"].transform(lambda v: (v == V.NOT_TESTABLE).all())]
    for (key, encoder), group in shown.groupby(["id", "encoder"], sort=False):
        cells = [key, CLAIMS[key].short, encoder]
        for r in regimes:
            row = group[group["regime"] == r]
            cells += ([row["this build"].iloc[0], f"**{row['verdict'].iloc[0]}**"] if len(row) else ["n/a", "n/a"])
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
