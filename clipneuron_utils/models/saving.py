"""Saving a trained model (weights, config, vocabulary, encoder identity) and reloading it, so later
chapters never retrain: :func:`fit_or_load` reloads when config, encoder and data match, and trains
(resuming from a checkpoint) otherwise.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..artifacts import (
    CorruptArtifactError,
    atomic_path,
    discard,
    load_frame,
    read_json,
    record_checksum,
    save_frame,
    shown,
    verify,
    write_json,
)
from ..data.snli import LABELS
from .base import Encoder
from .features import FeatureCache
from .encoders import make_encoder
from .devices import resolve_device
from .heads import FORMAT, FROZEN, HeadConfig, NLIModel, attach_encoder, check_encoder_name, as_pairs, training_key
from .lstm import lstm_identity
from . import training
from .training import CHECKPOINT


def save_model(model: NLIModel, folder: str | Path) -> Path:
    """Weights (``weights.pt``), vocabulary, history and ``model.json`` (config, encoder identity, data key).

    Every file gets a checksum sidecar. ``model.json`` is removed first and written last, so a crash
    mid-save never leaves a model that looks complete.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    discard(folder / "model.json")
    state = model.state_dict()
    if any(t.device.type != "cpu" for t in state.values()):  # weights.pt holds CPU tensors whatever the device
        state = copy.copy(state)
        for k in state:
            state[k] = state[k].detach().cpu()
    with atomic_path(folder / "weights.pt") as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # a file object: the archive is not named after the temporary file
    weights_sha256 = verify(record_checksum(folder / "weights.pt"))
    for file, value, write in (("vocab.json", model.vocab, write_json), ("history.csv", model.history, save_frame)):
        if value is not None:
            write(folder / file, value)
        else:
            discard(folder / file)  # a previous model's file would pass for this one's
    write_json(folder / "model.json", {
        "format": FORMAT,
        "encoder_name": model.encoder_name,
        "config": model.config.to_dict(),
        "dim": model.dim,
        "encoder_spec": model.encoder_spec,
        "encoder_identity": model.encoder_identity,
        "encoder_label": model.frozen_encoder.name if model.frozen_encoder is not None else None,
        "train_key": model.train_key,
        "best_epoch": model.best_epoch,
        "weights_sha256": weights_sha256,
        "labels": list(LABELS),
        "trained_on": model.trained_on,
    })
    return folder


_MODEL_KEYS = ("encoder_name", "config", "dim", "encoder_spec", "encoder_identity", "train_key", "best_epoch",
               "weights_sha256")


def load_model(folder: str | Path, *, encoder: Encoder | None = None) -> NLIModel:
    """A saved model, in eval mode; a frozen encoder is rebuilt from its spec when first needed.

    Every file is checked against its checksum first: a damaged one raises ``CorruptArtifactError`` naming it.
    """
    folder = Path(folder)
    meta_path, weights = folder / "model.json", folder / "weights.pt"
    meta = read_json(meta_path)
    missing = [k for k in _MODEL_KEYS if k not in meta] if isinstance(meta, dict) else list(_MODEL_KEYS)
    if missing:
        raise CorruptArtifactError(meta_path, f"lacks {', '.join(missing)}: not a model.json this version wrote")
    if verify(weights) != meta["weights_sha256"]:
        raise CorruptArtifactError(weights, "SHA-256 differs from the one recorded in model.json: "
                                            "the weights come from another save")
    vocab = read_json(folder / "vocab.json") if meta["encoder_name"] == "lstm" else None
    config = dict(meta["config"])
    if meta.get("format", 1) < 2:  # saved before the head had its input normalisation: load it as it was
        config.setdefault("input_norm", False)
    elif meta.get("format") > FORMAT:
        raise CorruptArtifactError(meta_path, f"written in model format {meta['format']}, newer than this version's "
                                              f"({FORMAT})", "Update clipneuron, or retrain with chapter 03_head_training.")
    model = NLIModel(meta["encoder_name"], HeadConfig.from_dict(config), meta["dim"], vocab=vocab,
                     encoder_spec=meta["encoder_spec"], encoder_identity=meta["encoder_identity"])
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except MemoryError:
        raise
    except Exception as exc:  # unpicklable, or tensors that do not fit model.json's config
        raise CorruptArtifactError.unparsable(weights, exc) from exc
    model.train_key, model.best_epoch = meta["train_key"], meta["best_epoch"]
    model.trained_on = meta.get("trained_on")
    if (folder / "history.csv").is_file():
        model.history = load_frame(folder / "history.csv")
    if encoder is not None:
        attach_encoder(model, encoder)
    return model.eval()


