"""Do explained neurons matter? The causal tests' numbers, pooled over training seeds, and their verdicts.

Three interventions (chapter 10_causal), each computed per trained model (the replicate) with its within-model
variance and pooled over seeds by :func:`.replicates.pool`:

* **Ablation**: the change in probe accuracy when k units are held at their mean (or zero), for the top k
  by IoU, the top k by excess IoU over the matched null, the bottom k, and random k (many draws). Within a
  model, the variance is the paired per-pair variance of the change in correctness, plus the spread of the
  random draws.
* **Faithfulness**: a unit's formula names a token; edits of that token alone (:mod:`..explain.edits`)
  should move the unit the way the formula's truth moves. A unit is **faithful** when its formula's edits
  move it that way by at least :data:`MIN_SHIFT` of its probe SD more than the same edits of a token of
  the same frequency and tag (the *frequency control*): a one-sided Welch test of
  ``mean(formula) − mean(frequency) > MIN_SHIFT`` at :data:`FAITHFUL_ALPHA`. The matched null's formula
  (the best formula of a random mask with the unit's firing count) goes through the same test: the share
  of units its edits pass is what the criterion finds where there is nothing to find. C2's verdict rests on
  the mean per-unit difference (formula − frequency control, :func:`shift_effects`), which uses every
  tested unit's edits, with the null formula's difference as its control.
* **Adversarial pairs**: pairs that satisfy a unit's lexical formula (``There is a W.`` appended to the
  premise), with a gold label the unit does not push to, against the same pairs with a noun of the same
  frequency and tag appended that leaves the formula false: the error rates, and their paired difference.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..data.snli import LABELS
from . import claims, replicates, verdicts

MIN_SHIFT = 0.1  # probe SDs: the smallest extra move of a unit under its formula's edits that counts
FAITHFUL_ALPHA = 0.05
MIN_EDITS = 4  # edits of each kind a unit needs to be tested
MIN_UNITS = 5  # tested units a model needs for its faithful share to count
MIN_PAIRS = 10  # adversarial base pairs a model needs for its error rates to count
CLASSES = ("all", *LABELS)


# ------------------------------------------------------------------------------------------ ablation


def _floor(variance: float, n: int) -> float:
    """The variance of a mean of ``n`` per-pair changes, never below that of one changed pair in ``n``: an
    ablation that changed no prediction is an estimate of 0 with a small variance, not a seed to drop
    (:func:`replicates.pool` drops zero variances)."""
    return max(variance, 1.0 / n) / n


def _change(gold: np.ndarray, base: np.ndarray, ablated: np.ndarray, sel: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(mean over draws of the accuracy change, its within-model variance, each draw's change) on ``sel``."""
    c0 = (base[sel] == gold[sel]).astype(float)
    c1 = (ablated[:, sel] == gold[sel][None, :]).astype(float)
    per_draw = c1.mean(axis=1) - c0.mean()
    n, r = int(sel.sum()), len(per_draw)
    pair_var = _floor(float(np.var(c1.mean(axis=0) - c0, ddof=1)), n) if n > 1 else math.nan
    draw_var = float(np.var(per_draw, ddof=1)) / r if r > 1 else 0.0
    return float(per_draw.mean()), pair_var + draw_var, per_draw


def accuracy_changes(gold: np.ndarray, base: np.ndarray, ablated: dict) -> pd.DataFrame:
    """One row per (ranking, k, class): ``delta`` (ablated − intact accuracy), ``var`` (within the model),
    from ``ablated[(ranking, k)]``: predictions ``(draws, n)``. Also ``top excess − random`` per k: the
    change of the top k by excess IoU minus the mean change of random k, with its paired variance."""
    rows = []
    for cls in CLASSES:
        sel = np.ones(len(gold), bool) if cls == "all" else gold == LABELS.index(cls)
        for (ranking, k), preds in ablated.items():
            delta, var, _ = _change(gold, base, np.atleast_2d(preds), sel)
            rows.append({"ranking": ranking, "k": k, "class": cls, "delta": delta, "var": var})
        for k in sorted({k for (_, k) in ablated}):
            top, rand = ablated.get(("top excess IoU", k)), ablated.get(("random", k))
            if top is None or rand is None:
                continue
            c_top = (np.atleast_2d(top)[0, sel] == gold[sel]).astype(float)
            c_rand = (np.atleast_2d(rand)[:, sel] == gold[sel][None, :]).astype(float)
            d = c_top - c_rand.mean(axis=0)
            per_draw = c_rand.mean(axis=1)
            var = _floor(float(np.var(d, ddof=1)), len(d)) + (float(np.var(per_draw, ddof=1)) / len(per_draw)
                                                             if len(per_draw) > 1 else 0.0)
            rows.append({"ranking": "top excess − random", "k": k, "class": cls, "delta": float(d.mean()), "var": var})
    return pd.DataFrame(rows)


