"""The rules that turn a pooled figure into a verdict a referee would sign.

A verdict is only worth printing when its test could have come out otherwise. So each rule here asks
three questions of a figure pooled over seeds (:mod:`.replicates`):

* **Did the manipulation change anything?** A comparison whose two sides are identical (the WordNet
  encoding changed no formula) is *not testable*, whatever its interval says.
* **Could the test have detected the minimum effect?** Its *minimum detectable effect* (MDE: the effect
  it would find with 80 % power at its own standard error and degrees of freedom) is set against the
  stated minimum. A test that could not detect the minimum is *inconclusive: the test cannot detect the
  minimum effect*, never *does not hold*.
* **Where does the interval lie?** Beyond 0 in the stated direction and at least the minimum (it holds);
  excluding the minimum (it does not hold, or is too small to matter when it is still significant); or
  holding both 0 and the minimum (inconclusive). A claim of no effect passes an equivalence test (TOST).

Then the claim's figure is checked against its controls in two stages (:func:`verdict`), a verdict is
*fragile* when leaving out one or two seeds changes it (:func:`leave_out_subsets`) or when new draws of the
seeds often do (:func:`stable`), and a claim is
*robust* across firing thresholds when its verdict is the same at every one (:func:`robustness`).
"""

from __future__ import annotations

import itertools
import math

from scipy import stats as sps

HOLDS = "holds"
HOLDS_CONTROLLED_UNCLEAR = "holds; the controlled figure is inconclusive"
HOLDS_RANDOM = "holds, as in a random network"
BEFORE_CONTROLS = "holds only before controls"
TOO_SMALL = "too small to matter"
INCONCLUSIVE = "inconclusive"
INSENSITIVE = "inconclusive: the test cannot detect the minimum effect"
DOES_NOT_HOLD = "does not hold"
NOT_TESTABLE = "not testable in this build"

VERDICTS = (HOLDS, HOLDS_CONTROLLED_UNCLEAR, HOLDS_RANDOM, BEFORE_CONTROLS, TOO_SMALL, INCONCLUSIVE, INSENSITIVE,
            DOES_NOT_HOLD, NOT_TESTABLE)
#: the verdicts in which the claim holds against its controls (a robustness reading's "holds at …")
HOLDING = (HOLDS, HOLDS_CONTROLLED_UNCLEAR, HOLDS_RANDOM)

POWER = 0.8  # the power at which the minimum detectable effect is computed

#: statuses of one figure: ``yes`` (beyond 0, at least the minimum), ``small`` (significant, its interval
#: below the minimum), ``below`` (significant, the estimate below the minimum, the interval reaching it),
#: ``no`` (the opposite direction is significant, or the interval excludes the minimum and the test could
#: have detected it), ``insensitive`` (not significant, and the test's MDE exceeds the minimum: even an
#: interval below the minimum is then no evidence against it), ``unclear`` (neither, though it could)
STATUSES = ("yes", "small", "below", "no", "insensitive", "unclear")


def _critical(df: float, q: float) -> float:
    return float(sps.t.ppf(q, df) if math.isfinite(df) else sps.norm.ppf(q))


def _scale(pooled: dict):
    """(mean, se, df) on the pooled scale, or None when the figure has none."""
    scale = pooled.get("_scale")
    if not scale:
        return None
    mean, se, df = scale
    if not all(isinstance(v, (int, float)) for v in (mean, se, df)) or not math.isfinite(mean) or not se > 0:
        return None
    return float(mean), float(se), float(df)


def mde(pooled: dict, *, alpha: float = 0.05, power: float = POWER, fisher: bool = False,
        equivalence: bool = False) -> float:
    """The smallest effect the test detects with ``power`` at its own standard error: (t₁₋α/₂ + t_power)·se
    for a two-sided test; for an equivalence test, the smallest margin TOST establishes with ``power``
    when the true effect is 0, (t₁₋α + t₁₋₍₁₋power₎/₂)·se. ``fisher``: pooled as Fisher z, reported as r."""
    scale = _scale(pooled)
    if scale is None:
        return math.nan
    _, se, df = scale
    if equivalence:
        z = (_critical(df, 1 - alpha) + _critical(df, 1 - (1 - power) / 2)) * se
    else:
        z = (_critical(df, 1 - alpha / 2) + _critical(df, power)) * se
    return float(math.tanh(z)) if fisher else float(z)


def _finite(pooled: dict, keys=("estimate", "ci_low", "ci_high")) -> bool:
    values = [pooled.get(k) for k in keys]
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def effect_status(pooled: dict, direction: int, floor: float, *, alpha: float = 0.05, fisher: bool = False) -> str | None:
    """One of :data:`STATUSES` for a claim that the effect lies in ``direction`` (+1 / −1) and is at least
    ``floor`` (the stated minimum effect); None when the figure cannot be estimated."""
    if not _finite(pooled):
        return None
    est, lo, hi = (direction * pooled[k] for k in ("estimate", "ci_low", "ci_high"))
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0:
        if est >= floor:
            return "yes"
        return "small" if hi < floor else "below"
    if hi < 0:
        return "no"  # the opposite direction is significant
    detectable = mde(pooled, alpha=alpha, fisher=fisher)
    if math.isfinite(detectable) and detectable > floor:
        return "insensitive"
    return "no" if hi < floor else "unclear"


