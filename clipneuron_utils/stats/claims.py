"""The paper's claims as the paper states them, each with this build's figure, its controls and a verdict.

Every claim (:data:`CLAIMS`) carries the paper's sentence and section, a direction or a margin, and a
stated minimum effect (shown as one table on the results page). Its figure is computed per training seed
and pooled over seeds (:mod:`.replicates`: the trained model is the replicate), then judged by the rules
of :mod:`.verdicts`: the figure, its controlled figure (the excess IoU over the matched null, or the
partial correlation with log firing count held fixed), the random-network controls under the same
two-stage rule, the test's minimum detectable effect, and whether the manipulation changed anything.
:mod:`.scorecard` assembles the rows, with the stability of each verdict over leave-out seed subsets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import replicates, reported
from .verdicts import (VERDICTS, count_status, counts, effect_status, equivalence_status,  # noqa: F401
                       literal_status, shows_effect, verdict)

CORRELATION = "IoU ~ accuracy"  # the tests of effects.firing_confound that the results page quotes
PARTIAL = "IoU ~ accuracy | log firing count"

#: minimum effects and margins, each with why (the rules table of the results page)
MIN_R = 0.1  # smallest correlation Cohen calls small: IoU explains 1 % of the variance of accuracy when firing
MIN_DELTA_R = 0.05  # half of MIN_R: the smallest change of r between lengths or encodings worth a sentence
MIN_IOU_GAIN = round((reported.PAPER_MEAN_IOU_CLIP[2] - reported.PAPER_MEAN_IOU_CLIP[1]) / 2, 4)  # half the paper's gain
IOU_MARGIN = round(0.05 * reported.PAPER_MEAN_IOU_CLIP[1], 4)  # 5 % of the paper's mean length-1 IoU
MIN_ACCURACY_GAIN = 0.01  # one percentage point of probe accuracy
HIGH_IOU = reported.PAPER_MEAN_IOU_CLIP[1]  # "high IoU" for a single unit, as the paper reads it: at least its mean
#: a unit beats its matched null when its IoU is at least this far above the null's mean IoU: about half the
#: paper's mean length-1 IoU, so that what the formula explains beyond firing rate is of the size the paper reads
#: (at a top-α threshold the null's IoU is ≈ α for every unit, so a multiple of its SD would be a tiny margin)
EXCESS_MARGIN = 0.1
#: a manipulation (the WordNet encoding) that changes fewer than this share of units' formula or IoU tests nothing
MIN_CHANGED_SHARE = 0.01
MIN_PUSH_SD = 0.5  # A11: the unit's push on the pair at least half an SD above its push on probe pairs


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
    Claim("A3", "for the BiLSTM it is not significant at length 1 (literal reading)", "§5.1",
          "\"when using our reimplementation of the BiLSTM, it is not [significant]\"",
          "literal: the pooled r is not significant (p ≥ α); it says nothing of the effect's size; control: the "
          "same for the partial r"),
    Claim("A3e", "for the BiLSTM it is not significant at length 1 (strict reading)", "§5.1",
          "\"when using our reimplementation of the BiLSTM, it is not [significant]\"",
          f"strict: equivalent to 0, the 90 % CI of r inside ±{MIN_R} (TOST); control: the same for the partial r"),
    Claim("A4", "at length 2 it is more negative than at length 1", "§5.1",
          "at length 2 the correlation \"becomes more negative in both CLIP and the baseline BiLSTM\"",
          f"Δr (length 2 − length 1, same units) < 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r"),
    Claim("A5a", "the CLIP head is more accurate than the BiLSTM", "§5.1",
          "it credits \"the joint text-image training objective\" with the accuracy gain",
          f"probe accuracy − the BiLSTM's ≥ {MIN_ACCURACY_GAIN:.0%} (each pooled over its seeds; Newcombe's interval "
          "of a difference of shares). Scored on MiniLM, a text-only encoder, it is an extension: it says whether "
          "the gain needs images"),
    Claim("A5b", "… but its explainability trend is the BiLSTM's", "§5.1",
          "it \"didn't change the trend in neuron explainability much\"",
          f"equivalence: r(encoder) − r(BiLSTM) at length 1 (the plain difference of the pooled r, Zou's interval) "
          f"inside ±{MIN_R} (TOST); control: the same for Δr (length 2 − 1)"),
    Claim("A6", "WordNet concepts make the length-1 trend more negative", "§5.2",
          "with the WordNet encoding the length-1 correlation is more negative (paraphrase)",
          f"Δr (WordNet − standard, same units) < 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r; not "
          "testable where the encoding changed no unit's formula or IoU"),
    Claim("A7", "WordNet concepts make the length-2 trend less negative", "§5.2",
          "and the length-2 correlation less negative (paraphrase)",
          f"Δr (WordNet − standard, same units) > 0 and |Δr| ≥ {MIN_DELTA_R}; control: Δ of the partial r; not "
          "testable where the encoding changed no unit's formula or IoU"),
    Claim("A8", "WordNet changes a unit's best IoU little", "§5.2",
          f"WordNet \"did not change much … the mean difference … is {reported.PAPER_WORDNET_DIFFERENCE} … does not "
          "make a large difference\"",
          f"equivalence: the 90 % CI of the mean per-unit difference (length 1) inside ±{IOU_MARGIN} (5 % of the "
          "paper's mean IoU); control: the same for the excess IoU; not testable where the encoding changed nothing"),
    Claim("A9", "a unit's length-1 explanation is a single hypothesis token, with high IoU", "§5.3",
          "unit 698: `hyp:tok:outside` (paraphrase of the paper's example)",
          f"some unit's length-1 formula is one `hyp:tok:…` atom with IoU ≥ {HIGH_IOU}, in at least half the seeds; "
          f"control: that unit's excess IoU over its matched null ≥ {EXCESS_MARGIN}"),
    Claim("A10", "a unit detects a premise word missing from the hypothesis and pushes to contradiction", "§5.3",
          "unit 870: man in the premise AND NOT in the hypothesis, pushing towards contradiction (paraphrase)",
          "some unit's length-2 formula is `pre:tok:W AND NOT hyp:tok:W` (one word W) and its largest output weight "
          f"is contradiction's, in at least half the seeds; control: its excess IoU ≥ {EXCESS_MARGIN}"),
    Claim("A11", "the unit-870 unit pushes the paper's adversarial pair towards contradiction", "§5.3",
          "the pair \"would likely be weighted towards contradiction by Unit 870\"",
          "per seed, the unit that best matches the unit-870 description: its push towards contradiction on the "
          "pair (activation × (contradiction weight − the mean of the others)), in SDs of its push on the probe "
          f"pairs, pooled over seeds: > 0 (95 % CI) and ≥ {MIN_PUSH_SD} SD; the models' predictions are shown, "
          "not scored"),
)}

#: which encoders each claim is scored for (the paper's claims are CLIP's and the BiLSTM's; MiniLM is a
#: second frozen encoder, scored as CLIP is: an extension)
ROWS = {"A1": "all", "A2": "frozen", "A3": "lstm", "A3e": "lstm", "A4": "all", "A5a": "frozen", "A5b": "frozen",
        "A6": "all", "A7": "all", "A8": "all", "A9": "all", "A10": "all", "A11": "all"}
CONTROL_COLUMNS = ("untrained CLIP", "untrained LSTM", "shuffled labels")
EXTENSION = "MiniLM is a text-only encoder: an extension, not the paper's CLIP"
UNTRAINED_CLIP = "CLIP is untrained here: its figures are an untrained-CLIP control"


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


def encoders_for(claim: str, encoders) -> list[str]:
    kind = ROWS[claim]
    if kind == "lstm":
        return [e for e in encoders if e == "lstm"]
    if kind == "frozen":
        return [e for e in encoders if e != "lstm"]
    return list(encoders)


# ----------------------------------------------------------------------- the paper's qualitative units


def unit_patterns(scored: pd.DataFrame, weights: dict, labels=("entailment", "neutral", "contradiction"),
                  encoding: str = "standard") -> pd.DataFrame:
    """Per model, seed and explained unit: whether its length-1 formula is one hypothesis token with IoU
    ≥ :data:`HIGH_IOU` (A9), whether its length-2 formula is ``pre:tok:W AND NOT hyp:tok:W`` with its
    largest output weight on contradiction (A10), and whether its excess IoU over its matched null is at
    least :data:`EXCESS_MARGIN` (``beats_null``). ``weights``: ``{(model, seed): (3, hidden) output weights}``."""
    missing = re.compile(r"^\(?pre:tok:(\S+) AND NOT hyp:tok:(\S+?)\)?$")
    columns = ["encoder", "seed", "neuron", "max_length", "formula", "iou", "excess_iou", "beats_null",
               "single_hyp_token", "missing_word_contradiction"]
    frames = []
    for length in (1, 2):
        rows = scored[(scored["encoding"] == encoding) & (scored["max_length"] == length)
                      & scored["explained"].astype(bool)].copy()
        if not len(rows):
            continue
        rows["excess_iou"] = rows["iou"].astype(float) - rows["null_mean_iou"].astype(float)
        rows["beats_null"] = rows["excess_iou"] >= EXCESS_MARGIN
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
        frames.append(rows[columns])
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def contradiction_push(acts: np.ndarray, weights: np.ndarray, labels=("entailment", "neutral", "contradiction")) -> np.ndarray:
    """Each row's push of each unit towards contradiction: activation × (its weight to contradiction − the mean
    of its weights to the other classes). ``acts``: (pairs, hidden); ``weights``: (3, hidden)."""
    c = list(labels).index("contradiction")
    others = [j for j in range(len(labels)) if j != c]
    toward = weights[c] - weights[others].mean(axis=0)
    return np.asarray(acts, dtype=float) * toward[None, :]


def description_push(probe_acts: np.ndarray, pair_acts: np.ndarray, weights: np.ndarray, described: np.ndarray,
                     masks: np.ndarray) -> dict:
    """A11 on one model: the unit whose firing ``masks`` (pairs × units, bool) best match the ``described``
    pairs (IoU; ties to the lower index), and its push towards contradiction on the pair against its push on
    the probe pairs: ``unit, iou, push, probe_mean, probe_sd, z`` (z: the pair's push in probe SDs above the
    mean; 0 when the unit's push never varies)."""
    described = np.asarray(described, dtype=bool)
    masks = np.asarray(masks, dtype=bool)
    inter = (masks & described[:, None]).sum(axis=0)
    union = (masks | described[:, None]).sum(axis=0)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    unit = int(np.argmax(iou))
    probe = contradiction_push(probe_acts[:, [unit]], weights[:, [unit]])[:, 0]
    pair = float(contradiction_push(np.asarray(pair_acts, dtype=float).reshape(1, -1)[:, [unit]], weights[:, [unit]])[0, 0])
    sd = float(probe.std(ddof=1)) if len(probe) > 1 else 0.0
    z = (pair - float(probe.mean())) / sd if sd > 0 else 0.0
    return {"unit": unit, "iou": float(iou[unit]), "push": pair, "probe_mean": float(probe.mean()), "probe_sd": sd,
            "z": float(z)}


# ------------------------------------------------------------------------------------ the figures


@dataclass
class Outcome:
    """One claim on one model for one set of seeds: its two figures, their statuses and what to print."""

    before: str | None
    after: str | None  # "n/a": no controlled figure
    raw: str
    controlled: str
    mde: float = math.nan
    floor: float = math.nan
    testable: bool = True
    note: str = ""
    seeds: tuple = ()


def fmt(x: float, digits: int = 3) -> str:
    """A signed figure in fixed notation: 3 decimals, more for a small one (never e-notation), 0 for 0."""
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** -digits:
        return f"{x:+.{digits}f}"
    places = min(-math.floor(math.log10(abs(x))) + 1, 7)
    return f"{x:+.{places}f}" if round(abs(x), places) > 0 else "≈0"


def describe(pooled: dict, what: str, scale: float = 1.0, unit: str = "", digits: int | None = None) -> str:
    """``what −0.174 [−0.25, −0.10], 3 seeds`` from a pooled figure (``scale``: e.g. 100 for points; ``digits``:
    decimals, by default 1 for points and 3 otherwise)."""
    if not math.isfinite(pooled.get("estimate", math.nan)):
        return "n/a"
    est, lo, hi = (pooled[k] * scale for k in ("estimate", "ci_low", "ci_high"))
    digits = digits if digits is not None else 1 if scale == 100 else 3
    k = pooled.get("k", 0)
    prefix = f"{what} " if what else ""
    return f"{prefix}{fmt(est, digits)}{unit} [{fmt(lo, digits)}, {fmt(hi, digits)}], {k} seed{'s' if k != 1 else ''}"
