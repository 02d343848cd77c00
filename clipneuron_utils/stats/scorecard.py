"""The scorecard: every claim × encoder with its figure, its controls, the smallest effect its test could
detect, its verdict, and whether that verdict survives leaving out one or two seeds.

:class:`Figures` computes each claim's figures once per model over every seed, and pools them again over
any subset of the seeds (:func:`~.replicates.subset`): that is what makes the stability check cheap. A
verdict is *stable* when every subset that leaves out one or two seeds (keeping at least two) gives the
same verdict; otherwise it is *fragile*, and the pages mark it. A random-network control is judged by the
claim's own two-stage rule (:func:`~.verdicts.shows_effect`), on the same seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import claims as C
from . import replicates as R
from . import verdicts as V
from .verdicts import counts  # noqa: F401  (the card's tally, where the chapters look for it)

STD, WN = "standard", "wordnet"


class Figures:
    """Each claim's figures on each model, pooled over all its seeds once and over any subset on demand."""

    def __init__(self, scored: pd.DataFrame, *, accuracy: pd.DataFrame | None = None, units: pd.DataFrame | None = None,
                 pushes: pd.DataFrame | None = None, alpha: float = 0.05, seed: int = 0,
                 artifacts: dict | None = None):
        self.scored, self.accuracy, self.units, self.pushes = scored, accuracy, units, pushes
        self.artifacts = artifacts
        self.alpha, self.seed = alpha, seed
        self._full: dict = {}
        # each model's rows once: the per-seed statistics filter by model, and a filter of the whole frame per
        # figure was most of the card's time
        self._rows = {m: f for m, f in scored.groupby("encoder", sort=False)} if len(scored) else {}

    # ------------------------------------------------------------------------------ pooled over every seed
    def _pooled(self, claim: str, model: str) -> tuple:
        key = (claim, model)
        if key not in self._full:
            self._full[key] = self._compute(claim, model)
        return self._full[key]

    def _compute(self, claim: str, model: str) -> tuple:
        s, alpha = self._rows.get(model, self.scored.iloc[:0]), self.alpha
        if claim == "A1":
            kw = dict(first={"encoding": STD, "max_length": 1}, second={"encoding": STD, "max_length": 2})
            return (R.mean_difference(s, model, measure="iou", alpha=alpha, **kw),
                    R.mean_difference(s, model, measure="excess_iou", alpha=alpha, **kw))
        if claim in ("A2", "A3", "A3e"):
            return (R.correlation(s, model, STD, 1, alpha=alpha),
                    R.correlation(s, model, STD, 1, covariate="log_n_fires", alpha=alpha))
        if claim in ("A4", "A6", "A7"):
            first, second = {"A4": ((STD, 1), (STD, 2)), "A6": ((STD, 1), (WN, 1)), "A7": ((STD, 2), (WN, 2))}[claim]
            first, second = ({"encoding": e, "max_length": n} for e, n in (first, second))
            kw = dict(first=first, second=second, alpha=alpha, seed=self.seed)
            same = None if claim == "A4" else R.changed_units(s, model, first=first, second=second)
            return (R.correlation_difference(s, model, **kw),
                    R.correlation_difference(s, model, covariate="log_n_fires", **kw), same)
        if claim == "A8":
            kw = dict(first={"encoding": STD, "max_length": 1}, second={"encoding": WN, "max_length": 1})
            return (R.mean_difference(s, model, measure="iou", alpha=alpha, **kw),
                    R.mean_difference(s, model, measure="excess_iou", alpha=alpha, **kw),
                    R.changed_units(s, model, **kw))
        if claim == "A5":
            sub = self.accuracy[self.accuracy["encoder"] == model]
            return (R.proportion(sub["correct"], sub["n"], alpha=alpha, seeds=sub["seed"].astype(int)),)
        if claim == "A11":
            sub = self.pushes[self.pushes["encoder"] == model] if self.pushes is not None else pd.DataFrame()
            z = sub["z"].astype(float).to_numpy() if len(sub) else np.array([])
            # within a seed the pair is one draw: under "an ordinary probe pair" its z has variance 1
            return (R.pool(z, np.ones(len(z)), alpha=alpha, seeds=sub["seed"].astype(int) if len(sub) else []),)
        raise KeyError(claim)

    def pooled(self, claim: str, model: str, keep=None, rng=None) -> tuple:
        """The claim's pooled figures on ``model``: over every seed, or over the seeds in ``keep``; with ``rng``,
        over a new draw of those seeds (:func:`~.replicates.redraw`)."""
        figures = self._pooled(claim, model)
        if rng is not None:
            return tuple(R.redraw(f, rng, keep) if isinstance(f, dict) else f for f in figures)
        if keep is None:
            return figures
        return tuple(R.subset(f, keep) if isinstance(f, dict) else f for f in figures)

    # ------------------------------------------------------------------------------------ one outcome
    def outcome(self, claim: str, model: str, keep=None, rng=None) -> C.Outcome:
        """The claim on one model (over ``keep`` seeds, or all; with ``rng``, over a new draw of them): statuses,
        printed figures, MDE and floor."""
        alpha = self.alpha
        if claim == "A1":
            a, b = self.pooled(claim, model, keep, rng)
            return C.Outcome(V.effect_status(a, 1, C.MIN_IOU_GAIN, alpha=alpha), V.effect_status(b, 1, C.MIN_IOU_GAIN, alpha=alpha),
                             C.describe(a, "IoU gain"), C.describe(b, "excess-IoU gain"), V.mde(a, alpha=alpha),
                             C.MIN_IOU_GAIN, seeds=R.seeds_in(a))
        if claim in ("A2", "A3", "A3e"):
            a, b = self.pooled(claim, model, keep, rng)
            raw, ctrl = C.describe(a, "r"), C.describe(b, "partial r")
            if claim == "A2":
                st = [V.effect_status(f, -1, C.MIN_R, alpha=alpha, fisher=True) for f in (a, b)]
                detect = V.mde(a, alpha=alpha, fisher=True)
            elif claim == "A3":
                st = [V.literal_status(f, alpha) for f in (a, b)]
                detect = V.mde(a, alpha=alpha, fisher=True)
                raw += f", p = {a['p']:.2g}" if math.isfinite(a.get("p", math.nan)) else ""
                ctrl += f", p = {b['p']:.2g}" if math.isfinite(b.get("p", math.nan)) else ""
            else:
                st = [V.equivalence_status(f, C.MIN_R, alpha=alpha, fisher=True) for f in (a, b)]
                detect = V.mde(a, alpha=alpha, fisher=True, equivalence=True)
            return C.Outcome(*st, raw, ctrl, detect, C.MIN_R, seeds=R.seeds_in(a))
        if claim in ("A4", "A6", "A7"):
            a, b, same = self.pooled(claim, model, keep, rng)
            direction = 1 if claim == "A7" else -1
            if same is not None and _barely(same):
                return C.Outcome(None, None, "Δr " + _changed_text(same), "n/a", math.nan, C.MIN_DELTA_R, testable=False,
                                 note=_untestable_note(same, 2 if claim == "A7" else 1), seeds=R.seeds_in(a))
            return C.Outcome(V.effect_status(a, direction, C.MIN_DELTA_R, alpha=alpha),
                             V.effect_status(b, direction, C.MIN_DELTA_R, alpha=alpha),
                             C.describe(a, "Δr"), C.describe(b, "partial Δr"), V.mde(a, alpha=alpha), C.MIN_DELTA_R,
                             seeds=R.seeds_in(a))
        if claim == "A8":
            a, b, same = self.pooled(claim, model, keep, rng)
            if _barely(same):
                return C.Outcome(None, None, "Δ IoU " + _changed_text(same), "n/a", math.nan, C.IOU_MARGIN, testable=False,
                                 note=_untestable_note(same, 1), seeds=R.seeds_in(a))
            return C.Outcome(V.equivalence_status(a, C.IOU_MARGIN, alpha=alpha),
                             V.equivalence_status(b, C.IOU_MARGIN, alpha=alpha), C.describe(a, "Δ IoU"),
                             C.describe(b, "Δ excess IoU"), V.mde(a, alpha=alpha, equivalence=True), C.IOU_MARGIN,
                             seeds=R.seeds_in(a))
        if claim == "A5a":
            (mine,), (lstm,) = self.pooled("A5", model, keep, rng), self.pooled("A5", "lstm", keep, rng)
            gain = R.mover_difference(mine, lstm, alpha)
            raw = (f"accuracy {mine['estimate']:.1%} vs the BiLSTM's {lstm['estimate']:.1%}; "
                   + C.describe(gain, "difference", 100, " points"))
            note = C.EXTENSION + "; holding, it says the gain needs no images" if model == "minilm" else ""
            return C.Outcome(V.effect_status(gain, 1, C.MIN_ACCURACY_GAIN, alpha=alpha), "n/a", raw, "n/a",
                             V.mde(gain, alpha=alpha), C.MIN_ACCURACY_GAIN, note=note,
                             seeds=tuple(sorted(set(R.seeds_in(mine)) | set(R.seeds_in(lstm)))))
        if claim == "A5b":
            (r_e, _), (r_l, _) = self.pooled("A2", model, keep, rng), self.pooled("A2", "lstm", keep, rng)
            diff = R.mover_difference(r_e, r_l, alpha)
            raw = C.describe(diff, f"r({model}) − r(BiLSTM)")
            if int(self.scored["max_length"].max()) >= 2:
                d_e, d_l = self.pooled("A4", model, keep, rng)[0], self.pooled("A4", "lstm", keep, rng)[0]
                ddiff = R.difference(d_e, d_l, alpha)
                after, ctrl = V.equivalence_status(ddiff, C.MIN_R, alpha=alpha), C.describe(ddiff, f"Δr({model}) − Δr(BiLSTM)")
            else:
                after, ctrl = None, "n/a"
            note = C.EXTENSION if model == "minilm" else ""
            return C.Outcome(V.equivalence_status(diff, C.MIN_R, alpha=alpha), after, raw, ctrl,
                             V.mde(diff, alpha=alpha, equivalence=True), C.MIN_R, note=note,
                             seeds=tuple(sorted(set(R.seeds_in(r_e)) | set(R.seeds_in(r_l)))))
        if claim in ("A9", "A10"):
            return self._pattern(claim, model, keep)
        if claim == "A11":
            (z,) = self.pooled("A11", model, keep, rng)
            sub = self.pushes[self.pushes["encoder"] == model] if self.pushes is not None else pd.DataFrame()
            if keep is not None and len(sub):
                sub = sub[sub["seed"].isin(list(keep))]
            if not len(sub):
                return C.Outcome(None, "n/a", "n/a", "n/a", math.nan, C.MIN_PUSH_SD, testable=False,
                                 note="no unit-870 unit was found")
            raw = C.describe(z, "push", unit=" SD") + " (units " + ", ".join(str(int(u)) for u in sub["unit"]) + ")"
            if "predicted" in sub:
                raw += (f"; predicted contradiction in {int((sub['predicted'] == 'contradiction').sum())} of {len(sub)} "
                        f"seed{'s' if len(sub) != 1 else ''}")
            return C.Outcome(V.effect_status(z, 1, C.MIN_PUSH_SD, alpha=alpha), "n/a", raw, "n/a", V.mde(z, alpha=alpha),
                             C.MIN_PUSH_SD, seeds=R.seeds_in(z))
        raise KeyError(claim)

    def _pattern(self, claim: str, model: str, keep) -> C.Outcome:
        column = "single_hyp_token" if claim == "A9" else "missing_word_contradiction"
        sub = self.units[self.units["encoder"] == model]
        if keep is not None:
            sub = sub[sub["seed"].isin(list(keep))]
        per_seed = sub.groupby("seed")[column].sum()
        beats = sub[sub[column]].groupby("seed")["beats_null"].sum().reindex(per_seed.index, fill_value=0)
        example = sub[sub[column]].sort_values("iou", ascending=False).head(1)
        ex = (f" (e.g. unit {int(example['neuron'].iloc[0])}: `{example['formula'].iloc[0]}`, IoU "
              f"{example['iou'].iloc[0]:.3f}, excess {example['excess_iou'].iloc[0]:+.3f})" if len(example) else "")
        raw = "units: " + "; ".join(f"seed {s}: {n}" for s, n in per_seed.items()) + ex
        ctrl = f"excess IoU ≥ {C.EXCESS_MARGIN}: " + "; ".join(f"seed {s}: {n}" for s, n in beats.items())
        note = ""
        if claim == "A10" and self.artifacts is not None:
            from .annotation_artifacts import unit_870_note

            note = unit_870_note(sub.loc[sub[column], "formula"], self.artifacts)
        return C.Outcome(V.count_status(per_seed > 0), V.count_status(beats > 0), raw, ctrl, math.nan, math.nan,
                         seeds=tuple(int(s) for s in per_seed.index), note=note)


