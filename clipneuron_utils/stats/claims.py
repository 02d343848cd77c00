"""The paper's claims, one by one, each with this build's figure, its control and a computed verdict.

A claim *holds* when this build's figure says what the paper says and still does against its control
(the matched null, or the firing count held fixed); it *holds only before controls* when the figure
agrees but the control explains it away; it *does not hold* when this build's figure already disagrees;
it is *not testable in this build* when the build lacks what the claim is about (CLIP's neurons when
CLIP is untrained, WordNet concepts when only the standard encoding ran) or a statistic cannot be
estimated. Significance uses Holm-adjusted p-values (across the family of correlation tests the book
reports) and 95 % bootstrap confidence intervals; every number here comes from the tables of
:mod:`clipneuron_utils.stats.effects` — none is typed in (the paper's own figures come from :mod:`.reported`).

The claims (Acquaviva & Hensgen, after Mu & Andreas):

* **a** — IoU grows with formula length: the per-unit gain from length 1 to 2 is positive; against the
  null, the gain in *excess* IoU is positive (the beam keeps its old formulas, so IoU can never fall
  with length: without the null a rise proves nothing).
* **b** — the IoU ↔ accuracy-when-firing correlation is negative and significant at length 1; control:
  the partial correlation with log firing count held fixed.
* **c** — it is more negative at length 2 than at length 1 (the change's CI below 0); control: the same
  change of the partial correlation.
* **d** — the BiLSTM's correlation is not significant at length 1 (LSTM only); control: nor the partial one.
* **e** — the WordNet encoding raises a unit's best IoU by about the paper's +0.0014 on average: the mean
  paired difference is positive (CI above 0) and as large as half the paper's figure is within its CI
  (a positive effect a hundred times smaller does not confirm the paper's number); control: the same
  for the difference of excess IoU (each encoding against its own null).
"""

from __future__ import annotations

import math

import pandas as pd

from . import reported
from .uncertainty import format_ci, format_p

VERDICTS = ("holds", "holds only before controls", "does not hold", "not testable in this build")
CLAIMS = {
    "a": "IoU grows with formula length",
    "b": "IoU ↔ accuracy when firing: negative, significant at length 1",
    "c": "IoU ↔ accuracy when firing: more negative at length 2",
    "d": "the BiLSTM's IoU ↔ accuracy correlation is not significant at length 1",
    "e": f"the WordNet encoding raises a unit's best IoU by about +{reported.PAPER_WORDNET_DIFFERENCE}",
}
PAPER = {
    "a": f"CLIP {reported.PAPER_MEAN_IOU_CLIP[1]} → {reported.PAPER_MEAN_IOU_CLIP[2]}; rises for Mu & Andreas' BiLSTM",
    "b": "negative, significant (CLIP)",
    "c": "more negative at length 2 (CLIP)",
    "d": "not significant (BiLSTM)",
    "e": f"+{reported.PAPER_WORDNET_DIFFERENCE} mean difference (CLIP)",
}
CORRELATION = "IoU ~ accuracy"
PARTIAL = "IoU ~ accuracy | log firing count"


def verdict(before: bool | None, after: bool | None, testable: bool = True) -> str:
    """One of :data:`VERDICTS` from whether the claim is true before and after its control (None: unknown)."""
    if not testable or before is None:
        return VERDICTS[3]
    if not before:
        return VERDICTS[2]
    if after is None:
        return VERDICTS[3]
    return VERDICTS[0] if after else VERDICTS[1]


