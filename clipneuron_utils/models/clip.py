"""CLIP's text tower (open_clip), frozen: the paper's encoder.

Weights come from open_clip's own download (``openai``), from a local checkpoint file (checked by
SHA-256), or are explicitly ``untrained`` (an architecture-only control, always labelled so); a missing
checkpoint is an error that says how to get one, never a quiet switch to random weights. The tower is
causal, so each batch is cut to its longest real sequence instead of 77 tokens: bit-identical features,
about 10× faster on CPU. Also the tiny random config of the smoke profile.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import numpy as np
from tqdm.auto import tqdm

from ..artifacts import (
    cache_key,
    file_sha256,
)
from .base import Encoder, check_batch_size, check_sentences, library_versions
from .devices import prepare_device, resolve_device


TINY_MODEL = "clipneuron-tiny"


#: a CLIP-shaped model small enough for the smoke profile and the tests (random init only)
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


_CUT_POOLS = ("argmax", "eos", "first")  # pooling types whose output does not move when padding is cut


class ClipWeightsError(RuntimeError):
    """CLIP weights could not be obtained (or failed their checksum); the message says how to get them."""


_tiny_dir: str | None = None


def register_tiny_config() -> str:
    """Register :data:`TINY_CONFIG` with open_clip as ``clipneuron-tiny`` (idempotent); return the name."""
    global _tiny_dir
    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        if _tiny_dir is None:
            _tiny_dir = tempfile.mkdtemp(prefix="clipneuron-openclip-")
            atexit.register(shutil.rmtree, _tiny_dir, True)
        path = Path(_tiny_dir) / f"{TINY_MODEL}.json"
        path.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
        open_clip.add_model_config(path)
    return TINY_MODEL


def _offline_env() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the URL's host opens within ``timeout`` (proxies: assume yes)."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _how_to(model_name: str, tag: str) -> str:
    import open_clip

    url = open_clip.get_pretrained_url(model_name, tag) if tag else ""
    hf = (open_clip.get_pretrained_cfg(model_name, tag) or {}).get("hf_hub", "") if tag else ""
    lines = [
        "How to obtain the weights:",
        f"  1. run once on a machine with internet: ClipTextEncoder({model_name!r}, {tag or 'openai'!r}) — open_clip "
        "caches the file (Hugging Face cache ~/.cache/huggingface/hub, or ~/.cache/clip) and later runs read it offline;",
        "  2. or download the checkpoint yourself and pass its path and SHA-256: "
        "ClipTextEncoder(model_name, weights='/path/to/checkpoint', sha256='<hex>')"
        + (f" (e.g. {url}; OpenAI's file name embeds its SHA-256)" if url else "")
        + (f" or the file from https://huggingface.co/{hf.rstrip('/')}" if hf else "")
        + ";",
        "  3. or choose weights='untrained' explicitly: a random-init, architecture-only control (labelled UNTRAINED).",
    ]
    return "\n".join(lines)


def _cached_tag_file(cfg: dict, cache_dir: str | None) -> str | None:
    """The tag's checkpoint if open_clip already downloaded it (no network access)."""
    hf = cfg.get("hf_hub", "")
    if hf:
        try:
            from huggingface_hub import hf_hub_download
            from open_clip.pretrained import _get_safe_alternatives
            from open_clip.constants import HF_WEIGHTS_NAME
        except ImportError:
            hf = ""
        else:
            model_id, filename = os.path.split(hf)
            filename = filename or HF_WEIGHTS_NAME
            for name in [*_get_safe_alternatives(filename), filename]:
                try:
                    return hf_hub_download(model_id, name, cache_dir=cache_dir, local_files_only=True)
                except Exception:  # noqa: BLE001 - not cached: try the next name
                    continue
    url = cfg.get("url", "")
    if url:
        path = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if path.is_file():
            return str(path)
    return None