def _barely(changed: tuple[int, int]) -> bool:
    """Whether a manipulation changed too few units to test anything (:data:`~.claims.MIN_CHANGED_SHARE`)."""
    n, total = changed
    return total == 0 or n < C.MIN_CHANGED_SHARE * total


def _changed_text(changed: tuple[int, int]) -> str:
    n, total = changed
    return "0: no unit changed" if n == 0 else f"not computed: {n:,} of {total:,} units changed"


def _untestable_note(changed: tuple[int, int], length: int) -> str:
    n, total = changed
    return (f"the WordNet encoding changed {n:,} of {total:,} units' formula or IoU at length {length} (fewer than "
            f"{C.MIN_CHANGED_SHARE:.0%}): nothing to test")


# ------------------------------------------------------------------------------------------ the card

def _requirement(claim: str, scored: pd.DataFrame, encoders, accuracy, units, pushes) -> str:
    """Why a claim cannot be scored in this run at all ('' when it can)."""
    top = int(scored["max_length"].max()) if len(scored) else 0
    if claim in ("A1", "A4", "A10") and top < 2:
        return "needs formulas of length 2"
    if claim in ("A6", "A7", "A8") and not {STD, WN} <= set(scored["encoding"]):
        return "the WordNet encoding was not searched"
    if claim in ("A5a", "A5b") and (accuracy is None or "lstm" not in encoders):
        return "needs the BiLSTM and the probe accuracies"
    if claim in ("A9", "A10") and (units is None or not len(units)):
        return "no unit patterns were given"
    if claim == "A11" and (pushes is None or not len(pushes)):
        return "no unit-870 push was computed"
    return ""


