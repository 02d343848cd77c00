"""The paper's claims as the paper states them, each with this build's figure, its controls and a verdict.

Every claim (:data:`CLAIMS`) carries the paper's sentence and section, a direction or a margin, and a
stated minimum effect (:data:`RULES`, shown as one table on the results page). Its figure is computed
per training seed and pooled over seeds (:mod:`.replicates`: the trained model is the replicate), then
checked three ways:

* **the figure**: in the stated direction (the 95 % interval excludes 0) and at least the minimum
  effect (the point estimate); a claim of *no* effect ("not significant", "little difference") passes an
  equivalence test (TOST: the 90 % interval inside ±margin) instead of p ≥ 0.05;
* **against its controls**: the same rule on the controlled figure (the excess IoU over the matched null,
  or the partial correlation with log firing count held fixed);
* **random-network controls**: the same rule on the untrained CLIP, the untrained frozen LSTM and the
  encoder's head trained on shuffled labels (:mod:`clipneuron_utils.models.random_controls`). An effect that
  one of them also shows needs no learned weights, and the verdict says so.

Verdicts (:data:`VERDICTS`): *holds*; *holds, as in a random network*; *holds only before controls*;
*too small to matter* (significant, below the minimum effect); *inconclusive* (the interval holds both
no effect and the minimum effect); *does not hold*; *not testable in this build* (the claim is about a
trained CLIP and CLIP is untrained here, or a figure cannot be estimated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import replicates, reported

VERDICTS = ("holds", "holds, as in a random network", "holds only before controls", "too small to matter",
            "inconclusive", "does not hold", "not testable in this build")

CORRELATION = "IoU ~ accuracy"  # the tests of effects.firing_confound that the results page quotes
PARTIAL = "IoU ~ accuracy | log firing count"

#: minimum effects and margins, each with why (the rules table of the results page)
MIN_R = 0.1  # smallest correlation Cohen calls small: IoU explains 1 % of the variance of accuracy when firing
MIN_DELTA_R = 0.05  # half of MIN_R: the smallest change of r between lengths or encodings worth a sentence
MIN_IOU_GAIN = round((reported.PAPER_MEAN_IOU_CLIP[2] - reported.PAPER_MEAN_IOU_CLIP[1]) / 2, 4)  # half the paper's gain
IOU_MARGIN = round(0.05 * reported.PAPER_MEAN_IOU_CLIP[1], 4)  # 5 % of the paper's mean length-1 IoU
MIN_ACCURACY_GAIN = 0.01  # one percentage point of probe accuracy
HIGH_IOU = reported.PAPER_MEAN_IOU_CLIP[1]  # "high IoU" for a single unit: at least the paper's mean
NULL_SDS = 3.0  # a unit beats its matched null when its IoU is this many null SDs above the null's mean


@dataclass(frozen=True)
class Claim:
    key: str
    short: str
    section: str
    sentence: str  # the paper's words where quoted ("…"), else a faithful paraphrase marked (paraphrase)
    rule: str
    mu_andreas: str = ""  # the finding of Mu & Andreas' the paper relies on, if any


CLAIMS = {c.key: c for c in (
    Claim("A1", "IoU grows with formula length", "§5.1",
          f"CLIP's mean IoU rises from {reported.PAPER_MEAN_IOU_CLIP[1]} at length 1 to "
          f"{reported.PAPER_MEAN_IOU_CLIP[2]} at length 2 (paraphrase of its table)",
          f"gain in mean IoU, length 1 → 2, ≥ {MIN_IOU_GAIN} (half the paper's); control: the gain in excess IoU "
          "over the matched null (the beam keeps its formulas, so IoU alone can never fall)",
          "Mu & Andreas found IoU rising with formula length for their SNLI BiLSTM"),
    Claim("A2", "IoU ↔ accuracy when firing is negative and significant at length 1", "§5.1",
          "for CLIP, better-explained neurons are less accurate when they fire: the correlation is negative "
          "and significant at length 1 (paraphrase)",
          f"r < 0 (95 % CI below 0) and |r| ≥ {MIN_R}; control: the partial r with log firing count held fixed",
          "Mu & Andreas found the same negative relation for their BiLSTM and read it as neurons keyed to "
          "dataset heuristics"),
    Claim("A3", "for the BiLSTM it is not significant at length 1", "§5.1",
          "for the baseline BiLSTM the correlation at length 1 is not significant (paraphrase)",
          f"equivalence: the 90 % CI of r inside ±{MIN_R} (TOST); control: the same for the partial r"),
    Claim("A4", "at length 2 it is more negative than at length 1", "§5.1",
          "at length 2 the correlation \"becomes more negative in both CLIP and the baseline BiLSTM\"",
          f"Δr (length 2 − length 1, same units) < 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r"),
    Claim("A5a", "the CLIP head is more accurate than the BiLSTM", "§5.1",
          "CLIP's joint training raised NLI accuracy (paraphrase)",
          f"probe accuracy − the BiLSTM's ≥ {MIN_ACCURACY_GAIN:.0%} (pooled over each one's seeds)"),
    Claim("A5b", "… but its explainability trend is the BiLSTM's", "§5.1",
          "it \"didn't change the trend in neuron explainability much\"",
          f"equivalence: the length-1 r minus the BiLSTM's inside ±{MIN_R} (TOST); control: the same for Δr "
          "(length 2 − 1)"),
    Claim("A6", "WordNet concepts make the length-1 trend more negative", "§5.2",
          "with the WordNet encoding the length-1 correlation is more negative (paraphrase)",
          f"Δr (WordNet − standard, same units) < 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r"),
    Claim("A7", "WordNet concepts make the length-2 trend less negative", "§5.2",
          "and the length-2 correlation less negative (paraphrase)",
          f"Δr (WordNet − standard, same units) > 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r"),
    Claim("A8", "WordNet changes a unit's best IoU little", "§5.2",
          f"WordNet \"did not change much … the mean difference … is {reported.PAPER_WORDNET_DIFFERENCE} … does not "
          "make a large difference\"",
          f"equivalence: the 90 % CI of the mean per-unit difference (length 1) inside ±{IOU_MARGIN} (5 % of the "
          "paper's mean IoU), either direction; control: the same for the excess IoU"),
    Claim("A9", "a unit's length-1 explanation is a single hypothesis token, with high IoU", "§5.3",
          "unit 698: `hyp:tok:outside` (paraphrase of the paper's example)",
          f"some unit's length-1 formula is one `hyp:tok:…` atom with IoU ≥ {HIGH_IOU}, in at least half the seeds; "
          f"control: that unit's IoU is ≥ {NULL_SDS:g} null SDs above its matched null"),
    Claim("A10", "a unit detects a premise word missing from the hypothesis and pushes to contradiction", "§5.3",
          "unit 870: man in the premise AND NOT in the hypothesis, pushing towards contradiction (paraphrase)",
          "some unit's length-2 formula is `pre:tok:W AND NOT hyp:tok:W` (one word W) and its largest output weight "
          f"is contradiction's, in at least half the seeds; control: ≥ {NULL_SDS:g} null SDs above its null"),
    Claim("A11", "the paper's adversarial pair is predicted as contradiction", "§5.3",
          "\"the boys said hello to the girls\" / \"the girls said hello\": an entailment the model calls "
          "contradiction (paraphrase)",
          "predicted contradiction by the majority of the encoder's seeds; no control (a prediction, not a unit)"),
)}

#: which encoders each claim is scored for (the paper's claims are CLIP's and the BiLSTM's; MiniLM is
#: a second frozen encoder scored as CLIP is)
ROWS = {"A1": "all", "A2": "frozen", "A3": "lstm", "A4": "all", "A5a": "frozen", "A5b": "frozen", "A6": "all",
        "A7": "all", "A8": "all", "A9": "all", "A10": "all", "A11": "all"}
CONTROL_COLUMNS = ("untrained CLIP", "untrained LSTM", "shuffled labels")


# -------------------------------------------------------------------------------------------- the rules


def effect_status(pooled: dict, direction: int, floor: float) -> str | None:
    """``yes`` (CI excludes 0 in ``direction``, estimate ≥ ``floor``), ``small`` (significant, below it),
    ``no`` (the CI excludes an effect of ``floor`` in that direction), ``unclear`` (neither), None (n/a)."""
    values = [pooled.get(k) for k in ("estimate", "ci_low", "ci_high")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    est, lo, hi = (direction * v for v in values)
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0:
        return "yes" if est >= floor else "small"
    if hi < floor:
        return "no"
    return "unclear"


def equivalence_status(pooled: dict, margin: float, *, fisher: bool = False, alpha: float = 0.05) -> str | None:
    """``yes`` (TOST: the 90 % CI inside ±margin), ``no`` (the 95 % CI excludes 0 and the estimate is at
    least the margin: a CI wholly beyond the margin is a case of it), ``unclear`` (neither), None (n/a)."""
    test = replicates.equivalence(pooled, margin, alpha=alpha, fisher=fisher)
    if test["equivalent"] is None:
        return None
    if test["equivalent"]:
        return "yes"
    est, lo, hi = pooled["estimate"], pooled["ci_low"], pooled["ci_high"]
    if (lo > 0 or hi < 0) and abs(est) >= margin:
        return "no"
    return "unclear"


def count_status(found_per_seed) -> str | None:
    """``yes`` when found in at least half the seeds, ``no`` otherwise, None without seeds."""
    found = list(found_per_seed)
    if not found:
        return None
    return "yes" if sum(bool(f) for f in found) * 2 >= len(found) else "no"


def verdict(before: str | None, after: str | None, random_shows: bool = False, testable: bool = True) -> str:
    """One of :data:`VERDICTS` from the figure's status, the controlled figure's status (``"n/a"``: the
    claim has no control) and whether a random-network control shows the effect too."""
    if not testable or before is None:
        return "not testable in this build"
    if before == "no":
        return "does not hold"
    if before == "unclear":
        return "inconclusive"
    if before == "small":
        return "too small to matter"
    if after not in ("yes", "n/a"):
        return "holds only before controls" if after is not None else "not testable in this build"
    return "holds, as in a random network" if random_shows else "holds"


# ------------------------------------------------------------------------------------ per-model figures


def _figures(claim: str, model: str, scored: pd.DataFrame, extra: dict, alpha: float) -> tuple:
    """(figure, controlled figure, before status, after status) of one claim on one model (or control)."""
    R = replicates
    std, wn = "standard", "wordnet"
    if claim == "A1":
        a = R.mean_difference(scored, model, first={"encoding": std, "max_length": 1},
                              second={"encoding": std, "max_length": 2}, measure="iou", alpha=alpha)
        b = R.mean_difference(scored, model, first={"encoding": std, "max_length": 1},
                              second={"encoding": std, "max_length": 2}, measure="excess_iou", alpha=alpha)
        return a, b, effect_status(a, 1, MIN_IOU_GAIN), effect_status(b, 1, MIN_IOU_GAIN)
    if claim in ("A2", "A3"):
        a = R.correlation(scored, model, std, 1, alpha=alpha)
        b = R.correlation(scored, model, std, 1, covariate="log_n_fires", alpha=alpha)
        if claim == "A2":
            return a, b, effect_status(a, -1, MIN_R), effect_status(b, -1, MIN_R)
        return a, b, equivalence_status(a, MIN_R, fisher=True, alpha=alpha), equivalence_status(b, MIN_R, fisher=True, alpha=alpha)
    if claim == "A4":
        kw = dict(first={"encoding": std, "max_length": 1}, second={"encoding": std, "max_length": 2}, alpha=alpha,
                  seed=extra.get("seed", 0))
        a = R.correlation_difference(scored, model, **kw)
        b = R.correlation_difference(scored, model, covariate="log_n_fires", **kw)
        return a, b, effect_status(a, -1, MIN_DELTA_R), effect_status(b, -1, MIN_DELTA_R)
    if claim in ("A6", "A7"):
        length, direction = (1, -1) if claim == "A6" else (2, 1)
        kw = dict(first={"encoding": std, "max_length": length}, second={"encoding": wn, "max_length": length},
                  alpha=alpha, seed=extra.get("seed", 0))
        a = R.correlation_difference(scored, model, **kw)
        b = R.correlation_difference(scored, model, covariate="log_n_fires", **kw)
        return a, b, effect_status(a, direction, MIN_DELTA_R), effect_status(b, direction, MIN_DELTA_R)
    if claim == "A8":
        kw = dict(first={"encoding": std, "max_length": 1}, second={"encoding": wn, "max_length": 1}, alpha=alpha)
        a = R.mean_difference(scored, model, measure="iou", **kw)
        b = R.mean_difference(scored, model, measure="excess_iou", **kw)
        return a, b, equivalence_status(a, IOU_MARGIN, alpha=alpha), equivalence_status(b, IOU_MARGIN, alpha=alpha)
    raise KeyError(claim)


def _text(pooled: dict, what: str) -> str:
    return f"{what} {replicates.describe(pooled)}" if math.isfinite(pooled.get("estimate", math.nan)) else "n/a"


FIGURE_NAMES = {"A1": ("IoU gain", "excess-IoU gain"), "A2": ("r", "partial r"), "A3": ("r", "partial r"),
                "A4": ("Δr", "partial Δr"), "A6": ("Δr", "partial Δr"), "A7": ("Δr", "partial Δr"),
                "A8": ("Δ IoU", "Δ excess IoU")}


def untrained_clip(registry: dict) -> bool:
    """Whether the ``clip`` model's encoder is untrained (then it is a control, not the paper's CLIP)."""
    entry = registry.get("clip") or {}
    return (entry.get("encoder_params") or {}).get("weights") == "untrained"


def random_networks(encoder: str, models, registry: dict) -> dict[str, str | None]:
    """The random-network control of each column for one encoder's row (None: not in this run)."""
    models = set(models)
    clip = "clip-untrained" if "clip-untrained" in models else ("clip" if "clip" in models and untrained_clip(registry) else None)
    return {"untrained CLIP": clip if clip != encoder else None,
            "untrained LSTM": "lstm-untrained" if "lstm-untrained" in models else None,
            "shuffled labels": f"{encoder}-shuffled" if f"{encoder}-shuffled" in models else None}


