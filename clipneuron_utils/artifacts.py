"""Artifacts under ``runs/<profile>/``: written atomically, checked before use, addressed by a key of their inputs.

A crash or a Ctrl-C mid-write never leaves a truncated file where a later run would trust it: every
writer goes to a temporary file in the same folder and ``os.replace``-s it into place. Disks, copies and
people still damage files afterwards, so every writer also records the file's SHA-256 and size in a
sidecar ``<name>.sha256`` (written after the file), and every reader checks it before parsing: a damaged
file raises :class:`CorruptArtifactError` (naming the file and what is wrong) instead of being used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

RUNS_ENV = "CLIPNEURON_RUNS"


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The checkout's root (the folder with ``pyproject.toml`` and ``clipneuron_utils/``).

    Notebooks run from ``book/``, ``tests/nbval/`` or the root; resolving paths from here makes them
    all share one ``runs/`` folder. Outside a checkout (e.g. ``--output-dir /elsewhere``), the checkout
    the package was installed from (editable install); else the current folder.
    """
    here = Path(start or Path.cwd()).resolve()
    package_home = Path(__file__).resolve().parents[1]  # the checkout this package was installed from
    for folder in (here, *here.parents, package_home):
        if (folder / "pyproject.toml").is_file() and (folder / "clipneuron_utils").is_dir():
            return folder
    return here


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set environment variables (``None``: unset) for the ``with`` block; each is put back as it was after,
    however the block ends. Kernels and worker processes started inside inherit them."""
    def put(settings: dict[str, str | None]) -> None:
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    saved = {key: os.environ.get(key) for key in values}
    try:
        put(values)
        yield
    finally:
        put(saved)


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


def shown(path: str | os.PathLike) -> str:
    """``path`` as a book may print it: ``runs/…`` under the artifacts folder, ``~/…`` under the home folder.

    Executed notebooks are read by others; the build machine's absolute paths mean nothing to them.
    """
    path = Path(path).expanduser().resolve()
    for root, label in ((runs_root().expanduser().resolve(), "runs"), (Path.home().resolve(), "~")):
        if path == root or root in path.parents:
            return str(Path(label) / path.relative_to(root))
    return str(path)


SIDECAR_SUFFIX = ".sha256"
_T = TypeVar("_T")


class CorruptArtifactError(OSError):
    """An artifact failed its integrity check, or cannot be parsed: it was not used.

    ``path`` is the damaged file, ``reason`` what is wrong with it; the message says both and what to do.
    Caches catch it, report it (:meth:`notice`), :func:`discard` the file and recompute.
    """

    ADVICE = "The file was not used; delete it and rerun the step that wrote it (caches rebuild it on their own)."

    def __init__(self, path: str | os.PathLike, reason: str, advice: str | None = None):
        self.path = Path(path)
        self.reason = reason
        self.advice = self.ADVICE if advice is None else advice
        super().__init__(f"{self.path}: {reason}. {self.advice}")

    def __reduce__(self):  # keep (path, reason) when the error crosses a process boundary
        return type(self), (self.path, self.reason, self.advice)

    @classmethod
    def unparsable(cls, path: str | os.PathLike, exc: BaseException, checked: bool = True) -> "CorruptArtifactError":
        """A file its reader rejects; ``checked``: its checksum matched (e.g. a pickle of another pandas)."""
        why = f"{type(exc).__name__}: {exc}"
        if checked:
            return cls(path, f"cannot be parsed although its checksum matches ({why}); "
                             "it may come from another library version")
        return cls(path, f"cannot be parsed ({why})")

    def notice(self, action: str = "recomputing") -> str:
        """The one line a cache prints before it recomputes: which file, why, what happens."""
        return f"cache {shown(self.path)}: corrupt ({self.reason}); {action}"


def umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` sets it briefly)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place, on error delete it.

    The file gets the mode a plain ``open`` would give (``0o666 & ~umask``), not ``mkstemp``'s ``0o600``,
    so other users and tools can read the run's artifacts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# --------------------------------------------------------------------------------------------- checksums


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where ``path``'s checksum is recorded: ``<name>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def record_checksum(path: str | os.PathLike) -> Path:
    """Record ``path``'s SHA-256 and size in its sidecar (atomically); returns ``path``.

    Writers call it after the file is in place; call it yourself after writing a file through
    :func:`atomic_path`, so that readers can check it.
    """
    path = Path(path)
    record = {"file": path.name, "sha256": file_sha256(path), "size": path.stat().st_size}
    with atomic_path(sidecar_path(path)) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _recorded(path: Path) -> tuple[str, int]:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise CorruptArtifactError(path, "no checksum recorded (written by an older version or interrupted)")
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        digest, size = str(record["sha256"]), int(record["size"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CorruptArtifactError(path, f"its checksum file {sidecar.name} is unreadable ({type(exc).__name__}: {exc})") from None
    return digest, size


def verify(path: str | os.PathLike) -> str:
    """Check ``path`` against the SHA-256 and size recorded when it was written; returns the SHA-256.

    Raises :class:`CorruptArtifactError` for a missing checksum, a size or a hash that differs, and
    ``FileNotFoundError`` if the file itself is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    digest, size = _recorded(path)
    actual = path.stat().st_size
    if actual < size:
        raise CorruptArtifactError(path, f"truncated: {actual:,} bytes, {size:,} recorded")
    if actual != size:
        raise CorruptArtifactError(path, f"size differs: {actual:,} bytes, {size:,} recorded")
    if file_sha256(path) != digest:
        raise CorruptArtifactError(
            path, "SHA-256 differs from the one recorded when it was written: the file was changed or damaged")
    return digest


