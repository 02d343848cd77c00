"""The run's shared artifacts under ``runs/<profile>/``, so each chapter reuses what an earlier one made.

Chapters call these instead of recomputing: concept masks (keyed by the probe pairs, the vocabulary size
and the encoding), trained models (chapter 3 records them in a registry) and search results (keyed by
the activations, the concepts and every search parameter). A rerun with other search parameters
therefore never re-encodes, retrains or rebuilds concepts.
"""

from __future__ import annotations

import pandas as pd

from .artifacts import cache_key, run_dir
from .concepts import Concepts, build_concepts


def pairs_key(pairs: pd.DataFrame) -> str:
    """Identity of a set of pairs: ids, labels, tokens and tags (what concepts and models depend on)."""
    columns = ["pair_id", "label", "premise_tokens", "hypothesis_tokens", "premise_tags", "hypothesis_tags"]
    return cache_key(pairs[columns].to_dict("list"))


def probe_concepts(profile: str, probe: pd.DataFrame, vocab_size: int, encoding: str, *,
                   progress: bool = True) -> Concepts:
    """Concept masks of the probe pairs, built once and cached in ``runs/<profile>/concepts/``."""
    path = run_dir(profile, "concepts") / f"{encoding}-{vocab_size}-{cache_key(pairs_key(probe), vocab_size, encoding)}.npz"
    if path.is_file():
        print(f"cache hit: {encoding} concepts from {path.name}")
        return Concepts.load(path)
    concepts = build_concepts(probe, vocab_size=vocab_size, encoding=encoding, progress=progress)
    concepts.save(path)
    return concepts
