"""The NLI classifier of the paper: one MLP head design over three sentence encoders.

``u = E(premise)``, ``v = E(hypothesis)``, features ``[u; v; u-v; u*v]`` → Linear(4d → hidden=1024) → ReLU
→ Dropout(0.1) → Linear(hidden → 3). The probed neurons are the ``hidden`` post-ReLU units in eval mode.

* ``clip`` / ``minilm``: the encoder is frozen, so only the head trains, on features from a
  :class:`~clipneuron_utils.models.encoders.FeatureCache` (a rerun never re-encodes).
* ``lstm``: the Bowman et al. (2016) encoder Mu & Andreas probed (embeddings 300 → LSTM 512, final
  state; bidirectional as the paper says, ``lstm_bidirectional=False`` for what the original code ran),
  trained end-to-end with the head; the vocabulary comes from the training pairs.

Training is seeded, shows a progress bar, prints one line per epoch and stops early on a held-out slice of
the training pairs. A trained model is saved (weights, config, vocabulary, encoder identity) so later
chapters reload it without retraining; :func:`fit_or_load` does that when config, encoder and data match,
and checkpoints every epoch so that a killed training resumes (bit for bit) instead of starting over.
Training and probing run on ``device`` (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``), which is no part of
what makes a saved model reusable.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..artifacts import (
    CorruptArtifactError,
    atomic_path,
    cache_key,
    discard,
    load_array,
    load_frame,
    read_json,
    record_checksum,
    save_array,
    save_frame,
    shown,
    verify,
    write_json,
)
from ..data.snli import LABELS
from .encoders import (
    Encoder,
    FeatureCache,
    _prepare_device,
    describe_device,
    encoder_from_spec,
    make_encoder,
    resolve_device,
)
from ..seeding import seed_everything

ENCODERS = ("clip", "lstm", "minilm")
FROZEN = ("clip", "minilm")
PAD, UNK = "<pad>", "<unk>"
FORMAT = 2  # 2: the head has the input normalisation (``input_norm``); format-1 models load without it
_TOKEN = re.compile(r"\w+(?=n't)|n't|'\w+|\w+|[^\w\s]")


# --------------------------------------------------------------------------------------------- config


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
        return dataclasses.asdict(self)


def _check_encoder_name(name: Any) -> str:
    if name not in ENCODERS:
        raise ValueError(f"encoder name must be one of {', '.join(ENCODERS)}; got {name!r}")
    return name


# --------------------------------------------------------------------------------------------- pairs


def simple_tokenize(text: str) -> list[str]:
    """Lowercased word and punctuation tokens, close to SNLI's parse leaves (for pairs a reader writes)."""
    return _TOKEN.findall(text.lower())


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


def build_vocab(pairs: pd.DataFrame, max_vocab: int | None = None, min_freq: int = 1) -> list[str]:
    """``[<pad>, <unk>]`` + training tokens by decreasing count (ties: alphabetical)."""
    counts = Counter(t for col in ("premise_tokens", "hypothesis_tokens") for toks in pairs[col] for t in toks)
    words = sorted((w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)), key=lambda w: (-counts[w], w))
    return [PAD, UNK] + (words[:max_vocab] if max_vocab else words)


# --------------------------------------------------------------------------------------------- modules


class LSTMEncoder(nn.Module):
    """Word embeddings → LSTM → final hidden state of each direction, concatenated (``d = 512`` or ``1024``).

    Equal to ``nn.LSTM(bidirectional=...)`` over packed sequences (see the tests), but run as one LSTM per
    direction over right-padded batches, the right-to-left one on each sentence reversed in place, and the
    state read at each sentence's last real token: on CPU, PyTorch's backward through packed sequences is
    ~9x slower than through padded ones, and padding after the last token never reaches that state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 300, hidden_dim: int = 512, bidirectional: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, batch_first=True)
        self.rnn_reverse = nn.LSTM(embedding_dim, hidden_dim, batch_first=True) if bidirectional else None
        self.dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``ids``: ``(batch, time)`` right-padded with 0; ``lengths``: real tokens per row (>= 1)."""
        rows, last = torch.arange(ids.shape[0], device=ids.device), lengths - 1
        states = [self.rnn(self.embedding(ids))[0][rows, last]]
        if self.rnn_reverse is not None:
            steps = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            backwards = (last.unsqueeze(1) - steps).clamp(min=0)
            reversed_ids = ids.gather(1, backwards) * (steps < lengths.unsqueeze(1))
            states.append(self.rnn_reverse(self.embedding(reversed_ids))[0][rows, last])
        return torch.cat(states, dim=1)


