"""The run's shared artifacts under ``runs/<profile>/``, so each chapter reuses what an earlier one made.

Chapters call these instead of recomputing: concept masks (keyed by the probe pairs, the vocabulary size
and the encoding), trained models (chapter 3 records them in a registry) and search results (keyed by
the activations, the concepts and every search parameter). A rerun with other search parameters
therefore never re-encodes, retrains or rebuilds concepts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .artifacts import cache_key, load_frame, read_json, run_dir, runs_root, save_frame, write_json
from .concepts import Concepts, build_concepts

ENCODINGS = ("standard", "wordnet")


def tokens_key(pairs: pd.DataFrame) -> str:
    """Identity of probe pairs as concepts see them: ids, labels, tokens and tags.

    (``heads.pairs_key`` is its twin for models, which read the sentences' text instead.)"""
    columns = ["pair_id", "label", "premise_tokens", "hypothesis_tokens", "premise_tags", "hypothesis_tags"]
    return cache_key(pairs[columns].to_dict("list"))


def probe_concepts(profile: str, probe: pd.DataFrame, vocab_size: int, encoding: str, *,
                   progress: bool = True) -> Concepts:
    """Concept masks of the probe pairs, built once and cached in ``runs/<profile>/concepts/``."""
    path = run_dir(profile, "concepts") / f"{encoding}-{vocab_size}-{cache_key(tokens_key(probe), vocab_size, encoding)}.npz"
    if path.is_file():
        print(f"cache hit: {encoding} concepts from {path.name}")
        return Concepts.load(path)
    concepts = build_concepts(probe, vocab_size=vocab_size, encoding=encoding, progress=progress)
    concepts.save(path)
    return concepts


# ------------------------------------------------------------------------------------------ models


def feature_cache():
    """One feature cache for every profile (entries are keyed by encoder identity and exact sentences)."""
    from .encoders import FeatureCache

    return FeatureCache(runs_root() / "features")


def encoder_params(encoder: str, clip_model: str, clip_weights: str, clip_sha256: str = "") -> dict:
    """Constructor arguments of a frozen encoder from the notebooks' parameters."""
    if encoder == "clip":
        return {"model_name": clip_model, "weights": clip_weights, "sha256": clip_sha256 or None}
    return {}


def check_encoders(encoders) -> list[str]:
    """The ``encoders`` parameter, validated (a list drawn from clip, lstm, minilm)."""
    from .heads import ENCODERS

    if isinstance(encoders, str) or not encoders or any(e not in ENCODERS for e in encoders):
        raise ValueError(f"encoders must be a non-empty list drawn from {', '.join(ENCODERS)}; got {encoders!r}")
    return list(dict.fromkeys(encoders))


def model_dir(profile: str, encoder: str) -> Path:
    return run_dir(profile, "models", encoder)


def _registry_path(profile: str) -> Path:
    return run_dir(profile, "models") / "registry.json"


def registry(profile: str) -> dict:
    """Models chapter 3 trained for this profile: encoder → folder, label, probe accuracy."""
    path = _registry_path(profile)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run chapter 3 first (python -m clipneuron_utils.pipeline --profile {profile} --only 03)"
        )
    return read_json(path)


def register_model(profile: str, encoder: str, entry: dict) -> None:
    path = _registry_path(profile)
    entries = read_json(path) if path.is_file() else {}
    entries[encoder] = entry
    write_json(path, entries)


def load_trained(profile: str, encoder: str):
    """The model chapter 3 trained (no retraining; a frozen encoder is rebuilt when first needed)."""
    from .heads import load_model

    entries = registry(profile)
    if encoder not in entries:
        raise KeyError(f"no trained {encoder!r} model in {_registry_path(profile)} (trained: {', '.join(entries)})")
    return load_model(entries[encoder]["folder"])


def probe_outputs(profile: str, encoder: str, probe: pd.DataFrame, model=None) -> dict[str, np.ndarray]:
    """Activations, predictions, probabilities of a trained model on the probe pairs (cached by weights)."""
    from .heads import probe_outputs as outputs

    model = model if model is not None else load_trained(profile, encoder)
    return outputs(model, probe, model_dir(profile, encoder), cache=feature_cache())


