"""What the papers reported, to set this run's numbers beside them (never to stand in for them).

These are citations, not results: the book computes every number of its own and prints these next to
them. Sources: Acquaviva & Hensgen (CLIP text encoder + MLP head on SNLI) and Mu & Andreas (2020, their
SNLI BiLSTM baseline, NLI section).
"""

from __future__ import annotations

import math

#: mean best IoU of the CLIP model's neurons at formula length 1 and 2 (Acquaviva & Hensgen)
PAPER_MEAN_IOU_CLIP = {1: 0.19, 2: 0.21}
#: mean per-neuron IoU difference, WordNet minus standard encoding (Acquaviva & Hensgen)
PAPER_WORDNET_DIFFERENCE = 0.0014
PAPER_CORRELATION = ("negative for CLIP, significant at formula length 1, and more negative at length 2")
MU_ANDREAS_NLI = (
    "for their SNLI model, Mu & Andreas found IoU rising with formula length, and, unlike in vision, "
    "more interpretable neurons were not more accurate: accuracy when firing fell as IoU rose, which they "
    "read as neurons keyed to dataset heuristics (lexical overlap, gendered words) that fail on many pairs"
)


def correlation_phrase(r: float, p: float, n: int, alpha: float = 0.05) -> str:
    """``r = −0.21 (p = 3e-05, n = 812): negative, significant at α = 0.05`` — from the numbers given."""
    if n is None or not math.isfinite(r) or not math.isfinite(p):
        return f"not estimable (n = {n})"
    sign = "negative" if r < 0 else "positive" if r > 0 else "zero"
    verdict = "significant" if p < alpha else "not significant"
    return f"r = {r:+.3f} (p = {p:.2g}, n = {n}): {sign}, {verdict} at α = {alpha}"

#: Gururangan et al. (2018), Table 4: SNLI's top hypothesis words by PMI with each class (their top 5, from the
#: full training set); chapter 11_artifacts shows them beside the words this build computes
GURURANGAN_WORDS = {"entailment": ("outdoors", "least", "instrument", "outside", "animal"),
                    "neutral": ("tall", "first", "competition", "sad", "favorite"),
                    "contradiction": ("nobody", "sleeping", "no", "tv", "cat")}
#: their hypothesis-only fastText classifier's accuracy on SNLI's test set (§2, "about 67%")
GURURANGAN_HYPOTHESIS_ONLY = 0.67
