"""Where WordNet 3.0's files come from: found, built from Debian's package, or fetched with NLTK's downloader.

Why a module of its own, on the data floor: WordNet is data, like SNLI, and the pipeline checks that it is
there before the first kernel starts. That check must take milliseconds, so this module finds the files
without importing NLTK (whose import alone takes over a second); :mod:`clipneuron_utils.explain.wordnet`
reads them.

Lookup order (:func:`locate`):

1. ``$CLIPNEURON_WORDNET``, when set: that folder and nothing else, be it an ``nltk_data`` folder (holding
   ``corpora/wordnet`` or ``corpora/wordnet.zip``), a ``corpora/wordnet`` folder, or a WordNet dictionary
   folder such as Debian's ``/usr/share/wordnet``. A folder without WordNet is an error, not a reason to
   look elsewhere, so that a missing WordNet can be tested on any machine.
2. NLTK's data path (``$NLTK_DATA``, ``~/nltk_data``, ``/usr/share/nltk_data``…), then the project's own
   folder (``data/nltk_data`` of the checkout, or ``$CLIPNEURON_CACHE/nltk_data``).
3. Debian's ``/usr/share/wordnet`` (``wordnet-base`` + ``wordnet-sense-index``), copied once into the
   project's folder in an ``nltk_data`` layout with the ``lexnames`` file Debian does not ship (its 45 rows
   are documented in ``man 5 lexnames``). The files are copied (36 MB), because NLTK's path security refuses
   symlinks and hard links out of its data folders.
4. NLTK's downloader, where its server answers (``$CLIPNEURON_WORDNET_URL`` names another index, e.g. a
   ``file://`` mirror): into the project's folder; the downloader checks the archive against the index's
   checksum, and this module checks every file and the version.
5. :class:`WordNetUnavailable`, naming every way to get it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..artifacts import repo_root

WORDNET_ENV = "CLIPNEURON_WORDNET"
URL_ENV = "CLIPNEURON_WORDNET_URL"
CACHE_ENV = "CLIPNEURON_CACHE"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
#: NLTK's own data index (what ``python -m nltk.downloader`` reads)
NLTK_INDEX_URL = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/index.xml"
VERSION = "3.0"

#: The 45 lexicographer files of WordNet 3.0 (lexnames.5WN), in file-number order.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

#: Files NLTK's WordNetCorpusReader opens (besides ``lexnames``, which Debian lacks and we generate).
REQUIRED_FILES = (
    "cntlist.rev", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb",
    "data.adj", "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc",
)
#: What the reader reads, and so what the provenance checksum covers.
READ_FILES = (*REQUIRED_FILES, "lexnames")

_VERSION_LINE = re.compile(r"Word[nN]et (\d+\+?|\d+\.\d+) Copyright")


class WordNetUnavailable(LookupError):
    """WordNet 3.0 is in none of the places we look and could not be fetched; the message says how to get it."""


@dataclass(frozen=True)
class WordNetFiles:
    """Where the WordNet files are.

    ``kind``: ``"nltk"`` (an ``nltk_data`` folder NLTK reads as it is: ``root``), or ``"dictionary"`` (a
    dictionary folder such as Debian's, which :func:`locate` copies into an ``nltk_data`` layout first).
    ``where`` is the folder or zip that holds the files; ``source`` names it for the book, without this
    machine's folders.
    """

    kind: str
    where: Path
    source: str
    root: Path | None = None


def cache_root() -> Path:
    """The project's own folder for data it builds or fetches: ``$CLIPNEURON_CACHE``, else ``data/`` of the
    checkout (beside the default SNLI folder ``data/snli``; never the user's home)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else repo_root() / "data"


def project_nltk_root() -> Path:
    """The ``nltk_data`` folder of the project's own, where a Debian layout is built or a download goes."""
    return cache_root() / "nltk_data"


def nltk_search_path() -> list[Path]:
    """The folders NLTK searches by default (``nltk.data.path`` on a POSIX system), without importing NLTK."""
    if sys.platform.startswith("win"):  # pragma: no cover - NLTK's Windows list has more entries: ask it
        import nltk

        return [Path(p) for p in nltk.data.path]
    paths = [Path(os.path.expanduser(d)) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    if "APPENGINE_RUNTIME" not in os.environ and os.path.expanduser("~/") != "~/":
        paths.append(Path(os.path.expanduser("~/nltk_data")))
    paths += [Path(sys.prefix) / "nltk_data", Path(sys.prefix) / "share" / "nltk_data",
              Path(sys.prefix) / "lib" / "nltk_data", Path("/usr/share/nltk_data"),
              Path("/usr/local/share/nltk_data"), Path("/usr/lib/nltk_data"), Path("/usr/local/lib/nltk_data")]
    return paths


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>syntactic category`` for the 45 lexicographer files."""
    rows = [f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}" for i, name in enumerate(LEXNAMES)]
    return "\n".join(rows) + "\n"


def _plain(path: Path) -> bool:
    """A plain, singly-linked file (what NLTK's path security accepts)."""
    return path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1


def _layout_is_complete(corpus_dir: Path) -> bool:
    """Every file NLTK reads is present as a plain file."""
    return all(_plain(corpus_dir / f) for f in READ_FILES)


def _zip_is_complete(archive: Path) -> bool:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return all(f"wordnet/{f}" in names for f in READ_FILES)


#: beside ``corpora/wordnet`` (or ``wordnet.zip``) in the project's folder: what the files came from (a label for the
#: book, then the dictionary folder or index URL), so a folder or a zip is named for what it is
NOTE = "wordnet.SOURCE"


def _write_note(root: Path, label: str, origin: str) -> None:
    (root / "corpora" / NOTE).write_text(f"{label}\n{origin}\n", encoding="utf-8")


def _read_note(root: Path) -> tuple[str, str]:
    """(label, origin) of the WordNet in the project's folder; a layout built before the note existed is Debian's."""
    note = root / "corpora" / NOTE
    if note.is_file():
        label, _, origin = note.read_text(encoding="utf-8").partition("\n")
        return label.strip(), origin.strip()
    return "Debian's wordnet-base package", str(DEBIAN_WORDNET_DIR)


def missing_files(folder: Path) -> list[str]:
    """The files NLTK reads that a dictionary folder lacks (``lexnames`` is not required: we write it)."""
    return [f for f in REQUIRED_FILES if not (folder / f).is_file()]


def _in_nltk_root(root: Path, source: str) -> WordNetFiles | None:
    corpus = root / "corpora" / "wordnet"
    if corpus.is_dir() and _layout_is_complete(corpus):
        return WordNetFiles("nltk", corpus, source, root)
    archive = root / "corpora" / "wordnet.zip"
    if archive.is_file() and _zip_is_complete(archive):
        return WordNetFiles("nltk", archive, source, root)
    return None


def _named_folder(folder: Path) -> WordNetFiles:
    """What ``$CLIPNEURON_WORDNET`` names, or the error that says what it lacks."""
    source = f"${WORDNET_ENV}"
    if not folder.is_dir():
        raise WordNetUnavailable(f"${WORDNET_ENV} names {folder}, which is not a folder.\n" + install_hint())
    found = _in_nltk_root(folder, source)
    if found is not None:
        return found
    if folder.name == "wordnet" and folder.parent.name == "corpora" and _layout_is_complete(folder):
        return WordNetFiles("nltk", folder, source, folder.parent.parent)
    lacking = missing_files(folder)
    if not lacking:
        return WordNetFiles("dictionary", folder, source)
    raise WordNetUnavailable(
        f"${WORDNET_ENV} names {folder}, which holds no WordNet 3.0: neither corpora/wordnet (an nltk_data "
        f"folder) nor the dictionary files (it lacks {', '.join(lacking)}).\n" + install_hint())


def find() -> WordNetFiles | None:
    """The WordNet files already on this machine (steps 1–3 of the lookup), or None; writes nothing and uses
    no network. A ``$CLIPNEURON_WORDNET`` folder without WordNet raises :class:`WordNetUnavailable`."""
    named = os.environ.get(WORDNET_ENV)
    if named:
        return _named_folder(Path(named).expanduser())
    ours = project_nltk_root()
    for root in nltk_search_path():
        found = _in_nltk_root(root, "NLTK's wordnet corpus (nltk.data.path)")
        if found is not None:
            return found
    found = _in_nltk_root(ours, "clipneuron's data folder")
    if found is not None:
        return WordNetFiles(found.kind, found.where, _read_note(ours)[0], found.root)
    if DEBIAN_WORDNET_DIR.is_dir() and not missing_files(DEBIAN_WORDNET_DIR):
        return WordNetFiles("dictionary", DEBIAN_WORDNET_DIR, "Debian's wordnet-base package")
    return None


def index_url() -> str:
    """The NLTK data index to download from: ``$CLIPNEURON_WORDNET_URL``, else NLTK's own."""
    return os.environ.get(URL_ENV) or NLTK_INDEX_URL


def reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` can be fetched: a ``file://`` URL that exists, or a host that accepts a TCP connection
    within ``timeout`` (behind a proxy: assumed yes). Milliseconds when there is no network."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path).is_file()
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        with socket.create_connection((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def install_hint() -> str:
    """Every way to get WordNet 3.0, as commands."""
    ours = project_nltk_root()
    return (
        "Get WordNet 3.0 one of these ways:\n"
        "  sudo apt-get install wordnet-base wordnet-sense-index\n"
        "      (Debian/Ubuntu: the files go to /usr/share/wordnet; clipneuron copies them into its data folder on "
        "first use)\n"
        f"  python -m nltk.downloader -d {ours} wordnet\n"
        "      (NLTK's downloader, with a Python that has NLTK, e.g. the project's .venv/bin/python; needs "
        "internet, and a run does this itself where the network allows. Without internet here: run it on a "
        "machine that has it and copy the nltk_data folder over)\n"
        f"Then, or to use a WordNet folder of your own (an nltk_data folder, or a dictionary folder such as "
        f"/usr/share/wordnet): export {WORDNET_ENV}=/path/to/that/folder"
    )


def build_layout(dictionary: Path | None = None, root: Path | None = None,
                 label: str = "Debian's wordnet-base package") -> Path:
    """Copy a dictionary folder (Debian's by default) into ``<root>/corpora/wordnet`` with a ``lexnames``
    file; return the ``nltk_data`` root.

    Reuses a complete layout of the same dictionary (another folder's is replaced). Builds in a temporary
    sibling folder and renames it into place, so an interrupted build never leaves a half layout that a later
    run would trust.
    """
    dictionary = Path(dictionary if dictionary is not None else DEBIAN_WORDNET_DIR)
    root = Path(root if root is not None else project_nltk_root())
    target = root / "corpora" / "wordnet"
    if _layout_is_complete(target) and _read_note(root)[1] == str(dictionary.resolve()):
        return root
    lacking = missing_files(dictionary)
    if lacking:
        raise WordNetUnavailable(f"{dictionary} lacks {', '.join(lacking)}.\n{install_hint()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wordnet.tmp-"))
    try:
        os.chmod(tmp, 0o755)
        for src in sorted(dictionary.iterdir()):
            if src.is_file():
                shutil.copyfile(src, tmp / src.name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        if target.exists():  # an incomplete layout, or another dictionary's: replace it
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; keep theirs if it is usable
            if not _layout_is_complete(target):
                raise
        _write_note(root, label, str(dictionary.resolve()))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return root


def download(root: Path | None = None, url: str | None = None) -> WordNetFiles:
    """Fetch WordNet 3.0 with NLTK's downloader into ``root`` (the project's folder), then check it.

    NLTK checks the archive against the index's checksum (SHA-256, else md5) before unpacking it; here every
    file the reader opens must be there and the version must be 3.0. A ``file://`` index's folder is trusted
    for the download (NLTK's path security otherwise refuses local files outside its data folders).
    """
    import nltk
    from nltk.downloader import Downloader

    root = Path(root if root is not None else project_nltk_root())
    url = url or index_url()
    (root / "corpora").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))  # checked here, then moved into place
    extra = [str(staging)]
    if urlparse(url).scheme == "file":
        extra.append(str(Path(urlparse(url).path).parent))
    saved = list(nltk.data.path)
    nltk.data.path.extend(p for p in extra if p not in nltk.data.path)
    try:
        try:
            ok = Downloader(server_index_url=url).download("wordnet", download_dir=str(staging), quiet=True,
                                                           raise_on_error=True)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the how-to error
            raise WordNetUnavailable(f"NLTK's downloader could not fetch WordNet from {url}: "
                                     f"{type(exc).__name__}: {exc}\n" + install_hint()) from exc
        finally:
            nltk.data.path[:] = saved
        fetched = _in_nltk_root(staging, "NLTK's downloader")
        if not ok or fetched is None:
            raise WordNetUnavailable(f"NLTK's downloader reported {'success' if ok else 'failure'} but fetched no "
                                     f"complete WordNet (every one of {', '.join(READ_FILES)}).\n" + install_hint())
        got = version(fetched)
        if got != VERSION:
            raise WordNetUnavailable(f"the WordNet fetched from {url} is version {got}, not {VERSION}: the paper's "
                                     f"encoding uses WordNet {VERSION}; it was not kept.\n" + install_hint())
        target = root / "corpora" / fetched.where.name  # wordnet (a folder) or wordnet.zip, as NLTK left it
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(fetched.where, target)
        _write_note(root, "NLTK's downloader", url)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return WordNetFiles("nltk", target, "NLTK's downloader", root)


def locate(*, fetch: bool = True) -> WordNetFiles:
    """WordNet ready for NLTK to read (``kind == "nltk"``): found, built from a dictionary folder, or (with
    ``fetch``, where :func:`index_url` answers) downloaded; else :class:`WordNetUnavailable`."""
    found = find()
    if found is not None and found.kind == "dictionary":
        root = build_layout(found.where, project_nltk_root(), label=found.source)
        return WordNetFiles("nltk", root / "corpora" / "wordnet", found.source, root)
    if found is not None:
        return found
    if fetch and reachable(index_url()):
        return download()
    raise WordNetUnavailable(not_found() + "\n" + install_hint())


def not_found() -> str:
    """Where we looked, in one sentence (with what an incomplete Debian folder lacks)."""
    lacking = missing_files(DEBIAN_WORDNET_DIR) if DEBIAN_WORDNET_DIR.is_dir() else []
    debian = f"{DEBIAN_WORDNET_DIR}" + (f", which lacks {', '.join(lacking)}" if lacking else "")
    server = urlparse(index_url()).hostname or index_url()
    return (f"WordNet 3.0 was not found (looked in NLTK's data path, {project_nltk_root()} and {debian}), and "
            f"NLTK's download server ({server}) cannot be reached.")


def _read(files: WordNetFiles, name: str) -> bytes:
    if files.where.is_dir():
        return (files.where / name).read_bytes()
    with zipfile.ZipFile(files.where) as zf:
        return zf.read(f"wordnet/{name}")


def version(files: WordNetFiles) -> str | None:
    """The version in ``data.adj``'s licence header (as NLTK's ``get_version`` reads it)."""
    head = _read(files, "data.adj")[:20_000].decode("utf-8", errors="replace")
    match = _VERSION_LINE.search(head)
    return match.group(1) if match else None


def fingerprint(files: WordNetFiles) -> dict:
    """What the provenance list records: the source, the version and one SHA-256 over the files the reader
    reads (each file's name, size and bytes, in :data:`READ_FILES` order; the same whether they sit in a
    folder or a zip)."""
    digest = hashlib.sha256()
    size = 0
    for name in READ_FILES:
        data = _read(files, name)
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
        size += len(data)
    return {"source": files.source, "version": version(files), "sha256": digest.hexdigest(),
            "files": len(READ_FILES), "bytes": size}