def _finite(*values) -> bool:
    return all(v is not None and isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _one(frame: pd.DataFrame, **match) -> pd.Series | None:
    rows = frame
    for key, value in match.items():
        if key not in rows.columns:
            return None
        rows = rows[rows[key] == value]
    return rows.iloc[0] if len(rows) else None


def _interval(row) -> str:
    return "n/a" if row is None else format_ci(row["mean"], row["ci_low"], row["ci_high"])


def _correlation(row) -> str:
    if row is None:
        return "n/a"
    return f"r = {format_ci(row['r'], row['ci_low'], row['ci_high'])}, Holm p = {format_p(row['p_holm'])}"


def _change(row) -> str:
    return "n/a" if row is None else f"Δr = {format_ci(row['change'], row['ci_low'], row['ci_high'])}"


def _above(row, column="mean") -> bool | None:
    """The CI lies above 0 (None when it cannot be estimated)."""
    if row is None or not _finite(row[column], row["ci_low"]):
        return None
    return bool(row["ci_low"] > 0)


def _negative_significant(row, alpha) -> bool | None:
    if row is None or not _finite(row["r"], row["p_holm"]):
        return None
    return bool(row["r"] < 0 and row["p_holm"] < alpha)


def _not_significant(row, alpha) -> bool | None:
    if row is None or not _finite(row["p_holm"]):
        return None
    return bool(row["p_holm"] >= alpha)


def _paper_sized(row, paper: float) -> bool | None:
    """Positive (CI above 0), and half the paper's figure is not excluded (CI reaches it)."""
    if row is None or not _finite(row["mean"], row["ci_low"], row["ci_high"]):
        return None
    return bool(row["ci_low"] > 0 and row["ci_high"] >= paper / 2)


def _below(row) -> bool | None:
    if row is None or not _finite(row["change"], row["ci_high"]):
        return None
    return bool(row["ci_high"] < 0)


def untestable(encoder: str, entry: dict | None) -> str | None:
    """Why the paper's claims cannot be tested on this encoder's model, or None (an untrained CLIP is
    an architecture-only control: the paper's claims are about CLIP's trained weights)."""
    if encoder == "clip" and entry and (entry.get("encoder_params") or {}).get("weights") == "untrained":
        return "CLIP is untrained here: an architecture-only control"
    return None


def scorecard(*, gains: pd.DataFrame, correlations: pd.DataFrame, changes: pd.DataFrame,
              partial_changes: pd.DataFrame, wordnet: pd.DataFrame | None, registry: dict,
              encoders, alpha: float = 0.05, encoding: str = "standard") -> pd.DataFrame:
    """One row per claim × encoder (× length for e): ``claim, encoder, length, paper, this build,
    against controls, verdict, note``.

    ``gains``: :func:`effects.length_gain` (1 → 2); ``correlations``: :func:`effects.firing_confound`;
    ``changes`` / ``partial_changes``: :func:`effects.correlation_change` of the plain and the partial
    correlation; ``wordnet``: :func:`effects.encoding_effect` (None without the WordNet encoding);
    ``registry``: chapter 3's entries (to know an untrained CLIP).
    """
    rows = []

    def add(claim, encoder, length, build, control, before, after, note=None):
        reason = untestable(encoder, registry.get(encoder))
        rows.append({"claim": f"({claim}) {CLAIMS[claim]}", "encoder": encoder, "length": length,
                     "paper": PAPER[claim], "this build": build, "against controls": control,
                     "verdict": verdict(before, after, reason is None), "note": reason or note or ""})

    for name in encoders:
        gain = _one(gains, encoder=name, encoding=encoding, measure="iou")
        excess = _one(gains, encoder=name, encoding=encoding, measure="excess_iou")
        add("a", name, "1 → 2", f"gain {_interval(gain)}", f"excess-IoU gain {_interval(excess)}",
            _above(gain), _above(excess))
        plain = _one(correlations, encoder=name, encoding=encoding, max_length=1, test=CORRELATION, method="pearson")
        partial = _one(correlations, encoder=name, encoding=encoding, max_length=1, test=PARTIAL, method="pearson")
        if name == "lstm":
            add("d", name, "1", _correlation(plain), f"partial {_correlation(partial)}",
                _not_significant(plain, alpha), _not_significant(partial, alpha))
        else:
            add("b", name, "1", _correlation(plain), f"partial {_correlation(partial)}",
                _negative_significant(plain, alpha), _negative_significant(partial, alpha))
            change = _one(changes, encoder=name, encoding=encoding)
            partial_change = _one(partial_changes, encoder=name, encoding=encoding)
            add("c", name, "1 → 2", _change(change), f"partial {_change(partial_change)}",
                _below(change), _below(partial_change))
        for length in (1, 2):
            if wordnet is None or not len(wordnet):
                add("e", name, str(length), "n/a", "n/a", None, None, "the WordNet encoding was not searched")
                continue
            diff = _one(wordnet, encoder=name, max_length=length, measure="iou")
            diff_excess = _one(wordnet, encoder=name, max_length=length, measure="excess_iou")
            size = ""
            if diff is not None and _finite(diff["mean"]) and diff["mean"] > 0:
                size = f"{diff['mean'] / reported.PAPER_WORDNET_DIFFERENCE:.2g}× the paper's mean difference"
            add("e", name, str(length), f"Δ {_interval(diff)}", f"Δ excess {_interval(diff_excess)}",
                _paper_sized(diff, reported.PAPER_WORDNET_DIFFERENCE),
                _paper_sized(diff_excess, reported.PAPER_WORDNET_DIFFERENCE), size)
    frame = pd.DataFrame(rows, columns=["claim", "encoder", "length", "paper", "this build", "against controls",
                                        "verdict", "note"])
    return frame.sort_values(["claim", "encoder", "length"], kind="stable").reset_index(drop=True)


def findings(card: pd.DataFrame, summary: pd.DataFrame, confound: pd.DataFrame, gains: pd.DataFrame | None,
             encoders, encoding: str = "standard") -> list[str]:
    """Three or four sentences on what this build finds, each computed from the tables (for the first
    page and the top of the results chapter)."""
    tally = counts(card)
    out = [f"Of {len(card)} claim × encoder rows, {tally['holds']} hold, {tally['holds only before controls']} hold "
           f"only before controls, {tally['does not hold']} do not hold and {tally['not testable in this build']} "
           "are not testable in this build."]

    def pick(frame, **match):
        return _one(frame, **match)

    shares = []
    for name in encoders:
        real = pick(summary, encoder=name, encoding=encoding, max_length=1, measure="iou")
        null = pick(summary, encoder=name, encoding=encoding, max_length=1, measure="null_mean_iou")
        if real is not None and null is not None and _finite(real["mean"], null["mean"]) and real["mean"] > 0:
            shares.append(f"{name} {null['mean'] / real['mean']:.0%}")
    if shares:
        out.append("Random masks with each unit's firing count, searched the same way, reach most of the real "
                   f"units' mean IoU at length 1: {', '.join(shares)} of it.")
    tracks, partials = [], []
    for name in encoders:
        firing = pick(confound, encoder=name, encoding=encoding, max_length=1, test="IoU ~ log firing count",
                      method="pearson")
        plain = pick(confound, encoder=name, encoding=encoding, max_length=1, test=CORRELATION, method="pearson")
        partial = pick(confound, encoder=name, encoding=encoding, max_length=1, test=PARTIAL, method="pearson")
        if firing is not None and _finite(firing["r"]):
            tracks.append(f"{firing['r']:.2f}")
        if plain is not None and partial is not None and _finite(plain["r"], partial["r"]):
            partials.append(f"{name} {plain['r']:+.2f} → {partial['r']:+.2f}")
    if tracks and partials:
        out.append(f"A unit's IoU tracks its log firing count (r = {', '.join(tracks)}); holding firing count fixed "
                   f"moves the IoU ↔ accuracy correlation at length 1 from {'; '.join(partials)}.")
    if gains is not None and len(gains):
        rows = [pick(gains, encoder=name, encoding=encoding, measure="excess_iou") for name in encoders]
        above = [r["encoder"] for r in rows if _above(r)]
        out.append(f"Longer formulas explain more than chance for {len(above)} of {len(rows)} encoders: the gain in "
                   "excess IoU from length 1 to 2 is above 0 for " + (", ".join(above) or "none") + ".")
    return out


def markdown(card: pd.DataFrame, *, title: str = "The paper's claims in this build",
             sentences: list[str] | None = None) -> str:
    """The scorecard as a Markdown section (the book's first page includes it), after ``sentences``."""
    lines = [f"## {title}", ""]
    if sentences:
        lines += [" ".join(sentences), "", "The verdicts are computed in chapter 6 from this build's numbers:", ""]
    lines += ["| claim | encoder | length | paper | this build | against controls | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in card.to_dict("records"):
        verdict_text = row["verdict"] + (f" ({row['note']})" if row["note"] else "")
        cells = [row["claim"], row["encoder"], row["length"], row["paper"], row["this build"], row["against controls"],
                 f"**{verdict_text}**"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def counts(card: pd.DataFrame) -> dict[str, int]:
    """How many rows got each verdict (all of :data:`VERDICTS`, zeros included)."""
    found = card["verdict"].value_counts().to_dict()
    return {v: int(found.get(v, 0)) for v in VERDICTS}