def _figures(pooled: dict) -> dict:
    """The columns of a pooled figure in the chapter's tables (``seeds``: how many were pooled)."""
    return {"estimate": pooled["estimate"], "ci_low": pooled["ci_low"], "ci_high": pooled["ci_high"],
            "seeds": pooled["k"]}


FIGURES = ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high", "seeds", "_pooled"]


def _figure_row(encoder, regime, measure: str, pooled: dict, **counts) -> dict:
    """One row of a pooled figure's table (``counts``: how many units or pairs it rests on)."""
    return {"encoder": encoder, "regime": regime, "measure": measure, **counts, **_figures(pooled), "_pooled": pooled}


def figure_frame(rows: list[dict], count: str) -> pd.DataFrame:
    """Pooled figures as a table, with its columns even when there is no row."""
    return pd.DataFrame(rows, columns=[*FIGURES[:3], count, *FIGURES[3:]])


def pool_rows(per_seed: pd.DataFrame, by, estimate: str = "delta", variance: str = "var") -> pd.DataFrame:
    """``per_seed`` rows pooled over seeds within each group of ``by`` (random effects, :func:`replicates.pool`)."""
    out = []
    for key, group in per_seed.groupby(list(by), sort=False):
        pooled = replicates.pool(group[estimate].to_numpy(), group[variance].to_numpy())
        out.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                    **_figures(pooled), "_pooled": pooled})
    return pd.DataFrame(out, columns=[*by, "estimate", "ci_low", "ci_high", "seeds", "_pooled"])


# ------------------------------------------------------------------------------------- faithfulness


def unit_faithfulness(edits: pd.DataFrame, min_shift: float = MIN_SHIFT, alpha: float = FAITHFUL_ALPHA) -> pd.DataFrame:
    """One row per unit from its edits (``kind``: formula / frequency / null; ``shift``: the directed change
    of its activation in probe SDs): the means, the share of formula edits that move it the predicted way,
    and ``faithful`` / ``null_faithful`` (see the module docstring; None where a kind has too few edits)."""
    keys = [c for c in ("encoder", "seed", "regime", "unit") if c in edits.columns]
    rows = []
    for key, group in edits.groupby(keys, sort=True):
        by_kind = {k: g["shift"].to_numpy(dtype=float) for k, g in group.groupby("kind")}
        f, c, n = (by_kind.get(k, np.array([])) for k in ("formula", "frequency", "null"))
        row = dict(zip(keys, key))
        own = group[group["kind"] == "formula"]
        row.update(formula=group["formula"].iloc[0], atom=own["atom"].iloc[0] if len(own) else None, n_formula=len(f),
                   n_frequency=len(c), n_null=len(n), formula_shift=f.mean() if len(f) else math.nan,
                   frequency_shift=c.mean() if len(c) else math.nan, null_shift=n.mean() if len(n) else math.nan,
                   moved=float((f > 0).mean()) if len(f) else math.nan,
                   faithful=_passes(f, c, min_shift, alpha), null_faithful=_passes(n, c, min_shift, alpha))
        rows.append(row)
    return pd.DataFrame(rows)


def _passes(test: np.ndarray, control: np.ndarray, min_shift: float, alpha: float):
    if len(test) < MIN_EDITS or len(control) < MIN_EDITS:
        return None
    if np.ptp(test) == 0 and np.ptp(control) == 0:  # no spread at all: the difference is exact
        return bool(test.mean() - control.mean() > min_shift)
    with warnings.catch_warnings():  # nearly constant shifts: scipy warns of precision loss, the test stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p = sps.ttest_ind(test - min_shift, control, equal_var=False, alternative="greater").pvalue
    return bool(p < alpha)


