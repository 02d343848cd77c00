"""Training a head (and the LSTM with it): seeded, with a progress bar, one line per epoch, early
stopping on a held-out slice of the training pairs, and a checkpoint per epoch so that a killed training
resumes bit for bit instead of starting over. Runs on ``device`` (``auto`` | ``cpu`` | ``cuda`` |
``cuda:N``), which is no part of what makes a saved model reusable.
"""

from __future__ import annotations

import copy
import json
import random
import time
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
    record_checksum,
    shown,
    verify,
)
from .base import Encoder
from .features import FeatureCache
from .devices import prepare_device, describe_device, resolve_device
from .encoders import make_encoder
from ..seeding import seed_everything
from .batches import minibatches, batched_outputs, prepare_data, pair_vectors
from .heads import (
    FORMAT,
    FROZEN,
    HeadConfig,
    NLIModel,
    check_encoder_name,
    as_pairs,
    label_ids,
    model_device,
    training_key,
)
from .lstm import build_vocab, lstm_identity


def train(encoder_name: str, train_pairs: pd.DataFrame, config: HeadConfig | None = None, *,
          encoder: Encoder | None = None, encoder_params: dict | None = None, cache: FeatureCache | None = None,
          progress: bool = True, verbose: bool = True, device: Any = "auto",
          checkpoint: str | Path | None = None) -> NLIModel:
    """Train the classifier for ``encoder_name`` on labelled pairs; returns it in eval mode with ``.history``.

    ``device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` (see
    :func:`~clipneuron_utils.models.devices.resolve_device`); the model is initialised on the CPU and moved,
    so its initial weights do not depend on the device, and it is returned on ``device``. On the CPU,
    torch uses every core (:func:`~clipneuron_utils.models.devices.use_all_cores`).

    ``checkpoint``: a file to which the whole training state is written after every epoch (weights,
    optimizer, the random states of NumPy, Python and torch, history and early-stopping state;
    atomically, with a checksum). If it exists and was made by this same training (config, encoder,
    data, device type), training resumes after its epoch, and the result equals an uninterrupted run's
    bit for bit on the same machine. The caller deletes it once the model is saved (:func:`fit_or_load` does).
    """
    check_encoder_name(encoder_name)
    config = config or HeadConfig()
    if not isinstance(config, HeadConfig):
        raise ValueError(f"config must be a HeadConfig, got {type(config).__name__}")
    train_pairs = as_pairs(train_pairs)
    y_all = label_ids(train_pairs)
    if config.shuffle_labels:  # a control: its own generator, so the rest of training draws as the model's does
        y_all = np.random.default_rng([config.seed, 1]).permutation(y_all)
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
    prepare_device(dev)
    model.to(dev)
    model.trained_on = describe_device(dev)
    data = prepare_data(model, train_pairs, cache, progress)

    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(len(train_pairs))
    n_val = min(len(perm) - 1, max(1, round(config.val_fraction * len(perm)))) if config.val_fraction > 0 else 0
    val_idx, fit_idx = np.sort(perm[:n_val]), perm[n_val:]
    y_cpu = torch.from_numpy(y_all)
    y = y_cpu.to(dev)
    if config.freeze_lstm:
        if model.lstm is None:
            raise ValueError(f"freeze_lstm is a control of the LSTM; the {encoder_name} model has none")
        model.lstm.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
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
        batches = minibatches(fit_idx, config, rng, data if model.lstm is not None and config.lstm_bucket else None)
        for idx in tqdm(batches, desc=f"epoch {epoch}/{max_epochs}", unit="batch", disable=not progress, leave=False):
            logits = model(*pair_vectors(model, data, idx))
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
            logits, _ = batched_outputs(model, data, val_idx, 1024, hidden=False)
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