def _encoders_for(claim: str, encoders) -> list[str]:
    kind = ROWS[claim]
    if kind == "lstm":
        return [e for e in encoders if e == "lstm"]
    if kind == "frozen":
        return [e for e in encoders if e != "lstm"]
    return list(encoders)


def scorecard(scored: pd.DataFrame, *, registry: dict, encoders, accuracy: pd.DataFrame | None = None,
              units: pd.DataFrame | None = None, adversarial: pd.DataFrame | None = None, alpha: float = 0.05,
              seed: int = 0) -> pd.DataFrame:
    """One row per claim × encoder: ``id, claim, section, paper says, encoder, this build, against controls,
    <one column per random-network control>, verdict, note``; the statuses behind each verdict are kept in
    ``before``, ``after`` and ``random`` (not shown).

    ``scored``: every model's search rows with ``acc_when_firing`` (controls included, as chapter 05_search saved
    them); ``accuracy``: ``encoder, seed, correct, n`` (probe accuracy per model); ``units``:
    :func:`unit_patterns`; ``adversarial``: ``encoder, seed, predicted`` for the paper's pair.
    """
    models = list(dict.fromkeys(scored["encoder"]))
    have_wordnet = {"standard", "wordnet"} <= set(scored["encoding"])
    top = int(scored["max_length"].max())
    rows = []
    pooled_cache: dict = {}

    def figures(claim, model):
        key = (claim, model)
        if key not in pooled_cache:
            pooled_cache[key] = _figures(claim, model, scored, {"seed": seed}, alpha)
        return pooled_cache[key]

    def add(claim, encoder, build, control, before, after, randoms: dict, note=""):
        testable = not (encoder == "clip" and untrained_clip(registry))
        shows = any(v.endswith("(shows it)") for v in randoms.values())
        c = CLAIMS[claim]
        reason = "" if testable else "CLIP is untrained here: its figures are an untrained-CLIP control"
        rows.append({"id": claim, "claim": c.short, "section": c.section, "paper says": c.sentence, "encoder": encoder,
                     "this build": build, "against controls": control,
                     **{col: randoms.get(col, "—") for col in CONTROL_COLUMNS},
                     "verdict": verdict(before, after, shows, testable), "note": note or reason,
                     "before": before, "after": after, "random": shows})

    def control_cells(claim, encoder, status_of):
        cells = {}
        for column, model in random_networks(encoder, models, registry).items():
            if model is None:
                cells[column] = "—"
                continue
            text, status = status_of(model)
            cells[column] = f"{text}" + (" (shows it)" if status == "yes" else "")
        return cells

    for claim in ("A1", "A2", "A3", "A4", "A6", "A7", "A8"):
        if claim in ("A1", "A4") and top < 2 or claim in ("A6", "A7", "A8") and not have_wordnet:
            for encoder in _encoders_for(claim, encoders):
                add(claim, encoder, "n/a", "n/a", None, None, {},
                    "needs formulas of length 2" if top < 2 else "the WordNet encoding was not searched")
            continue
        names = FIGURE_NAMES[claim]
        for encoder in _encoders_for(claim, encoders):
            a, b, before, after = figures(claim, encoder)

            def status_of(model, claim=claim, names=names):
                ca, _, cb, _ = figures(claim, model)
                return _text(ca, names[0]), cb

            add(claim, encoder, _text(a, names[0]), _text(b, names[1]), before, after,
                control_cells(claim, encoder, status_of))

    if accuracy is not None and "lstm" in encoders:
        pooled_acc = {name: replicates.proportion(sub["correct"], sub["n"], alpha=alpha)
                      for name, sub in accuracy.groupby("encoder")}
        for encoder in _encoders_for("A5a", encoders):
            gain = replicates.difference(pooled_acc[encoder], pooled_acc["lstm"], alpha)
            add("A5a", encoder, f"accuracy {pooled_acc[encoder]['estimate']:.1%} vs {pooled_acc['lstm']['estimate']:.1%}; "
                                f"difference {replicates.describe(gain)}", "n/a",
                effect_status(gain, 1, MIN_ACCURACY_GAIN), "n/a", {})
        for encoder in _encoders_for("A5b", encoders):
            r_e, r_l = figures("A2", encoder)[0], figures("A2", "lstm")[0]
            diff = replicates.fisher_difference(r_e, r_l, alpha)
            if top >= 2:
                d_e, d_l = figures("A4", encoder)[0], figures("A4", "lstm")[0]
                ddiff = replicates.difference(d_e, d_l, alpha)
                after, control = equivalence_status(ddiff, MIN_R, alpha=alpha), _text(ddiff, "Δr − the BiLSTM's")
            else:
                after, control = None, "n/a"
            add("A5b", encoder, _text(diff, "r − the BiLSTM's"), control,
                equivalence_status(diff, MIN_R, fisher=True, alpha=alpha), after, {})
    if units is not None and len(units):
        for claim, column in (("A9", "single_hyp_token"), ("A10", "missing_word_contradiction")):
            for encoder in _encoders_for(claim, encoders):
                if claim == "A10" and top < 2:
                    add(claim, encoder, "n/a", "n/a", None, None, {}, "needs formulas of length 2")
                    continue

                def found(model, column=column):
                    sub = units[units["encoder"] == model]
                    per_seed = sub.groupby("seed")[column].sum()
                    beats = sub[sub[column]].groupby("seed")["beats_null"].sum().reindex(per_seed.index, fill_value=0)
                    example = sub[sub[column]].sort_values("iou", ascending=False).head(1)
                    return per_seed, beats, example

                per_seed, beats, example = found(encoder)
                shown = "; ".join(f"seed {s}: {n}" for s, n in per_seed.items())
                ex = (f" (e.g. unit {int(example['neuron'].iloc[0])}: `{example['formula'].iloc[0]}`, IoU "
                      f"{example['iou'].iloc[0]:.3f})" if len(example) else "")

                def status_of(model, found=found):
                    p, _, _ = found(model)
                    return f"{int(p.sum())} units", count_status(p > 0)

                add(claim, encoder, f"units: {shown}{ex}", "beating the null: " + "; ".join(
                    f"seed {s}: {n}" for s, n in beats.items()), count_status(per_seed > 0), count_status(beats > 0),
                    control_cells(claim, encoder, status_of))
    if adversarial is not None and len(adversarial):
        for encoder in _encoders_for("A11", encoders):
            sub = adversarial[adversarial["encoder"] == encoder]
            hits = (sub["predicted"] == "contradiction").tolist()
            add("A11", encoder, f"contradiction in {sum(hits)} of {len(hits)} seeds (predicted: "
                                f"{', '.join(sub['predicted'])})", "n/a", count_status(hits), "n/a", {})
    columns = ["id", "claim", "section", "paper says", "encoder", "this build", "against controls", *CONTROL_COLUMNS,
               "verdict", "note", "before", "after", "random"]
    frame = pd.DataFrame(rows, columns=columns)
    order = {k: i for i, k in enumerate(CLAIMS)}
    return frame.sort_values(["id", "encoder"], key=lambda s: s.map(order) if s.name == "id" else s,
                             kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------- the paper's qualitative units


def unit_patterns(scored: pd.DataFrame, weights: dict, labels=("entailment", "neutral", "contradiction"),
                  encoding: str = "standard") -> pd.DataFrame:
    """Per model, seed and explained unit: whether its length-1 formula is one hypothesis token with IoU
    ≥ :data:`HIGH_IOU` (A9), whether its length-2 formula is ``pre:tok:W AND NOT hyp:tok:W`` with its
    largest output weight on contradiction (A10), and whether it beats its matched null by
    :data:`NULL_SDS` SDs. ``weights``: ``{(model, seed): (3, hidden) output weights}``."""
    import re

    missing = re.compile(r"^\(?pre:tok:(\S+) AND NOT hyp:tok:(\S+?)\)?$")
    frames = []
    for length in (1, 2):
        rows = scored[(scored["encoding"] == encoding) & (scored["max_length"] == length)
                      & scored["explained"].astype(bool)].copy()
        if not len(rows):
            continue
        sd = rows["null_sd_iou"].astype(float)
        rows["beats_null"] = (rows["iou"] - rows["null_mean_iou"]) >= NULL_SDS * sd.where(sd > 0, np.inf)
        if length == 1:
            rows["single_hyp_token"] = rows["formula"].str.fullmatch(r"hyp:tok:\S+") & (rows["iou"] >= HIGH_IOU)
            rows["missing_word_contradiction"] = False
        else:
            match = rows["formula"].str.extract(missing)
            same = match[0].notna() & (match[0] == match[1])
            push = []
            for row in rows.itertuples():
                w = weights.get((row.encoder, int(row.seed)))
                push.append(w is not None and labels[int(np.argmax(w[:, int(row.neuron)]))] == "contradiction")
            rows["missing_word_contradiction"] = same & np.array(push, dtype=bool)
            rows["single_hyp_token"] = False
        frames.append(rows[["encoder", "seed", "neuron", "max_length", "formula", "iou", "beats_null",
                            "single_hyp_token", "missing_word_contradiction"]])
    if not frames:
        return pd.DataFrame(columns=["encoder", "seed", "neuron", "max_length", "formula", "iou", "beats_null",
                                     "single_hyp_token", "missing_word_contradiction"])
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------- for the pages


def rules_table() -> pd.DataFrame:
    """Every claim's rule, minimum effect or margin, and the finding of Mu & Andreas' it rests on."""
    return pd.DataFrame([{"id": c.key, "claim": c.short, "section": c.section, "rule (minimum effect, control)": c.rule,
                          "Mu & Andreas": c.mu_andreas or "—"} for c in CLAIMS.values()])


def counts(card: pd.DataFrame) -> dict[str, int]:
    """How many rows got each verdict (all of :data:`VERDICTS`, zeros included)."""
    found = card["verdict"].value_counts().to_dict()
    return {v: int(found.get(v, 0)) for v in VERDICTS}


def findings(card: pd.DataFrame, summary: pd.DataFrame | None = None, encoders=(), encoding: str = "standard") -> list[str]:
    """Sentences on what this build finds, each computed from the tables (first page, results chapter)."""
    tally = counts(card)
    out = [f"Of {len(card)} claim × encoder rows: " + ", ".join(f"{n} {v}" for v, n in tally.items() if n) + "."]
    random_rows = card[card["random"].astype(bool) & card["before"].eq("yes")]
    if len(random_rows):
        out.append("A random-network control shows the same effect for " + ", ".join(
            f"{r.id} ({r.encoder})" for r in random_rows.itertuples()) + ": those effects need no learned weights.")
    if summary is not None and len(summary):
        shares = []
        for name in encoders:
            real = summary[(summary.encoder == name) & (summary.encoding == encoding) & (summary.max_length == 1)
                           & (summary.measure == "iou")]
            null = summary[(summary.encoder == name) & (summary.encoding == encoding) & (summary.max_length == 1)
                           & (summary.measure == "null_mean_iou")]
            if len(real) and len(null) and real["mean"].iloc[0] > 0:
                shares.append(f"{name} {null['mean'].iloc[0] / real['mean'].iloc[0]:.0%}")
        if shares:
            out.append("Random masks with each unit's firing count, searched the same way, reach most of the real "
                       f"units' mean IoU at length 1: {', '.join(shares)} of it.")
    return out


def markdown(card: pd.DataFrame, *, title: str = "The paper's claims in this build",
             sentences: list[str] | None = None) -> str:
    """The scorecard as a Markdown section (the book's first page includes it), after ``sentences``."""
    lines = [f"## {title}", ""]
    if sentences:
        lines += [" ".join(sentences), "", "The verdicts are computed in chapter 06_results from this build's numbers "
                  "(figures pooled over training seeds, 95 % intervals with between-seed variance):", ""]
    lines += ["| id | claim (section) | encoder | this build | against controls | verdict |", "|---|---|---|---|---|---|"]
    for row in card.to_dict("records"):
        verdict_text = row["verdict"] + (f" ({row['note']})" if row["note"] else "")
        cells = [row["id"], f"{row['claim']} ({row['section']})", row["encoder"], row["this build"],
                 row["against controls"], f"**{verdict_text}**"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def regime_markdown(side: pd.DataFrame, *, matched_label: str, l1_iou: dict, paper_l1: float,
                    firing: tuple[float, float], null_share: dict, null_share_matched: dict) -> str:
    """The verdicts at > 0 and at the paper-matched firing regime, side by side, as a Markdown section (the
    first page includes it after the scorecard). ``side``: one row per claim × encoder with ``id, claim,
    section, encoder`` and ``this build`` / ``verdict`` suffixed `` (> 0)`` and `` (matched)``; ``firing``:
    the 5th and 95th percentiles of the units' firing rates at > 0; ``null_share`` /
    ``null_share_matched``: the matched null's mean length-1 IoU over the real one, per encoder, at > 0 and
    at the paper-matched regime."""
    means = ", ".join(f"{e} {v:.3f}" for e, v in l1_iou.items())
    shares = lambda d: ", ".join(f"{e} {v:.0%}" for e, v in d.items())
    lines = ["## The verdicts in the paper's firing regime", "",
             f"At > 0, 90 % of the trained models' units fire on {firing[0]:.0%}–{firing[1]:.0%} of the probe pairs, "
             f"and random masks with the same firing counts reach {shares(null_share)} of the real mean length-1 "
             f"IoU. In the *paper-matched regime* each unit fires on its {matched_label} of probe pairs: there the "
             f"mean length-1 IoU ({means}) is closest to the paper's {paper_l1}, and the null reaches "
             f"{shares(null_share_matched)} of it. Chapter 08_firing_regime computes the same claims with the same rules in each "
             "regime:", "",
             f"| id | claim (section) | encoder | at > 0 | verdict at > 0 | at {matched_label} | verdict at {matched_label} |",
             "|---|---|---|---|---|---|---|"]
    for row in side.to_dict("records"):
        cells = [row["id"], f"{row['claim']} ({row['section']})", row["encoder"], row["this build (> 0)"],
                 f"**{row['verdict (> 0)']}**", row["this build (matched)"], f"**{row['verdict (matched)']}**"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