def equivalence_status(pooled: dict, margin: float, *, alpha: float = 0.05, fisher: bool = False) -> str | None:
    """``yes`` (TOST: the (1 − 2α) interval inside ±margin), ``no`` (the 95 % interval excludes 0 and the
    estimate is at least the margin), ``insensitive`` (neither, and TOST could not establish the margin:
    its MDE exceeds it), ``unclear`` (neither), None (n/a)."""
    from .replicates import equivalence

    test = equivalence(pooled, margin, alpha=alpha, fisher=fisher)
    if test["equivalent"] is None:
        return None
    if test["equivalent"]:
        return "yes"
    est, lo, hi = pooled["estimate"], pooled["ci_low"], pooled["ci_high"]
    if (lo > 0 or hi < 0) and abs(est) >= margin:
        return "no"
    detectable = mde(pooled, alpha=alpha, fisher=fisher, equivalence=True)
    return "insensitive" if math.isfinite(detectable) and detectable > margin else "unclear"


def literal_status(pooled: dict, alpha: float = 0.05) -> str | None:
    """The literal reading of "not significant": ``yes`` when p ≥ α, ``no`` when p < α (it says nothing of
    the effect's size: :func:`equivalence_status` is the strict reading)."""
    p = pooled.get("p")
    if not isinstance(p, (int, float)) or not math.isfinite(p):
        return None
    return "yes" if p >= alpha else "no"


def count_status(found_per_seed) -> str | None:
    """``yes`` when found in at least half the seeds, ``no`` otherwise, None without seeds."""
    found = list(found_per_seed)
    if not found:
        return None
    return "yes" if sum(bool(f) for f in found) * 2 >= len(found) else "no"


def verdict(before: str | None, after: str | None, random_shows: bool = False, testable: bool = True) -> str:
    """One of :data:`VERDICTS` from the figure's status, the controlled figure's status (``"n/a"``: the claim
    has no controlled figure) and whether a random-network control passes the same two-stage rule.

    The controlled figure tilts nothing by being merely unclear: *holds only before controls* needs its
    interval to exclude the minimum effect (``no``, ``small``); an interval holding both 0 and the minimum
    gives *holds; the controlled figure is inconclusive*."""
    if not testable or before is None:
        return NOT_TESTABLE
    if before == "no":
        return DOES_NOT_HOLD
    if before == "insensitive":
        return INSENSITIVE
    if before == "unclear":
        return INCONCLUSIVE
    if before in ("small", "below"):
        return TOO_SMALL
    if after is None:
        return NOT_TESTABLE
    if after in ("no", "small"):
        return BEFORE_CONTROLS
    if random_shows:
        return HOLDS_RANDOM
    if after in ("unclear", "insensitive", "below"):
        return HOLDS_CONTROLLED_UNCLEAR
    return HOLDS


def shows_effect(before: str | None, after: str | None) -> bool:
    """Whether a random-network control shows the effect: it passes both stages, as the claim must."""
    return before == "yes" and after in ("yes", "n/a")


def counts(card) -> dict[str, int]:
    """How many rows of a card (a frame with a ``verdict`` column) got each verdict, zeros included."""
    found = card["verdict"].value_counts().to_dict()
    return {v: int(found.get(v, 0)) for v in VERDICTS}


# ----------------------------------------------------------------------------------- stability, robustness


def leave_out_subsets(seeds, *, max_out: int = 2, min_left: int = 2) -> list[tuple[int, ...]]:
    """The seed subsets a stable verdict must survive: every subset that leaves out 1 … ``max_out`` seeds and
    keeps at least ``min_left`` (one seed carries no between-model variance, so it is never a subset)."""
    seeds = sorted(int(s) for s in seeds)
    out = []
    for n_out in range(1, max_out + 1):
        if len(seeds) - n_out < min_left:
            break
        out += [tuple(s for s in seeds if s not in dropped) for dropped in itertools.combinations(seeds, n_out)]
    return out


#: new draws of the seeds (:func:`~.replicates.redraw`) a stable verdict must mostly survive, and the share of them
#: that may give another verdict: a rebuild on another machine trains other models, which is a new draw of seeds
REDRAWS = 20
REDRAW_TOLERANCE = 0.1


def stable(full: str, subset_verdicts, redrawn=()) -> bool:
    """A verdict is stable when every leave-out subset gives it too (with no subset, there is nothing to show it
    stable: a single seed's verdict is fragile) and fewer than :data:`REDRAW_TOLERANCE` of the ``redrawn``
    verdicts (the figures pooled over new draws of the seeds) differ from it."""
    found = list(subset_verdicts)
    redrawn = list(redrawn)
    differ = sum(v != full for v in redrawn)
    return bool(found) and all(v == full for v in found) and (not redrawn or differ < REDRAW_TOLERANCE * len(redrawn))


def robustness(by_threshold: dict) -> str:
    """The reading of one claim × encoder over firing thresholds (``{label: verdict}``, in order): *robust:
    <verdict>* when every threshold gives the same verdict, else where it holds (*holds at top 5 %, top 2 %*)
    or *holds at no threshold* with the verdicts met."""
    verdicts = list(by_threshold.values())
    if not verdicts:
        return "n/a"
    if len(set(verdicts)) == 1:
        return f"robust: {verdicts[0]}"
    holding = [t for t, v in by_threshold.items() if v in HOLDING]
    if len(holding) == len(verdicts):
        return "holds at every threshold (" + ", ".join(dict.fromkeys(verdicts)) + ")"
    if holding:
        return "holds at " + ", ".join(holding) + " only"
    return "holds at no threshold (" + ", ".join(dict.fromkeys(verdicts)) + ")"
