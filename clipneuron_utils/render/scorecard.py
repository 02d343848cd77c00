"""The first page's verdicts, read in 30 seconds: a computed box of at most five sentences, then one matrix of
claim × encoder whose cells give the verdict at every firing threshold, with a legend.

Why a module of its own: the results chapter (at > 0) and the firing-regime chapter (every threshold) record
the same headline for the first page, from their scorecards (:func:`clipneuron_utils.stats.scorecard.scorecard`).
CLIP's column collapses to one line when CLIP is untrained here; MiniLM's is headed an extension.
"""

from __future__ import annotations

import pandas as pd

from ..stats import claims as C
from ..stats import verdicts as V

SYMBOLS = {V.HOLDS: "✓", V.HOLDS_CONTROLLED_UNCLEAR: "◐", V.HOLDS_RANDOM: "≈", V.BEFORE_CONTROLS: "◌",
           V.TOO_SMALL: "↓", V.INCONCLUSIVE: "?", V.INSENSITIVE: "⊘", V.DOES_NOT_HOLD: "✗", V.NOT_TESTABLE: "–"}
FRAGILE = "†"
HEADS = {"lstm": "BiLSTM", "minilm": "MiniLM (extension)", "clip": "CLIP"}


def legend() -> str:
    """The symbols, one line."""
    return ("Legend: " + " · ".join(f"{s} *{v}*" for v, s in SYMBOLS.items())
            + f" · {FRAGILE} fragile (leaving out one or two seeds, or a new draw of them, changes it).")


def fragile(stable) -> bool:
    """Whether a card's ``stable`` value marks a fragile verdict (False, numpy's too; None: not judged)."""
    return stable is not None and not pd.isna(stable) and not bool(stable)


def symbol(row) -> str:
    """One verdict cell as a symbol, with the fragile mark where leaving out seeds changes it."""
    return SYMBOLS.get(row["verdict"], "?") + (FRAGILE if fragile(row.get("stable")) else "")


def shown_encoders(encoders, untrained_clip: bool) -> list[str]:
    """The encoders that get a column: every one but an untrained CLIP (one line under the matrix instead)."""
    return [e for e in encoders if not (e == "clip" and untrained_clip)]


def matrix(cards: dict, encoders, untrained_clip: bool) -> pd.DataFrame:
    """Claim × encoder: per cell, the verdict symbol at each threshold (the order of ``cards``: label → card),
    then its robustness reading (:func:`~clipneuron_utils.stats.verdicts.robustness`)."""
    shown = shown_encoders(encoders, untrained_clip)
    labels = list(cards)
    rows = []
    for claim, spec in C.CLAIMS.items():
        row = {"claim": f"{claim} {spec.short} ({spec.section})"}
        any_cell = False
        for encoder in shown:
            found = {label: card[(card["id"] == claim) & (card["encoder"] == encoder)] for label, card in cards.items()}
            if not all(len(f) for f in found.values()):
                row[HEADS.get(encoder, encoder)] = ""
                continue
            any_cell = True
            picked = {label: f.iloc[0] for label, f in found.items()}
            marks = " ".join(symbol(r) for r in picked.values())
            reading = V.robustness({label: r["verdict"] for label, r in picked.items()}) if len(labels) > 1 else ""
            row[HEADS.get(encoder, encoder)] = marks + (f" · {reading}" if reading else "")
        if any_cell:
            rows.append(row)
    return pd.DataFrame(rows, columns=["claim", *[HEADS.get(e, e) for e in shown]])


