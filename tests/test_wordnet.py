"""WordNet 3.0 synonyms through NLTK, from nltk_data or Debian's /usr/share/wordnet."""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import nltk
import pytest

from clipneuron_utils.data import wordnet_files
from clipneuron_utils.explain import wordnet


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


def test_all_senses_runs_morphy_and_unknown_is_empty(wn_available):
    assert "adult male" in wordnet.synonyms("men", "all_senses")  # morphy: men -> man
    assert {"a", "angstrom", "vitamin a", "adenine", "ampere"} <= wordnet.synonyms("as", "all_senses")  # as -> a
    assert wordnet.synonyms("along", "all_senses") == {"along", "on"}  # along.r.01: along, on
    assert "down" in wordnet.synonyms("blue", "all_senses")  # blue.s.?: blue, down, depressed, ...
    for mode in wordnet.WORDNET_MODES:
        assert wordnet.synonyms("qwzxv", mode) == frozenset()


def test_exact_mode_takes_only_synsets_that_have_the_word_as_a_lemma(wn_available):
    # "men" is a lemma of one synset only (work_force.n.01); morphy's "man" synsets are not taken.
    assert wordnet.synonyms("men") == wordnet.synonyms("men", "exact") == {
        "men", "work force", "workforce", "manpower", "hands"}
    assert not {"man", "adult male", "human being"} & wordnet.synonyms("men")
    # A word that is its own lemma keeps every synset it names (here, both modes agree).
    assert {"dog", "domestic dog", "canis familiaris", "hound"} <= wordnet.synonyms("dog")
    assert wordnet.synonyms("small") == wordnet.synonyms("small", "all_senses")


def test_stop_words_are_never_expanded_nor_synonyms(wn_available):
    stops = wordnet.stop_words()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from clipneuron_utils.explain.vocabulary import SKIP_TOKENS

    assert stops == frozenset(ENGLISH_STOP_WORDS) | SKIP_TOKENS and {"as", "on", "down", ".", ","} <= stops
    assert "scikit-learn" in wordnet.STOP_WORDS_SOURCE and "ENGLISH_STOP_WORDS" in wordnet.STOP_WORDS_SOURCE
    # Never expanded: "as" would otherwise get arsenic's "As" (a lemma, compared lowercased).
    assert wordnet.synonyms("as") == wordnet.synonyms("along") == wordnet.synonyms("a") == frozenset()
    # Never a synonym: blue's "down" (blue, down, depressed, ...) is dropped, its other lemmas stay;
    # so is a multi-word lemma made only of stop words ("as well" of likewise).
    assert "down" not in wordnet.synonyms("blue") and "depressed" in wordnet.synonyms("blue")
    assert "down in the mouth" in wordnet.synonyms("blue")  # has a content word: kept
    assert wordnet.synonyms("likewise") == {"likewise", "alike", "similarly"}
    assert {"as well", "too", "also", "besides"} <= wordnet.synonyms("likewise", "all_senses")


def test_bad_mode_names_the_parameter():
    with pytest.raises(ValueError, match="wordnet_mode"):
        wordnet.synonyms("dog", "morphy")


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
    if not all((wordnet_files.DEBIAN_WORDNET_DIR / f).is_file() for f in wordnet.REQUIRED_FILES):
        pytest.skip("Debian wordnet-base / wordnet-sense-index not installed")
    root = wordnet_files.build_layout(root=tmp_path / "nltk_data")
    corpus = root / "corpora" / "wordnet"
    assert root == tmp_path / "nltk_data"
    assert len((corpus / "lexnames").read_text().splitlines()) == 45
    for name in wordnet.REQUIRED_FILES:
        path = corpus / name
        assert path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1
    stamp = (corpus / "lexnames").stat().st_mtime_ns
    assert wordnet_files.build_layout(root=tmp_path / "nltk_data") == root
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
    monkeypatch.setattr(wordnet_files, "DEBIAN_WORDNET_DIR", empty)
    monkeypatch.setattr(wordnet_files, "nltk_search_path", lambda: [empty])
    monkeypatch.setattr(nltk.data, "path", [str(empty)])
    monkeypatch.delenv(wordnet_files.WORDNET_ENV, raising=False)
    monkeypatch.setenv(wordnet_files.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(wordnet_files.URL_ENV, (empty / "no-index.xml").as_uri())  # no download either
    wordnet.clear_cache()
    yield empty
    wordnet.clear_cache()


def test_missing_wordnet_raises_a_clear_error(no_wordnet):
    with pytest.raises(wordnet.WordNetUnavailable) as info:
        wordnet.synonyms("dog")
    assert isinstance(info.value, LookupError)
    message = str(info.value)
    assert f"python -m nltk.downloader -d {wordnet_files.project_nltk_root()} wordnet" in message
    assert "apt-get install wordnet-base wordnet-sense-index" in message
    assert "export CLIPNEURON_WORDNET=" in message and "copy the nltk_data folder over" in message


def test_incomplete_debian_folder_raises_naming_missing_files(no_wordnet):
    (no_wordnet / "data.noun").write_text("")
    with pytest.raises(wordnet.WordNetUnavailable, match="index.noun"):
        wordnet.wordnet_source()


def test_lookup_forms_and_synsets_show_where_all_senses_borrows(wn_available):
    assert wordnet.lookup_forms("as") == ["as", "a"]  # the plural rule strips -s
    assert wordnet.lookup_forms("men") == ["men", "man"]  # the noun exception list
    assert wordnet.lookup_forms("dog") == ["dog"]
    table = wordnet.lookup_synsets("as")
    assert list(table.columns) == ["synset", "lemmas", "names_word"]
    named = set(table.loc[table.names_word, "synset"])
    assert {"arsenic.n.02", "american_samoa.n.01"} <= named  # "As", "AS": lemmas, compared lowercased
    borrowed = table[~table.names_word]
    assert {"angstrom.n.01", "vitamin_a.n.01", "adenine.n.01", "ampere.n.02"} <= set(borrowed.synset)
    assert all("a" in lemmas.split(", ") for lemmas in borrowed.lemmas)  # every one a sense of "a"
