"""Which tokens become concepts: the probe set's most frequent tokens, minus a short skip list.

Its own module because two others need it: the concepts (their vocabulary) and WordNet (the skip list
is part of its stop words, never expanded). Keeping it here lets them both import it, not each other.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pandas as pd

#: never a concept: articles, "of" and the two punctuation tokens (as in Mu & Andreas' NLI code)
SKIP_TOKENS = frozenset({"a", "an", "the", "of", ".", ","})


def build_vocab(pairs: pd.DataFrame, vocab_size: int = 2000) -> list[str]:
    """The ``vocab_size`` most frequent tokens (premise + hypothesis counts), skipping SKIP_TOKENS."""
    sides = itertools.chain(pairs["premise_tokens"], pairs["hypothesis_tokens"])
    counts = Counter(itertools.chain.from_iterable(sides))
    for tok in SKIP_TOKENS:
        counts.pop(tok, None)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [tok for tok, _ in ranked[:vocab_size]]
