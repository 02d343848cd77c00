"""Concepts over single sentences, for the encoders' own neurons: ``tok:W`` (the sentence holds token W) and
``tag:T`` (it holds a word tagged T).

Built by :func:`.concepts.build_concepts`, not a copy of it: each sentence is a pair whose premise is the sentence
and whose hypothesis is empty, so the vocabulary follows the book's rules (the ``vocab_size`` most frequent
tokens over the sentences, the same skip list) and the premise's token and tag concepts are the sentence's.
"""

from __future__ import annotations

import pandas as pd

from .concepts import Concepts, build_concepts


def distinct_sentences(pairs: pd.DataFrame) -> pd.DataFrame:
    """The distinct sentences of ``pairs`` (premises first, then hypotheses, in order; a sentence once), with
    their ``tokens`` and ``tags``."""
    frames = [pd.DataFrame({"sentence": pairs[f"{side}"], "tokens": pairs[f"{side}_tokens"],
                            "tags": pairs[f"{side}_tags"]}) for side in ("premise", "hypothesis")]
    both = pd.concat(frames, ignore_index=True)
    return both.drop_duplicates("sentence", keep="first").reset_index(drop=True)


def sentence_concepts(sentences: pd.DataFrame, vocab_size: int = 2000, *, progress: bool = False) -> Concepts:
    """``tok:W`` and ``tag:T`` masks over ``sentences`` (:func:`distinct_sentences`), one row per sentence."""
    n = len(sentences)
    as_pairs = pd.DataFrame({"pair_id": [str(i) for i in range(n)], "premise": sentences["sentence"],
                             "hypothesis": [""] * n, "premise_tokens": sentences["tokens"],
                             "hypothesis_tokens": [[] for _ in range(n)], "premise_tags": sentences["tags"],
                             "hypothesis_tags": [[] for _ in range(n)]})
    built = build_concepts(as_pairs, vocab_size, progress=progress)
    keep = [j for j, name in enumerate(built.names) if name.startswith(("pre:tok:", "pre:tag:"))]
    names = [built.names[j].removeprefix("pre:") for j in keep]
    return Concepts(names, built.masks[:, keep], "standard", None)


def atom_kind(name: str) -> str:
    """``word`` or ``tag`` of a sentence concept's name."""
    return "word" if name.startswith("tok:") else "tag"
