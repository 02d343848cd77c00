"""SNLI 1.0, read from the official files into one DataFrame row per premise/hypothesis pair.

Tokens are the lowercased leaves of ``sentence{1,2}_parse`` and tags their Penn Treebank tags, as in
Mu & Andreas' NLI code. The folder is the ``data_dir`` argument, else ``$CLIPNEURON_DATA``, else
``./data/snli``; when the split's file is in none of the places we look, the official archive is
downloaded (checked against its published md5) and unpacked there.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

LABELS = ("entailment", "neutral", "contradiction")
UNLABELLED = "-"
COLUMNS = [
    "pair_id",
    "premise",
    "hypothesis",
    "label",
    "premise_tokens",
    "hypothesis_tokens",
    "premise_tags",
    "hypothesis_tags",
]
DATA_ENV = "CLIPNEURON_DATA"
URL_ENV = "CLIPNEURON_SNLI_URL"
DEFAULT_DIR = Path("data") / "snli"
SNLI_URL = "https://nlp.stanford.edu/projects/snli/snli_1.0.zip"
SNLI_ZIP_MD5 = "981c3df556bbaea3f17f752456d0088c"
#: md5 of the uncompressed official ``.jsonl`` files (see shared/data/snli/README.md)
JSONL_MD5 = {
    "train": "ff0cea1eb2dd6d4cec2d5698f6f66ee5",
    "dev": "b23798a0751d9a3dccac16a232496ca5",
    "test": "2392a35de49893c84b08fb92de6fc5e4",
    "test_hard": "75430b13d2a95c752935cb993d00d7fb",
    "train_0.01": "2ba4b023c5b8ef58668ae5a0b1275290",
}
SPLITS = tuple(JSONL_MD5)
SUFFIXES = (".jsonl", ".jsonl.gz", ".txt")
# a leaf of a Penn tree is "(TAG word)": neither part holds a space or a bracket
_LEAF = re.compile(r"\(([^\s()]+) ([^\s()]+)\)")


class SNLIError(Exception):
    """Base class of the data errors."""


class SNLINotFoundError(SNLIError, FileNotFoundError):
    """The split's file is nowhere we looked and could not be downloaded."""