def faithful_shares(units: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, regime): the pooled share of tested units that are faithful, the share the same test
    gives with the matched null's formula (over the units whose null formula names a word), and their
    difference. A seed counts for a share when it has at least :data:`MIN_UNITS` such units."""
    rows = []
    for (encoder, regime), frame in units.groupby(["encoder", "regime"], sort=False):
        per_seed = []
        for _, g in frame.groupby("seed"):
            f, n = g["faithful"].dropna().astype(float), g["null_faithful"].dropna().astype(float)
            per_seed.append({"n_f": len(f), "f": f.sum(), "n_n": len(n), "n": n.sum()})
        s = pd.DataFrame(per_seed)
        ok_f, ok_n = s[s["n_f"] >= MIN_UNITS], s[s["n_n"] >= MIN_UNITS]
        for what, sel, hits, total in (("faithful", ok_f, "f", "n_f"), ("null formula", ok_n, "n", "n_n")):
            if len(sel):
                pooled = replicates.proportion(sel[hits], sel[total])
                rows.append(_figure_row(encoder, regime, what, pooled, units=int(sel[total].sum())))
        both = s[(s["n_f"] >= MIN_UNITS) & (s["n_n"] >= MIN_UNITS)]
        if len(both):  # Newcombe's MOVER interval of the two pooled shares: it stays inside [−1, 1]
            pooled = replicates.mover_difference(replicates.proportion(both["f"], both["n_f"]),
                                                 replicates.proportion(both["n"], both["n_n"]))
            rows.append(_figure_row(encoder, regime, "faithful − null formula", pooled, units=int(both["n_f"].sum())))
    return figure_frame(rows, "units")


def shift_effects(units: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, regime): how much further a unit's formula's edits move it than the frequency control's
    (``formula − frequency``, in probe SDs, the mean over tested units pooled over seeds), and the same for
    the matched null's formula (``null − frequency``): what C2 tests."""
    rows = []
    for (encoder, regime), frame in units.groupby(["encoder", "regime"], sort=False):
        for what, col in (("formula − frequency", "formula_shift"), ("null − frequency", "null_shift")):
            est, var, n_units = [], [], 0
            for _, g in frame.groupby("seed"):
                ok = (g[f"n_{col.split('_')[0]}"] >= MIN_EDITS) & (g["n_frequency"] >= MIN_EDITS)
                d = (g.loc[ok, col] - g.loc[ok, "frequency_shift"]).dropna().to_numpy(dtype=float)
                if len(d) < MIN_UNITS:
                    continue
                est.append(d.mean())
                var.append(max(float(np.var(d, ddof=1)), 1e-12) / len(d))
                n_units += len(d)
            if est:
                pooled = replicates.pool(est, var)
                rows.append(_figure_row(encoder, regime, what, pooled, units=n_units))
    return figure_frame(rows, "units")


# ------------------------------------------------------------------------------------- adversarial