def box(cards: dict, encoders, untrained_clip: bool, seeds: dict) -> list[str]:
    """At most five computed sentences: what holds, what does not, what cannot be tested here and why, and how
    many verdicts are fragile. ``seeds``: encoder → how many seeds its verdicts rest on."""
    shown = shown_encoders(encoders, untrained_clip)
    labels = list(cards)
    readings = {}
    for claim in C.CLAIMS:
        for encoder in shown:
            cells = [card[(card["id"] == claim) & (card["encoder"] == encoder)] for card in cards.values()]
            if all(len(c) for c in cells):
                readings[claim, encoder] = [c["verdict"].iloc[0] for c in cells]
    name = lambda key: f"{key[0]} ({key[1]})"  # noqa: E731
    testable = {k: v for k, v in readings.items() if any(x != V.NOT_TESTABLE for x in v)}
    always = [k for k, v in testable.items() if all(x in V.HOLDING for x in v)]
    some = [k for k, v in testable.items() if any(x in V.HOLDING for x in v) and k not in always]
    never = [k for k, v in testable.items() if not any(x in V.HOLDING for x in v)]
    where = "at every threshold" if len(labels) > 1 else "at > 0"
    verb = lambda items: "holds" if len(items) == 1 else "hold"  # noqa: E731
    out = [f"Of {len(testable)} claim × encoder cells testable on the trained encoders ({', '.join(HEADS.get(e, e) for e in shown)}), "
           f"{len(always)} {verb(always)} {where}"
           + (f", {len(some)} {verb(some)} at some thresholds only" if len(labels) > 1 else "")
           + f" and {len(never)} {verb(never)} nowhere."]
    if always:
        random_only = [k for k in always if all(x == V.HOLDS_RANDOM for x in readings[k])]
        out.append(f"Holding {where}: " + ", ".join(name(k) for k in always)
                   + (f"; of these, {', '.join(name(k) for k in random_only)} {verb(random_only)} as in a random network, "
                      "so the effect needs no learned weights" if random_only else "") + ".")
    if some:
        out.append("Holding at some thresholds only: " + "; ".join(
            f"{claim} ({', '.join(encs)}) at {where_text}"
            for (claim, where_text), encs in _grouped(some, lambda k: _thresholds(labels, readings[k], V.HOLDING)).items())
                   + ".")
    untestable = [k for k, v in readings.items() if V.NOT_TESTABLE in v]
    reasons = []
    if untrained_clip and "clip" in encoders:
        reasons.append("every claim on CLIP, which is untrained in this build")
    for why, group in _by_reason(untestable).items():
        reasons.append("; ".join(f"{claim} ({', '.join(encs)}) at {where_text}" for (claim, where_text), encs in
                                 _grouped(group, lambda k: _thresholds(labels, readings[k], (V.NOT_TESTABLE,))).items())
                       + f" ({why})")
    if reasons:
        out.append("Not testable here: " + "; ".join(reasons) + ".")
    cells = [(card, e) for card in cards.values() for e in shown]
    judged = sum(int(card[card["encoder"] == e]["stable"].notna().sum()) for card, e in cells)
    n_fragile = sum(int(card.loc[card["encoder"] == e, "stable"].map(fragile).sum()) for card, e in cells)
    out.append(f"{n_fragile} of {judged} testable verdicts are fragile ({FRAGILE}: leaving out one or two seeds, or new "
               "draws of them, change them); they rest on " + ", ".join(f"{seeds[e]} seeds ({HEADS.get(e, e)})" for e in shown if e in seeds) + ".")
    return out[:5]


def _thresholds(labels, verdicts, kinds) -> str:
    """The thresholds at which a cell's verdict is one of ``kinds``, named briefly: *every top-α threshold*
    when that is all of them but > 0."""
    hit = [lab for lab, v in zip(labels, verdicts) if v in kinds]
    tops = [lab for lab in labels if lab != "> 0"]
    if len(tops) > 1 and hit == tops:
        return "every top-α threshold"
    return ", ".join(hit)


def _grouped(keys, where) -> dict:
    """(claim, where) → the encoders sharing it, so that one claim that reads the same on both encoders is named
    once."""
    out: dict = {}
    for key in keys:
        out.setdefault((key[0], where(key)), []).append(key[1])
    return out


#: why a claim's cell can be not testable on a trained encoder, in the box's words
UNTESTABLE = {"A6": "the WordNet encoding changed fewer than 1 % of the units", "A7": "the WordNet encoding changed fewer "
              "than 1 % of the units", "A8": "the WordNet encoding changed fewer than 1 % of the units",
              "A11": "no unit-870 unit was found"}


def _by_reason(keys) -> dict:
    """(claim, encoder) keys grouped by why they are not testable, in the order met."""
    out: dict = {}
    for key in keys:
        out.setdefault(UNTESTABLE.get(key[0], "a figure that cannot be estimated here"), []).append(key)
    return out


