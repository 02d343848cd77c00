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
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
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
DEFAULT_ORIGIN = "default ./data/snli"
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
#: the splits the official archive holds (train_0.01 and test_hard are extras, not in it)
ARCHIVE_SPLITS = ("train", "dev", "test")
SUFFIXES = (".jsonl", ".jsonl.gz", ".txt")
# a leaf of a Penn tree is "(TAG word)": neither part holds a space or a bracket
_LEAF = re.compile(r"\(([^\s()]+) ([^\s()]+)\)")
# what a cut or damaged file raises while it is read: no line of it names the file, so we wrap them
_READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


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
    return DataDir(DEFAULT_DIR, DEFAULT_ORIGIN)


def candidate_paths(split: str, folder: Path) -> list[Path]:
    """Every file name we accept for ``split`` in ``folder`` (and in the archive's ``snli_1.0/``)."""
    _check_split(split)
    names = [f"snli_1.0_{split}{suffix}" for suffix in SUFFIXES]
    return [folder / n for n in names] + [folder / "snli_1.0" / n for n in names]


def find_split(split: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of the file holding ``split``; downloads the official archive when it is missing.

    Only the default folder, or a new folder inside an existing one, is created for the download: a
    mistyped deeper path must not silently become a data folder. A folder this call created is removed
    again when the download fails.
    """
    where = resolve_data_dir(data_dir)
    tried = candidate_paths(split, where.path)
    found = existing_split(split, where.path)
    if found is not None:
        return found
    problem = folder_problem(where, download=download)
    if problem:
        raise SNLINotFoundError(problem)
    failure = "download disabled"
    if download:
        created = _first_missing(where.path)
        try:
            download_snli(where.path)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the how-to error below
            failure = f"download of {snli_url()} failed: {type(exc).__name__}: {exc}"
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
                failure += f" (removed the folder {created.resolve()} this call had created)"
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


def existing_split(split: str, folder: Path) -> Path | None:
    """The first file of :func:`candidate_paths` that exists, or None (no download, no reading)."""
    return next((path for path in candidate_paths(split, folder) if path.is_file()), None)


def folder_problem(where: DataDir, *, download: bool = True) -> str | None:
    """Why SNLI cannot be downloaded into ``where`` (a data folder that is missing or not a folder, and that a
    download would not create), or None. A download creates only the default ``./data/snli`` or one new
    folder inside an existing one: a mistyped deeper path must not silently become a data folder."""
    if where.path.is_dir() or where.origin == DEFAULT_ORIGIN or (download and where.path.parent.is_dir()):
        return None
    if where.path.exists():
        state = "is not a folder"
    else:
        state = "does not exist"
        if not where.path.parent.is_dir():
            state += f" (nor does its parent {where.path.parent.resolve()})"
    return (f"SNLI data folder {where.path.resolve()} (from the {where.origin}) {state}. "
            f"Check the spelling, or create it to download SNLI there (mkdir -p {where.path.resolve()}); "
            f"a download creates only the default ./data/snli or one new folder inside an existing one.")


def _first_missing(folder: Path) -> Path | None:
    """The outermost missing folder on the way to ``folder`` (what a download would create), or None."""
    missing = None
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing


def split_in_archive(split: str) -> bool:
    """Whether the official archive (:data:`SNLI_URL`) holds ``split``."""
    return split in ARCHIVE_SPLITS


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
    """Penn tree string → (lowercased leaf tokens, their tags).

    A tree cut short or edited by hand would still give leaves, so the brackets are checked first
    (:func:`tree_problem`) and ``ValueError`` says what is wrong. :func:`read_snli_file` checks a whole
    file's trees at once instead (:func:`_suspect_trees`), which is faster.
    """
    problem = tree_problem(parse)
    if problem:
        raise ValueError(problem)
    return _tokens_tags(parse)


def _tokens_tags(parse: str) -> tuple[list[str], list[str]]:
    leaves = _LEAF.findall(parse)
    return [word.lower() for _, word in leaves], [tag for tag, _ in leaves]


def tree_problem(parse: object) -> str | None:
    """Why ``parse`` is not one bracketed expression with balanced parentheses, or None if it is.

    Balanced: the depth never goes below zero and is zero at the end; one expression: it reaches zero
    only at the last character. Linear in the length, so a deep tree cannot make it slow.
    """
    if not isinstance(parse, str):
        return f"expected a string, got {type(parse).__name__}"
    text = parse.strip()
    if not text.startswith("("):
        return "not a bracketed expression: it must start with '('" if text else "the tree is empty"
    offset = len(parse) - len(parse.lstrip()) + 1  # character numbers count from 1 in the original string
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return f"a ')' with no matching '(' at character {i + offset}"
            if depth == 0 and i + 1 < len(text):
                rest = text[i + 1:].lstrip()
                if rest[0] == ")":
                    return f"a ')' with no matching '(' at character {len(text) - len(rest) + offset}"
                return f"text after the tree closes at character {i + offset}: more than one bracketed expression"
    if depth:
        return f"{depth} '(' never closed (the tree is cut short)"
    return None


def _suspect_trees(parses: list[str]) -> np.ndarray:
    """Indices of the parses that may not be one balanced bracketed expression (ascending).

    Vectorised over a whole file, since a check per tree in Python made loading dev ~60 % slower: the
    brackets of all trees joined, one depth cumsum; tree i is fine iff it starts with '(' and ends with
    ')', its depth relative to its start stays >= 1 until its last bracket and is 0 after it. Characters
    outside Latin-1 become '?', so positions stay aligned. A tree with surrounding spaces is flagged
    here and judged exactly by :func:`tree_problem`.
    """
    if not parses:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, parses), dtype=np.int64, count=len(parses))
    codes = np.frombuffer("".join(parses).encode("latin-1", "replace"), dtype=np.uint8)
    is_open = codes == 40
    brackets = np.flatnonzero(is_open | (codes == 41))
    depth = np.cumsum(is_open[brackets].view(np.int8) * np.int8(2) - np.int8(1), dtype=np.int32)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first = np.searchsorted(brackets, starts)  # each tree's first and last bracket
    last = np.searchsorted(brackets, ends) - 1
    bad = last <= first  # fewer than two brackets (or an empty string)
    ok = np.flatnonzero(~bad)
    if len(ok):
        f, l = first[ok], last[ok]
        base = np.where(f > 0, depth[np.maximum(f - 1, 0)], 0)
        bounds = np.empty(2 * len(ok), dtype=np.int64)
        bounds[0::2], bounds[1::2] = f, l
        lowest = np.minimum.reduceat(depth, bounds)[0::2]  # over brackets f .. l-1
        bad[ok] = (codes[starts[ok]] != 40) | (codes[ends[ok] - 1] != 41) | (depth[l] != base) | (lowest <= base)
    return np.flatnonzero(bad)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) for every pair in a ``.jsonl[.gz]`` or ``.txt`` file."""
    with _open_text(path) as fh:
        if path.name.endswith(".txt"):
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            try:
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
            except _READ_ERRORS as exc:
                raise _damaged(path, reader.line_num, exc) from None
        else:
            lineno = 0
            try:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise SNLIFormatError(
                            f"{path}, line {lineno}: not valid JSON ({exc.msg}, column {exc.colno}): the line is cut "
                            f"or was edited. Re-download the split ({SNLI_URL}) or fix that line.") from None
                    if not isinstance(record, dict):
                        raise SNLIFormatError(f"{path}, line {lineno}: expected a JSON object")
                    yield lineno, record
            except _READ_ERRORS as exc:
                raise _damaged(path, lineno, exc) from None


def _damaged(path: Path, last_line: int, exc: Exception) -> SNLIFormatError:
    """A cut or corrupt file (gzip, zlib, UTF-8 errors name no file): say which file, where, and what to do."""
    where = f"after line {last_line}, the last line read successfully" if last_line else "before its first line"
    if isinstance(exc, UnicodeDecodeError):  # text is decoded a block at a time: find the line itself
        bad = _first_undecodable_line(path)
        if bad:
            where += f"; line {bad[0]} is not UTF-8 (byte {bad[1]} of that line)"
    return SNLIFormatError(
        f"{path}: the file is truncated or corrupt ({type(exc).__name__}: {exc}); reading stopped {where}. "
        f"Re-download the split (official archive {SNLI_URL}, md5 {SNLI_ZIP_MD5}) or unpack the archive "
        f"again, then check it with clipneuron_utils.data.snli.is_official."
    )


def _first_undecodable_line(path: Path) -> tuple[int, int] | None:
    """(line number, byte position from 1) of the first line that is not UTF-8; only run to explain an error."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return lineno, exc.start + 1
    except _READ_ERRORS + (OSError,):
        pass
    return None


_REQUIRED = ("gold_label", "sentence1", "sentence2", "sentence1_parse", "sentence2_parse", "pairID")


def read_snli_file(path: str | os.PathLike, *, keep_unlabelled: bool = False) -> pd.DataFrame:
    """Read one official SNLI file (``.jsonl``, ``.jsonl.gz`` or ``.txt``) into the pair DataFrame.

    A file with no labelled pair is an error here: an empty frame would only fail chapters later.
    """
    path = Path(path)
    rows, parses, linenos = [], [], []
    n_lines = 0
    for lineno, record in _records(path):
        n_lines += 1
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
        p_parse, h_parse = record["sentence1_parse"], record["sentence2_parse"]
        try:
            p_tokens, p_tags = _tokens_tags(p_parse)
            h_tokens, h_tags = _tokens_tags(h_parse)
        except TypeError:
            field = "sentence1_parse" if not isinstance(p_parse, str) else "sentence2_parse"
            raise _tree_error(path, lineno, field, record["pairID"], tree_problem(record[field])) from None
        if not p_tokens or not h_tokens:
            side = "sentence1_parse" if not p_tokens else "sentence2_parse"
            problem = tree_problem(record[side])
            if problem:
                raise _tree_error(path, lineno, side, record["pairID"], problem)
            raise SNLIFormatError(f"{path}, line {lineno}: {side} has no (TAG word) leaves")
        rows.append(
            (record["pairID"], record["sentence1"], record["sentence2"], label, p_tokens, h_tokens, p_tags, h_tags)
        )
        parses += (p_parse, h_parse)
        linenos.append(lineno)
    _check_trees(path, parses, linenos, rows)
    if not rows and not keep_unlabelled:
        why = f"{n_lines} lines, all labelled '-'" if n_lines else "the file is empty"
        raise SNLIFormatError(
            f"{path}: no labelled pairs ({why}); nothing to train or probe on. The file is cut or is not an "
            f"SNLI split: re-download it ({SNLI_URL}) or point data_dir / ${DATA_ENV} at the folder with the "
            f"real files."
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["source"] = str(path)
    return frame


def _check_trees(path: Path, parses: list[str], linenos: list[int], rows: list[tuple]) -> None:
    """Every kept pair's two parse trees (``parses[2k]``, ``parses[2k + 1]`` for ``rows[k]``, read from
    line ``linenos[k]``) must balance: a cut tree would still give (wrong) tokens."""
    for index in _suspect_trees(parses):
        problem = tree_problem(parses[index])  # None: flagged only for spaces around the tree
        if problem:
            field = ("sentence1_parse", "sentence2_parse")[index % 2]
            raise _tree_error(path, linenos[index // 2], field, rows[index // 2][0], problem)


def _tree_error(path: Path, lineno: int, field: str, pair_id: object, problem: str) -> SNLIFormatError:
    return SNLIFormatError(
        f"{path}, line {lineno}: {field} of pair {pair_id!r} is not a well-formed parse tree ({problem}). "
        f"The file was probably cut or edited: re-download the split ({SNLI_URL}) or fix that line."
    )


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