# ------------------------------------------------------------------------------------------ search


def search_results(profile: str, encoder: str, encoding: str, neuron_masks: np.ndarray, concepts: Concepts,
                   *, activations_key: str, **search_params) -> pd.DataFrame:
    """``beam_search_by_length`` for one encoder × encoding, cached by activations, concepts and parameters."""
    from .search import beam_search_by_length

    key = cache_key(activations_key, concepts.encoding, concepts.names, concepts.masks.indptr, concepts.masks.indices,
                    sorted(search_params.items()))
    cached = run_dir(profile, "search", "cache") / f"{encoder}-{encoding}-{key}.pkl"
    if cached.is_file():
        print(f"cache hit: search results for {encoder} × {encoding}")
        results = load_frame(cached)
    else:
        results = beam_search_by_length(neuron_masks, concepts, **search_params)
        save_frame(cached, results)
    return results.assign(encoder=encoder, encoding=encoding)


def save_latest_search(profile: str, results: pd.DataFrame, params: dict) -> Path:
    """Chapter 5's results for every encoder × encoding: ``runs/<profile>/search/results.csv`` (for readers)
    and ``latest.pkl`` with the parameters (what chapters 6–7 read)."""
    folder = run_dir(profile, "search")
    save_frame(folder / "results.csv", results)
    frame = results.copy()
    frame.attrs["params"] = dict(params)
    return save_frame(folder / "latest.pkl", frame)


def latest_search(profile: str) -> pd.DataFrame:
    """The results of the last chapter-5 run of this profile (``.attrs["params"]``: its search parameters)."""
    path = run_dir(profile, "search") / "latest.pkl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run chapter 5 first (python -m clipneuron_utils.pipeline --profile {profile} --only 05)"
        )
    return load_frame(path)


def check_encodings(encodings) -> list[str]:
    """The ``encodings`` parameter, validated (a list drawn from standard, wordnet)."""
    if isinstance(encodings, str) or not encodings or any(e not in ENCODINGS for e in encodings):
        raise ValueError(f"encodings must be a non-empty list drawn from {', '.join(ENCODINGS)}; got {encodings!r}")
    return list(dict.fromkeys(encodings))


def train_model(profile: str, encoder: str, train: pd.DataFrame, probe: pd.DataFrame, config, *,
                clip_model: str = "ViT-B-32", clip_weights: str = "openai", clip_sha256: str = ""):
    """Chapter 3's unit of work: fit (or reuse) one classifier, score the probe pairs, record it.

    Returns ``(model, outputs)`` where ``outputs`` holds the probe activations, predictions and
    probabilities (saved next to the model).
    """
    from .heads import fit_or_load, label_ids

    folder = model_dir(profile, encoder)
    model = fit_or_load(encoder, train, folder, config, cache=feature_cache(),
                        encoder_params=encoder_params(encoder, clip_model, clip_weights, clip_sha256))
    outputs = probe_outputs(profile, encoder, probe, model)
    gold = label_ids(probe)
    label = model.frozen_encoder.name if getattr(model, "frozen_encoder", None) is not None else "LSTM (trained end-to-end)"
    register_model(profile, encoder, {
        "folder": str(folder), "label": label, "hidden": model.config.hidden,
        "probe_accuracy": float((outputs["predictions"] == gold).mean()),
    })
    return model, outputs


def firing_accuracy(profile: str, probe: pd.DataFrame, encoders, activation_alpha: float = 0.0) -> pd.DataFrame:
    """Accuracy when firing of every unit of every trained encoder, on the probe pairs (one tidy frame)."""
    from .analysis import acc_when_firing
    from .heads import label_ids
    from .search import threshold_activations

    gold = label_ids(probe)
    frames = []
    for name in encoders:
        out = probe_outputs(profile, name, probe)
        masks = threshold_activations(out["activations"], activation_alpha or None)
        frames.append(acc_when_firing(masks, out["predictions"], gold).assign(encoder=name))
    return pd.concat(frames, ignore_index=True)