def markdown(cards: dict, encoders, *, untrained_clip: bool, seeds: dict, notes: list[str] = ()) -> str:
    """The first page's verdict section: the box, the matrix, the legend, the CLIP line and ``notes``."""
    labels = list(cards)
    lines = ["## The paper's claims in this build", "", ":::{admonition} The verdicts in 30 seconds", *box(cards, encoders, untrained_clip, seeds), ":::", ""]
    order = " · ".join(labels)
    lines += [f"Each cell gives the verdict at each firing threshold ({order}), then its reading across them:", ""]
    table = matrix(cards, encoders, untrained_clip)
    lines += ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    lines += ["", legend(), ""]
    if untrained_clip and "clip" in encoders:
        lines += ["**CLIP**: every claim is *not testable in this build*, because CLIP is untrained here; its figures, an "
                  "untrained-CLIP control, are in the chapters.", ""]
    lines += [line for note in notes if note for line in (note, "")]  # one paragraph each
    return "\n".join(lines) + "\n"


def full_table(card: pd.DataFrame) -> pd.DataFrame:
    """A card for an interactive table: the claim with its quote, figures, MDE, controls, verdict with its
    fragile mark and note, and the seeds it rests on."""
    shown = card.drop(columns=["before", "after", "random"]).copy()
    shown["claim"] = shown["id"] + " " + shown["claim"] + " (" + shown["section"] + "). The paper: " + shown["paper says"]
    shown["verdict"] = shown["verdict"] + shown["stable"].map(lambda s: f" {FRAGILE}" if fragile(s) else "")
    shown["MDE (minimum)"] = shown["MDE"] + " (" + shown["minimum effect"] + ")"
    return shown.drop(columns=["id", "section", "paper says", "stable", "MDE", "minimum effect"])


def null_reach(summary: pd.DataFrame, encoders, encoding: str = "standard") -> str:
    """One sentence: how much of each encoder's mean length-1 IoU random masks with the same firing counts reach
    (from an :func:`~clipneuron_utils.stats.effects.iou_summary` table); '' when the table lacks them."""
    shares = []
    for name in encoders:
        pick = lambda m: summary[(summary.encoder == name) & (summary.encoding == encoding)  # noqa: E731
                                 & (summary.max_length == 1) & (summary.measure == m)]
        real, null = pick("iou"), pick("null_mean_iou")
        if len(real) and len(null) and real["mean"].iloc[0] > 0:
            shares.append(f"{name} {null['mean'].iloc[0] / real['mean'].iloc[0]:.0%}")
    if not shares:
        return ""
    return ("Random masks with each unit's firing count, searched the same way, reach most of the real units' mean "
            f"IoU at length 1: {', '.join(shares)} of it.")


def iou_alpha_note(universal: pd.DataFrame, labels: dict, paper_iou: float) -> str:
    """The IoU ≈ α fact in one computed sentence, from :func:`~clipneuron_utils.explain.regime.near_universal_iou`
    (``labels``: α → its label); '' without a sweep."""
    if not len(universal):
        return ""
    top = universal.iloc[0]
    return (f"Raw IoU at a top-α threshold is mostly α: `{top['concept']}` holds on {top['base_rate']:.1%} of probe pairs, "
            "so any mask firing on a share α gets about α from it ("
            + ", ".join(f"{r.iou:.3f} at {labels[r.alpha]}" for r in universal.itertuples())
            + f"); the paper's mean IoU of {paper_iou} is what a unit firing on about {paper_iou:.0%} of pairs gets from "
            "such a concept, whatever it encodes. The excess IoU over the matched null, not raw IoU, carries the verdicts.")


def control_seeds_note(seeds: dict, encoders) -> str:
    """Which random-network controls rest on fewer seeds than their encoder (``seeds``: model → how many), as a
    sentence; '' when every control has as many."""
    fewer = [f"{m} ({n} seed{'s' if n != 1 else ''}, its encoder {seeds[m.split('-')[0]]})" for m, n in seeds.items()
             if m not in encoders and m.split("-")[0] in seeds and n < seeds[m.split("-")[0]]]
    if not fewer:
        return "Every random-network control has as many seeds as its encoder and is judged by the same rule."
    return ("Every random-network control has as many seeds as its encoder, but " + ", ".join(fewer)
            + ": a verdict that rests on it is as fragile as that one model.")
