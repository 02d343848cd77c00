"""The frozen sentence encoders by name: :func:`make_encoder` builds ``clip`` (:mod:`.clip`) or ``minilm``
(:mod:`.minilm`), :func:`encoder_from_spec` rebuilds the one a saved model recorded, and
:func:`compare_with_encode_text` checks our fast encoding against the library's own.

The LSTM is not here: it trains with its head (:mod:`.lstm`, :mod:`.training`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import Encoder, check_sentences
from .clip import ClipTextEncoder
from .minilm import MiniLMEncoder


ENCODER_NAMES = ("clip", "minilm")


def make_encoder(name: str, **params: Any) -> Encoder:
    """``"clip"`` → :class:`ClipTextEncoder` (``params`` as its arguments), ``"minilm"`` → :class:`MiniLMEncoder`."""
    if name == "clip":
        return ClipTextEncoder(**params)
    if name == "minilm":
        return MiniLMEncoder(**params)
    if name == "lstm":
        raise ValueError("encoder 'lstm' is trained end-to-end with its head (see training.train); it is not a frozen encoder")
    raise ValueError(f"encoder name must be one of {', '.join(ENCODER_NAMES)}; got {name!r}")


def compare_with_encode_text(encoder: Encoder, sentences: Sequence[str], batch_size: int | None = None) -> dict[str, Any]:
    """One timing row: ``encoder.encode`` vs ``model.encode_text(tokenizer(texts))`` batched the same.

    For encoders without ``encode_reference`` (MiniLM: sentence-transformers already sorts by length)
    the reference columns are NaN.
    """
    import time

    sentences = check_sentences(sentences)
    encoder.encode(sentences[:4], batch_size=batch_size, progress=False)  # warm-up
    start = time.perf_counter()
    ours = encoder.encode(sentences, batch_size=batch_size, progress=False)
    t_ours = time.perf_counter() - start
    row = {"encoder": encoder.identity.get("encoder"), "name": encoder.name, "sentences": len(sentences),
           "sentences_per_s": len(sentences) / max(t_ours, 1e-9), "encode_text_sentences_per_s": np.nan,
           "speedup": np.nan, "max_abs_difference": np.nan}
    reference_fn = getattr(encoder, "encode_reference", None)
    if reference_fn is not None and sentences:
        reference_fn(sentences[:4], batch_size=batch_size)
        start = time.perf_counter()
        reference = reference_fn(sentences, batch_size=batch_size)
        t_ref = time.perf_counter() - start
        row.update(encode_text_sentences_per_s=len(sentences) / t_ref, speedup=t_ref / max(t_ours, 1e-9),
                   max_abs_difference=float(np.abs(ours - reference).max()))
    return row


def encoder_from_spec(spec: dict[str, Any]) -> Encoder:
    """Rebuild an encoder from its ``.spec`` (as saved next to a trained head)."""
    return make_encoder(spec["encoder"], **spec.get("params", {}))
