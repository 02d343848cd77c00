"""The caches chapters hand each other besides the models: concept masks (``runs/<profile>/concepts/``),
search results and the matched null's draws (``runs/<profile>/search/``), and chapter 05_search's latest search.

Each is keyed by its inputs (probe pairs, vocabulary, encoding; activations, concepts and every search
parameter), so a rerun with other search parameters never rebuilds concepts, and a cache made from other
inputs is never reused. ``search/latest.pkl`` records the models it was searched on; :func:`latest_search`
checks them against the registry and stops with the rerun command when they differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, discard, load_frame, run_dir, save_frame
from ..explain.concepts import Concepts, build_concepts
from .reruns import StaleArtifactError, note_use, rerun_command
from .trained import check_models, models_note, seeds_of


ENCODINGS = ("standard", "wordnet")


def tokens_key(pairs: pd.DataFrame) -> str:
    """Identity of probe pairs as concepts see them: ids, labels, tokens and tags.

    (``heads.pairs_key`` is its twin for models, which read the sentences' text instead.)"""
    columns = ["pair_id", "label", "premise_tokens", "hypothesis_tokens", "premise_tags", "hypothesis_tags"]
    return cache_key(pairs[columns].to_dict("list"))


def probe_concepts(profile: str, probe: pd.DataFrame, vocab_size: int, encoding: str, wordnet_mode: str = "exact", *,
                   progress: bool = True) -> Concepts:
    """Concept masks of the probe pairs, built once and cached in ``runs/<profile>/concepts/``.

    For the WordNet encoding, ``wordnet_mode`` and the stop list it uses are part of the cache key and
    the mode is in the file name; the standard masks do not depend on it and are shared by both modes.
    """
    from ..explain.wordnet import check_mode, stop_words

    check_mode(wordnet_mode)
    key = [tokens_key(probe), vocab_size, encoding]
    stem = f"{encoding}-{vocab_size}"
    if encoding == "wordnet":
        key += [wordnet_mode, sorted(stop_words()) if wordnet_mode == "exact" else None]
        stem = f"{encoding}-{wordnet_mode}-{vocab_size}"
    path = run_dir(profile, "concepts") / f"{stem}-{cache_key(*key)}.npz"
    label = f"{encoding} ({wordnet_mode})" if encoding == "wordnet" else encoding
    if path.is_file():
        try:
            concepts = Concepts.load(path)
        except CorruptArtifactError as exc:
            print(exc.notice())
            discard(path)
        else:
            print(f"cache hit: {label} concepts from {path.name}")
            return concepts
    concepts = build_concepts(probe, vocab_size=vocab_size, encoding=encoding, wordnet_mode=wordnet_mode,
                              progress=progress)
    concepts.save(path)
    return concepts


def cached_frame(path: Path, what: str) -> pd.DataFrame | None:
    """The frame :func:`~clipneuron_utils.artifacts.save_frame` left at ``path`` ("cache hit: ``what``"), or None
    when there is none; a damaged one is discarded (its notice printed) and gives None, so it is made again."""
    if not path.is_file():
        return None
    try:
        frame = load_frame(path)
    except CorruptArtifactError as exc:
        print(exc.notice())
        discard(path)
        return None
    print(f"cache hit: {what}")
    return frame


def search_results(profile: str, encoder: str, encoding: str, neuron_masks: np.ndarray, concepts: Concepts,
                   *, activations_key: str, n_jobs: int = 1, **search_params) -> pd.DataFrame:
    """``beam_search_by_length`` for one encoder × encoding, cached by activations, concepts and parameters.

    ``n_jobs``: processes for the search (≤ 0: every core); not part of the cache key, as the results
    do not depend on it."""
    from ..explain.search import beam_search_by_length

    key = cache_key(activations_key, concepts.encoding, concepts.names, concepts.masks.indptr, concepts.masks.indices,
                    sorted(search_params.items()))
    cached = run_dir(profile, "search", "cache") / f"{encoder}-{encoding}-{key}.pkl"
    results = cached_frame(cached, f"search results for {encoder} × {encoding}")
    if results is None:
        results = beam_search_by_length(neuron_masks, concepts, n_jobs=n_jobs, **search_params)
        save_frame(cached, results)
    return results.assign(encoder=encoder, encoding=encoding)


def null_draws(profile: str, concepts: Concepts, counts, *, n_pairs: int, n_draws: int, seed: int, n_jobs: int = 1,
               **search_params) -> pd.DataFrame:
    """:func:`controls.search_null` rows for ``counts``, kept in one growing store per concepts × search
    parameters × ``n_draws`` × seed under ``runs/<profile>/search/null/``: models searched with the same
    concepts share their draws, and only counts never searched before are searched (draws do not depend
    on which counts are searched together, so the store can grow). ``n_jobs``: processes for the search
    (≤ 0: every core), not part of the key (draws do not depend on it)."""
    from ..explain.controls import SEARCH_KEYS, search_null

    params = sorted((k, v) for k, v in search_params.items() if k in SEARCH_KEYS)
    key = cache_key(concepts.encoding, concepts.names, concepts.masks.indptr, concepts.masks.indices, params,
                    n_draws, seed, n_pairs)
    path = run_dir(profile, "search", "null") / f"{concepts.encoding}-{key}.pkl"
    store = None
    if path.is_file():
        try:
            store = load_frame(path)
        except CorruptArtifactError as exc:
            print(exc.notice())
            discard(path)
    counts = np.unique(np.asarray(counts, dtype=np.int64))
    have = set() if store is None else set(store["count"].unique().tolist())
    missing = [int(c) for c in counts if int(c) not in have]
    if missing:
        print(f"matched null ({concepts.encoding}): searching {len(missing)} firing counts × {n_draws} draws"
              + (f"; {len(counts) - len(missing)} counts reused" if len(counts) > len(missing) else ""))
        found = search_null(missing, concepts, n_pairs=n_pairs, n_draws=n_draws, seed=seed, progress=True,
                            n_jobs=n_jobs, **dict(params))
        store = found if store is None else pd.concat([store, found], ignore_index=True)
        save_frame(path, store)
    else:
        print(f"cache hit: matched null ({concepts.encoding}) for {len(counts)} firing counts")
    return store[store["count"].isin(counts)].reset_index(drop=True)


def matched_null(profile: str, neuron_masks: np.ndarray, concepts: Concepts, real: pd.DataFrame, *, n_draws: int,
                 seed: int, bin_width: float, n_jobs: int = 1, **search_params) -> pd.DataFrame:
    """:func:`controls.matched_null` of one model × encoding, its draws kept by :func:`null_draws`;
    returns ``real`` with the null's columns and ``excess_iou``. ``n_jobs``: processes for the searches."""
    from ..explain import controls

    null = controls.matched_null(
        neuron_masks, concepts, n_draws=n_draws, seed=seed, bin_width=bin_width, real=real,
        draws_for=lambda counts: null_draws(profile, concepts, counts, n_pairs=neuron_masks.shape[0],
                                            n_draws=n_draws, seed=seed, n_jobs=n_jobs, **search_params),
        n_jobs=n_jobs, **search_params)
    return controls.attach(real, null)


def save_latest_search(profile: str, results: pd.DataFrame, params: dict, models: dict | None = None) -> Path:
    """Chapter 05_search's results for every encoder × encoding: ``runs/<profile>/search/results.csv`` (for readers)
    and ``latest.pkl`` with the parameters and the registry entries of the models searched (what
    chapters 06_results–07_qualitative_neurons read, and check)."""
    folder = run_dir(profile, "search")
    save_frame(folder / "results.csv", results)
    frame = results.copy()
    frame.attrs["params"] = dict(params)
    frame.attrs["models"] = {name: {**{k: entry.get(k) for k in ("key", "train_key", "probe_key")},
                                    "seeds": models_note(entry)}
                             for name, entry in (models or {}).items()}
    frame.attrs["primary_seeds"] = {name: seeds_of(entry)[0] for name, entry in (models or {}).items()}
    frame.attrs["key"] = cache_key(frame.attrs["params"], frame.attrs["models"],
                                   pd.util.hash_pandas_object(results, index=False).to_numpy())
    note_use("search", frame.attrs["key"])
    return save_frame(folder / "latest.pkl", frame)


def latest_search(profile: str, pairs=None) -> pd.DataFrame:
    """The results of the last chapter-5 run of this profile (``.attrs["params"]``: its search parameters).

    With ``pairs`` (the chapter's own :class:`~clipneuron_utils.data.corpus.Pairs`), also checks that the results were made from
    the models chapter 03_head_training registered for exactly these pairs; otherwise stops with the command to rerun.
    """
    path = run_dir(profile, "search") / "latest.pkl"
    remake = rerun_command(profile, ("05",), **(pairs.params if pairs is not None else {}))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run chapter 05_search first ({remake})")
    try:
        results = load_frame(path)
    except CorruptArtifactError as exc:
        raise CorruptArtifactError(exc.path, exc.reason, f"Remake it by running chapter 05_search again: {remake}") from None
    if pairs is None:
        return results
    encoders = list(dict.fromkeys(results["encoder"]))
    entries = check_models(profile, pairs, encoders)
    searched = results.attrs.get("models", {})
    changed = [name for name in encoders if searched.get(name, {}).get("key") != entries[name].get("key")
               or searched.get(name, {}).get("seeds", models_note(entries[name])) != models_note(entries[name])]
    if changed:
        raise StaleArtifactError(
            f"{path} was searched on other {', '.join(changed)} models than the ones chapter 03_head_training registered last "
            f"(a later chapter-3 run with other parameters replaced them); rerun chapter 05_search: {remake}")
    note_use("search", results.attrs.get("key"))
    return results


def check_encodings(encodings) -> list[str]:
    """The ``encodings`` parameter, validated (a list drawn from standard, wordnet)."""
    if isinstance(encodings, str) or not encodings or any(e not in ENCODINGS for e in encodings):
        raise ValueError(f"encodings must be a non-empty list drawn from {', '.join(ENCODINGS)}; got {encodings!r}")
    return list(dict.fromkeys(encodings))


def check_search_vocab(results: pd.DataFrame, vocab_size: int, wordnet_mode: str | None = None) -> None:
    """Stop when the search used other concepts than this chapter's ``vocab_size`` (and ``wordnet_mode``)."""
    params = results.attrs.get("params", {})
    for name, mine in (("vocab_size", vocab_size), ("wordnet_mode", wordnet_mode)):
        searched = params.get(name)
        if mine is not None and searched is not None and searched != mine:
            raise StaleArtifactError(
                f"chapter 05_search searched with {name}={searched}, this chapter has {name}={mine}: pass "
                f"-p {name}={searched}, or rerun chapter 05_search with {name}={mine}")
