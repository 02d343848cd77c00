"""The trained models of a run under ``runs/<profile>/models/``: chapter 03_head_training trains (or reuses) them, a
registry records them, later chapters load and check them.

Each model lives in a folder keyed by its encoder, config (seed included) and training data, so runs with
other head parameters train beside each other instead of over each other. The registry says what the
*last* chapter-3 run of the profile made, with the identity of its data; :func:`check_models` compares it
with a chapter's own parameters and stops with the command that remakes the models
(:class:`~.reruns.StaleArtifactError`). A model that cannot be explained (diverged training, non-finite
activations, every unit dead) stops chapter 03_head_training (:class:`ModelHealthError`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, read_json, run_dir, runs_root, write_json
from .reruns import StaleArtifactError, note_use, rerun_command


class ModelHealthError(RuntimeError):
    """A trained model whose units are all dead or whose activations are not finite."""


def data_identity(train: pd.DataFrame, probe: pd.DataFrame) -> dict:
    """What models are trained and probed on, as the registry records it (hashes of the exact pairs)."""
    from ..models.heads import pairs_key, training_key

    return {"train_key": training_key(train), "probe_key": pairs_key(probe)}


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


def registry_path(profile: str) -> Path:
    return run_dir(profile, "models") / "registry.json"


def registry(profile: str) -> dict:
    """Models chapter 03_head_training trained for this profile: encoder → folder, key, label, data keys, probe accuracy."""
    path = registry_path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run chapter 03_head_training first ({rerun_command(profile, ['03'])})")
    try:
        return read_json(path)
    except CorruptArtifactError as exc:
        raise CorruptArtifactError(exc.path, exc.reason, f"Remake it by running chapter 03_head_training again: "
                                   f"{rerun_command(profile, ['03'])}") from None


def register_model(profile: str, encoder: str, entry: dict) -> None:
    path = registry_path(profile)
    entries = {}
    if path.is_file():
        try:
            entries = read_json(path)
        except CorruptArtifactError as exc:
            print(exc.notice("starting a new registry"))
    entries[encoder] = entry
    write_json(path, entries)


def training_seeds(seed: int, seeds: int, lstm_seeds: int = 0, encoder: str = "", control_seeds: int = 0,
                   lstm_shuffled_seeds: int = 0) -> list[int]:
    """The training seeds of one encoder's models: ``seed, seed + 1, …`` — ``seeds`` of them, or
    ``lstm_seeds`` for the LSTM when that is not 0 (it trains end to end: the slow part of a run), or
    ``control_seeds`` for a random-network control when that is not 0 (0: as many as its encoder, so
    that a control is judged with as many replicates as the model it controls), or
    ``lstm_shuffled_seeds`` for the shuffled-label LSTM when that is not 0 (it trains end to end too)."""
    for name, value, low in (("seeds", seeds, 1), ("lstm_seeds", lstm_seeds, 0), ("control_seeds", control_seeds, 0),
                             ("lstm_shuffled_seeds", lstm_shuffled_seeds, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int ≥ {low}; got {value!r}")
    if lstm_shuffled_seeds and encoder == "lstm-shuffled":
        n = lstm_shuffled_seeds
    elif control_seeds and is_control(encoder):
        n = control_seeds
    else:
        n = lstm_seeds if encoder.partition("-")[0] == "lstm" and lstm_seeds else seeds
    return list(range(int(seed), int(seed) + int(n)))


def seeds_of(entry: dict) -> list[int]:
    """The training seeds registered for one encoder (the first is the primary model chapters 07_qualitative_neurons–08_firing_regime show)."""
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


def models_note(entry: dict) -> str:
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
            f"no trained {', '.join(missing)} model in {registry_path(profile)} (trained: {', '.join(entries) or 'none'}); "
            f"run chapter 03_head_training with these encoders, e.g. {command}")
    for name in encoders:
        for key, what in (("train_key", "trained"), ("probe_key", "probed")):
            if entries[name].get(key) != expected[key]:
                raise StaleArtifactError(
                    f"the {name} model in {registry_path(profile)} was {what} on other pairs than this chapter's "
                    f"data parameters give (the registry holds the last chapter-3 run of profile {profile!r}); "
                    f"rerun the chapters with these parameters: {command}")
    for name, wanted in (seeds or {}).items():
        if name in encoders and seeds_of(entries[name]) != list(wanted):
            raise StaleArtifactError(
                f"chapter 03_head_training trained the {name} model with seeds {seeds_of(entries[name])}, this chapter asks for "
                f"{list(wanted)}: give the chapters the same seed, seeds and lstm_seeds, e.g. {command}")
    note_use("models", {name: models_note(entries[name]) for name in encoders})
    return {name: entries[name] for name in encoders}


def load_trained(profile: str, encoder: str, seed: int | None = None):
    """The model chapter 03_head_training trained (no retraining; a frozen encoder is rebuilt when first needed).

    ``seed``: the model of that training seed (None: the primary one, the first seed)."""
    from ..models.saving import load_model

    entries = registry(profile)
    if encoder not in entries:
        raise KeyError(f"no trained {encoder!r} model in {registry_path(profile)} (trained: {', '.join(entries)})")
    return load_model(seed_entry(entries[encoder], seed)["folder"])


def probe_outputs(profile: str, encoder: str, probe: pd.DataFrame, model=None, folder: Path | None = None,
                  seed: int | None = None, device: str = "auto", cache=None) -> dict[str, np.ndarray]:
    """Activations, predictions, probabilities of a trained model on the probe pairs (cached by weights).

    ``device`` (auto, cpu, cuda, cuda:N): where they are computed when not cached (not part of the key);
    ``cache``: where frozen encoders' features come from (default: the feature cache)."""
    from ..models.outputs import probe_outputs as outputs

    model = model if model is not None else load_trained(profile, encoder, seed)
    folder = folder if folder is not None else Path(seed_entry(registry(profile)[encoder], seed)["folder"])
    return outputs(model, probe, folder, cache=cache if cache is not None else feature_cache(), device=device)


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
                f"(a 3-class cross-entropy starts near 1.1). Lower lr (now {config.lr:g}) and rerun chapter 03_head_training.")
    finite = np.isfinite(activations)
    if not finite.all():
        units = np.flatnonzero(~finite.all(0))
        raise ModelHealthError(
            f"the {name} model's activations are not finite (NaN or inf) for {units.size} of {activations.shape[1]} "
            f"units (first: {', '.join(map(str, units[:5]))}): training diverged. Lower lr (now {config.lr:g}) "
            "and rerun chapter 03_head_training.")
    alive = (activations > 0).any(0)
    if not alive.any():
        raise ModelHealthError(
            f"all {activations.shape[1]} hidden units of the {name} model are dead: none fires (activation > 0) on "
            f"any of the {activations.shape[0]:,} probe pairs, so there is nothing to explain. Training diverged or "
            f"collapsed; lower lr (now {config.lr:g}) and rerun chapter 03_head_training.")