def discard(path: str | os.PathLike) -> None:
    """Remove an artifact and its sidecar (before recomputing it); missing files are fine."""
    Path(path).unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def _read(path: Path, parse: Callable[[], _T], check: bool) -> _T:
    """``parse()`` after checking ``path``; with a check, a parser's error becomes CorruptArtifactError."""
    if not check:
        return parse()
    verify(path)
    try:
        return parse()
    except MemoryError:
        raise
    except Exception as exc:  # any parser error on a file whose bytes are the recorded ones
        raise CorruptArtifactError.unparsable(path, exc) from exc


# --------------------------------------------------------------------------------------------- writers / readers


def write_text(path: str | os.PathLike, text: str, *, checksum: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (and its checksum, unless ``checksum=False``: e.g. book pages)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return record_checksum(path) if checksum else Path(path)


def write_json(path: str | os.PathLike, obj: Any, *, checksum: bool = True) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically, with its checksum."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", checksum=checksum)


def read_json(path: str | os.PathLike, *, verify: bool = True) -> Any:
    """JSON from an artifact, checked first; ``verify=False`` reads a plain file (no sidecar) as it is."""
    path = Path(path)
    return _read(path, lambda: json.loads(path.read_text(encoding="utf-8")), verify)


def save_array(path: str | os.PathLike, array: np.ndarray, *, checksum: bool = True) -> Path:
    """Save one array as ``.npy`` atomically (``np.save`` on an open file, so no suffix games), with its checksum."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return record_checksum(path) if checksum else Path(path)


def load_array(path: str | os.PathLike, *, verify: bool = True) -> np.ndarray:
    """An array saved by :func:`save_array`, checked first (``verify=False``: any ``.npy``)."""
    path = Path(path)
    return _read(path, lambda: np.load(path, allow_pickle=False), verify)


def save_frame(path: str | os.PathLike, frame, *, checksum: bool = True) -> Path:
    """Save a DataFrame atomically: ``.csv`` for tables a reader may open, else pickle (keeps dtypes)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_pickle(tmp, compression=None)
    return record_checksum(path) if checksum else path


def load_frame(path: str | os.PathLike, *, verify: bool = True):
    """A DataFrame saved by :func:`save_frame`, checked first (a pickle runs code: never load a damaged one)."""
    import pandas as pd

    path = Path(path)
    return _read(path, lambda: pd.read_csv(path) if path.suffix == ".csv" else pd.read_pickle(path, compression=None),
                 verify)


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