def fit_or_load(encoder_name: str, train_pairs: pd.DataFrame, folder: str | Path, config: HeadConfig | None = None, *,
                encoder: Encoder | None = None, encoder_params: dict | None = None,
                cache: FeatureCache | None = None, progress: bool = True, verbose: bool = True,
                device: Any = "auto") -> NLIModel:
    """The model saved in ``folder`` if it was trained with this config, encoder and data; else train and save.

    Training checkpoints every epoch to ``folder/checkpoint.pt`` and resumes from it after a kill (see
    :func:`train`); the checkpoint is deleted once the model is saved. ``device`` is where it trains (and
    where the returned model is); it is not part of what makes a saved model reusable, since it does not
    change what the model is — a model trained on CUDA is reused on the CPU and vice versa, and
    ``model.json`` records where it was trained (``trained_on``).
    """
    check_encoder_name(encoder_name)
    config = config or HeadConfig()
    train_pairs = as_pairs(train_pairs)
    dev = resolve_device(device)
    if encoder_name in FROZEN:
        encoder = encoder or make_encoder(encoder_name, device=str(dev), **(encoder_params or {}))
        identity = encoder.identity
    else:
        identity = lstm_identity()
    folder = Path(folder)
    reason = _stale_reason(folder, encoder_name, config, identity, training_key(train_pairs))
    if reason is None:
        try:
            model = load_model(folder, encoder=encoder)
        except CorruptArtifactError as exc:
            discard(exc.path)
            reason = _corrupt(exc)
        else:
            if verbose:
                print(f"reusing the trained {encoder_name} model in {shown(folder)} (same config, encoder and data)",
                      flush=True)
            discard(folder / CHECKPOINT)  # left by a run killed between saving the model and removing it
            return model.to(dev)
    if verbose or reason.startswith(_CORRUPT):  # a damaged model is always reported
        print(f"training the {encoder_name} model: {reason}", flush=True)
    model = training.train(encoder_name, train_pairs, config, encoder=encoder, cache=cache, progress=progress, verbose=verbose,
                  device=dev, checkpoint=folder / CHECKPOINT)
    save_model(model, folder)
    discard(folder / CHECKPOINT)
    return model


_CORRUPT = "the saved model is corrupt: "


def _corrupt(exc: CorruptArtifactError) -> str:
    return f"{_CORRUPT}{exc.path}: {exc.reason}"


def _stale_reason(folder: Path, encoder_name: str, config: HeadConfig, identity: dict, key: str) -> str | None:
    """Why the model saved in ``folder`` cannot be reused (``None``: it can); a damaged file makes it stale."""
    path = folder / "model.json"
    if not path.is_file() or not (folder / "weights.pt").is_file():
        return f"no saved model in {shown(folder)}"
    try:
        meta = read_json(path)
        for name in ("weights.pt", "vocab.json", "history.csv"):
            if (folder / name).is_file():
                verify(folder / name)
    except CorruptArtifactError as exc:
        discard(exc.path)  # retraining rewrites it; a leftover would be reported on every run
        return _corrupt(exc)
    if not isinstance(meta, dict):
        return f"{_CORRUPT}{path}: not a JSON object"
    if meta.get("format") != FORMAT or meta.get("encoder_name") != encoder_name:
        return "the saved model is for another encoder or format"
    if meta.get("config") != config.to_dict():
        changed = sorted(k for k, v in config.to_dict().items() if meta.get("config", {}).get(k) != v)
        return f"config changed ({', '.join(changed)})"
    if meta.get("encoder_identity") != identity:
        return "the encoder changed"
    if meta.get("train_key") != key:
        return "the training data changed"
    if encoder_name == "lstm" and not (folder / "vocab.json").is_file():
        return f"the saved model is incomplete (no vocab.json in {folder})"
    return None
