"""The run's shared artifacts under ``runs/<profile>/``, so each chapter reuses what an earlier one made.

Chapters call these instead of recomputing: concept masks (keyed by the probe pairs, the vocabulary size
and the encoding), trained models (each in a folder keyed by its encoder, config and training data;
chapter 3 records the ones it trained in a registry) and search results (keyed by the activations, the
concepts and every search parameter). A rerun with other search parameters therefore never re-encodes,
retrains or rebuilds concepts, and runs with other head parameters never overwrite each other's models.

The registry and ``search/latest.pkl`` say what the *last* run of the profile made; each records the
identity of its inputs (data, models), and the chapters that read them check it against their own
parameters: a mismatch stops the chapter with the command that remakes the artifacts
(:class:`StaleArtifactError`), never a silent mix of two runs.

Its size (about 610 lines): one job, the store of a run's artifacts, with one short keyed getter per
artifact (concepts, models and their registry, probe outputs, search results, the matched null); each
getter and the check of what it reads belong together. The natural cut, when it grows again, is the
trained models (registry, seeds, training and its health checks: about 250 lines) into a module of their
own; every chapter calls them as ``store.…``, so the cut would change every chapter's source.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import (
    CorruptArtifactError,
    cache_key,
    discard,
    load_frame,
    read_json,
    run_dir,
    runs_root,
    save_frame,
    write_json,
)
from ..explain.concepts import Concepts, build_concepts


class StaleArtifactError(RuntimeError):
    """An artifact made from other inputs than this chapter's parameters; the message says what to rerun."""


class ModelHealthError(RuntimeError):
    """A trained model whose units are all dead or whose activations are not finite."""


def rerun_command(profile: str, chapters: list[str] | tuple[str, ...] = (), **params) -> str:
    """The pipeline command that remakes ``chapters`` (all when empty) with ``params``.

    Only parameters that differ from the profile's values (or the chapters' defaults) are spelled out.
    """
    from . import parameters
    from .profiles import load_profile, notebook_sources

    base, defaults = {}, {}
    try:  # a command without -p is still a useful hint, so failures here only make it longer
        defaults = {k: p.default for k, p in parameters.declared(notebook_sources(None)).items()}
        base = load_profile(profile)
    except Exception:  # noqa: BLE001
        pass
    parts = ["python -m clipneuron_utils.run.pipeline", f"--profile {profile}"]
    parts += [f"--only {c}" for c in chapters]
    for key, value in params.items():
        if base.get(key, defaults.get(key)) != value:
            text = f"[{', '.join(map(str, value))}]" if isinstance(value, (list, tuple)) else str(value)
            parts.append(f"-p {shlex.quote(f'{key}={text}')}")
    return " ".join(parts)


#: the pipeline names a file per chapter here; chapters note in it the artifacts they made or read
USES_ENV = "CLIPNEURON_USES"


def note_use(kind: str, value) -> None:
    """Note that this chapter made or read ``value`` (``models``: encoder → key; ``search``: a key).

    The pipeline stores the notes in the executed notebook and refuses an output folder whose chapters
    used different models or search results (a book that mixes two runs). Outside the pipeline: no-op.
    """
    target = os.environ.get(USES_ENV)
    if not target:
        return
    path = Path(target)
    uses = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if isinstance(value, dict):
        uses[kind] = {**uses.get(kind, {}), **value}
    else:
        uses[kind] = value
    path.write_text(json.dumps(uses, sort_keys=True), encoding="utf-8")


def data_identity(train: pd.DataFrame, probe: pd.DataFrame) -> dict:
    """What models are trained and probed on, as the registry records it (hashes of the exact pairs)."""
    from ..models.heads import pairs_key, training_key

    return {"train_key": training_key(train), "probe_key": pairs_key(probe)}

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


# ------------------------------------------------------------------------------------------ models


def feature_cache():
    """One feature cache for every profile (entries are keyed by encoder identity and exact sentences)."""
    from ..models.features import FeatureCache

    return FeatureCache(runs_root() / "features")