def tag_status(model_name: str, tag: str, cache_dir: str | None = None) -> tuple[str, str]:
    """Whether open_clip's pretrained ``tag`` of ``model_name`` can be loaded, before anything loads it:
    ``("ready", path)`` when it is in open_clip's cache, ``("fetch", host)`` when its server answers (chapter 02_encoders
    downloads it), else ``("missing", how to get it)``. Imports open_clip (seconds: it imports torch)."""
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model_name)
    if tag not in tags:
        return "missing", (f"{tag!r} is not a pretrained tag of {model_name} (tags: {', '.join(tags) or 'none'}) "
                           "and no such file.\n" + _how_to(model_name, "openai" if "openai" in tags else ""))
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    cached = _cached_tag_file(cfg, cache_dir)
    if cached:
        return "ready", cached
    source = f"https://huggingface.co/{cfg['hf_hub']}" if cfg.get("hf_hub") else cfg.get("url", "")
    if not _offline_env() and _reachable(source or "https://huggingface.co", timeout=2.0):
        return "fetch", urlparse(source or "https://huggingface.co").hostname or source
    why = "HF_HUB_OFFLINE is set" if _offline_env() else f"{urlparse(source).hostname} cannot be reached"
    return "missing", f"not in open_clip's cache and {why}.\n" + _how_to(model_name, tag)


