"""What the explanations read from a trained model: the hidden units' activations, the predictions and the
accuracy on pairs, and the probe outputs saved beside the model (checked on every read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..artifacts import (
    CorruptArtifactError,
    cache_key,
    discard,
    load_array,
    read_json,
    save_array,
    shown,
    write_json,
)
from ..data.snli import LABELS
from .features import FeatureCache
from .devices import describe_device
from .batches import batched_outputs, prepare_data
from .heads import NLIModel, as_pairs, label_ids, model_device, model_fingerprint, on_device, pairs_key


def activations(model: NLIModel, pairs: Any, *, cache: FeatureCache | None = None, batch_size: int = 1024,
                progress: bool = False, device: Any = None) -> np.ndarray:
    """Post-ReLU hidden units (eval mode) for every pair: float32 ``(n_pairs, hidden)``.

    ``device``: where to compute them (the model is moved there); None: where the model is."""
    return hidden_and_predictions(model, pairs, cache=cache, batch_size=batch_size, progress=progress, device=device)[0]


def predict(model: NLIModel, pairs: Any, *, cache: FeatureCache | None = None, batch_size: int = 1024,
            progress: bool = False, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(predicted label ids in :data:`LABELS` order, probabilities float32 ``(n, 3)``); ``device`` as
    in :func:`activations`."""
    pairs = as_pairs(pairs)
    on_device(model, device)
    data = prepare_data(model, pairs, cache, progress)
    logits, _ = batched_outputs(model, data, np.arange(len(pairs)), batch_size, hidden=False)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float32)
    return logits.argmax(1).astype(np.int64), probs


def hidden_and_predictions(model: NLIModel, pairs: Any, *, cache: FeatureCache | None = None, batch_size: int = 1024,
                           progress: bool = False, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(hidden units float32 ``(n, hidden)``, predicted label ids) from one pass, e.g. for edited pairs;
    ``device`` as in :func:`activations`."""
    pairs = as_pairs(pairs)
    on_device(model, device)
    data = prepare_data(model, pairs, cache, progress)
    logits, acts = batched_outputs(model, data, np.arange(len(pairs)), batch_size)
    return acts, logits.argmax(1).astype(np.int64)


def accuracy(model: NLIModel, pairs: pd.DataFrame, *, cache: FeatureCache | None = None, device: Any = None) -> float:
    labels, _ = predict(model, pairs, cache=cache, device=device)
    return float((labels == label_ids(pairs)).mean())


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
    data = prepare_data(model, pairs, cache, progress)
    logits, acts = batched_outputs(model, data, np.arange(n), 1024)
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