def encoder_params(encoder: str, clip_model: str, clip_weights: str, clip_sha256: str = "") -> dict:
    """Constructor arguments of a frozen encoder from the notebooks' parameters."""
    if encoder == "clip":
        return {"model_name": clip_model, "weights": clip_weights, "sha256": clip_sha256 or None}
    return {}


def check_encoders(encoders) -> list[str]:
    """The ``encoders`` parameter, validated (a list drawn from clip, lstm, minilm)."""
    from ..models.heads import ENCODERS

    if isinstance(encoders, str) or not encoders or any(e not in ENCODERS for e in encoders):
        raise ValueError(f"encoders must be a non-empty list drawn from {', '.join(ENCODERS)}; got {encoders!r}")
    return list(dict.fromkeys(encoders))


def check_controls(controls, encoders) -> list[str]:
    """The ``controls`` parameter, validated: control names whose encoder is among ``encoders``."""
    from ..models.random_controls import controls_of, split

    controls = controls_of(controls)
    orphans = [c for c in controls if split(c)[0] not in encoders]
    if orphans:
        raise ValueError(f"controls {', '.join(orphans)} need their encoder in encoders ({', '.join(encoders)}); "
                         "add it, or drop the control")
    return controls


def is_control(name: str) -> bool:
    """Whether a model name is a random-network control (see :mod:`clipneuron_utils.models.random_controls`)."""
    from ..models.random_controls import is_control as control

    return control(name)


