"""Measuring the estimate's rates for the explanation's stages: the beam search on random masks of the probe
split's shape over SNLI-like concepts, WordNet's load and concept build, and reading the data files
(:mod:`.timing` measures the models' stages and calls these).
"""

from __future__ import annotations

import time

import numpy as np

from .workload import DataCounts


def probe_masks(n_pairs: int, n_masks: int, min_acts: int, seed: int = 0) -> np.ndarray:
    """Random firing masks (pairs × n_masks) over ``n_pairs`` probe pairs, firing counts spread from
    ``min_acts`` (at least 5 % of the pairs) to 60 % of them: trained units fire on ~45 % of SNLI dev."""
    from ..explain.controls import random_masks

    low = min(max(min_acts, int(0.05 * n_pairs), 1), n_pairs)
    high = max(int(0.6 * n_pairs), low)
    counts = np.unique(np.linspace(low, high, n_masks).astype(np.int64))
    masks = random_masks(counts, n_pairs, 1, seed)
    if masks.shape[1] < n_masks:  # tiny probe sets: repeat counts with other draws
        masks = random_masks(np.resize(counts, n_masks), n_pairs, 1, seed + 1)
    return masks


def snli_like_concepts(n_pairs: int, vocab_size: int = 2000, seed: int = 0):
    """A standard-encoding concept matrix shaped like SNLI's when the probe file is absent: ``vocab_size``
    token concepts per side with Zipf densities, tags from near-always to rare, 3 overlap concepts
    (the densities ``benchmarks/search.py`` fitted to SNLI dev: 4,083 concepts, ~300,000 nonzeros)."""
    import scipy.sparse as sp

    from ..explain.concepts import Concepts

    rng = np.random.default_rng(seed)
    tok = np.clip(1.4 * np.arange(1, vocab_size + 1) ** -1.02, 1e-4, 0.48)
    tags = np.clip(0.98 * np.exp(-(np.arange(1, 41) - 2) / 6), 2e-4, 0.98)
    columns = [("pre:tok:w", tok), ("hyp:tok:w", tok * 0.55), ("pre:tag:T", tags), ("hyp:tag:T", tags * 0.9),
               ("oth:overlap:", np.array([0.54, 0.22, 0.12]))]
    names, rows, cols = [], [], []
    for prefix, densities in columns:
        for rank, density in enumerate(densities):
            hit = np.flatnonzero(rng.random(n_pairs) < density)
            rows.append(hit if len(hit) else rng.integers(0, n_pairs, 1))
            cols.append(np.full(len(rows[-1]), len(names)))
            names.append(f"{prefix}{(25, 50, 75)[rank] if prefix == 'oth:overlap:' else rank}")
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    masks = sp.csc_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n_pairs, len(names)))
    return Concepts(names, masks, encoding="standard")


def time_search(probe, values: dict, *, n_masks: int, n_pairs: int | None = None) -> dict:
    """Seconds per neuron of the beam search at length 1 and per further round, on random masks shaped
    like the probe split against its standard concepts (built here, timed); without the probe pairs
    (``probe`` None), against :func:`snli_like_concepts` of ``n_pairs`` rows."""
    from ..explain.concepts import build_concepts
    from ..explain.search import beam_search_by_length

    started = time.perf_counter()
    if probe is not None:
        concepts = build_concepts(probe, vocab_size=values.get("vocab_size", 2000), encoding="standard", progress=False)
    else:
        concepts = snli_like_concepts(n_pairs, values.get("vocab_size", 2000))
    standard_s = time.perf_counter() - started
    masks = probe_masks(concepts.masks.shape[0], n_masks, values.get("min_acts", 500))
    params = dict(beam_size=values.get("beam_size", 10), min_acts=0, complexity_penalty=values.get("complexity_penalty", 1.0),
                  or_not=values.get("or_not", False), expand_all=values.get("expand_all", False), progress=False, n_jobs=1)
    top = values.get("max_length", 5)
    beam_search_by_length(masks[:, :2], concepts, max_length=min(top, 2), **params)  # warm-up
    started = time.perf_counter()
    beam_search_by_length(masks, concepts, max_length=1, **params)
    atoms = (time.perf_counter() - started) / masks.shape[1]
    per_round = 0.0
    if top > 1:
        started = time.perf_counter()
        beam_search_by_length(masks, concepts, max_length=top, **params)
        per_round = max((time.perf_counter() - started) / masks.shape[1] - atoms, 0.0) / (top - 1)
    return {"atoms_s": atoms, "round_s": per_round, "standard_s": standard_s, "n_concepts": len(concepts.names)}


def time_wordnet(probe, values: dict) -> dict:
    """Loading WordNet and one WordNet concept build of the probe pairs (chapter 04_concepts builds two modes)."""
    from ..explain import wordnet
    from ..explain.concepts import build_concepts

    started = time.perf_counter()
    wordnet.reader()
    load = time.perf_counter() - started
    started = time.perf_counter()
    build_concepts(probe, vocab_size=values.get("vocab_size", 2000), encoding="wordnet",
                   wordnet_mode=values.get("wordnet_mode", "exact"), progress=False)
    return {"load_s": load, "build_s": time.perf_counter() - started}


def time_loading(counts: DataCounts, values: dict) -> float:
    """SNLI lines read per second: from reading the profile's files (``count_data``), else the probe-sized
    synthetic generation (no file here: a bound that hides the parsing)."""
    if counts.load_lines and counts.load_seconds > 0:
        return counts.load_lines / counts.load_seconds
    from ..data import snli

    try:
        started = time.perf_counter()
        frame = snli.read_snli_file(snli.find_split("dev", values.get("data_dir") or None, download=False),
                                    keep_unlabelled=True)
        return len(frame) / (time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - no SNLI file anywhere: dev's rate on these machines
        return 20_000.0
