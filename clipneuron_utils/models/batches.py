"""How pairs become encoder inputs in batches, for training and for reading outputs alike.

Frozen encoders give cached features; the LSTM gets padded token ids. Batches are drawn from pools of
similar-length pairs so padding stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data.snli import LABELS
from .features import FeatureCache
from .heads import HeadConfig, NLIModel, frozen_encoder, model_device


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


def prepare_data(model: NLIModel, pairs: pd.DataFrame, cache: FeatureCache | None, progress: bool) -> _Data:
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


def pair_vectors(model: NLIModel, data: _Data, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if data.u is not None:
        t = torch.from_numpy(idx).to(data.u.device)
        return data.u[t], data.v[t]
    # premises and hypotheses padded separately: hypotheses are much shorter
    device = model_device(model)
    u = model.lstm(*(t.to(device) for t in _padded([data.p_ids[i] for i in idx])))
    v = model.lstm(*(t.to(device) for t in _padded([data.h_ids[i] for i in idx])))
    return u, v


def minibatches(fit_idx: np.ndarray, config: HeadConfig, rng: np.random.Generator, data: _Data | None) -> list[np.ndarray]:
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


def batched_outputs(model: NLIModel, data: _Data, idx: np.ndarray, batch_size: int, hidden: bool = True):
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
            h = model.hidden_units(*pair_vectors(model, data, idx[rows]))
            logits[rows] = model.mlp[3](model.mlp[2](h)).cpu().numpy()
            if hidden:
                acts[rows] = h.cpu().numpy()
    return logits, acts