def without_controls(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the encoders' models only (chapters that look into units skip the controls)."""
    if "encoder" not in results.columns:
        return results
    out = results[~results["encoder"].map(is_control)].reset_index(drop=True)
    out.attrs = dict(results.attrs)
    return out


def model_dir(profile: str, encoder: str, key: str) -> Path:
    """``runs/<profile>/models/<encoder>/<key>/``: one folder per (config, encoder, training data)."""
    return run_dir(profile, "models", encoder, key)


def _registry_path(profile: str) -> Path:
    return run_dir(profile, "models") / "registry.json"


def registry(profile: str) -> dict:
    """Models chapter 3 trained for this profile: encoder → folder, key, label, data keys, probe accuracy."""
    path = _registry_path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run chapter 3 first ({rerun_command(profile, ['03'])})")
    try:
        return read_json(path)
    except CorruptArtifactError as exc:
        raise CorruptArtifactError(exc.path, exc.reason, f"Remake it by running chapter 3 again: "
                                   f"{rerun_command(profile, ['03'])}") from None


def register_model(profile: str, encoder: str, entry: dict) -> None:
    path = _registry_path(profile)
    entries = {}
    if path.is_file():
        try:
            entries = read_json(path)
        except CorruptArtifactError as exc:
            print(exc.notice("starting a new registry"))
    entries[encoder] = entry
    write_json(path, entries)


def training_seeds(seed: int, seeds: int, lstm_seeds: int = 0, encoder: str = "", control_seeds: int = 0) -> list[int]:
    """The training seeds of one encoder's models: ``seed, seed + 1, …`` — ``seeds`` of them, or
    ``lstm_seeds`` for the LSTM when that is not 0 (it trains end to end: the slow part of a run), or
    ``control_seeds`` for a random-network control when that is not 0."""
    for name, value, low in (("seeds", seeds, 1), ("lstm_seeds", lstm_seeds, 0), ("control_seeds", control_seeds, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int ≥ {low}; got {value!r}")
    if control_seeds and is_control(encoder):
        n = control_seeds
    else:
        n = lstm_seeds if encoder.partition("-")[0] == "lstm" and lstm_seeds else seeds
    return list(range(int(seed), int(seed) + int(n)))


def seeds_of(entry: dict) -> list[int]:
    """The training seeds registered for one encoder (the first is the primary model chapters 7–8 show)."""
    if "seeds" in entry:
        return [int(s) for s in entry["seeds"]]
    return [int(entry.get("config", {}).get("seed", 0))]


def seed_entry(entry: dict, seed: int | None = None) -> dict:
    """The registry record of one seed's model (``folder``, ``key``, ``probe_accuracy``); None: the primary."""
    if seed is None or "seeds" not in entry:
        if seed is not None and seed not in seeds_of(entry):
            raise KeyError(f"no model of seed {seed} is registered (seeds: {seeds_of(entry)})")
        return entry
    if str(seed) not in entry["seeds"]:
        raise KeyError(f"no model of seed {seed} is registered (seeds: {seeds_of(entry)})")
    return entry["seeds"][str(seed)]


def _models_note(entry: dict) -> str:
    """What a chapter notes as the models it used: every seed's key, primary first."""
    return ",".join(seed_entry(entry, s)["key"] for s in seeds_of(entry)) if "seeds" in entry else entry["key"]


def check_models(profile: str, pairs, encoders, seeds: dict | None = None) -> dict:
    """The registry entries of ``encoders``, checked against this chapter's pairs; else the rerun command.

    ``pairs`` is the chapter's :class:`~clipneuron_utils.data.corpus.Pairs` (its ``params`` go in the command).
    """
    entries = registry(profile)
    expected = data_identity(pairs.train, pairs.probe)
    command = rerun_command(profile, (), **pairs.params)
    missing = [e for e in encoders if e not in entries]
    if missing:
        raise StaleArtifactError(
            f"no trained {', '.join(missing)} model in {_registry_path(profile)} (trained: {', '.join(entries) or 'none'}); "
            f"run chapter 3 with these encoders, e.g. {command}")
    for name in encoders:
        for key, what in (("train_key", "trained"), ("probe_key", "probed")):
            if entries[name].get(key) != expected[key]:
                raise StaleArtifactError(
                    f"the {name} model in {_registry_path(profile)} was {what} on other pairs than this chapter's "
                    f"data parameters give (the registry holds the last chapter-3 run of profile {profile!r}); "
                    f"rerun the chapters with these parameters: {command}")
    for name, wanted in (seeds or {}).items():
        if name in encoders and seeds_of(entries[name]) != list(wanted):
            raise StaleArtifactError(
                f"chapter 3 trained the {name} model with seeds {seeds_of(entries[name])}, this chapter asks for "
                f"{list(wanted)}: give the chapters the same seed, seeds and lstm_seeds, e.g. {command}")
    note_use("models", {name: _models_note(entries[name]) for name in encoders})
    return {name: entries[name] for name in encoders}


def load_trained(profile: str, encoder: str, seed: int | None = None):
    """The model chapter 3 trained (no retraining; a frozen encoder is rebuilt when first needed).

    ``seed``: the model of that training seed (None: the primary one, the first seed)."""
    from ..models.saving import load_model

    entries = registry(profile)
    if encoder not in entries:
        raise KeyError(f"no trained {encoder!r} model in {_registry_path(profile)} (trained: {', '.join(entries)})")
    return load_model(seed_entry(entries[encoder], seed)["folder"])


def probe_outputs(profile: str, encoder: str, probe: pd.DataFrame, model=None, folder: Path | None = None,
                  seed: int | None = None, device: str = "auto") -> dict[str, np.ndarray]:
    """Activations, predictions, probabilities of a trained model on the probe pairs (cached by weights).

    ``device`` (auto, cpu, cuda, cuda:N): where they are computed when not cached (not part of the key)."""
    from ..models.outputs import probe_outputs as outputs

    model = model if model is not None else load_trained(profile, encoder, seed)
    folder = folder if folder is not None else Path(seed_entry(registry(profile)[encoder], seed)["folder"])
    return outputs(model, probe, folder, cache=feature_cache(), device=device)


#: a cross-entropy over 3 classes starts near ln 3 ≈ 1.1; above this the optimiser has blown up
DIVERGED_LOSS = 100.0


def check_health(name: str, activations: np.ndarray, config, history: pd.DataFrame | None = None) -> None:
    """Stop on a model that cannot be explained: a training loss that blew up, non-finite activations,
    or every unit dead on the probe pairs. (Such a model still yields "formulas"; they would mean nothing.)"""
    if history is not None and len(history):
        losses = history["train_loss"].to_numpy(dtype=float)
        if not np.isfinite(losses).all() or losses.max() > DIVERGED_LOSS:
            raise ModelHealthError(
                f"training of the {name} model diverged: its training loss reached {np.nanmax(np.abs(losses)):.3g} "
                f"(a 3-class cross-entropy starts near 1.1). Lower lr (now {config.lr:g}) and rerun chapter 3.")
    finite = np.isfinite(activations)
    if not finite.all():
        units = np.flatnonzero(~finite.all(0))
        raise ModelHealthError(
            f"the {name} model's activations are not finite (NaN or inf) for {units.size} of {activations.shape[1]} "
            f"units (first: {', '.join(map(str, units[:5]))}): training diverged. Lower lr (now {config.lr:g}) "
            "and rerun chapter 3.")
    alive = (activations > 0).any(0)
    if not alive.any():
        raise ModelHealthError(
            f"all {activations.shape[1]} hidden units of the {name} model are dead: none fires (activation > 0) on "
            f"any of the {activations.shape[0]:,} probe pairs, so there is nothing to explain. Training diverged or "
            f"collapsed; lower lr (now {config.lr:g}) and rerun chapter 3.")


# ------------------------------------------------------------------------------------------ search


def search_results(profile: str, encoder: str, encoding: str, neuron_masks: np.ndarray, concepts: Concepts,
                   *, activations_key: str, n_jobs: int = 1, **search_params) -> pd.DataFrame:
    """``beam_search_by_length`` for one encoder × encoding, cached by activations, concepts and parameters.

    ``n_jobs``: processes for the search (≤ 0: every core); not part of the cache key, as the results
    do not depend on it."""
    from ..explain.search import beam_search_by_length

    key = cache_key(activations_key, concepts.encoding, concepts.names, concepts.masks.indptr, concepts.masks.indices,
                    sorted(search_params.items()))
    cached = run_dir(profile, "search", "cache") / f"{encoder}-{encoding}-{key}.pkl"
    results = None
    if cached.is_file():
        try:
            results = load_frame(cached)
            print(f"cache hit: search results for {encoder} × {encoding}")
        except CorruptArtifactError as exc:
            print(exc.notice())
            discard(cached)
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
    """Chapter 5's results for every encoder × encoding: ``runs/<profile>/search/results.csv`` (for readers)
    and ``latest.pkl`` with the parameters and the registry entries of the models searched (what
    chapters 6–7 read, and check)."""
    folder = run_dir(profile, "search")
    save_frame(folder / "results.csv", results)
    frame = results.copy()
    frame.attrs["params"] = dict(params)
    frame.attrs["models"] = {name: {**{k: entry.get(k) for k in ("key", "train_key", "probe_key")},
                                    "seeds": _models_note(entry)}
                             for name, entry in (models or {}).items()}
    frame.attrs["primary_seeds"] = {name: seeds_of(entry)[0] for name, entry in (models or {}).items()}
    frame.attrs["key"] = cache_key(frame.attrs["params"], frame.attrs["models"],
                                   pd.util.hash_pandas_object(results, index=False).to_numpy())
    note_use("search", frame.attrs["key"])
    return save_frame(folder / "latest.pkl", frame)


def latest_search(profile: str, pairs=None) -> pd.DataFrame:
    """The results of the last chapter-5 run of this profile (``.attrs["params"]``: its search parameters).

    With ``pairs`` (the chapter's own :class:`~clipneuron_utils.data.corpus.Pairs`), also checks that the results were made from
    the models chapter 3 registered for exactly these pairs; otherwise stops with the command to rerun.
    """
    path = run_dir(profile, "search") / "latest.pkl"
    remake = rerun_command(profile, ("05",), **(pairs.params if pairs is not None else {}))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run chapter 5 first ({remake})")
    try:
        results = load_frame(path)
    except CorruptArtifactError as exc:
        raise CorruptArtifactError(exc.path, exc.reason, f"Remake it by running chapter 5 again: {remake}") from None
    if pairs is None:
        return results
    encoders = list(dict.fromkeys(results["encoder"]))
    entries = check_models(profile, pairs, encoders)
    searched = results.attrs.get("models", {})
    changed = [name for name in encoders if searched.get(name, {}).get("key") != entries[name].get("key")
               or searched.get(name, {}).get("seeds", _models_note(entries[name])) != _models_note(entries[name])]
    if changed:
        raise StaleArtifactError(
            f"{path} was searched on other {', '.join(changed)} models than the ones chapter 3 registered last "
            f"(a later chapter-3 run with other parameters replaced them); rerun chapter 5: {remake}")
    note_use("search", results.attrs.get("key"))
    return results


def check_encodings(encodings) -> list[str]:
    """The ``encodings`` parameter, validated (a list drawn from standard, wordnet)."""
    if isinstance(encodings, str) or not encodings or any(e not in ENCODINGS for e in encodings):
        raise ValueError(f"encodings must be a non-empty list drawn from {', '.join(ENCODINGS)}; got {encodings!r}")
    return list(dict.fromkeys(encodings))


def train_model(profile: str, encoder: str, train: pd.DataFrame, probe: pd.DataFrame, config, *,
                seeds: list[int] | None = None, clip_model: str = "ViT-B-32", clip_weights: str = "openai",
                clip_sha256: str = "", device: str = "auto"):
    """Chapter 3's unit of work: fit (or reuse) one classifier per training seed, score the probe pairs,
    record them.

    Each model lives in a folder keyed by its encoder, config (seed included) and training data, so a run
    with other parameters trains beside it instead of over it. ``seeds`` (default: ``[config.seed]``):
    the training seeds; the first is the primary model (the one chapters 7–8 look into), and the
    registry entry lists every seed's model. Returns the primary ``(model, outputs)`` where ``outputs``
    holds the probe activations, predictions and probabilities (saved next to the model). A model whose
    units are all dead or not finite raises :class:`ModelHealthError`.

    ``device`` (auto, cpu, cuda, cuda:N) is where features are encoded, models trained and probe
    activations computed; it is not part of any key (a model is the same model on any device), and each
    model's ``model.json`` records where it was trained. An interrupted run resumes: the feature cache
    from its finished chunks, training from the last epoch's checkpoint.
    """
    from dataclasses import replace

    from ..models.heads import label_ids
    from ..render.provenance import encoder_warning

    from ..models import random_controls

    seeds = [int(config.seed)] if seeds is None else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints; got {seeds!r}")
    name, control = encoder, None
    if random_controls.is_control(name):  # a random-network control: its encoder, with one setting changed
        encoder, control = random_controls.split(name)
        config = replace(config, **random_controls.head_changes(name))
        clip_weights = random_controls.encoder_weights(name, clip_weights)
    params = encoder_params(encoder, clip_model, clip_weights, clip_sha256)
    identity = data_identity(train, probe)
    gold = label_ids(probe)
    trained = {}
    for seed in seeds:
        seeded = config if seed == config.seed else replace(config, seed=seed)
        model, outputs, key, folder = _fit(profile, encoder, train, probe, seeded, params, identity["train_key"],
                                           device=device)
        trained[seed] = (model, outputs, {"seed": seed, "folder": str(folder), "key": key,
                                          "probe_accuracy": float((outputs["predictions"] == gold).mean())})
    model, outputs, first = trained[seeds[0]]
    frozen = getattr(model, "frozen_encoder", None)
    label = frozen.name if frozen is not None else "LSTM (trained end-to-end)"
    if control is not None:
        label = random_controls.describe(name)
    entry = {
        **first, "label": label, "hidden": model.config.hidden, "base": encoder, "control": control,
        "config": model.config.to_dict(), "encoder_params": params,
        "warning": encoder_warning(frozen.name, getattr(frozen, "kind", "")) if frozen is not None else None,
        "seeds": {str(seed): record for seed, (_, _, record) in trained.items()}, **identity,
    }
    if control is not None:
        entry["warning"] = None  # a control is meant to be random: no warning on the first page
    register_model(profile, name, entry)
    note_use("models", {name: _models_note(entry)})
    return model, outputs


def _fit(profile: str, encoder: str, train: pd.DataFrame, probe: pd.DataFrame, config, params: dict, train_key: str,
         device: str = "auto"):
    """Fit (or reuse) a model in its keyed folder and check its health: ``(model, outputs, key, folder)``.

    The key holds the encoder, config, encoder parameters and training data — never the device."""
    from ..models.saving import fit_or_load

    key = cache_key(encoder, config.to_dict(), params, train_key)
    folder = model_dir(profile, encoder, key)
    model = fit_or_load(encoder, train, folder, config, cache=feature_cache(), encoder_params=params, device=device)
    outputs = probe_outputs(profile, encoder, probe, model, folder, device=device)
    check_health(encoder, outputs["activations"], config, model.history)
    return model, outputs, key, folder


def train_variant(profile: str, encoder: str, pairs, *, device: str = "auto", **changes):
    """A model like the one chapter 3 registered, with some head settings changed (e.g. ``input_norm=False``).

    Trained (or reused) in its own keyed folder and never registered: chapters 5–7 keep reading the
    registered models. Returns ``(model, outputs)``. ``device``: as in :func:`train_model`.
    """
    from ..models.heads import HeadConfig

    entry = check_models(profile, pairs, [encoder])[encoder]
    if "config" not in entry:
        raise StaleArtifactError(f"the registry entry of {encoder} predates recorded configs; rerun chapter 3: "
                                 f"{rerun_command(profile, ('03',), **pairs.params)}")
    config = HeadConfig.from_dict({**entry["config"], **changes})
    model, outputs, _, _ = _fit(profile, encoder, pairs.train, pairs.probe, config, entry["encoder_params"],
                                entry["train_key"], device=device)
    return model, outputs


def firing_accuracy(profile: str, probe: pd.DataFrame, encoders, activation_alpha: float = 0.0) -> pd.DataFrame:
    """Accuracy when firing of every unit of every trained encoder and seed, on the probe pairs (one tidy
    frame: ``neuron, n_fires, acc_when_firing, encoder, seed``)."""
    from ..stats.contribution import acc_when_firing
    from ..models.heads import label_ids
    from ..explain.search import threshold_activations

    gold = label_ids(probe)
    frames = []
    entries = registry(profile)
    for name in encoders:
        for seed in seeds_of(entries[name]):
            out = probe_outputs(profile, name, probe, seed=seed)
            masks = threshold_activations(out["activations"], activation_alpha or None, what=f"{name} model")
            frames.append(acc_when_firing(masks, out["predictions"], gold).assign(encoder=name, seed=seed))
    return pd.concat(frames, ignore_index=True)


def primary_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of each encoder's primary model (its first seed), for chapters that look at one model."""
    if "seed" not in results.columns:
        return results
    primary = results.attrs.get("primary_seeds") or results.groupby("encoder")["seed"].min().to_dict()
    keep = results["seed"] == results["encoder"].map(primary)
    out = results[keep].reset_index(drop=True)
    out.attrs = dict(results.attrs)
    return out


def check_search_vocab(results: pd.DataFrame, vocab_size: int, wordnet_mode: str | None = None) -> None:
    """Stop when the search used other concepts than this chapter's ``vocab_size`` (and ``wordnet_mode``)."""
    params = results.attrs.get("params", {})
    for name, mine in (("vocab_size", vocab_size), ("wordnet_mode", wordnet_mode)):
        searched = params.get(name)
        if mine is not None and searched is not None and searched != mine:
            raise StaleArtifactError(
                f"chapter 5 searched with {name}={searched}, this chapter has {name}={mine}: pass "
                f"-p {name}={searched}, or rerun chapter 5 with {name}={mine}")