def _is_torchscript(path: str | os.PathLike) -> bool:
    """OpenAI's released ``.pt`` files are TorchScript archives (a zip holding ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def cut_encode_text(model, tokens):
    """``model.encode_text`` on tokens cut to ``L < context_length`` columns (mirrors open_clip 3.3)."""
    import torch
    from open_clip.transformer import text_global_pool

    length = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    if model.text_projection is not None:
        if isinstance(model.text_projection, torch.nn.Linear):
            x = model.text_projection(x)
        else:
            x = x @ model.text_projection
    return x


class ClipTextEncoder(Encoder):
    """open_clip's text tower, frozen (eval mode, inference mode).

    ``weights``: ``"openai"`` or another open_clip pretrained tag (open_clip's download and cache), a path
    to a local checkpoint (an open_clip state dict or OpenAI's TorchScript ``.pt``; with ``sha256`` the
    file is checked before it is loaded), or ``"untrained"`` (random init seeded by ``seed``).
    ``quick_gelu``: None chooses what the weights were trained with (the tag's setting; True for OpenAI
    TorchScript files; for ``untrained`` the architecture of the ``openai`` tag when the model has one);
    a state-dict file uses the model config unless you pass it.
    """

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        weights: str | os.PathLike = "openai",
        *,
        sha256: str | None = None,
        seed: int = 0,
        device: str = "auto",
        quick_gelu: bool | None = None,
        cache_dir: str | None = None,
    ):
        import open_clip
        import torch

        register_tiny_config()
        if not isinstance(model_name, str) or model_name not in open_clip.list_models():
            raise ValueError(
                f"model_name must be an open_clip architecture such as 'ViT-B-32' or {TINY_MODEL!r}; got {model_name!r}"
            )
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if sha256 is not None and (not isinstance(sha256, str) or len(sha256.strip()) != 64):
            raise ValueError(f"sha256 must be a 64-character hex string, got {sha256!r}")
        self.device = resolve_device(device)
        # small batches keep padding low and run fastest on CPU; a GPU wants large ones
        self.default_batch_size = 256 if self.device.type == "cuda" else 32
        self.model_name, self.seed = model_name, int(seed)
        self.cache_dir = cache_dir
        weights = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        if not isinstance(weights, str) or not weights:
            raise ValueError("weights must be 'untrained', an open_clip pretrained tag, or a checkpoint path")
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        openai_gelu = bool((open_clip.get_pretrained_cfg(model_name, "openai") or {}).get("quick_gelu", False))
        checkpoint, kind = None, None
        if weights == "untrained":
            kind = "untrained"
            quick_gelu = openai_gelu if quick_gelu is None else quick_gelu
        elif weights in tags:
            kind = "tag"
            cfg = open_clip.get_pretrained_cfg(model_name, weights)
            checkpoint = self._fetch_tag(cfg, weights)
            quick_gelu = bool(cfg.get("quick_gelu", False)) if quick_gelu is None else quick_gelu
        else:
            kind = "file"
            if not os.path.isfile(weights):
                raise ClipWeightsError(
                    f"CLIP weights {weights!r} for {model_name}: no such file, and not a pretrained tag of this "
                    f"model (tags: {', '.join(tags) or 'none'}).\n" + _how_to(model_name, "openai" if "openai" in tags else "")
                )
            checkpoint = weights
            if _is_torchscript(weights):
                kind = "torchscript"
                quick_gelu = True if quick_gelu is None else quick_gelu
        self.sha256 = None
        if checkpoint is not None:
            self.sha256 = file_sha256(checkpoint)
            if sha256 is not None and self.sha256 != sha256.strip().lower():
                raise ClipWeightsError(
                    f"SHA-256 mismatch for CLIP checkpoint {checkpoint}: expected {sha256.strip().lower()}, "
                    f"file has {self.sha256}. Refusing to load it: re-download the file or fix the expected hash."
                )
        self.kind, self.weights, self.checkpoint = kind, weights, checkpoint
        self.quick_gelu = bool(quick_gelu) if quick_gelu is not None else False
        self.model = self._build(open_clip, torch)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.dim = _text_dim(self.model, torch)
        self.cuts = (
            isinstance(self.model, open_clip.CLIP)
            and getattr(self.model, "attn_mask", None) is not None
            and self.model.text_pool_type in _CUT_POOLS
        )
        label = f"UNTRAINED random init, seed {self.seed}" if kind == "untrained" else \
            weights if kind == "tag" else f"file {Path(weights).name}, sha256 {self.sha256[:12]}…"
        self.name = f"CLIP {model_name} ({label})"

    def _fetch_tag(self, cfg: dict, tag: str) -> str:
        """Path of the tag's checkpoint: open_clip's cache, else its download (failing fast offline)."""
        from open_clip.pretrained import download_pretrained

        cached = _cached_tag_file(cfg, self.cache_dir)
        if cached:
            return cached
        source = f"https://huggingface.co/{cfg['hf_hub']}" if cfg.get("hf_hub") else cfg.get("url", "")
        if _offline_env() or not _reachable(source or "https://huggingface.co"):
            why = "HF_HUB_OFFLINE is set" if _offline_env() else f"cannot reach {urlparse(source).hostname} (no network)"
            raise ClipWeightsError(
                f"CLIP weights {tag!r} for {self.model_name} are not in open_clip's cache and {why}.\n"
                + _how_to(self.model_name, tag)
            )
        try:
            path = download_pretrained(cfg, cache_dir=self.cache_dir)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the how-to error
            raise ClipWeightsError(
                f"Downloading CLIP weights {tag!r} for {self.model_name} failed: {type(exc).__name__}: {exc}\n"
                + _how_to(self.model_name, tag)
            ) from exc
        if not path or not os.path.isfile(path):
            raise ClipWeightsError(f"open_clip returned no file for {tag!r}.\n" + _how_to(self.model_name, tag))
        return path

    def _build(self, open_clip, torch):
        # built and loaded on the CPU, then moved: the untrained control's random init and a checkpoint's
        # weights are the same whatever the device
        kwargs = dict(device="cpu", force_quick_gelu=self.quick_gelu)
        if self.kind == "untrained":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = _quiet_create(open_clip, self.model_name, None, kwargs)
        else:
            try:
                if self.kind == "torchscript":
                    model = _quiet_create(open_clip, self.model_name, None, kwargs)
                    _load_torchscript(model, self.checkpoint, torch)
                else:
                    model = _quiet_create(open_clip, self.model_name, self.checkpoint, kwargs)
            except Exception as exc:  # noqa: BLE001
                raise ClipWeightsError(
                    f"Could not load CLIP checkpoint {self.checkpoint} into {self.model_name}: "
                    f"{type(exc).__name__}: {exc}\n" + _how_to(self.model_name, "openai")
                ) from exc
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model.to(self.device)

    # ------------------------------------------------------------------ interface
    @property
    def identity(self) -> dict[str, Any]:
        import open_clip

        return {
            "encoder": "clip",
            "model_name": self.model_name,
            "model_cfg": cache_key(open_clip.get_model_config(self.model_name)),
            "weights": self.weights if self.kind in ("untrained", "tag") else "file",
            "sha256": self.sha256,
            "seed": self.seed if self.kind == "untrained" else None,
            "quick_gelu": self.quick_gelu,
            "versions": library_versions("open_clip", "torch"),
        }

    @property
    def spec(self) -> dict[str, Any]:
        params = {"model_name": self.model_name, "weights": self.weights, "seed": self.seed, "quick_gelu": self.quick_gelu}
        if self.kind in ("file", "torchscript"):
            params["sha256"] = self.sha256
        return {"encoder": "clip", "params": params}

    def describe(self) -> dict[str, Any]:
        text = [self.model.token_embedding, self.model.transformer, self.model.ln_final]
        n_text = sum(p.numel() for m in text for p in m.parameters()) + self.model.positional_embedding.numel()
        proj = self.model.text_projection
        if proj is not None:
            n_text += sum(p.numel() for p in proj.parameters()) if hasattr(proj, "parameters") else proj.numel()
        provenance = {
            "untrained": f"UNTRAINED: random init (seed {self.seed}) — architecture-only control",
            "tag": f"open_clip pretrained tag {self.weights!r} ({self.checkpoint})",
            "file": f"local checkpoint {self.checkpoint}",
            "torchscript": f"local TorchScript checkpoint {self.checkpoint}",
        }[self.kind]
        return {
            "encoder": "clip",
            "name": self.name,
            "architecture": self.model_name,
            "weights": provenance,
            "sha256": self.sha256 or "",
            "text parameters": int(n_text),
            "total parameters": int(sum(p.numel() for p in self.model.parameters())),
            "layers": int(self.model.transformer.layers),
            "width": int(self.model.transformer.width),
            "feature dim": self.dim,
            "activation": "QuickGELU" if self.quick_gelu else "GELU",
            "context length": int(self.model.context_length),
        }

    def tokenize(self, sentences: Sequence[str]):
        return self.tokenizer(list(sentences))

    @property
    def context_length(self) -> int:
        """Tokens CLIP reads per sentence (77), start and end tokens included."""
        return int(getattr(self.tokenizer, "context_length", None) or self.model.context_length)

    def token_lengths(self, sentences: Sequence[str]) -> np.ndarray:
        """Tokens per sentence before the tokenizer cuts at :attr:`context_length`, start/end tokens included.

        ``tokenize`` cuts silently (the end token replaces the 77th), so the uncut length is only known
        from the tokenizer's own BPE: the same text cleaning and vocabulary, nothing re-implemented.
        """
        sentences = check_sentences(sentences)
        tok = self.tokenizer
        if not hasattr(tok, "sot_token_id") or getattr(tok, "reduction_fn", None) is not None:
            raise NotImplementedError(
                f"token_lengths counts with open_clip's SimpleTokenizer (the one of CLIP ViT-B-32); "
                f"{self.model_name} uses {type(tok).__name__}"
            )
        return np.fromiter((len(tok.encode(s)) + 2 for s in sentences), dtype=np.int64, count=len(sentences))

    def truncated(self, sentences: Sequence[str]) -> list[int]:
        """Indices of the sentences CLIP cuts at its context length: their features ignore the rest."""
        return np.flatnonzero(self.token_lengths(sentences) > self.context_length).tolist()

    def _batch_plan(self, sentences: list[str], batch_size: int):
        """Batches of sentences sorted by token length (stable), each cut to its longest sequence."""
        import torch

        prepare_device(self.device)
        tokens = self.tokenize(sentences)
        nonpad = (tokens != 0).to(torch.int64)
        # last non-pad position + 1 (token id 0 is also "!", so count from the end, not the zeros)
        lengths = tokens.shape[1] - torch.argmax(nonpad.flip(1), dim=1)
        order = torch.argsort(lengths, stable=True).numpy()
        batches = [order[start:start + batch_size] for start in range(0, len(sentences), batch_size)]

        def run(idx: np.ndarray) -> np.ndarray:
            rows = torch.from_numpy(idx)
            batch = tokens[rows]
            with torch.inference_mode():
                if self.cuts:
                    batch = batch[:, : int(lengths[rows].max())]
                    feats = cut_encode_text(self.model, batch.to(self.device))
                else:
                    feats = self.model.encode_text(batch.to(self.device))
                return feats.float().cpu().numpy()

        return batches, run

    def encode_reference(self, sentences: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """``model.encode_text(tokenizer(texts))`` batched in the given order: no cut, sort or de-dup."""
        import torch

        sentences = check_sentences(sentences)
        batch_size = check_batch_size(self.default_batch_size if batch_size is None else batch_size)
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        prepare_device(self.device)
        with torch.inference_mode():
            for start in tqdm(range(0, len(sentences), batch_size), desc="encode_text", disable=not progress, leave=False):
                chunk = sentences[start:start + batch_size]
                out[start:start + len(chunk)] = self.model.encode_text(self.tokenizer(chunk).to(self.device)).float().cpu().numpy()
        return out


def clip_truncation(encoder: ClipTextEncoder, sentences: Sequence[str], n_examples: int = 3) -> dict[str, Any]:
    """How many ``sentences`` CLIP silently cuts at its context length, with the longest and a few examples.

    Keys: ``n_sentences``, ``n_truncated``, ``context_length``, ``longest_tokens`` (start/end tokens
    included) and ``examples`` (the first ``n_examples`` cut sentences with their token counts).
    """
    if not isinstance(encoder, ClipTextEncoder):
        raise TypeError(f"encoder must be a ClipTextEncoder (make_encoder('clip', ...)); got {type(encoder).__name__}")
    sentences = check_sentences(sentences)
    lengths = encoder.token_lengths(sentences)
    cut = np.flatnonzero(lengths > encoder.context_length)
    return {
        "n_sentences": len(sentences),
        "n_truncated": int(len(cut)),
        "context_length": encoder.context_length,
        "longest_tokens": int(lengths.max()) if len(lengths) else 0,
        "examples": [{"sentence": sentences[i], "tokens": int(lengths[i])} for i in cut[:n_examples]],
    }


def _load_torchscript(model, path, torch) -> None:
    """Weights of an OpenAI TorchScript archive into an open_clip CLIP (same parameter names).

    ``torch.load(weights_only=True)`` refuses TorchScript, so read it with ``torch.jit.load`` (no pickle
    of arbitrary objects) and drop the archive's non-weight entries, as open_clip's loader does.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated": OpenAI ships TorchScript
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    own = model.state_dict()
    for key in [k for k in state if k not in own and (k in ("input_resolution", "context_length", "vocab_size")
                                                     or k.endswith("attn_mask"))]:
        state.pop(key)
    model.load_state_dict(state, strict=True)


def _text_dim(model, torch) -> int:
    proj = model.text_projection
    if proj is None:
        return int(model.transformer.width)
    return int(proj.out_features if isinstance(proj, torch.nn.Linear) else proj.shape[1])


def _quiet_create(open_clip, model_name, pretrained, kwargs):
    """open_clip.create_model without its 'initialized randomly' warning (our name says UNTRAINED)."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        return open_clip.create_model(model_name, pretrained=pretrained, **kwargs)
    finally:
        root.setLevel(level)
