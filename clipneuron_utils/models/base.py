"""What every frozen sentence encoder is: the :class:`Encoder` interface (name, dimension, identity,
``encode``) and the checks on its inputs, so that CLIP and MiniLM fail alike on bad sentences.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm



class Encoder:
    """Common behaviour: input checks, de-duplication and the progress bar live here."""

    name: str = "encoder"
    dim: int = 0
    default_batch_size: int = 128

    @property
    def identity(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def spec(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _batch_plan(self, sentences: list[str], batch_size: int) -> tuple[list[np.ndarray], Any] | None:
        """``(batches, run)``: the index arrays of the batches in the order this encoder runs them, and
        ``run(idx) -> float32 (len(idx), dim)`` that encodes one of them; ``None`` if the encoder has none.

        Encoding batch by batch in this order gives exactly the features of one uninterrupted call, so
        :class:`FeatureCache` can store finished batches as it goes and resume a killed encoding.
        """
        return None

    def _encode_unique(self, sentences: list[str], batch_size: int, progress: bool) -> np.ndarray:
        plan = self._batch_plan(sentences, batch_size)
        if plan is None:  # pragma: no cover - an encoder implements one of the two
            raise NotImplementedError
        batches, run = plan
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        with tqdm(total=len(sentences), desc=f"encode {self.name}", unit="sent", disable=not progress,
                  leave=False) as bar:
            for idx in batches:
                out[idx] = run(idx)
                bar.update(len(idx))
        return out

    def encode(self, sentences: Sequence[str], batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        """Features of ``sentences`` in their order, float32 ``(n, dim)``; duplicates are encoded once."""
        sentences = check_sentences(sentences)
        batch_size = check_batch_size(self.default_batch_size if batch_size is None else batch_size)
        unique = list(dict.fromkeys(sentences))
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        where = {s: i for i, s in enumerate(unique)}
        features = self._encode_unique(unique, batch_size, progress)
        features = np.ascontiguousarray(features, dtype=np.float32)
        return features[np.fromiter((where[s] for s in sentences), dtype=np.int64, count=len(sentences))]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"


def check_sentences(sentences: Any) -> list[str]:
    if isinstance(sentences, str) or not isinstance(sentences, Iterable):
        raise TypeError("sentences must be a list of strings (not a single string)")
    sentences = list(sentences)
    bad = [s for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"sentences must all be str; got {type(bad[0]).__name__} ({bad[0]!r})")
    return sentences


def check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return int(batch_size)


def library_versions(*modules: str) -> dict[str, str]:
    import importlib

    out = {}
    for module in modules:
        try:
            out[module] = str(importlib.import_module(module).__version__)
        except Exception:  # noqa: BLE001 - provenance only
            out[module] = "unknown"
    return out
