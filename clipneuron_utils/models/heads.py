"""The NLI classifier of the paper: one MLP head design over three sentence encoders.

``u = E(premise)``, ``v = E(hypothesis)``, features ``[u; v; u-v; u*v]`` → (BatchNorm1d → Dropout) →
Linear(4d → hidden=1024) → ReLU → Dropout(0.1) → Linear(hidden → 3). The probed neurons are the ``hidden``
post-ReLU units in eval mode.

* ``clip`` / ``minilm``: the encoder is frozen, so only the head trains, on features from a
  :class:`~clipneuron_utils.models.features.FeatureCache` (a rerun never re-encodes).
* ``lstm``: the Bowman et al. (2016) encoder (:mod:`.lstm`), trained end-to-end with the head.

This module holds the model and its configuration; training is :mod:`.training`, saving and reloading
:mod:`.saving`, reading the hidden units and predictions :mod:`.outputs`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..artifacts import (
    cache_key,
)
from ..data.snli import LABELS
from .base import Encoder
from .devices import prepare_device, resolve_device
from .encoders import encoder_from_spec
from .lstm import LSTMEncoder, simple_tokenize


ENCODERS = ("clip", "lstm", "minilm")


FROZEN = ("clip", "minilm")


FORMAT = 2  # 2: the head has the input normalisation (``input_norm``); format-1 models load without it


CONTROL_SWITCHES = ("shuffle_labels", "freeze_lstm")  # the random-network controls' settings (random_controls)


@dataclass(frozen=True)
class HeadConfig:
    """Every knob of head (and LSTM) training; defaults follow the paper and Mu & Andreas' code."""

    hidden: int = 1024  # probed units
    dropout: float = 0.1
    input_norm: bool = True  # BatchNorm1d + Dropout on [u; v; u−v; u∗v] before the first Linear, as the original MLP
    lr: float = 1e-3  # Adam
    batch_size: int = 128
    max_epochs: int = 20
    patience: int = 3  # epochs without a better validation score before stopping
    monitor: str = "val_acc"  # early stopping and the kept epoch: best "val_acc" or lowest "val_loss"
    val_fraction: float = 0.1  # held-out slice of the training pairs for early stopping (0: none)
    seed: int = 0
    lstm_embedding_dim: int = 300
    lstm_hidden_dim: int = 512
    lstm_bidirectional: bool = True  # the paper; the original code ran a unidirectional LSTM
    lstm_max_vocab: int | None = None  # most frequent training tokens kept (None: all)
    lstm_min_freq: int = 1  # rarer training tokens become <unk>
    lstm_max_epochs: int | None = None  # LSTM epochs at most (None: max_epochs); it overfits fast on small data
    lstm_bucket: bool = True  # batch pairs of similar lengths (shuffled pools of 50 batches): ~2x less padding
    shuffle_labels: bool = False  # control: train on a fixed random permutation of the training labels
    freeze_lstm: bool = False  # control: the LSTM keeps its random initial weights; only the head trains

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ValueError(f"HeadConfig.{name} must be {allowed}; got {getattr(self, name)!r}")

        def is_int(x: Any) -> bool:
            return isinstance(x, (int, np.integer)) and not isinstance(x, bool)

        def is_num(x: Any) -> bool:
            return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)

        for name in ("hidden", "batch_size", "max_epochs", "patience", "lstm_embedding_dim", "lstm_hidden_dim",
                     "lstm_min_freq"):
            need(name, is_int(getattr(self, name)) and getattr(self, name) >= 1, "an int >= 1")
        need("dropout", is_num(self.dropout) and 0 <= self.dropout < 1, "a float in [0, 1)")
        need("lr", is_num(self.lr) and self.lr > 0, "a float > 0")
        need("val_fraction", is_num(self.val_fraction) and 0 <= self.val_fraction < 1, "a float in [0, 1)")
        need("seed", is_int(self.seed), "an int")
        need("monitor", self.monitor in ("val_acc", "val_loss"), "'val_acc' or 'val_loss'")
        need("lstm_bidirectional", isinstance(self.lstm_bidirectional, bool), "True or False")
        need("input_norm", isinstance(self.input_norm, bool), "True or False")
        need("lstm_bucket", isinstance(self.lstm_bucket, bool), "True or False")
        need("shuffle_labels", isinstance(self.shuffle_labels, bool), "True or False")
        need("freeze_lstm", isinstance(self.freeze_lstm, bool), "True or False")
        need("lstm_max_epochs", self.lstm_max_epochs is None or (is_int(self.lstm_max_epochs) and self.lstm_max_epochs >= 1),
             "None or an int >= 1")
        need("lstm_max_vocab", self.lstm_max_vocab is None or (is_int(self.lstm_max_vocab) and self.lstm_max_vocab >= 1),
             "None or an int >= 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "HeadConfig":
        """Build from a dict (e.g. notebook parameters); unknown keys are an error naming the allowed ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown HeadConfig parameter(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
        return cls(**values)

    def replace(self, **changes: Any) -> "HeadConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting; the controls' switches only when on, so the keys of ordinary models stay as they were."""
        out = dataclasses.asdict(self)
        for name in CONTROL_SWITCHES:
            if not out[name]:
                del out[name]
        return out


def check_encoder_name(name: Any) -> str:
    if name not in ENCODERS:
        raise ValueError(f"encoder name must be one of {', '.join(ENCODERS)}; got {name!r}")
    return name


def as_pairs(pairs: Any) -> pd.DataFrame:
    """A pair DataFrame from a DataFrame or a list of ``(premise, hypothesis[, label])``.

    Missing ``pair_id`` / ``*_tokens`` columns are filled (tokens by :func:`simple_tokenize`), so pairs a
    reader writes can be probed.
    """
    if isinstance(pairs, pd.DataFrame):
        frame = pairs
    else:
        rows = list(pairs)
        if any(not isinstance(r, (tuple, list)) or len(r) not in (2, 3) for r in rows):
            raise ValueError("pairs must be a DataFrame or a list of (premise, hypothesis[, label]) tuples")
        frame = pd.DataFrame([(r[0], r[1], r[2] if len(r) == 3 else None) for r in rows],
                             columns=["premise", "hypothesis", "label"])
    missing = [c for c in ("premise", "hypothesis") if c not in frame.columns]
    if missing:
        raise ValueError(f"pairs need columns premise and hypothesis; missing {', '.join(missing)}")
    fill = {}
    if "pair_id" not in frame.columns:
        fill["pair_id"] = [f"pair-{i}" for i in range(len(frame))]
    for side in ("premise", "hypothesis"):
        if f"{side}_tokens" not in frame.columns:
            fill[f"{side}_tokens"] = [simple_tokenize(t) for t in frame[side]]
    return frame.assign(**fill) if fill else frame


def label_ids(pairs: pd.DataFrame) -> np.ndarray:
    """Gold labels as ints in :data:`LABELS` order; anything else (e.g. ``-``) is an error."""
    bad = sorted({str(x) for x in pairs["label"] if x not in LABELS})
    if bad:
        raise ValueError(f"labels must be one of {', '.join(LABELS)}; found {', '.join(bad[:5])}")
    return np.array([LABELS.index(x) for x in pairs["label"]], dtype=np.int64)


def training_key(pairs: pd.DataFrame) -> str:
    """Hash of the training data (pair ids, texts, labels): a saved model is reused only for the same data."""
    return cache_key(list(map(str, pairs["pair_id"])), list(pairs["premise"]), list(pairs["hypothesis"]),
                     list(map(str, pairs["label"])))


def pairs_key(pairs: pd.DataFrame) -> str:
    return cache_key(list(map(str, pairs["pair_id"])), list(pairs["premise"]), list(pairs["hypothesis"]))


class NLIModel(nn.Module):
    """Encoder (LSTM, or a reference to a frozen one) + the MLP head; ``mlp[1]`` outputs the probed units.

    The head is Mu & Andreas' (compexp ``nli/code/models.py``): ``[u; v; u−v; u∗v]`` → BatchNorm1d →
    Dropout → Linear(4d → hidden) → ReLU → Dropout → Linear(hidden → 3). The first two layers are
    ``input_norm`` (an identity when ``config.input_norm`` is off), so ``mlp`` keeps its indices.
    """

    def __init__(self, encoder_name: str, config: HeadConfig, dim: int, *, vocab: list[str] | None = None,
                 encoder_spec: dict | None = None, encoder_identity: dict | None = None):
        super().__init__()
        self.encoder_name = check_encoder_name(encoder_name)
        self.config = config
        self.vocab = vocab
        self.encoder_spec = encoder_spec
        self.encoder_identity = encoder_identity
        self.lstm = None
        if encoder_name == "lstm":
            if not vocab:
                raise ValueError("an lstm model needs a vocabulary")
            self.lstm = LSTMEncoder(len(vocab), config.lstm_embedding_dim, config.lstm_hidden_dim,
                                    config.lstm_bidirectional)
            dim = self.lstm.dim
        self.dim = int(dim)
        self.input_norm = (nn.Sequential(nn.BatchNorm1d(4 * self.dim), nn.Dropout(config.dropout))
                           if config.input_norm else nn.Identity())
        self.mlp = nn.Sequential(nn.Linear(4 * self.dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden, len(LABELS)))
        self.frozen_encoder: Encoder | None = None
        self.history: pd.DataFrame | None = None
        self.train_key: str | None = None
        self.best_epoch: int | None = None
        self.trained_on: str | None = None  # the device it was trained on (provenance; None: not recorded)
        self._token_index: dict[str, int] | None = None

    def features(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The head's input: ``[u; v; u−v; u∗v]``, normalised when ``config.input_norm``."""
        return self.input_norm(torch.cat([u, v, u - v, u * v], dim=1))

    def hidden_units(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The probed neurons: post-ReLU hidden layer (dropout comes after it)."""
        return self.mlp[1](self.mlp[0](self.features(u, v)))

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(u, v))

    @property
    def token_index(self) -> dict[str, int]:
        if self._token_index is None:
            self._token_index = {w: i for i, w in enumerate(self.vocab or [])}
        return self._token_index


def frozen_encoder(model: NLIModel, device: Any = None) -> Encoder:
    """The model's frozen encoder, rebuilt from its saved spec on first use (identity checked), on
    ``device`` (None: the model's device)."""
    if model.encoder_name not in FROZEN:
        raise ValueError(f"encoder {model.encoder_name!r} is not a frozen encoder")
    if model.frozen_encoder is None:
        spec = model.encoder_spec or {}
        params = {**spec.get("params", {}), "device": str(device if device is not None else model_device(model))}
        attach_encoder(model, encoder_from_spec({**spec, "params": params}))
    return model.frozen_encoder


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on."""
    return next(model.parameters()).device


def attach_encoder(model: NLIModel, encoder: Encoder) -> None:
    saved, got = model.encoder_identity or {}, encoder.identity
    strip = lambda d: {k: v for k, v in d.items() if k != "versions"}  # noqa: E731
    if strip(saved) != strip(got):
        raise ValueError(f"encoder identity {got} does not match the one the head was trained with: {saved}")
    if saved.get("versions") != got.get("versions"):
        warnings.warn(f"library versions differ from training: {saved.get('versions')} vs {got.get('versions')}")
    model.frozen_encoder = encoder


def on_device(model: NLIModel, device: Any = None) -> NLIModel:
    """``model`` moved (in place) to ``device`` (None: left where it is); on the CPU torch uses every core.

    A frozen encoder already attached stays where it is (its features are moved to the model); one
    rebuilt from the model's spec is built on the model's device."""
    if device is not None:
        dev = resolve_device(device)
        if model_device(model) != dev:
            model.to(dev)
    prepare_device(model_device(model))
    return model


def output_weights(model: NLIModel) -> np.ndarray:
    """Weights from each hidden unit to the three classes: ``(3, hidden)``, rows in :data:`LABELS` order."""
    return model.mlp[3].weight.detach().cpu().numpy().copy()


def model_fingerprint(model: NLIModel) -> str:
    """Hash of every weight: probe outputs are cached against exactly these weights."""
    state = model.state_dict()
    return cache_key(model.encoder_name, model.encoder_identity, *(k for k in sorted(state)),
                     *(state[k].detach().cpu().numpy() for k in sorted(state)))


def summary(model: NLIModel) -> dict[str, Any]:
    """One row for a table of the trained models."""
    trainable = sum(p.numel() for p in model.parameters())
    return {"encoder": model.encoder_name, "feature dim": model.dim, "hidden units": model.config.hidden,
            "trained parameters": int(trainable), "best epoch": model.best_epoch,
            "vocabulary": len(model.vocab) if model.vocab else None}
