"""What a run needs, checked before the first kernel: WordNet (found, fetched, or named by $CLIPNEURON_WORDNET),
the SNLI splits, CLIP checkpoints, MiniLM and disk; ``--check``; and WordNet's download on a local mirror."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nltk
import pytest

from clipneuron_utils.data import snli, wordnet_files
from clipneuron_utils.explain import wordnet
from clipneuron_utils.run import pipeline, prerequisites, profiles
from test_data import archive_server  # noqa: F401 - a fixture: a local HTTP server with an SNLI-shaped archive

DEBIAN = wordnet_files.DEBIAN_WORDNET_DIR
HAS_DEBIAN = all((DEBIAN / f).is_file() for f in wordnet_files.REQUIRED_FILES)
needs_debian = pytest.mark.skipif(not HAS_DEBIAN, reason="Debian wordnet-base / wordnet-sense-index not installed")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No WordNet anywhere (no search path, no Debian folder, an unreachable index), our own runs/ and cache."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(wordnet_files, "DEBIAN_WORDNET_DIR", empty / "no-debian")
    monkeypatch.setattr(wordnet_files, "nltk_search_path", lambda: [empty])
    monkeypatch.delenv(wordnet_files.WORDNET_ENV, raising=False)
    monkeypatch.setenv(wordnet_files.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(wordnet_files.URL_ENV, (empty / "no-index.xml").as_uri())
    monkeypatch.setenv("CLIPNEURON_RUNS", str(tmp_path / "runs"))
    wordnet.clear_cache()
    yield tmp_path
    wordnet.clear_cache()


def _sources(*numbers: str) -> list[Path]:
    return profiles.notebook_sources(list(numbers))


def _item(items, prefix):
    found = [i for i in items if i.what.startswith(prefix)]
    assert len(found) == 1, [i.what for i in items]
    return found[0]


# ------------------------------------------------------------------------------------------ WordNet


def test_nltk_search_path_is_nltk_data_path_without_importing_nltk(tmp_path):
    """Our file-only search lists exactly the folders NLTK searches (with $NLTK_DATA first)."""
    env = dict(os.environ, NLTK_DATA=f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    code = ("import json, nltk; from clipneuron_utils.data import wordnet_files as w; "
            "print(json.dumps([list(map(str, nltk.data.path)), list(map(str, w.nltk_search_path()))]))")
    theirs, ours = json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                             capture_output=True, text=True).stdout)
    assert ours == theirs and ours[0] == str(tmp_path / "a")


def test_the_data_floor_finds_wordnet_without_importing_nltk():
    code = ("import sys; from clipneuron_utils.data import wordnet_files as w; "
            "from clipneuron_utils.run import prerequisites; w.find(); print('nltk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


def _dictionary(folder: Path, version: str = "3.0") -> Path:
    """A dictionary folder with every required file (empty but data.adj's licence line)."""
    folder.mkdir(parents=True)
    for name in wordnet_files.REQUIRED_FILES:
        (folder / name).write_text("")
    (folder / "data.adj").write_text(f"  1 WordNet {version} Copyright 2006 by Princeton University.\n")
    return folder


def test_clipneuron_wordnet_names_a_dictionary_an_nltk_data_folder_or_a_corpus_folder(isolated, monkeypatch):
    dictionary = _dictionary(isolated / "dict")
    monkeypatch.setenv(wordnet_files.WORDNET_ENV, str(dictionary))
    found = wordnet_files.find()
    assert (found.kind, found.where, found.source) == ("dictionary", dictionary, "$CLIPNEURON_WORDNET")

    root = wordnet_files.build_layout(dictionary, isolated / "nltk_data")
    corpus = root / "corpora" / "wordnet"
    assert (corpus / "lexnames").read_text() == wordnet_files.lexnames_text()
    for named in (root, corpus):
        monkeypatch.setenv(wordnet_files.WORDNET_ENV, str(named))
        found = wordnet_files.find()
        assert (found.kind, found.where, found.root) == ("nltk", corpus, root)
    assert wordnet_files.version(found) == "3.0"


def test_clipneuron_wordnet_without_wordnet_is_an_error_not_a_search(isolated, monkeypatch):
    monkeypatch.setattr(wordnet_files, "DEBIAN_WORDNET_DIR", _dictionary(isolated / "debian"))  # would be found
    monkeypatch.setenv(wordnet_files.WORDNET_ENV, str(isolated / "empty"))
    with pytest.raises(wordnet_files.WordNetUnavailable) as info:
        wordnet_files.locate()
    message = str(info.value)
    assert "$CLIPNEURON_WORDNET names" in message and "index.noun" in message
    assert "apt-get install wordnet-base wordnet-sense-index" in message and "python -m nltk.downloader" in message


def test_a_zip_in_an_nltk_data_folder_counts_and_fingerprints_as_its_folder(isolated):
    root = wordnet_files.build_layout(_dictionary(isolated / "dict"), isolated / "a" / "nltk_data")
    corpus = root / "corpora" / "wordnet"
    zipped = isolated / "b" / "nltk_data" / "corpora"
    zipped.mkdir(parents=True)
    with zipfile.ZipFile(zipped / "wordnet.zip", "w") as zf:
        for name in wordnet_files.READ_FILES:
            zf.write(corpus / name, f"wordnet/{name}")
    as_zip = wordnet_files._in_nltk_root(zipped.parent, "zip")
    as_folder = wordnet_files._in_nltk_root(root, "folder")
    assert as_zip.where == zipped / "wordnet.zip" and as_folder.where == corpus
    one, two = wordnet_files.fingerprint(as_zip), wordnet_files.fingerprint(as_folder)
    assert one["sha256"] == two["sha256"] and one["version"] == "3.0" and one["files"] == 15
    (corpus / "noun.exc").write_text("changed\n")
    assert wordnet_files.fingerprint(as_folder)["sha256"] != one["sha256"]


def _mirror(folder: Path, files: Path, *, version_of: str | None = None, bad_checksum: bool = False,
            unzip: str = "1") -> str:
    """A local NLTK data server: ``index.xml`` and ``wordnet.zip`` (from ``files``), as NLTK's downloader reads
    them; returns the index's file:// URL."""
    folder.mkdir(parents=True)
    archive = folder / "wordnet.zip"
    size = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in wordnet_files.READ_FILES:
            data = (files / name).read_bytes() if name != "lexnames" else wordnet_files.lexnames_text().encode()
            if name == "data.adj" and version_of:
                data = data.replace(b"WordNet 3.0 Copyright", f"WordNet {version_of} Copyright".encode())
            zf.writestr(f"wordnet/{name}", data)
            size += len(data)
    blob = archive.read_bytes()
    sha = hashlib.sha256(blob + (b"x" if bad_checksum else b"")).hexdigest()
    (folder / "index.xml").write_text(
        '<?xml version="1.0"?>\n<nltk_data><packages>\n'
        f'<package id="wordnet" name="WordNet" url="{archive.as_uri()}" size="{len(blob)}" unzipped_size="{size}" '
        f'checksum="{hashlib.md5(blob).hexdigest()}" sha256_checksum="{sha}" subdir="corpora" unzip="{unzip}" />\n'
        "</packages><collections></collections></nltk_data>\n", encoding="utf-8")
    return (folder / "index.xml").as_uri()


@needs_debian
@pytest.mark.parametrize("unzip", ["1", "0"])  # NLTK's own index ships WordNet with unzip="0"
def test_wordnet_is_fetched_with_nltks_downloader_from_a_local_mirror_before_any_chapter(isolated, monkeypatch, unzip):
    """The download path, on a file:// copy of NLTK's server: the check says it will be fetched, the fetch puts
    it in the project's folder (a folder or the zip, as NLTK leaves it), and the synonyms and the provenance read
    it, named for what it is."""
    url = _mirror(isolated / "mirror", DEBIAN, unzip=unzip)
    monkeypatch.setenv(wordnet_files.URL_ENV, url)
    saved = list(nltk.data.path)
    values, sources = pipeline.plan("smoke", None, ["04"])
    items = prerequisites.check(values, sources)
    item = _item(items, "WordNet")
    assert item.state == prerequisites.FETCH and url in item.detail
    prerequisites.fetch(items, values)
    assert item.state == prerequisites.READY
    assert nltk.data.path == saved  # the mirror's folder was trusted for the download only
    found = wordnet_files.find()
    assert found.source == "NLTK's downloader" and found.root == isolated / "cache" / "nltk_data"
    assert "adult male" in wordnet.synonyms("man")
    facts = wordnet.wordnet_provenance()
    assert facts["source"] == "NLTK's downloader" and facts["version"] == "3.0" and len(facts["sha256"]) == 64
    assert facts["text"].startswith("WordNet 3.0 (NLTK's downloader); 15 files read")
    # the same files as Debian's layout: the same checksum whatever the source
    debian = wordnet_files.build_layout(DEBIAN, isolated / "debian" / "nltk_data")
    assert wordnet_files.fingerprint(wordnet_files._in_nltk_root(debian, "d"))["sha256"] == facts["sha256"]


@needs_debian
@pytest.mark.parametrize("problem", ["checksum", "version"])
def test_a_fetched_wordnet_that_fails_its_checks_is_refused(isolated, monkeypatch, problem):
    url = _mirror(isolated / "mirror", DEBIAN, bad_checksum=problem == "checksum",
                  version_of="3.1" if problem == "version" else None)
    monkeypatch.setenv(wordnet_files.URL_ENV, url)
    with pytest.raises(wordnet_files.WordNetUnavailable) as info:
        wordnet_files.locate()
    assert ("sha256" in str(info.value).lower()) if problem == "checksum" else ("version 3.1" in str(info.value))
    assert "apt-get install wordnet-base" in str(info.value)
    assert wordnet_files.find() is None  # nothing refused is kept for a later run to trust
    assert not [p for p in (isolated / "cache" / "nltk_data").iterdir() if p.name.startswith(".download-")]


def test_a_layout_of_another_dictionary_is_replaced_not_reused(isolated, monkeypatch):
    first = _dictionary(isolated / "first")
    second = _dictionary(isolated / "second")
    (second / "noun.exc").write_text("second\n")
    root = isolated / "nltk_data"
    wordnet_files.build_layout(first, root, label="first")
    wordnet_files.build_layout(second, root, label="second")
    assert (root / "corpora" / "wordnet" / "noun.exc").read_text() == "second\n"
    assert wordnet_files._read_note(root) == ("second", str(second.resolve()))
    stamp = (root / "corpora" / "wordnet" / "lexnames").stat().st_mtime_ns
    wordnet_files.build_layout(second, root, label="second")  # the same dictionary: reused
    assert (root / "corpora" / "wordnet" / "lexnames").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------------------------------ the pipeline


def test_without_wordnet_the_book_stops_before_any_kernel_naming_both_ways(isolated, monkeypatch, capsys):
    """`make book`'s pipeline with WordNet absent ($CLIPNEURON_WORDNET at an empty folder): one error listing
    WordNet and both ways to install it, before the lock, the staging folder or any kernel."""
    monkeypatch.setenv(wordnet_files.WORDNET_ENV, str(isolated / "empty"))

    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(pipeline, "_execute", no_kernel)
    started = time.perf_counter()
    code = pipeline.main(["--profile", "smoke", "--output-dir", str(isolated / "out")])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 1
    assert "MISSING WordNet 3.0" in err and "nothing was run" in err
    assert "apt-get install wordnet-base wordnet-sense-index" in err and "python -m nltk.downloader -d" in err
    assert "needed by chapter files 04, 05, 99" in err
    assert not (isolated / "out").exists() and not (isolated / "runs" / "smoke").exists()
    assert elapsed < 2.0, f"the failing start took {elapsed:.2f} s"


def test_a_data_folder_missing_one_split_names_the_split_and_the_file(isolated, monkeypatch, capsys):
    data = isolated / "snli"
    data.mkdir()
    for split in ("dev", "test"):
        with gzip.open(data / f"snli_1.0_{split}.jsonl.gz", "wt") as fh:
            fh.write("")
    monkeypatch.setenv(snli.DATA_ENV, str(data))
    monkeypatch.setenv(snli.URL_ENV, (isolated / "no-archive.zip").as_uri())  # no download either
    values, sources = pipeline.plan("offline", None, ["01"])
    items = prerequisites.check(values, sources)
    assert [i.state for i in items if i.what.startswith("SNLI")] == ["missing", "ready", "ready"]
    item = _item(items, "SNLI split 'train_0.01'")
    assert "snli_1.0_train_0.01.jsonl" in item.detail and str(data) in item.detail
    assert "CLIPNEURON_DATA" in item.fix
    assert pipeline.main(["--profile", "offline", "--only", "01", "--check"]) == 1
    out = capsys.readouterr().out
    assert "MISSING SNLI split 'train_0.01'" in out and "ok      SNLI split 'dev'" in out


def test_a_split_in_the_archive_is_fetched_when_the_archive_answers(isolated, monkeypatch):
    data = isolated / "snli"
    data.mkdir()
    archive = isolated / "snli_1.0.zip"
    archive.write_bytes(b"")
    monkeypatch.setenv(snli.DATA_ENV, str(data))
    monkeypatch.setenv(snli.URL_ENV, archive.as_uri())
    values, sources = pipeline.plan("offline", None, ["01"])
    items = {i.what: i.state for i in prerequisites.check(values, sources)}
    # dev and test are in the official archive; the 1 % train sample is not, whatever answers
    assert items == {"SNLI split 'train_0.01'": "missing", "SNLI split 'test'": "will be fetched",
                     "SNLI split 'dev'": "will be fetched"}  # chapter 01_data writes no cache worth a disk check


def test_check_exits_0_when_ready_and_1_when_something_is_missing(isolated, monkeypatch, capsys):
    assert pipeline.main(["--profile", "smoke", "--only", "01", "--only", "02", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("ready") and "MISSING" not in out and "WordNet" not in out  # 01-02 need none
    assert pipeline.main(["--profile", "smoke", "--only", "04", "--check"]) == 1
    out = capsys.readouterr().out
    assert "MISSING WordNet 3.0" in out and "1 missing; nothing was run" in out
    monkeypatch.setenv(wordnet_files.WORDNET_ENV, str(_dictionary(isolated / "dict")))
    assert pipeline.main(["--profile", "smoke", "--only", "04", "--check"]) == 0
    assert "ok      WordNet 3.0: $CLIPNEURON_WORDNET" in capsys.readouterr().out
    assert not (isolated / "cache").exists()  # --check writes nothing


def test_chapters_needing_wordnet_follow_their_parameters(isolated):
    values, sources = pipeline.plan("smoke", None, None)
    assert _item(prerequisites.check(values, sources), "WordNet").chapters == (
        "04_concepts", "05_search", "99_differences")
    values, sources = pipeline.plan("smoke", {"encodings": "[standard]", "card_encoding": "wordnet"}, ["05", "07"])
    assert _item(prerequisites.check(values, sources), "WordNet").chapters == ("07_qualitative_neurons",)
    named = {s.stem.split("_", 1)[1] for s in profiles.notebook_sources(None)}
    assert set(prerequisites.WORDNET_CHAPTERS) <= named  # a renamed chapter must be renamed here too


def test_a_clip_checkpoint_is_checked_against_its_sha256(isolated):
    checkpoint = isolated / "ViT-B-32.pt"
    checkpoint.write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    for sha, state in ((good, "ready"), ("0" * 64, "missing"), ("", "ready")):
        overrides = {"clip_weights": str(checkpoint), "clip_sha256": sha, "encoders": "[clip]", "controls": "[]"}
        values, sources = pipeline.plan("offline", overrides, ["02", "03"])
        item = _item(prerequisites.check(values, sources), "CLIP")
        assert item.state == state and item.chapters == ("02_encoders", "03_head_training")
        if state == "missing":
            assert good in item.detail and "clip_sha256" in item.fix


def test_too_little_disk_is_missing_and_says_where(isolated, monkeypatch):
    values, sources = pipeline.plan("smoke", None, None)
    parts = prerequisites.estimate_bytes({s.stem: prerequisites.chapter_values(s, values) for s in sources})
    assert set(parts) == {"features", "models", "probe outputs", "concepts", "search results"}
    assert all(b > 0 for b in parts.values())
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    item = _item(prerequisites.check(values, sources), "free disk")
    assert item.state == prerequisites.MISSING and "CLIPNEURON_RUNS" in item.fix


def test_numbers_are_ranges():
    assert prerequisites._numbers(("01_a", "02_b", "03_c", "05_d", "07_e", "08_f")) == "01–03, 05, 07, 08"


def test_a_missing_split_is_downloaded_before_the_first_chapter(isolated, monkeypatch, archive_server):
    """The real download code against a local server holding an SNLI-shaped archive (dev only): the check says it
    will be fetched, :func:`prerequisites.fetch` downloads and verifies it, and the split is then on disk."""
    from test_data import write_split

    url, md5 = archive_server
    data = isolated / "snli"
    write_split(data, "test", ".jsonl")
    monkeypatch.setenv(snli.DATA_ENV, str(data))
    monkeypatch.setenv(snli.URL_ENV, url)
    monkeypatch.setattr(snli, "SNLI_ZIP_MD5", md5)
    values, sources = pipeline.plan("offline", {"train_splits": "[test]"}, ["01"])
    items = prerequisites.check(values, sources)
    assert {i.what: i.state for i in items} == {"SNLI split 'test'": "ready", "SNLI split 'dev'": "will be fetched"}
    prerequisites.fetch(items, values)
    assert all(i.state == prerequisites.READY for i in items)
    assert snli.existing_split("dev", data) == data / "snli_1.0" / "snli_1.0_dev.jsonl"
