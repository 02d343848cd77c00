"""The feature cache of the frozen encoders: each sentence is encoded once per encoder identity, in chunks
that survive an interrupted run, written atomically with checksums and verified on every read.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

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
from .base import Encoder, check_batch_size, check_sentences
from .devices import describe_device


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:60].strip("-")


class FeatureCache:
    """Encoded features on disk (atomic ``.npy``), keyed by the encoder identity and the exact sentences.

    An entry that fails its checks (checksum, shape, NaN/inf) is reported, discarded and encoded again.

    **Resumable.** An encoder with a batch plan (CLIP, MiniLM) is run batch by batch in the order of one
    uninterrupted call, and every ``chunk_size`` sentences (rounded up to whole batches) the finished
    batches are written to ``<entry>.partial/chunk-NNNNNN.npy`` (atomically, with a checksum, like every
    artifact). A rerun after a kill loads the chunks that pass their checks and encodes only the rest;
    the entry it then writes is identical to an uninterrupted run's, and the ``.partial`` folder is
    removed. A partial folder made with another batch plan (batch size, device, sentences) is discarded.

    **Devices.** The device is not part of the key: it does not change what the features are. Features
    encoded on CUDA differ from CPU ones by float rounding (within ~1e-4; ``pytest -m gpu`` checks it) and
    are cached under the same key, so a CPU rerun reuses a GPU's hours of encoding instead of redoing
    them, and today's CPU entries stay valid. The price: a runs folder shared between a GPU and a CPU
    machine can hold either device's features, so such runs agree to rounding, not bit for bit; to keep
    that visible, the entry's ``.json`` records the device that encoded it (``device``) and a hit on
    features made on another kind of device says so. Encoding on the CPU stays bit-identical to before.
    """

    #: sentences between two written chunks (rounded up to whole batches)
    CHUNK_SIZE = 20_000

    def __init__(self, root: str | os.PathLike, *, verbose: bool = True, chunk_size: int | None = None):
        self.root = Path(root)
        self.verbose = verbose
        self.chunk_size = check_batch_size(self.CHUNK_SIZE if chunk_size is None else chunk_size)
        self.hits = 0
        self.misses = 0

    def path(self, encoder: Encoder, sentences: Sequence[str]) -> Path:
        ident = encoder.identity
        slug = _slug(f"{ident.get('encoder')}-{ident.get('model_name', ident.get('model', ''))}-{ident.get('weights', '')}")
        return self.root / f"{slug}-{cache_key(ident, list(sentences))}.npy"

    @staticmethod
    def partial_dir(path: Path) -> Path:
        """Where the finished chunks of the entry ``path`` wait while it is being encoded."""
        return path.with_name(path.stem + ".partial")

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    @staticmethod
    def _load(path: Path, shape: tuple[int, int]) -> np.ndarray:
        """Cached features, checked: checksum, shape and finite values (else ``CorruptArtifactError``)."""
        features = load_array(path)
        if features.shape != shape:
            raise CorruptArtifactError(path, f"shape {features.shape}, expected {shape}")
        bad = int(features.size - np.isfinite(features).sum())
        if bad:
            raise CorruptArtifactError(path, f"{bad:,} NaN or infinite values")
        return features

    def encode(self, encoder: Encoder, sentences: Sequence[str], progress: bool = True,
               batch_size: int | None = None) -> np.ndarray:
        """Cached features of ``sentences``; encodes (and stores) them only on a miss, resuming from
        the chunks a killed run left."""
        sentences = check_sentences(sentences)
        path = self.path(encoder, sentences)
        if path.is_file():
            try:
                features = self._load(path, (len(sentences), encoder.dim))
            except CorruptArtifactError as exc:
                print(exc.notice(), flush=True)  # even when quiet: the cache was damaged
                discard(path)
            else:
                self.hits += 1
                self._say(f"cache hit: {len(sentences)} sentences, {encoder.name} ({path.name}){self._made_on(path, encoder)}")
                return features
        self.misses += 1
        self._say(f"cache miss: encoding {len(sentences)} sentences with {encoder.name}")
        features = self._encode_resumable(encoder, sentences, path, batch_size, progress)
        save_array(path, features)
        write_json(path.with_suffix(".json"), {"identity": encoder.identity, "name": encoder.name,
                                               "n_sentences": len(sentences), "dim": encoder.dim,
                                               "device": _device_of(encoder)})
        shutil.rmtree(self.partial_dir(path), ignore_errors=True)
        return features

    @staticmethod
    def _made_on(path: Path, encoder: Encoder) -> str:
        """`` (encoded on cuda:0 (…))`` when the entry was made on another kind of device than ``encoder``'s."""
        with contextlib.suppress(Exception):
            made = read_json(path.with_suffix(".json")).get("device") or ""
            mine = _device_of(encoder)
            if made and made.split(" ")[0].split(":")[0] != mine.split(" ")[0].split(":")[0]:
                return f" — encoded on {made}"
        return ""

    def _encode_resumable(self, encoder: Encoder, sentences: list[str], path: Path, batch_size: int | None,
                          progress: bool) -> np.ndarray:
        """``encoder.encode(sentences)``, written chunk by chunk under :meth:`partial_dir` and resumed from it."""
        unique = list(dict.fromkeys(sentences))
        size = check_batch_size(encoder.default_batch_size if batch_size is None else batch_size)
        plan = encoder._batch_plan(unique, size) if unique else None
        if plan is None:  # an encoder without a plan: one call, as before
            return encoder.encode(sentences, batch_size=batch_size, progress=progress)
        batches, run = plan
        per_chunk = max(1, math.ceil(self.chunk_size / size))
        chunks = [batches[i:i + per_chunk] for i in range(0, len(batches), per_chunk)]
        folder = self.partial_dir(path)
        key = cache_key(path.name, size, per_chunk, encoder.dim, str(getattr(encoder, "device", "cpu")),
                        *(np.concatenate(chunk).astype(np.int64) for chunk in chunks))
        self._open_partial(folder, key, len(unique), len(chunks))
        out = np.empty((len(unique), encoder.dim), dtype=np.float32)
        resumed, finished = 0, set()
        for number, chunk in enumerate(chunks):  # the chunks of an interrupted run, before the bar opens: its rate
            file = folder / f"chunk-{number:06d}.npy"  # (and so its ETA) then counts only the sentences encoded now
            if file.is_file():
                rows = np.concatenate(chunk)
                try:
                    out[rows] = self._load(file, (len(rows), encoder.dim))
                except CorruptArtifactError as exc:
                    print(exc.notice("encoding it again"), flush=True)
                    discard(file)
                else:
                    resumed += len(rows)
                    finished.add(number)
        with tqdm(total=len(unique), initial=resumed, desc=f"encode {encoder.name}", unit="sent",
                  disable=not progress, leave=False) as bar:
            for number, chunk in enumerate(chunks):
                if number in finished:
                    continue
                rows = np.concatenate(chunk)
                file = folder / f"chunk-{number:06d}.npy"
                parts = []
                for idx in chunk:
                    parts.append(run(idx))
                    bar.update(len(idx))
                out[rows] = features = np.concatenate(parts)
                save_array(file, features)
        if resumed:
            self._say(f"resumed: {resumed:,} of {len(unique):,} sentences came from the chunks of an interrupted "
                      f"run ({shown(folder)})")
        where = {s: i for i, s in enumerate(unique)}
        return out[np.fromiter((where[s] for s in sentences), dtype=np.int64, count=len(sentences))]

    def _open_partial(self, folder: Path, key: str, n_unique: int, n_chunks: int) -> None:
        """Keep ``folder``'s chunks if they were made with this batch plan; else start it afresh."""
        manifest = folder / "plan.json"
        if folder.is_dir():
            try:
                same = read_json(manifest).get("key") == key
            except (CorruptArtifactError, FileNotFoundError, AttributeError) as exc:
                same = False
                if isinstance(exc, CorruptArtifactError):
                    print(exc.notice("starting the encoding over"), flush=True)
            if same:
                return
            if any(folder.glob("chunk-*.npy")):
                self._say(f"discarding the chunks in {shown(folder)}: made with another batch plan "
                          "(batch size, device or sentences)")
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(manifest, {"key": key, "n_unique": n_unique, "chunks": n_chunks})


def _device_of(encoder: Encoder) -> str:
    """Provenance of the device an encoder runs on (``cpu`` for encoders without one)."""
    device = getattr(encoder, "device", None)
    if device is None:
        return "cpu"
    try:
        return describe_device(device)
    except Exception:  # noqa: BLE001 - provenance only
        return str(device)