#: claims whose random-network controls would say nothing: claims of no effect (a random network shows none
#: either) and comparisons between encoders
NO_CONTROL = ("A3", "A3e", "A5a", "A5b", "A8")

COLUMNS = ["id", "claim", "section", "paper says", "encoder", "this build", "against controls", "minimum effect", "MDE",
           *C.CONTROL_COLUMNS, "verdict", "note", "stable", "seeds", "before", "after", "random"]


def scorecard(scored: pd.DataFrame, *, registry: dict, encoders, accuracy: pd.DataFrame | None = None,
              units: pd.DataFrame | None = None, pushes: pd.DataFrame | None = None, alpha: float = 0.05,
              seed: int = 0, stability: bool = True, artifacts: dict | None = None) -> pd.DataFrame:
    """One row per claim × encoder (:data:`COLUMNS`): the figure, the controlled figure, the minimum effect
    and the test's minimum detectable effect (80 % power), one column per random-network control (its
    figure, its seeds, "(shows it)" where it passes the claim's two-stage rule), the verdict and its note,
    ``stable`` (the verdict survives leaving out one or two seeds; None where not testable), ``seeds``; the
    statuses behind the verdict in ``before``, ``after``, ``random``.

    ``scored``: every model's search rows with ``acc_when_firing`` (controls included); ``accuracy``:
    ``encoder, seed, correct, n``; ``units``: :func:`~.claims.unit_patterns`; ``pushes``: one row per model
    and seed with ``encoder, seed, unit, z`` (and ``predicted``), from :func:`~.claims.description_push`;
    ``artifacts``: each class's artifact words (:func:`.annotation_artifacts.artifact_words`): A10's note then
    says whether its units are artifact detectors.
    """
    models = list(dict.fromkeys(scored["encoder"]))
    figures = Figures(scored, accuracy=accuracy, units=units, pushes=pushes, alpha=alpha, seed=seed, artifacts=artifacts)
    untrained = C.untrained_clip(registry)
    rows = []
    for claim, spec in C.CLAIMS.items():
        reason = _requirement(claim, scored, encoders, accuracy, units, pushes)
        for encoder in C.encoders_for(claim, encoders):
            base = {"id": claim, "claim": spec.short, "section": spec.section, "paper says": spec.sentence,
                    "encoder": encoder}
            if reason:
                rows.append({**base, "this build": "n/a", "against controls": "n/a", "minimum effect": "", "MDE": "",
                             **dict.fromkeys(C.CONTROL_COLUMNS, "—"), "verdict": V.NOT_TESTABLE, "note": reason,
                             "stable": None, "seeds": "", "before": None, "after": None, "random": False})
                continue
            # a control of a claim of no effect (or of a comparison between encoders) cannot say the effect needs no
            # learned weights: those rows show no control
            controls = {} if claim in NO_CONTROL else C.random_networks(encoder, models, registry)

            def judge(keep=None, rng=None):
                out = figures.outcome(claim, encoder, keep, rng)
                cells, shows = {}, False
                for column in C.CONTROL_COLUMNS:
                    model = controls.get(column)
                    if model is None:
                        cells[column] = "—"
                        continue
                    co = figures.outcome(claim, model, keep, rng)
                    passed = V.shows_effect(co.before, co.after) and co.testable
                    shows |= passed
                    n = len(co.seeds)
                    cells[column] = f"{co.raw}" + (f" ({n} seed{'s' if n != 1 else ''})" if n and "seed" not in co.raw else "") \
                        + (" (shows it)" if passed else "")
                testable = out.testable and not (encoder == "clip" and untrained)
                return out, cells, shows, V.verdict(out.before, out.after, shows, testable), testable

            out, cells, shows, verdict, testable = judge()
            stable = None
            if stability and testable:
                involved = [encoder] + (["lstm"] if claim in ("A5a", "A5b") else [])
                own = {m: set(_model_seeds(figures, claim, m)) for m in involved}
                subsets = []
                for keep in V.leave_out_subsets(set().union(*own.values())):
                    kept = {m: own[m] & set(keep) for m in involved}
                    if all(len(kept[m]) >= 2 for m in involved) and any(kept[m] != own[m] for m in involved):
                        subsets.append(keep)
                rng = np.random.default_rng([seed, len(rows)])
                redrawn = [judge(rng=rng)[3] for _ in range(V.REDRAWS)]
                stable = V.stable(verdict, (judge(keep)[3] for keep in subsets), redrawn)
            note = out.note if testable or not (encoder == "clip" and untrained) else C.UNTRAINED_CLIP
            counted = claim in ("A9", "A10")  # an exact search finds any one unit: the smallest effect it can see
            rows.append({**base, "this build": out.raw, "against controls": out.controlled,
                         "minimum effect": "1 unit in half the seeds" if counted else _number(out.floor),
                         "MDE": "1 unit" if counted else _number(out.mde), **cells, "verdict": verdict,
                         "note": note, "stable": stable, "seeds": len(out.seeds), "before": out.before,
                         "after": out.after, "random": shows})
    return pd.DataFrame(rows, columns=COLUMNS)


def _model_seeds(figures: Figures, claim: str, model: str) -> tuple:
    key = {"A5a": "A5", "A5b": "A2"}.get(claim, claim)
    if key in ("A9", "A10"):
        return tuple(int(s) for s in figures.units.loc[figures.units["encoder"] == model, "seed"].unique())
    return R.seeds_in(figures.pooled(key, model)[0])


def _number(x: float) -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return "—"
    return f"{x:.3g}"


def rules_table() -> pd.DataFrame:
    """Every claim's rule, minimum effect or margin, and the finding of Mu & Andreas' it rests on."""
    return pd.DataFrame([{"id": c.key, "claim": c.short, "section": c.section, "rule (minimum effect, control)": c.rule,
                          "Mu & Andreas": c.mu_andreas or "—"} for c in C.CLAIMS.values()])