class SNLIFormatError(SNLIError, ValueError):
    """A line of an SNLI file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class DataDir:
    """A resolved data folder and where the choice came from (argument, environment, default)."""

    path: Path
    origin: str


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> DataDir:
    """The folder to read: the argument, else ``$CLIPNEURON_DATA``, else ``./data/snli``."""
    if data_dir is not None and str(data_dir) != "":
        return DataDir(Path(data_dir).expanduser(), "argument data_dir")
    if os.environ.get(DATA_ENV):
        return DataDir(Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}")
    return DataDir(DEFAULT_DIR, "default ./data/snli")


def candidate_paths(split: str, folder: Path) -> list[Path]:
    """Every file name we accept for ``split`` in ``folder`` (and in the archive's ``snli_1.0/``)."""
    _check_split(split)
    names = [f"snli_1.0_{split}{suffix}" for suffix in SUFFIXES]
    return [folder / n for n in names] + [folder / "snli_1.0" / n for n in names]


def find_split(split: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of the file holding ``split``; downloads the official archive when it is missing."""
    where = resolve_data_dir(data_dir)
    tried = candidate_paths(split, where.path)
    for path in tried:
        if path.is_file():
            return path
    failure = "download disabled"
    if download:
        try:
            download_snli(where.path)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the how-to error below
            failure = f"download of {snli_url()} failed: {type(exc).__name__}: {exc}"
        else:
            for path in tried:
                if path.is_file():
                    return path
            failure = f"the archive from {snli_url()} has no file for split {split!r}"
    listing = "\n".join(f"  - {p.resolve()}" for p in tried)
    raise SNLINotFoundError(
        f"SNLI split {split!r} not found. Data folder: {where.path.resolve()} (from the {where.origin}). "
        f"Paths tried:\n"
        f"{listing}\n{failure}.\n"
        f"How to fix: set {DATA_ENV} (or pass data_dir / -p data_dir=...) to a folder holding "
        f"snli_1.0_{split}.jsonl[.gz], or download {SNLI_URL} by hand (md5 {SNLI_ZIP_MD5}) and unzip it "
        f"into {where.path.resolve()}."
    )


def snli_url() -> str:
    return os.environ.get(URL_ENV, SNLI_URL)


def download_snli(folder: str | os.PathLike, url: str | None = None, md5: str | None = None) -> Path:
    """Download the official archive into ``folder`` with a progress bar, verify its md5, unpack it.

    pooch writes the download to a temporary file and refuses (deletes) one whose checksum is wrong;
    the archive is unpacked into a temporary folder and moved into place only when complete.
    """
    import pooch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    archive = pooch.retrieve(
        url or snli_url(),
        known_hash=f"md5:{md5 or SNLI_ZIP_MD5}",
        fname="snli_1.0.zip",
        path=folder,
        progressbar=True,
        downloader=pooch.HTTPDownloader(progressbar=True, timeout=60),
    )
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".unpack-"))
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if not m.startswith("__MACOSX") and not m.endswith("/")]
            zf.extractall(staging, members)
        for item in staging.iterdir():
            target = folder / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def parse_tree(parse: str) -> tuple[list[str], list[str]]:
    """Penn tree string → (lowercased leaf tokens, their tags)."""
    leaves = _LEAF.findall(parse)
    return [word.lower() for _, word in leaves], [tag for tag, _ in leaves]


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) for every pair in a ``.jsonl[.gz]`` or ``.txt`` file."""
    with _open_text(path) as fh:
        if path.name.endswith(".txt"):
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if not header or "gold_label" not in header:
                raise SNLIFormatError(f"{path}, line 1: expected a tab-separated header with gold_label")
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(header) - 5:  # label1..label5 may be empty or missing
                    raise SNLIFormatError(
                        f"{path}, line {lineno}: {len(row)} tab-separated fields, expected {len(header)}"
                    )
                yield lineno, dict(zip(header, row))
        else:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SNLIFormatError(f"{path}, line {lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise SNLIFormatError(f"{path}, line {lineno}: expected a JSON object")
                yield lineno, record


_REQUIRED = ("gold_label", "sentence1", "sentence2", "sentence1_parse", "sentence2_parse", "pairID")


def read_snli_file(path: str | os.PathLike, *, keep_unlabelled: bool = False) -> pd.DataFrame:
    """Read one official SNLI file (``.jsonl``, ``.jsonl.gz`` or ``.txt``) into the pair DataFrame."""
    path = Path(path)
    rows = []
    for lineno, record in _records(path):
        missing = [k for k in _REQUIRED if k not in record]
        if missing:
            raise SNLIFormatError(f"{path}, line {lineno}: missing field(s) {', '.join(missing)}")
        label = record["gold_label"]
        if label not in LABELS and label != UNLABELLED:
            raise SNLIFormatError(
                f"{path}, line {lineno}: gold_label {label!r} is not one of {', '.join(LABELS)} or '-'"
            )
        if label == UNLABELLED and not keep_unlabelled:
            continue
        p_tokens, p_tags = parse_tree(record["sentence1_parse"])
        h_tokens, h_tags = parse_tree(record["sentence2_parse"])
        if not p_tokens or not h_tokens:
            side = "sentence1_parse" if not p_tokens else "sentence2_parse"
            raise SNLIFormatError(f"{path}, line {lineno}: {side} has no (TAG word) leaves")
        rows.append(
            (record["pairID"], record["sentence1"], record["sentence2"], label, p_tokens, h_tokens, p_tags, h_tags)
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["source"] = str(path)
    return frame


def load_snli(
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    keep_unlabelled: bool = False,
    download: bool = True,
) -> pd.DataFrame:
    """One row per pair of ``split`` with columns :data:`COLUMNS`; pairs labelled ``-`` dropped by default.

    ``split`` is an official name (``train``, ``dev``, ``test``) or one of the shipped extras
    (``train_0.01``, ``test_hard``). ``frame.attrs["source"]`` records the file read.
    """
    return read_snli_file(find_split(split, data_dir, download=download), keep_unlabelled=keep_unlabelled)


def file_md5(path: str | os.PathLike) -> str:
    """md5 of the file's content, decompressed for ``.gz`` (the published sums are of the ``.jsonl``)."""
    path = Path(path)
    digest = hashlib.md5()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_official(split: str, path: str | os.PathLike) -> bool:
    """Whether a ``.jsonl[.gz]`` file is byte-identical to the published ``.jsonl`` of ``split``."""
    path = Path(path)
    return split in JSONL_MD5 and not path.name.endswith(".txt") and file_md5(path) == JSONL_MD5[split]


def _check_split(split: str) -> None:
    if not isinstance(split, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", split):
        raise ValueError(f"split must be an SNLI split name such as {', '.join(SPLITS)}; got {split!r}")