def train_model(profile: str, encoder: str, train: pd.DataFrame, probe: pd.DataFrame, config, *,
                seeds: list[int] | None = None, clip_model: str = "ViT-B-32", clip_weights: str = "openai",
                clip_sha256: str = "", device: str = "auto"):
    """Chapter 03_head_training's unit of work: fit (or reuse) one classifier per training seed, score the probe pairs,
    record them.

    Each model lives in a folder keyed by its encoder, config (seed included) and training data, so a run
    with other parameters trains beside it instead of over it. ``seeds`` (default: ``[config.seed]``):
    the training seeds; the first is the primary model (the one chapters 07_qualitative_neurons–08_firing_regime look into), and the
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
    note_use("models", {name: models_note(entry)})
    return model, outputs


def _fit(profile: str, encoder: str, train: pd.DataFrame, probe: pd.DataFrame, config, params: dict, train_key: str,
         device: str = "auto", cache=None):
    """Fit (or reuse) a model in its keyed folder and check its health: ``(model, outputs, key, folder)``.

    The key holds the encoder, config, encoder parameters and training data — never the device."""
    from ..models.saving import fit_or_load

    key = cache_key(encoder, config.to_dict(), params, train_key)
    folder = model_dir(profile, encoder, key)
    cache = cache if cache is not None else feature_cache()
    model = fit_or_load(encoder, train, folder, config, cache=cache, encoder_params=params, device=device)
    outputs = probe_outputs(profile, encoder, probe, model, folder, device=device, cache=cache)
    check_health(encoder, outputs["activations"], config, model.history)
    return model, outputs, key, folder


def train_variant(profile: str, encoder: str, pairs, *, device: str = "auto", **changes):
    """A model like the one chapter 03_head_training registered, with some head settings changed (e.g. ``input_norm=False``).

    Trained (or reused) in its own keyed folder and never registered: chapters 05_search–07_qualitative_neurons keep reading the
    registered models. Returns ``(model, outputs)``. ``device``: as in :func:`train_model`.
    """
    from ..models.heads import HeadConfig

    entry = check_models(profile, pairs, [encoder])[encoder]
    if "config" not in entry:
        raise StaleArtifactError(f"the registry entry of {encoder} predates recorded configs; rerun chapter 03_head_training: "
                                 f"{rerun_command(profile, ('03',), **pairs.params)}")
    config = HeadConfig.from_dict({**entry["config"], **changes})
    model, outputs, _, _ = _fit(profile, encoder, pairs.train, pairs.probe, config, entry["encoder_params"],
                                entry["train_key"], device=device)
    return model, outputs


def train_on(profile: str, encoder: str, pairs, train: pd.DataFrame, probe: pd.DataFrame, *, tag: str, seed: int,
             device: str = "auto", cache=None):
    """A model like the one chapter 03_head_training registered for ``encoder`` (its config and encoder), trained
    with ``seed`` on other ``train`` pairs and scored on other ``probe`` pairs (e.g. the hypothesis alone), in
    its own folder keyed by ``tag`` too; never registered. Returns ``(model, outputs)``."""
    from dataclasses import replace

    from ..models.heads import HeadConfig

    entry = check_models(profile, pairs, [encoder])[encoder]
    config = replace(HeadConfig.from_dict(entry["config"]), seed=int(seed))
    key = cache_key(entry["train_key"], tag, data_identity(train, probe)["train_key"])
    model, outputs, _, _ = _fit(profile, encoder, train, probe, config, entry["encoder_params"], key, device=device,
                                cache=cache)
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
