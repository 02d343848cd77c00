"""Do explained neurons matter? The causal claims, their figures' table form, and their verdicts.

The figures come from three modules, one per test, each computed per trained model (the replicate) and
pooled over seeds by :func:`.replicates.pool`: :mod:`.ablation_effects` (C1: ablation's gold-margin change,
and the correlation across units between excess IoU and contribution), :mod:`.edit_effects` (C2: formula
edits against sham edits of the same pairs) and :mod:`.adversarial_effects` (C3: the unit's activation, its
push, then the prediction). Each claim here has a minimum effect, a positive control (an effect known to be
there, on this build's own models and data) and its minimum detectable effect; :func:`card` applies the
scorecard's rules (:mod:`.verdicts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import ablation_effects, claims, replicates, verdicts
from .edit_effects import MIN_SHIFT

from .tidy import FIGURES, figure_columns, figure_frame, figure_row  # noqa: F401  (the chapter's tables)

#: a correlation across units prints with 2 decimals: its third moves with the CPU (a near tie of two units'
#: contributions reorders their ranks when torch computes the activations with other instructions)
R_DIGITS = 2
MIN_SHARE_OF_CONTROL = 0.1  # C1k: a ranking must spare a tenth of what the positive control's ranking removes
def pool_rows(per_seed: pd.DataFrame, by, estimate: str = "delta", variance: str = "var") -> pd.DataFrame:
    """``per_seed`` rows pooled over seeds within each group of ``by`` (random effects, :func:`replicates.pool`)."""
    out = []
    if per_seed.empty:
        return pd.DataFrame(out, columns=[*by, "estimate", "ci_low", "ci_high", "seeds", "_pooled"])
    for key, group in per_seed.groupby(list(by), sort=False):
        seeds = group["seed"].to_numpy() if "seed" in group else None
        pooled = replicates.pool(group[estimate].to_numpy(), group[variance].to_numpy(), seeds=seeds)
        out.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                    **figure_columns(pooled), "_pooled": pooled})
    return pd.DataFrame(out, columns=[*by, "estimate", "ci_low", "ci_high", "seeds", "_pooled"])


# ---------------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class CausalClaim:
    key: str
    short: str
    sentence: str
    rule: str
    control: str
    direction: int = 1
    fisher: bool = False


CAUSAL = {c.key: c for c in (
    CausalClaim("C1", "better-explained units matter less to the model",
                "\"IoU is negatively correlated with accuracy, i.e. better-explained neurons are less accurate\" "
                "(§5.1), read causally: a unit's exact contribution to the gold margin falls as its excess IoU rises",
                f"Spearman r(excess IoU, contribution to the gold margin) across explained units, per seed, pooled "
                f"(Fisher z) < 0 (95 % CI) and ≤ −{claims.MIN_R} (the smallest correlation Cohen calls small)",
                "planted: the same test on shuffled excess IoU − ½ × contribution (both standardised), a negative "
                "correlation built into this build's units whatever the real one", direction=-1, fisher=True),
    CausalClaim("C1k", "ablating the best-explained units costs the gold margin less than random units",
                "the same reading as an intervention: hold the top k units by excess IoU at their mean",
                f"gold-margin change (probe SDs) of the top k by excess IoU − that of random k (k = 64, or the "
                f"middle of ablation_ks) > 0 (95 % CI) and ≥ {MIN_SHARE_OF_CONTROL:.0%} of the positive control's "
                "effect (a ranking that spares a tenth of what the best k units carry)",
                "the top k explained units by exact contribution to the gold margin − random k: the largest loss of the "
                "mean margin any k of them cause when held at their mean"),
    CausalClaim("C2", "a unit responds to the words its formula names",
                "what the method assumes: a formula that matches a unit's firing describes what drives it "
                "(Mu & Andreas, §3; paraphrase)",
                f"directed shift of the formula's edits − sham edits of the same pairs (probe SDs), formulas "
                f"searched on the other half of the pairs, > 0 (95 % CI) and ≥ {MIN_SHIFT}; controlled: the same "
                "less another unit's formula's; random networks: the same test",
                "planted units (a word's indicator plus this model's noise); their shuffled twins must fail"),
    CausalClaim("C3", "a premise noun that carries a unit's formula pushes the model toward the unit's class",
                "\"would likely be weighted towards contradiction by Unit 870\" (§5.3), at scale with Mu & Andreas' "
                "adversarial pairs",
                f"margin toward the unit's class, formula pair − control pair (probe SDs) > 0 (95 % CI) and ≥ "
                f"{MIN_SHIFT}; the unit's activation change and its own push are shown first",
                "the noun (of the most frequent premise nouns) that pushes most toward a class on the search "
                "half, measured on the edit half"),
    CausalClaim("C3e", "…and makes it predict the unit's class more often",
                "the boys / girls example of §5.3 is misclassified as contradiction",
                f"share of predictions of the unit's class, formula pair − control pair > 0 (95 % CI) and ≥ "
                f"{claims.MIN_ACCURACY_GAIN:.0%}",
                "the same noun control"),
)}


def _status(pooled: dict | None, claim: CausalClaim, floor: float) -> str | None:
    return verdicts.effect_status(pooled, claim.direction, floor, fisher=claim.fisher) if pooled else None


def detected(pooled: dict | None, direction: int) -> bool | None:
    """Whether a positive control was seen: its interval excludes 0 on the side it is known to lie."""
    if not pooled or not math.isfinite(pooled.get("estimate", math.nan)):
        return None
    return verdicts.effect_status(pooled, direction, 0.0) == "yes"


def rule(pooled: dict | None, claim: CausalClaim, floor: float, *, controlled: dict | None | str = "n/a",
         controls=(), positive: bool | None = None, untestable: str | None = None) -> tuple[str, str]:
    """One causal verdict and its note: the figure against its minimum ``floor``, then its ``controlled`` figure
    (``"n/a"``: none), then the random networks' figures (``controls``: each a (figure, controlled figure)
    that passes the same two-stage rule gives *holds, as in a random network*, unless the trained model's
    figure is significantly larger than every such network's: then it *holds*, with the differences in the
    note). A positive control that was
    not seen (``positive`` False) makes a negative or unclear verdict *inconclusive: the test cannot detect
    the minimum effect*, unless the figure is significant in the opposite direction (that needs no control
    to be seen). *Not testable* with the reason where the encoder is ``untestable`` or the figure
    comes from one seed."""
    one_seed = pooled is not None and pooled.get("k", 0) < 2
    note = untestable or ("one seed: no between-model variance" if one_seed else "")
    testable = not untestable and pooled is not None and not one_seed
    after = "n/a" if isinstance(controlled, str) else _status(controlled, claim, floor)
    # a network pooled from one seed has no between-model variance: like a claim, it cannot be judged
    showing = [c for c, cc in controls if c and c.get("k", 0) >= 2 and verdicts.shows_effect(
        _status(c, claim, floor), "n/a" if isinstance(cc, str) else _status(cc, claim, floor))]
    # a random network that shows the effect too only matters if the trained model's effect is not larger
    larger = [replicates.difference(pooled, c) for c in showing] if pooled else []
    exceeded = bool(showing) and all(verdicts.effect_status(d, claim.direction, 0.0) == "yes" for d in larger)
    verdict = verdicts.verdict(_status(pooled, claim, floor), after, bool(showing) and not exceeded, testable)
    if exceeded and verdict in (verdicts.HOLDS, verdicts.HOLDS_CONTROLLED_UNCLEAR):
        scale = " (Fisher z)" if claim.fisher else ""
        note = "; ".join(n for n in (note, f"a random network shows it too, but less: trained − random{scale} "
                                     + ", ".join(claims.describe(d, "") for d in larger)) if n)
    opposite = pooled is not None and _status(pooled, claim, 0.0) == "no"  # the other direction is significant
    if positive is False and not opposite and verdict in (verdicts.DOES_NOT_HOLD, verdicts.INCONCLUSIVE):
        verdict = verdicts.INSENSITIVE
        note = "; ".join(n for n in (note, "its positive control was not detected") if n)
    return verdict, note


def _pick(frame: pd.DataFrame, **match) -> dict | None:
    sel = frame
    for col, val in match.items():
        if col not in sel.columns:
            return None
        sel = sel[sel[col] == val]
    return sel["_pooled"].iloc[0] if len(sel) else None


def card(figures: dict, encoders, regimes: dict, controls: dict, k: int = 64, untestable: dict | None = None) -> pd.DataFrame:
    """One row per causal claim × encoder × regime: the figure, its minimum, its MDE, the positive control,
    the random networks' same figure (where the claim has them) and the verdict (:func:`rule`).

    ``figures``: ``ablation`` (pooled ablation rows), ``correlation`` (C1's, with its planted measure),
    ``shifts`` (:func:`.edit_effects.shift_effects`), ``adversarial`` and ``nouns``
    (:func:`.adversarial_effects.effects`). ``regimes``: label → regime value in the frames; ``controls``:
    encoder → its random-network control models (C1 and C2 are computed on them too)."""
    untestable = untestable or {}
    empty = pd.DataFrame(columns=FIGURES)
    ablation, correlation, shifts, adversarial, nouns = (figures.get(n, empty) for n in
                                                         ("ablation", "correlation", "shifts", "adversarial", "nouns"))
    rows = []
    for label, value in regimes.items():
        for encoder in encoders:
            def margin(model, ranking):
                return _pick(ablation, encoder=model, regime=value, mode="mean", outcome="margin", ranking=ranking, k=k,
                             **{"class": "all"})

            def corr(model, measure=ablation_effects.CORRELATION):
                return _pick(correlation, encoder=model, regime=value, measure=measure)

            def shift(model, measure):
                return _pick(shifts, encoder=model, regime=value, measure=measure)

            positive_c1k = margin(encoder, "contribution − random")
            c1k_floor = (MIN_SHARE_OF_CONTROL * abs(positive_c1k["estimate"])
                         if positive_c1k and math.isfinite(positive_c1k["estimate"]) else math.nan)
            ctrl = controls.get(encoder, ())
            items = {
                "C1": (corr(encoder), claims.MIN_R, "n/a", [(corr(c), "n/a") for c in ctrl],
                       corr(encoder, ablation_effects.PLANTED), -1),
                "C1k": (margin(encoder, "top excess − random"), c1k_floor, "n/a",
                        [(margin(c, "top excess − random"), "n/a") for c in ctrl], positive_c1k, -1),
                "C2": (shift(encoder, "formula − sham"), MIN_SHIFT, shift(encoder, "(formula − sham) − (other formula − sham)"),
                       [(shift(c, "formula − sham"), shift(c, "(formula − sham) − (other formula − sham)")) for c in ctrl],
                       shift(encoder, "planted: formula − sham"), 1),
                "C3": (_pick(adversarial, encoder=encoder, regime=value, measure="push"), MIN_SHIFT, "n/a", [],
                       _pick(nouns, encoder=encoder, measure="push"), 1),
                "C3e": (_pick(adversarial, encoder=encoder, regime=value, measure="class predictions"),
                        claims.MIN_ACCURACY_GAIN, "n/a", [], _pick(nouns, encoder=encoder, measure="class predictions"), 1),
            }
            for key, (pooled, floor, controlled, against, positive, pos_dir) in items.items():
                claim = CAUSAL[key]
                seen = detected(positive, pos_dir)
                verdict, note = rule(pooled, claim, floor, controlled=controlled, controls=against,
                                     positive=False if seen is None else seen, untestable=untestable.get(encoder))
                if seen is None:  # no positive control: the test cannot be shown to see anything
                    note = note.replace("its positive control was not detected", "no positive control in this build")
                if key == "C2" and controlled is None and pooled is not None and not untestable.get(encoder):
                    note = "; ".join(n for n in (note, "no controlled figure: too few units with another unit's formula") if n)
                scale = 100 if key == "C3e" else 1.0
                unit = " points" if key == "C3e" else ""
                digits = R_DIGITS if claim.fisher else None
                shown = "; ".join(f"{c}: {claims.describe(fig, '', scale, unit, digits)}" for c, (fig, _) in zip(ctrl, against) if fig)
                rows.append({"id": key, "claim": claim.short, "encoder": encoder, "regime": label,
                             "this build": claims.describe(pooled, "", scale, unit, digits) if pooled else "n/a",
                             "minimum": _minimum(claim, floor, scale, unit),
                             "MDE": _mde(pooled, claim, scale, unit),
                             "positive control": (claims.describe(positive, "", scale, unit, digits) if positive else "n/a")
                             + ("" if seen is None else (" (detected)" if seen else " (not detected)")),
                             "random networks": shown or "n/a", "verdict": verdict, "note": note})
    return pd.DataFrame(rows)


def _minimum(claim: CausalClaim, floor: float, scale: float, unit: str) -> str:
    if not math.isfinite(floor):
        return "n/a"
    sign = "≤ −" if claim.direction < 0 else "≥ "
    return f"{sign}{abs(floor) * scale:.{1 if scale == 100 else 3}f}{unit}".replace(" points", " pt")


def _mde(pooled: dict | None, claim: CausalClaim, scale: float, unit: str) -> str:
    value = verdicts.mde(pooled, fisher=claim.fisher) if pooled else math.nan
    places = R_DIGITS if claim.fisher else 1 if scale == 100 else 3
    return f"{value * scale:.{places}f}{unit}".replace(" points", " pt") if math.isfinite(value) else "n/a"


def markdown(table: pd.DataFrame, *, sentences: list[str] | None = None) -> str:
    """The causal verdicts as a Markdown section for the first page (after the scorecard)."""
    regimes = list(dict.fromkeys(table["regime"]))
    lines = ["## Do explained neurons matter? The causal tests", ""]
    if sentences:
        lines += [" ".join(sentences), ""]
    head = " | ".join(f"at {r} | verdict at {r}" for r in regimes)
    lines += [f"| id | claim | encoder | {head} |", "|---|---|---|" + "---|---|" * len(regimes)]
    # an encoder not testable anywhere (an untrained CLIP) is one line under the table, not a row per claim
    notes = table["note"].fillna("") if "note" in table else pd.Series("", index=table.index)
    collapsed = [e for e, g in table.groupby("encoder", sort=False)
                 if (g["verdict"] == verdicts.NOT_TESTABLE).all() and notes[g.index].str.startswith("CLIP is untrained").all()]
    for (key, encoder), group in table[~table["encoder"].isin(collapsed)].groupby(["id", "encoder"], sort=False):
        cells = [key, CAUSAL[key].short, encoder]
        for r in regimes:
            row = group[group["regime"] == r]
            if len(row):
                note = row["note"].iloc[0] if "note" in row else ""
                r0 = row.iloc[0]
                figure = f"{r0['this build']} (minimum {r0.get('minimum', 'n/a')}; MDE {r0.get('MDE', 'n/a')}; positive control " \
                         f"{r0.get('positive control', 'n/a')})"
                cells += [figure, f"**{r0['verdict']}**" + (f" ({note})" if note else "")]
            else:
                cells += ["n/a", "n/a"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    for encoder in collapsed:
        lines += ["", f"**{encoder.upper() if encoder == 'clip' else encoder}**: every causal claim is *not testable in this "
                      "build*, because CLIP is untrained here (an architecture-only control); its figures are in "
                      "chapter 10_causal."]
    return "\n".join(lines) + "\n"


def rules_table() -> pd.DataFrame:
    return pd.DataFrame([{"id": c.key, "claim": c.short, "as stated": c.sentence, "rule (minimum effect)": c.rule,
                          "positive control": c.control} for c in CAUSAL.values()])