def adversarial_rates(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, regime): error rates on the formula pairs and on their controls, and the paired
    difference, pooled over seeds; from one row per base pair with ``err_formula`` / ``err_control`` (a
    seed with fewer than :data:`MIN_PAIRS` pairs is left out)."""
    rows = []
    for (encoder, regime), frame in pairs.groupby(["encoder", "regime"], sort=False):
        per_seed = []
        for seed, g in frame.groupby("seed"):
            if len(g) < MIN_PAIRS:
                continue
            a, b = g["err_formula"].astype(float).to_numpy(), g["err_control"].astype(float).to_numpy()
            d = a - b
            n = len(d)
            per_seed.append({"n": n, "formula": a.sum(), "control": b.sum(), "d": d.mean(),
                             "var": max(float(np.var(d, ddof=1)) if n > 1 else 0.0, 0.25 / n) / n})
        s = pd.DataFrame(per_seed)
        if s.empty:
            continue
        for what, col in (("formula pairs", "formula"), ("control pairs", "control")):
            pooled = replicates.proportion(s[col], s["n"])
            rows.append(_figure_row(encoder, regime, what, pooled, pairs=int(s["n"].sum())))
        # Newcombe's MOVER interval of the two pooled error rates: a difference of shares stays inside [−1, 1]
        pooled = replicates.mover_difference(replicates.proportion(s["formula"], s["n"]),
                                             replicates.proportion(s["control"], s["n"]))
        rows.append(_figure_row(encoder, regime, "formula − control", pooled, pairs=int(s["n"].sum())))
    return figure_frame(rows, "pairs")


# ---------------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class CausalClaim:
    key: str
    short: str
    sentence: str
    rule: str


CAUSAL = {c.key: c for c in (
    CausalClaim("C1", "ablating well-explained units costs less accuracy than ablating random ones",
                "better-explained neurons are less accurate when they fire (§5.1, read causally: they matter "
                "less to the model's accuracy) (paraphrase)",
                f"accuracy change of the top k by excess IoU − that of random k (k = 64, or the middle of "
                f"ablation_ks) > 0 (95 % CI) and ≥ {claims.MIN_ACCURACY_GAIN:.0%}; control: the same on the random "
                "networks"),
    CausalClaim("C2", "a unit responds to what its formula names",
                "what the method assumes: a formula that matches a unit's firing describes what drives it "
                "(Mu & Andreas, §3; paraphrase)",
                f"mean shift of the formula's edits − the frequency control's > 0 (95 % CI) and ≥ {MIN_SHIFT} probe "
                "SD; control: the same for the matched null's formula (if it passes too, the edits move units "
                "whatever a formula says)"),
    CausalClaim("C3", "pairs that satisfy a unit's lexical formula are misclassified more often",
                "\"the boys said hello to the girls\" / \"the girls said hello\" is called contradiction because of "
                "unit 870 (§5.3), at scale (paraphrase; Mu & Andreas built adversarial pairs the same way)",
                f"error rate on formula pairs − on matched control pairs > 0 (95 % CI) and ≥ {claims.MIN_ACCURACY_GAIN:.0%}"),
)}


def _status(pooled: dict | None, floor: float) -> str | None:
    return claims.effect_status(pooled, +1, floor) if pooled else None


def rule(pooled: dict | None, floor: float, controls: list, untestable: str | None = None) -> tuple[str, str]:
    """One causal verdict and its note: the pooled figure against its minimum effect ``floor`` (both signs of
    :func:`claims.effect_status`), *holds, as in a random network* where any of ``controls`` (their pooled
    figures) passes the same rule, and *not testable* with the reason where the encoder is ``untestable`` or
    the figure comes from one seed (no between-model variance)."""
    shows = any(_status(c, floor) == "yes" for c in controls)
    one_seed = pooled is not None and pooled.get("k", 0) < 2
    note = untestable or ("one seed: no between-model variance" if one_seed else "")
    testable = not untestable and pooled is not None and not one_seed
    return claims.verdict(_status(pooled, floor), "n/a", shows, testable), note


def card(ablation: pd.DataFrame, shifts: pd.DataFrame, adversarial: pd.DataFrame, encoders, regimes: dict,
         controls: dict, k: int = 64, mode: str = "mean", untestable: dict | None = None) -> pd.DataFrame:
    """One row per causal claim × encoder × regime: the figure and the verdict (:func:`rule`).

    ``regimes``: label → regime value in the frames' ``regime`` column; ``controls``: encoder → the names
    of its random-network control models (C1 is also computed on them). C1's random networks and C2's null
    formula are the controls: where they show the effect too, the verdict is *holds, as in a random network*.
    A figure from one seed has no between-model variance: it is *not testable*, as is every row of an
    encoder in ``untestable`` (encoder → why, e.g. an untrained CLIP)."""
    untestable = untestable or {}
    rows = []

    def pick(frame, **match):
        sel = frame
        for col, val in match.items():
            sel = sel[sel[col] == val]
        return sel["_pooled"].iloc[0] if len(sel) else None

    for label, value in regimes.items():
        for encoder in encoders:
            def ablated(model):
                return pick(ablation, encoder=model, regime=value, mode=mode, ranking="top excess − random", k=k,
                            **{"class": "all"})

            null = pick(shifts, encoder=encoder, regime=value, measure="null − frequency")
            figures = {"C1": (ablated(encoder), claims.MIN_ACCURACY_GAIN,
                              [ablated(c) for c in controls.get(encoder, ())]),
                       "C2": (pick(shifts, encoder=encoder, regime=value, measure="formula − frequency"), MIN_SHIFT,
                              [null]),
                       "C3": (pick(adversarial, encoder=encoder, regime=value, measure="formula − control"),
                              claims.MIN_ACCURACY_GAIN, [])}
            for key, (pooled, floor, against) in figures.items():
                verdict, note = rule(pooled, floor, against, untestable.get(encoder))
                if not note and key == "C2" and pooled is not None and null is None:
                    note = "no null control: the matched null's formulas name no word here"
                rows.append({"id": key, "claim": CAUSAL[key].short, "encoder": encoder, "regime": label,
                             "this build": claims.describe(pooled, "") if pooled else "n/a",
                             "verdict": verdict, "note": note})
    return pd.DataFrame(rows)


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
                cells += [row["this build"].iloc[0], f"**{row['verdict'].iloc[0]}**" + (f" ({note})" if note else "")]
            else:
                cells += ["n/a", "n/a"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    for encoder in collapsed:
        lines += ["", f"**{encoder.upper() if encoder == 'clip' else encoder}**: every causal claim is *not testable in this "
                      "build*, because CLIP is untrained here (an architecture-only control); its figures are in "
                      "chapter 10_causal."]
    return "\n".join(lines) + "\n"


def rules_table() -> pd.DataFrame:
    return pd.DataFrame([{"id": c.key, "claim": c.short, "as stated": c.sentence, "rule (minimum effect)": c.rule}
                         for c in CAUSAL.values()])
