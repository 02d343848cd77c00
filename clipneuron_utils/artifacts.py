"""Artifacts under ``runs/<profile>/``: written atomically, addressed by a key of their inputs.

A crash or a Ctrl-C mid-write never leaves a truncated file where a later run would trust it: every
writer goes to a temporary file in the same folder and ``os.replace``-s it into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

RUNS_ENV = "CLIPNEURON_RUNS"


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The checkout's root (the folder with ``pyproject.toml`` and ``clipneuron_utils/``).

    Notebooks run from ``book/``, ``tests/nbval/`` or the root; resolving paths from here makes them
    all share one ``runs/`` folder. Falls back to the current folder outside a checkout.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "clipneuron_utils").is_dir():
            return folder
    return here


def runs_root() -> Path:
    """Folder that holds one sub-folder per profile: ``$CLIPNEURON_RUNS``, else ``<repo>/runs``."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV])
    return repo_root() / "runs"


def run_dir(profile: str, *parts: str) -> Path:
    """``runs/<profile>/<parts...>``, created if missing."""
    path = runs_root() / profile
    for part in parts:
        path = path / part
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save one array as ``.npy`` atomically (``np.save`` on an open file, so no suffix games)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return Path(path)


def load_array(path: str | os.PathLike) -> np.ndarray:
    return np.load(Path(path), allow_pickle=False)


def save_frame(path: str | os.PathLike, frame) -> Path:
    """Save a DataFrame atomically: ``.csv`` for tables a reader may open, else pickle (keeps dtypes)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_pickle(tmp, compression=None)
    return path


def load_frame(path: str | os.PathLike):
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_pickle(path, compression=None)


def cache_key(*parts: Any) -> str:
    """A short SHA-256 of the inputs (JSON-serialised; lists of strings hash their exact text).

    Use it to name a cache entry so that different inputs can never share one.
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, (bytes, bytearray)):
            digest.update(bytes(part))
        elif isinstance(part, np.ndarray):
            digest.update(str(part.dtype).encode() + str(part.shape).encode() + part.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
