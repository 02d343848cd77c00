"""Verdicts of the scorecard, computed from hand-made analysis tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from clipneuron_utils.stats import claims

TRAINED = {"clip": {"encoder_params": {"weights": "openai"}}, "lstm": {}, "minilm": {}}
UNTRAINED = {**TRAINED, "clip": {"encoder_params": {"weights": "untrained"}}}


def gains(iou=(0.01, 0.008, 0.012), excess=(0.004, 0.002, 0.006), encoders=("clip", "lstm", "minilm")):
    rows = []
    for name in encoders:
        for measure, (mean, low, high) in (("iou", iou), ("excess_iou", excess)):
            rows.append({"encoder": name, "encoding": "standard", "measure": measure, "mean": mean, "ci_low": low,
                         "ci_high": high})
    return pd.DataFrame(rows)


def correlations(plain=(-0.3, 1e-6), partial=(-0.2, 1e-3), encoders=("clip", "lstm", "minilm")):
    rows = []
    for name in encoders:
        for test, (r, p) in ((claims.CORRELATION, plain), (claims.PARTIAL, partial)):
            rows.append({"encoder": name, "encoding": "standard", "max_length": 1, "test": test, "method": "pearson",
                         "r": r, "ci_low": r - 0.05, "ci_high": r + 0.05, "p": p, "p_holm": p})
    return pd.DataFrame(rows)


def changes(change=-0.05, low=-0.08, high=-0.02, encoders=("clip", "lstm", "minilm")):
    return pd.DataFrame([{"encoder": n, "encoding": "standard", "change": change, "ci_low": low, "ci_high": high}
                         for n in encoders])


def wordnet(mean=0.0014, low=0.0010, high=0.0018, excess=(0.0014, 0.001, 0.0018), encoders=("clip", "lstm", "minilm")):
    rows = []
    for name in encoders:
        for length in (1, 2):
            for measure, (m, lo, hi) in (("iou", (mean, low, high)), ("excess_iou", excess)):
                rows.append({"encoder": name, "max_length": length, "measure": measure, "mean": m, "ci_low": lo,
                             "ci_high": hi})
    return pd.DataFrame(rows)


def card(registry=TRAINED, **tables):
    kw = dict(gains=gains(), correlations=correlations(), changes=changes(), partial_changes=changes(),
              wordnet=wordnet(), registry=registry, encoders=["clip", "lstm", "minilm"])
    kw.update(tables)
    return claims.scorecard(**kw)


def verdict(frame, claim, encoder, length=None):
    rows = frame[frame["claim"].str.startswith(f"({claim})") & (frame["encoder"] == encoder)]
    if length is not None:
        rows = rows[rows["length"] == length]
    assert len(rows) == 1, rows
    return rows["verdict"].iloc[0]


def test_verdict_rules():
    assert claims.verdict(True, True) == "holds"
    assert claims.verdict(True, False) == "holds only before controls"
    assert claims.verdict(False, True) == "does not hold"
    assert claims.verdict(True, True, testable=False) == "not testable in this build"
    assert claims.verdict(None, True) == "not testable in this build"


def test_every_claim_holds_when_the_numbers_say_so():
    frame = card()
    assert verdict(frame, "a", "clip") == "holds"
    assert verdict(frame, "b", "clip") == "holds"
    assert verdict(frame, "c", "minilm") == "holds"
    assert verdict(frame, "e", "clip", "1") == "holds"
    # (d) is the LSTM's: a significant correlation contradicts it
    assert verdict(frame, "d", "lstm") == "does not hold"
    assert set(frame["encoder"]) == {"clip", "lstm", "minilm"}
    assert not frame["claim"].str.startswith("(d)").any() or set(frame[frame.claim.str.startswith("(d)")].encoder) == {"lstm"}


def test_controls_that_explain_the_figure_away():
    frame = card(gains=gains(excess=(0.0005, -0.001, 0.002)),
                 correlations=correlations(partial=(-0.02, 0.4)),
                 partial_changes=changes(0.01, -0.02, 0.04))
    assert verdict(frame, "a", "minilm") == "holds only before controls"
    assert verdict(frame, "b", "minilm") == "holds only before controls"
    assert verdict(frame, "c", "minilm") == "holds only before controls"


def test_figures_that_contradict_the_claim():
    frame = card(gains=gains(iou=(0.0, -0.001, 0.001)), correlations=correlations(plain=(-0.05, 0.3), partial=(0.01, 0.8)),
                 changes=changes(0.02, 0.01, 0.03), wordnet=wordnet(0.00002, 0.00001, 0.00003))
    assert verdict(frame, "a", "lstm") == "does not hold"
    assert verdict(frame, "b", "minilm") == "does not hold"
    assert verdict(frame, "c", "minilm") == "does not hold"
    assert verdict(frame, "d", "lstm") == "holds"  # not significant, before and after
    # a positive WordNet effect 70x smaller than the paper's does not confirm it
    assert verdict(frame, "e", "minilm", "1") == "does not hold"
    note = frame[(frame.claim.str.startswith("(e)")) & (frame.encoder == "minilm")]["note"].iloc[0]
    assert "0.014× the paper's" in note


def test_untrained_clip_and_missing_tables_are_not_testable():
    frame = card(registry=UNTRAINED, wordnet=None)
    assert (frame[frame.encoder == "clip"]["verdict"] == "not testable in this build").all()
    assert "architecture-only" in frame[frame.encoder == "clip"]["note"].iloc[0]
    assert (frame[frame.claim.str.startswith("(e)")]["verdict"] == "not testable in this build").all()
    nan = correlations(plain=(math.nan, math.nan))
    assert verdict(card(correlations=nan), "b", "minilm") == "not testable in this build"


def test_markdown_and_counts():
    frame = card()
    text = claims.markdown(frame)
    assert text.startswith("## The paper's claims in this build")
    assert text.count("\n| (") == len(frame)
    tally = claims.counts(frame)
    assert sum(tally.values()) == len(frame) and set(tally) == set(claims.VERDICTS)


@pytest.mark.parametrize("claim", ["a", "b", "c", "d", "e"])
def test_every_claim_has_the_papers_figure(claim):
    assert claims.PAPER[claim] and claims.CLAIMS[claim]


def test_findings_are_computed_from_the_tables():
    frame = card()
    summary = pd.DataFrame([{"encoder": n, "encoding": "standard", "max_length": 1, "measure": m, "mean": v}
                            for n in ("clip", "lstm", "minilm") for m, v in (("iou", 0.40), ("null_mean_iou", 0.36))])
    confound = pd.concat([correlations(), pd.DataFrame([{"encoder": n, "encoding": "standard", "max_length": 1,
                                                        "test": "IoU ~ log firing count", "method": "pearson", "r": 0.95}
                                                       for n in ("clip", "lstm", "minilm")])])
    found = claims.findings(frame, summary, confound, gains(), ["clip", "lstm", "minilm"])
    assert found[0].startswith(f"Of {len(frame)} claim × encoder rows")
    assert "clip 90%, lstm 90%, minilm 90%" in found[1]
    assert "r = 0.95, 0.95, 0.95" in found[2] and "clip -0.30 → -0.20" in found[2]
    assert "3 of 3 encoders" in found[3]
    text = claims.markdown(frame, sentences=found)
    assert found[1] in text and text.index(found[1]) < text.index("| claim |")