class NLIModel(nn.Module):
    """Encoder (LSTM, or a reference to a frozen one) + the MLP head; ``mlp[1]`` outputs the probed units.

    The head is Mu & Andreas' (compexp ``nli/code/models.py``): ``[u; v; u−v; u∗v]`` → BatchNorm1d →
    Dropout → Linear(4d → hidden) → ReLU → Dropout → Linear(hidden → 3). The first two layers are
    ``input_norm`` (an identity when ``config.input_norm`` is off), so ``mlp`` keeps its indices.
    """

    def __init__(self, encoder_name: str, config: HeadConfig, dim: int, *, vocab: list[str] | None = None,
                 encoder_spec: dict | None = None, encoder_identity: dict | None = None):
        super().__init__()
        self.encoder_name = _check_encoder_name(encoder_name)
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
        _attach(model, encoder_from_spec({**spec, "params": params}))
    return model.frozen_encoder


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on."""
    return next(model.parameters()).device


def _attach(model: NLIModel, encoder: Encoder) -> None:
    saved, got = model.encoder_identity or {}, encoder.identity
    strip = lambda d: {k: v for k, v in d.items() if k != "versions"}  # noqa: E731
    if strip(saved) != strip(got):
        raise ValueError(f"encoder identity {got} does not match the one the head was trained with: {saved}")
    if saved.get("versions") != got.get("versions"):
        warnings.warn(f"library versions differ from training: {saved.get('versions')} vs {got.get('versions')}")
    model.frozen_encoder = encoder


# --------------------------------------------------------------------------------------------- data → (u, v)


@dataclass
class _Data:
    n: int
    u: torch.Tensor | None = None  # frozen features
    v: torch.Tensor | None = None
    p_ids: list[np.ndarray] | None = None  # lstm token ids
    h_ids: list[np.ndarray] | None = None

    def to(self, device: torch.device) -> "_Data":
        """Frozen features moved to ``device`` (token ids are padded and moved batch by batch)."""
        if self.u is not None:
            self.u, self.v = self.u.to(device), self.v.to(device)
        return self


def _prepare(model: NLIModel, pairs: pd.DataFrame, cache: FeatureCache | None, progress: bool) -> _Data:
    if model.encoder_name == "lstm":
        index = model.token_index
        ids = lambda toks: np.array([index.get(t, 1) for t in toks] or [1], dtype=np.int64)  # noqa: E731
        return _Data(len(pairs), p_ids=[ids(t) for t in pairs["premise_tokens"]],
                     h_ids=[ids(t) for t in pairs["hypothesis_tokens"]])
    encoder = frozen_encoder(model)  # on the model's device when it is rebuilt here
    premises, hypotheses = list(pairs["premise"]), list(pairs["hypothesis"])
    sentences = list(dict.fromkeys(premises + hypotheses))
    feats = cache.encode(encoder, sentences, progress=progress) if cache is not None else \
        encoder.encode(sentences, progress=progress)
    where = {s: i for i, s in enumerate(sentences)}
    take = lambda xs: torch.from_numpy(feats[[where[s] for s in xs]])  # noqa: E731
    return _Data(len(pairs), u=take(premises), v=take(hypotheses)).to(model_device(model))


def _padded(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    padded = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for row, s in enumerate(seqs):
        padded[row, : len(s)] = s
    return torch.from_numpy(padded), torch.from_numpy(lengths)


def _uv(model: NLIModel, data: _Data, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if data.u is not None:
        t = torch.from_numpy(idx).to(data.u.device)
        return data.u[t], data.v[t]
    # premises and hypotheses padded separately: hypotheses are much shorter
    device = model_device(model)
    u = model.lstm(*(t.to(device) for t in _padded([data.p_ids[i] for i in idx])))
    v = model.lstm(*(t.to(device) for t in _padded([data.h_ids[i] for i in idx])))
    return u, v


def _batches(fit_idx: np.ndarray, config: HeadConfig, rng: np.random.Generator, data: _Data | None) -> list[np.ndarray]:
    """Shuffled minibatches; with ``data`` (LSTM bucketing), pools of 50 batches are sorted by
    (premise, hypothesis) length before being cut into batches, and the batch order is shuffled."""
    order, size = rng.permutation(fit_idx), config.batch_size
    if data is None:
        return _no_single_pair([order[i:i + size] for i in range(0, len(order), size)])
    batches = []
    for start in range(0, len(order), 50 * size):
        pool = order[start:start + 50 * size]
        key = np.array([len(data.p_ids[i]) * 1000 + len(data.h_ids[i]) for i in pool])
        pool = pool[np.argsort(key, kind="stable")]
        batches += [pool[i:i + size] for i in range(0, len(pool), size)]
    return _no_single_pair([batches[i] for i in rng.permutation(len(batches))])


def _no_single_pair(batches: list[np.ndarray]) -> list[np.ndarray]:
    """Fold a one-pair batch into its neighbour: BatchNorm cannot normalise a batch of one in training."""
    for i, batch in enumerate(batches):
        if len(batch) == 1 and len(batches) > 1:
            j = i - 1 if i > 0 else 1
            batches[j] = np.concatenate([batches[j], batch])
            return [b for k, b in enumerate(batches) if k != i]
    return batches


def _outputs(model: NLIModel, data: _Data, idx: np.ndarray, batch_size: int, hidden: bool = True):
    """(logits, hidden units) for ``idx`` in eval mode, batched (LSTM: by length, then put back in order)."""
    model.eval()
    order = np.arange(len(idx))
    if data.p_ids is not None:
        order = np.argsort([len(data.p_ids[i]) * 1000 + len(data.h_ids[i]) for i in idx], kind="stable")
    logits = np.zeros((len(idx), len(LABELS)), dtype=np.float32)
    acts = np.zeros((len(idx), model.config.hidden), dtype=np.float32) if hidden else None
    with torch.inference_mode():
        for start in range(0, len(idx), batch_size):
            rows = order[start:start + batch_size]
            h = model.hidden_units(*_uv(model, data, idx[rows]))
            logits[rows] = model.mlp[3](model.mlp[2](h)).cpu().numpy()
            if hidden:
                acts[rows] = h.cpu().numpy()
    return logits, acts


# --------------------------------------------------------------------------------------------- training


def train(encoder_name: str, train_pairs: pd.DataFrame, config: HeadConfig | None = None, *,
          encoder: Encoder | None = None, encoder_params: dict | None = None, cache: FeatureCache | None = None,
          progress: bool = True, verbose: bool = True, device: Any = "auto",
          checkpoint: str | Path | None = None) -> NLIModel:
    """Train the classifier for ``encoder_name`` on labelled pairs; returns it in eval mode with ``.history``.

    ``device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` (see
    :func:`~clipneuron_utils.models.encoders.resolve_device`); the model is initialised on the CPU and moved,
    so its initial weights do not depend on the device, and it is returned on ``device``. On the CPU,
    torch uses every core (:func:`~clipneuron_utils.models.encoders.use_all_cores`).

    ``checkpoint``: a file to which the whole training state is written after every epoch (weights,
    optimizer, the random states of NumPy, Python and torch, history and early-stopping state;
    atomically, with a checksum). If it exists and was made by this same training (config, encoder,
    data, device type), training resumes after its epoch, and the result equals an uninterrupted run's
    bit for bit on the same machine. The caller deletes it once the model is saved (:func:`fit_or_load` does).
    """
    _check_encoder_name(encoder_name)
    config = config or HeadConfig()
    if not isinstance(config, HeadConfig):
        raise ValueError(f"config must be a HeadConfig, got {type(config).__name__}")
    train_pairs = as_pairs(train_pairs)
    y_all = label_ids(train_pairs)
    if len(train_pairs) < 2:
        raise ValueError("train_pairs must hold at least 2 labelled pairs")
    dev = resolve_device(device)
    if encoder_name in FROZEN:
        encoder = encoder or make_encoder(encoder_name, device=str(dev), **(encoder_params or {}))
        if encoder.identity.get("encoder") != encoder_name:
            raise ValueError(f"encoder {encoder.name!r} is not a {encoder_name!r} encoder")
        model_args = dict(dim=encoder.dim, encoder_spec=encoder.spec, encoder_identity=encoder.identity)
    else:
        vocab = build_vocab(train_pairs, config.lstm_max_vocab, config.lstm_min_freq)
        model_args = dict(dim=0, vocab=vocab, encoder_identity=lstm_identity())
    seed_everything(config.seed)
    model = NLIModel(encoder_name, config, **model_args)  # initialised on the CPU whatever the device
    if encoder is not None:
        model.frozen_encoder = encoder
    _prepare_device(dev)
    model.to(dev)
    model.trained_on = describe_device(dev)
    data = _prepare(model, train_pairs, cache, progress)

    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(len(train_pairs))
    n_val = min(len(perm) - 1, max(1, round(config.val_fraction * len(perm)))) if config.val_fraction > 0 else 0
    val_idx, fit_idx = np.sort(perm[:n_val]), perm[n_val:]
    y_cpu = torch.from_numpy(y_all)
    y = y_cpu.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    rows, best, best_state, stale = [], np.inf, None, 0
    max_epochs = config.lstm_max_epochs if model.lstm is not None and config.lstm_max_epochs else config.max_epochs
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    run_key = cache_key(encoder_name, config.to_dict(), model_args.get("encoder_identity"), training_key(train_pairs),
                        FORMAT, dev.type)
    done = 0
    if checkpoint is not None:
        state = _load_checkpoint(checkpoint, run_key, model, optimizer, rng, verbose)
        if state is not None:
            done, rows, best, best_state, stale = (state["epoch"], state["rows"], state["best"], state["best_state"],
                                                   state["stale"])
            model.best_epoch = state["best_epoch"]
    if verbose:
        print(f"training {encoder_name} model: {len(fit_idx)} pairs (+{n_val} held out), "
              f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters", flush=True)
        if done:
            print(f"resuming after epoch {done} of at most {max_epochs} from {shown(checkpoint)}", flush=True)
    stopped = bool(n_val) and stale >= config.patience
    for epoch in range(done + 1, max_epochs + 1):
        if stopped:
            break
        start = time.perf_counter()
        model.train()
        total, correct, seen = 0.0, 0, 0
        batches = _batches(fit_idx, config, rng, data if model.lstm is not None and config.lstm_bucket else None)
        for idx in tqdm(batches, desc=f"epoch {epoch}/{max_epochs}", unit="batch", disable=not progress, leave=False):
            logits = model(*_uv(model, data, idx))
            target = y[torch.from_numpy(idx).to(dev)]
            loss = loss_fn(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach().item() * len(idx)
            correct += int((logits.argmax(1) == target).sum())
            seen += len(idx)
        row = {"epoch": epoch, "train_loss": total / seen, "train_acc": correct / seen,
               "val_loss": np.nan, "val_acc": np.nan}
        if n_val:
            logits, _ = _outputs(model, data, val_idx, 1024, hidden=False)
            lt = torch.from_numpy(logits)
            row["val_loss"] = float(loss_fn(lt, y_cpu[torch.from_numpy(val_idx)]))
            row["val_acc"] = float((lt.argmax(1) == y_cpu[torch.from_numpy(val_idx)]).float().mean())
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        score = -row["val_acc"] if config.monitor == "val_acc" else row["val_loss"]  # lower is better
        improved = bool(n_val) and score < best - 1e-9
        if improved:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
            model.best_epoch = epoch
        elif n_val:
            stale += 1
        if verbose:
            print(f"epoch {epoch:>3}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
                  f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} | {row['seconds']:.1f}s"
                  + (" *" if improved else ""), flush=True)
        stopped = bool(n_val) and stale >= config.patience
        if checkpoint is not None:
            _save_checkpoint(checkpoint, run_key, model, optimizer, rng, epoch=epoch, rows=rows, best=best,
                             best_state=best_state, stale=stale)
    if stopped and verbose:
        print(f"early stopping: no better {config.monitor} for {config.patience} epochs; "
              f"keeping epoch {model.best_epoch}", flush=True)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        model.best_epoch = len(rows)
    model.history = pd.DataFrame(rows, columns=["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"])
    model.history.attrs["best_epoch"] = model.best_epoch
    model.train_key = training_key(train_pairs)
    return model.eval()


# --------------------------------------------------------------------------------------------- checkpoints

CHECKPOINT = "checkpoint.pt"  # in the model's folder while it trains; removed once the model is saved


def _save_checkpoint(path: Path, key: str, model: NLIModel, optimizer, rng: np.random.Generator, *, epoch: int,
                     rows: list[dict], best: float, best_state: dict | None, stale: int) -> None:
    """Everything the next epoch depends on, atomically with a checksum (tensors + one JSON string)."""
    state = {
        "key": key, "epoch": int(epoch), "stale": int(stale), "best": float(best), "best_epoch": model.best_epoch,
        "rows": [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in rows],
        "has_best": best_state is not None,
        "numpy_rng": rng.bit_generator.state, "python_random": random.getstate(),
    }
    payload = {
        "meta": json.dumps(state),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "best_state": best_state if best_state is not None else {},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if model_device(model).type == "cuda" else [],
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)
    record_checksum(path)


def _load_checkpoint(path: Path, key: str, model: NLIModel, optimizer, rng: np.random.Generator,
                     verbose: bool) -> dict | None:
    """Restore a checkpoint of this training into ``model``, ``optimizer``, ``rng`` and the global random
    states; returns its bookkeeping, or None (no checkpoint, a damaged one, or one of another training)."""
    if not path.is_file():
        return None
    try:
        verify(path)
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state = json.loads(payload["meta"])
    except CorruptArtifactError as exc:
        print(exc.notice("training from the start"), flush=True)
        discard(path)
        return None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable despite its checksum: start over
        print(CorruptArtifactError.unparsable(path, exc).notice("training from the start"), flush=True)
        discard(path)
        return None
    if state.get("key") != key:
        if verbose:
            print(f"ignoring the checkpoint in {shown(path)}: it belongs to another training (config, encoder, data "
                  "or device type); training from the start", flush=True)
        discard(path)
        return None
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    version, internal, gauss = state["python_random"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(payload["torch_rng"])
    if payload["cuda_rng"]:
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    device = model_device(model)
    best_state = ({k: v.to(device) for k, v in payload["best_state"].items()} if state["has_best"] else None)
    return {**state, "best_state": best_state}


def lstm_identity() -> dict[str, Any]:
    return {"encoder": "lstm", "versions": {"torch": torch.__version__}}


# --------------------------------------------------------------------------------------------- outputs


def on_device(model: NLIModel, device: Any = None) -> NLIModel:
    """``model`` moved (in place) to ``device`` (None: left where it is); on the CPU torch uses every core.

    A frozen encoder already attached stays where it is (its features are moved to the model); one
    rebuilt from the model's spec is built on the model's device."""
    if device is not None:
        dev = resolve_device(device)
        if model_device(model) != dev:
            model.to(dev)
    _prepare_device(model_device(model))
    return model


def activations(model: NLIModel, pairs: Any, *, cache: FeatureCache | None = None, batch_size: int = 1024,
                progress: bool = False, device: Any = None) -> np.ndarray:
    """Post-ReLU hidden units (eval mode) for every pair: float32 ``(n_pairs, hidden)``.

    ``device``: where to compute them (the model is moved there); None: where the model is."""
    pairs = as_pairs(pairs)
    on_device(model, device)
    data = _prepare(model, pairs, cache, progress)
    return _outputs(model, data, np.arange(len(pairs)), batch_size)[1]


def predict(model: NLIModel, pairs: Any, *, cache: FeatureCache | None = None, batch_size: int = 1024,
            progress: bool = False, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(predicted label ids in :data:`LABELS` order, probabilities float32 ``(n, 3)``); ``device`` as
    in :func:`activations`."""
    pairs = as_pairs(pairs)
    on_device(model, device)
    data = _prepare(model, pairs, cache, progress)
    logits, _ = _outputs(model, data, np.arange(len(pairs)), batch_size, hidden=False)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float32)
    return logits.argmax(1).astype(np.int64), probs


def accuracy(model: NLIModel, pairs: pd.DataFrame, *, cache: FeatureCache | None = None, device: Any = None) -> float:
    labels, _ = predict(model, pairs, cache=cache, device=device)
    return float((labels == label_ids(pairs)).mean())


def output_weights(model: NLIModel) -> np.ndarray:
    """Weights from each hidden unit to the three classes: ``(3, hidden)``, rows in :data:`LABELS` order."""
    return model.mlp[3].weight.detach().cpu().numpy().copy()


def model_fingerprint(model: NLIModel) -> str:
    """Hash of every weight: probe outputs are cached against exactly these weights."""
    state = model.state_dict()
    return cache_key(model.encoder_name, model.encoder_identity, *(k for k in sorted(state)),
                     *(state[k].detach().cpu().numpy() for k in sorted(state)))


def probe_outputs(model: NLIModel, pairs: Any, folder: str | Path, name: str = "probe", *,
                  cache: FeatureCache | None = None, progress: bool = True, device: Any = None) -> dict[str, np.ndarray]:
    """Activations, predictions and probabilities for a probe set, saved next to the model (atomic ``.npy``).

    Reused when the model's weights and the pairs are the same as when they were saved. A saved file
    that fails its checks (checksum, shape, NaN/inf) is reported, discarded and recomputed; files that
    passed are kept as they are. ``device``: where they are computed on a miss (the model is moved
    there; None: where it is). The device is not part of the key — CUDA activations differ from CPU ones
    by float rounding only — and ``<name>.json`` records it (``device``).
    """
    pairs = as_pairs(pairs)
    folder = Path(folder)
    files = {k: folder / f"{name}_{k}.npy" for k in ("activations", "predictions", "probabilities")}
    key = cache_key(model_fingerprint(model), pairs_key(pairs))
    meta_path = folder / f"{name}.json"
    n = len(pairs)
    shapes = {"activations": (n, model.config.hidden), "predictions": (n,), "probabilities": (n, len(LABELS))}
    meta: dict | None = None
    if meta_path.is_file():
        try:
            meta = read_json(meta_path)
        except CorruptArtifactError as exc:
            print(exc.notice(), flush=True)
            discard(meta_path)
    saved: dict[str, np.ndarray] = {}
    if isinstance(meta, dict) and meta.get("key") == key:
        for k, path in files.items():
            if not path.is_file():
                continue
            try:
                saved[k] = _saved_output(path, shapes[k], finite=k != "predictions" and meta.get("finite", True))
            except CorruptArtifactError as exc:
                print(exc.notice(), flush=True)
                discard(path)
        if len(saved) == len(files):
            print(f"cache hit: {name} outputs for {n} pairs ({shown(folder)})", flush=True)
            return saved
    on_device(model, device)  # only when they are computed: a cache hit needs no device
    data = _prepare(model, pairs, cache, progress)
    logits, acts = _outputs(model, data, np.arange(n), 1024)
    out = {"activations": acts, "predictions": logits.argmax(1).astype(np.int64),
           "probabilities": torch.softmax(torch.from_numpy(logits), 1).numpy().astype(np.float32)}
    for k, path in files.items():
        if k not in saved or not np.array_equal(saved[k], out[k]):
            save_array(path, out[k])
    finite = bool(np.isfinite(acts).all() and np.isfinite(out["probabilities"]).all())
    new_meta = {"key": key, "n_pairs": n, "hidden": model.config.hidden, "pairs_key": pairs_key(pairs), "finite": finite,
                "device": describe_device(model_device(model))}
    if meta != new_meta:  # written last: it vouches for the arrays
        write_json(meta_path, new_meta)
    return out


def _saved_output(path: Path, shape: tuple[int, ...], finite: bool) -> np.ndarray:
    """One saved probe output, checked: checksum, shape and (unless the model itself made them) NaN/inf."""
    array = load_array(path)
    if array.shape != shape:
        raise CorruptArtifactError(path, f"shape {array.shape}, expected {shape}")
    if finite:
        bad = int(array.size - np.isfinite(array).sum())
        if bad:
            raise CorruptArtifactError(path, f"{bad:,} NaN or infinite values, though the model gave finite ones")
    return array


# --------------------------------------------------------------------------------------------- save / load


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
                                              f"({FORMAT})", "Update clipneuron, or retrain with chapter 3.")
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
        _attach(model, encoder)
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
    _check_encoder_name(encoder_name)
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
    model = train(encoder_name, train_pairs, config, encoder=encoder, cache=cache, progress=progress, verbose=verbose,
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


def summary(model: NLIModel) -> dict[str, Any]:
    """One row for a table of the trained models."""
    trainable = sum(p.numel() for p in model.parameters())
    return {"encoder": model.encoder_name, "feature dim": model.dim, "hidden units": model.config.hidden,
            "trained parameters": int(trainable), "best epoch": model.best_epoch,
            "vocabulary": len(model.vocab) if model.vocab else None}
