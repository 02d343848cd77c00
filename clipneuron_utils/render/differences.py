"""How this book differs from Mu & Andreas' code (compexp ``nli/code/``), each difference measured on this run.

The appendix chapter lists every difference with what the original does, what this book does and why;
these functions compute the effect columns from this run's artifacts, so no number there is typed.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd

from ..explain.concepts import Concepts, compare_encodings
from ..explain.vocabulary import SKIP_TOKENS

#: search parameters that ``beam_search_by_length`` takes (chapter 05_search saves a few more with its results)
SEARCH_KEYS = ("max_length", "beam_size", "min_acts", "complexity_penalty", "or_not", "expand_all")


def search_params(saved: dict, **changes) -> dict:
    """Chapter 05_search's search parameters, reduced to the search's own, with ``changes``."""
    return {**{k: saved[k] for k in SEARCH_KEYS if k in saved}, **changes}


def vocabulary_ties(pairs: pd.DataFrame, vocab_size: int) -> dict:
    """The tokens tied at the vocabulary's cut-off count, and how many of them the cut keeps.

    We break ties alphabetically; the original by ``np.argsort(counts)[::-1]`` over its LSTM vocabulary's
    ids, which this book does not have, so at most ``2 × min(kept, dropped)`` concepts can differ.
    """
    counts = Counter(itertools.chain.from_iterable(itertools.chain(pairs["premise_tokens"], pairs["hypothesis_tokens"])))
    for token in SKIP_TOKENS:
        counts.pop(token, None)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) <= vocab_size:
        return {"cutoff_count": None, "n_tied": 0, "n_kept": 0, "n_dropped": 0, "concepts_at_stake": 0}
    cutoff = ranked[vocab_size - 1][1]
    tied = [t for t, c in ranked if c == cutoff]
    kept = [t for t, _ in ranked[:vocab_size] if counts[t] == cutoff]
    dropped = len(tied) - len(kept)
    return {"cutoff_count": int(cutoff), "n_tied": len(tied), "n_kept": len(kept), "n_dropped": dropped,
            "concepts_at_stake": 2 * min(len(kept), dropped)}


def mask_changes(a: Concepts, b: Concepts) -> dict:
    """How many concept masks differ between two encodings of the same pairs, and the pairs ``b`` adds."""
    frame = compare_encodings(a, b)
    summary = frame.attrs["summary"]
    return {"masks_changed": int(summary["n_changed"]), "pairs_added": int(summary["pairs_added_total"]),
            "concepts": int(summary["n_concepts"])}


def formula_changes(ours: pd.DataFrame, theirs: pd.DataFrame, max_length: int) -> dict:
    """Units (explained by both searches) whose best formula at ``max_length`` differs, and the IoU change.

    A formula can differ only in which of two equally good formulas a tie keeps, so ``iou_lower`` counts
    the units whose best IoU really drops; ``iou_change`` is theirs − ours, averaged over all units;
    ``largest_drop`` the most IoU a unit loses (0 when none does).
    """
    pick = lambda f: f[(f["max_length"] == max_length) & f["explained"]].set_index("neuron")  # noqa: E731
    both = pick(ours)[["formula", "iou"]].merge(pick(theirs)[["formula", "iou"]], left_index=True, right_index=True,
                                                 suffixes=("", "_theirs"))
    if both.empty:
        return {"units": 0, "formula_changed": 0, "share_changed": float("nan"), "iou_lower": 0,
                "iou_change": float("nan"), "largest_drop": float("nan")}
    change = both["iou_theirs"] - both["iou"]
    changed = int((both["formula"] != both["formula_theirs"]).sum())
    return {"units": len(both), "formula_changed": changed, "share_changed": changed / len(both),
            "iou_lower": int((change < -1e-9).sum()), "iou_change": float(change.mean()),
            "largest_drop": float(max(0.0, -change.min()))}


def explained_summary(results: pd.DataFrame, max_length: int) -> dict:
    """Units explained and their mean best IoU at ``max_length`` (one search's results)."""
    rows = results[(results["max_length"] == max_length) & results["explained"]]
    return {"explained": len(rows), "mean_iou": float(rows["iou"].mean()) if len(rows) else float("nan")}


def mean_difference(a: pd.DataFrame, b: pd.DataFrame, max_length: int) -> float:
    """Mean per-unit IoU of ``b`` minus ``a`` at ``max_length``, over units explained by both."""
    pick = lambda f: f[(f["max_length"] == max_length) & f["explained"]].set_index("neuron")["iou"]  # noqa: E731
    joined = pd.concat([pick(a).rename("a"), pick(b).rename("b")], axis=1, join="inner")
    return float((joined["b"] - joined["a"]).mean()) if len(joined) else float("nan")


def accuracy(outputs: dict, gold: np.ndarray) -> float:
    return float((outputs["predictions"] == gold).mean())


#: what the appendix says of an effect it cannot measure on these machines
NOT_HERE = "not measurable here"


def differences_table(effects: dict, wordnet_mode: str) -> pd.DataFrame:
    """The appendix's table: every difference from Mu & Andreas' code (compexp ``nli/code/``), what this book does
    instead, why, and the effect measured in this run (``effects``: the measured sentences, by difference)."""
    return pd.DataFrame([
        ("Head input", "BatchNorm1d + Dropout(0.1) on [u; v; u−v; u∗v] (models.py)",
         "the same by default (input_norm)", "the paper uses Mu & Andreas' architecture", effects["input_norm"]),
        ("WordNet synonyms", "— (the paper's contribution: NLTK synsets(word), which runs morphy)",
         f"{wordnet_mode} (default exact: the word is a lemma of the synset; stop words never expanded)",
         "morphy turns 'as' into 'a' and drags in angstrom, vitamin A, adenine…", effects["wordnet"]),
        ("POS tags", "spaCy en_core_web_lg tags, lower-cased (annotate.py)", "the SNLI parse's Penn tags",
         "no spaCy model without internet; the official parses are SNLI's own", f"{NOT_HERE} (no spaCy tagger)"),
        ("Tokens", "spaCy tokens limited to the LSTM's vocabulary (annotate.py)", "lower-cased leaves of the parses",
         "the same tokens for every encoder", f"{NOT_HERE} (no spaCy tokenizer)"),
        ("Overlap concepts", "token sets of the padded batch: the padding token counts (annotate.py)",
         "token sets of the sentences", "padding is not a word",
         f"{NOT_HERE}: it depends on how the original batched the pairs"),
        ("Vocabulary ties", "np.argsort(counts)[::-1] over the LSTM vocabulary's ids (annotate.py)",
         "alphabetical among equal counts", "reproducible without the original's vocabulary", effects["ties"]),
        ("Complexity penalty length", "NOT counts as a unit: len(A AND NOT B) = 3 (formula.py)",
         "atoms: 2 (option penalty_counts_not)", "max_length counts atoms in both; one notion of length",
         effects["penalty"]),
        ("Beam duplicates", "NEIGHBORS gives every atom a same-mask twin; no formula equality (analyze.py)",
         "distinct formulas (option duplicate_beam)", "duplicates crowd the beam out", effects["duplicate"]),
        ("Probe pairs", "all dev pairs; unlabelled ones scored as wrong (analyze.py)", "the labelled dev pairs",
         "an unlabelled pair has no right answer", effects["labelled"]),
        ("LSTM direction", "unidirectional (models.py)", "bidirectional (option lstm_bidirectional)",
         "the paper says bidirectional", f"{NOT_HERE} in this run (it takes a second LSTM training)"),
    ], columns=["difference", "original (compexp nli/code/)", "this book", "why", "effect measured in this run"])
