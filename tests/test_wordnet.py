"""WordNet 3.0 synonyms through NLTK, from nltk_data or Debian's /usr/share/wordnet."""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import nltk
import pytest

from clipneuron_utils import wordnet


@pytest.fixture(scope="module")
def wn_available():
    try:
        return wordnet.wordnet_source()
    except wordnet.WordNetUnavailable as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"WordNet not installed here: {err}")


def test_dog_synonyms_include_multiword_lemmas(wn_available):
    syns = wordnet.synonyms("dog")
    assert isinstance(syns, frozenset)
    assert {"dog", "domestic dog", "canis familiaris", "hound"} <= syns


def test_man_synonyms_wordnet_30(wn_available):
    syns = wordnet.synonyms("man")
    assert {"man", "adult male", "human being", "homo"} <= syns
    assert all(s == s.lower() and "_" not in s for s in syns)


def test_inflected_form_gets_lemma_synsets_and_unknown_is_empty(wn_available):
    assert "adult male" in wordnet.synonyms("men")  # morphy: men -> man
    assert wordnet.synonyms("qwzxv") == frozenset()


def test_source_names_version(wn_available):
    assert wn_available.startswith("WordNet 3.0")
    assert wordnet.wordnet_source() == wn_available


def test_lexnames_has_45_rows_in_lexnames_5wn_format():
    rows = wordnet.lexnames_text().splitlines()
    assert len(rows) == 45
    for i, row in enumerate(rows):
        number, name, category = row.split("\t")
        assert number == f"{i:02d}"
        assert category == str({"noun": 1, "verb": 2, "adj": 3, "adv": 4}[name.split(".")[0]])
    assert rows[0] == "00\tadj.all\t3" and rows[3] == "03\tnoun.Tops\t1" and rows[44] == "44\tadj.ppl\t3"


def test_lexnames_matches_the_man_page_when_installed():
    page = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not page.exists():
        pytest.skip("lexnames(5WN) man page not installed")
    text = gzip.open(page, "rt", encoding="utf-8", errors="replace").read()
    documented = re.findall(r"^(\d\d)\t(\S+)\s*\t", text, flags=re.M)
    assert [(f"{i:02d}", n) for i, n in enumerate(wordnet.LEXNAMES)] == documented


def test_debian_layout_is_built_once_with_plain_files(tmp_path, monkeypatch):
    if not all((wordnet.DEBIAN_WORDNET_DIR / f).is_file() for f in wordnet.REQUIRED_FILES):
        pytest.skip("Debian wordnet-base / wordnet-sense-index not installed")
    root = wordnet.build_debian_layout(cache=tmp_path)
    corpus = root / "corpora" / "wordnet"
    assert root == tmp_path / "nltk_data"
    assert len((corpus / "lexnames").read_text().splitlines()) == 45
    for name in wordnet.REQUIRED_FILES:
        path = corpus / name
        assert path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1
    stamp = (corpus / "lexnames").stat().st_mtime_ns
    assert wordnet.build_debian_layout(cache=tmp_path) == root
    assert (corpus / "lexnames").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not [p for p in corpus.parent.iterdir() if p.name.startswith(".wordnet.tmp")]
    # NLTK's reader accepts the layout (its path security refuses symlinks and hard links).
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    monkeypatch.setattr(nltk.data, "path", [str(root)])  # NLTK reads only under its data path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    assert reader.get_version() == "3.0"


@pytest.fixture
def no_wordnet(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET_DIR", empty)
    monkeypatch.setattr(nltk.data, "path", [str(empty)])
    monkeypatch.setenv(wordnet.CACHE_ENV, str(tmp_path / "cache"))
    wordnet.clear_cache()
    yield empty
    wordnet.clear_cache()


def test_missing_wordnet_raises_a_clear_error(no_wordnet):
    with pytest.raises(wordnet.WordNetUnavailable) as info:
        wordnet.synonyms("dog")
    assert isinstance(info.value, LookupError)
    message = str(info.value)
    assert "python -m nltk.downloader wordnet" in message
    assert "apt-get install wordnet-base wordnet-sense-index" in message


def test_incomplete_debian_folder_raises_naming_missing_files(no_wordnet):
    (no_wordnet / "data.noun").write_text("")
    with pytest.raises(wordnet.WordNetUnavailable, match="index.noun"):
        wordnet.wordnet_source()
