"""WordNet 3.0 synonyms through NLTK, for the paper's WordNet concept encoding.

Where the files come from (found, built from Debian's package, or fetched with NLTK's downloader, and
``$CLIPNEURON_WORDNET`` to name a folder) is :mod:`clipneuron_utils.data.wordnet_files`; this module reads
them with NLTK's ``WordNetCorpusReader`` and answers the encoding's questions: a word's synonyms, and what
NLTK's naive lookup would have added.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

import nltk

from ..data import wordnet_files
from ..data.wordnet_files import (  # noqa: F401 - re-exported: the names chapters and tests know
    CACHE_ENV, DEBIAN_WORDNET_DIR, LEXNAMES, REQUIRED_FILES, WORDNET_ENV, WordNetUnavailable, lexnames_text,
)
from .vocabulary import SKIP_TOKENS


if TYPE_CHECKING:
    import pandas as pd


def install_hint() -> str:
    """Every way to get WordNet 3.0 (the text of :class:`WordNetUnavailable`)."""
    return wordnet_files.install_hint()


@functools.lru_cache(maxsize=1)
def _reader_and_files():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    files = wordnet_files.locate()
    if str(files.root) not in nltk.data.path:  # NLTK's path security reads only under its data path
        nltk.data.path.append(str(files.root))
    resource = "corpora/wordnet" if files.where.is_dir() else "corpora/wordnet.zip/wordnet/"
    found = nltk.data.find(resource, paths=[str(files.root)])
    with warnings.catch_warnings():  # "multilingual functions not available": we only use English
        warnings.simplefilter("ignore")
        reader = WordNetCorpusReader(found, None)
    return reader, files


def reader():
    """The NLTK WordNetCorpusReader in use (loaded once)."""
    return _reader_and_files()[0]


def wordnet_source() -> str:
    """Which WordNet was used, in words (e.g. ``WordNet 3.0 (Debian's wordnet-base package)``)."""
    wn, files = _reader_and_files()
    return f"WordNet {wn.get_version()} ({files.source})"


@functools.lru_cache(maxsize=1)
def wordnet_provenance() -> dict:
    """For the provenance list: the source, the version and the SHA-256 of the files read
    (:func:`clipneuron_utils.data.wordnet_files.fingerprint`), with a ``text`` line for the book."""
    facts = wordnet_files.fingerprint(_reader_and_files()[1])
    text = (f"{wordnet_source()}; {facts['files']} files read ({facts['bytes'] / 1e6:.1f} MB), "
            f"SHA-256 {facts['sha256'][:16]}…")
    return {"text": text, **facts}


#: How :func:`synonyms` finds the synsets of a word (the ``wordnet_mode`` parameter).
WORDNET_MODES = ("exact", "all_senses")

#: Where the stop words come from (see :func:`stop_words`).
STOP_WORDS_SOURCE = (
    "scikit-learn's sklearn.feature_extraction.text.ENGLISH_STOP_WORDS (the Glasgow Information Retrieval "
    "Group's English stop list) united with the concept vocabulary's skip list "
    "{a, an, the, of, '.', ','} (clipneuron_utils.explain.vocabulary.SKIP_TOKENS)"
)


@functools.cache
def stop_words() -> frozenset[str]:
    """Words the ``exact`` mode never expands and never gives as anyone's synonym.

    The list is :data:`STOP_WORDS_SOURCE`: scikit-learn's ``ENGLISH_STOP_WORDS`` (318 English function
    words, a list a well-kept library ships and versions, rather than one typed here) united with the
    concept vocabulary's skip list. Why: a function word has rare WordNet senses (*as* is also arsenic's
    symbol, *on* an adverb sense of *along*, *down* a sense of *blue*) and occurs in nearly every
    sentence, so letting it in, as a concept that grows or as a synonym that matches, turns a token
    concept into a near copy of "the sentence has a function word". The list has a few words that are
    content words in SNLI (*front*, *back*, *top*, *fire*); their concepts keep their standard masks.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | SKIP_TOKENS


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`WORDNET_MODES`, else a ``ValueError`` naming the parameter."""
    if mode not in WORDNET_MODES:
        raise ValueError(f"wordnet_mode must be one of {WORDNET_MODES}, got {mode!r}")
    return mode


def _lemma_text(name: str) -> str:
    return name.lower().replace("_", " ")


@functools.cache
def synonyms(word: str, mode: str = "exact") -> frozenset[str]:
    """WordNet synonyms of ``word`` (all parts of speech): lemma names lowercased, ``_`` → space.

    ``mode="exact"`` (the default): a synset counts only where ``word`` itself is one of its lemma names
    (compared lowercased, ``_`` read as a space), with no morphological normalisation of the query, so
    "men" gets the synset whose lemmas include "men" (work force) and not those of "man". The synsets'
    lemma names are the synonyms, except :func:`stop_words`: a stop word gets no synonyms at all, and a
    synonym that is a stop word (or a multi-word lemma made only of stop words, e.g. "as well") is
    dropped.

    ``mode="all_senses"``: every synset NLTK's ``synsets(word)`` returns. NLTK runs morphy on the query
    first, so an inflected form gets its lemma's synsets ("men" → "man"), and so does any word that a
    detachment rule maps onto another entry ("as" → "a": angstrom, vitamin A, adenine, ampere, the
    letter); no stop list. This is the naive encoding, kept to show what it does.

    The word's own lemma is usually among the result; multi-word lemmas stay multi-word strings.
    """
    check_mode(mode)
    wn = reader()
    if mode == "all_senses":
        return frozenset(_lemma_text(name) for synset in wn.synsets(word) for name in synset.lemma_names())
    stops = stop_words()
    key = _lemma_text(word)
    if key in stops:
        return frozenset()
    found: set[str] = set()
    for synset in wn.synsets(word):  # the query's own entries are among morphy's forms; keep only them
        names = {_lemma_text(name) for name in synset.lemma_names()}
        if key in names:
            found |= names
    return frozenset(s for s in found if not all(t in stops for t in s.split()))


def lookup_forms(word: str) -> list[str]:
    """The entries NLTK's ``synsets(word)`` reads, in order: morphy's forms over nouns, verbs, adjectives
    and adverbs (the word itself first where it is an entry). ``"as"`` → ``["as", "a"]``: the noun rule
    that strips a plural *-s* also finds the entry *a*.

    Uses the reader's ``_morphy`` (the public ``morphy`` returns only the first form).
    """
    wn = reader()
    forms: list[str] = []
    for pos in ("n", "v", "a", "r"):
        for form in wn._morphy(_lemma_text(word).replace(" ", "_"), pos):
            if form not in forms:
                forms.append(form)
    return [_lemma_text(f) for f in forms]


def lookup_synsets(word: str) -> pd.DataFrame:
    """Every synset NLTK's ``synsets(word)`` returns (what ``all_senses`` takes), one row each: its name,
    its lemma names, and ``names_word`` — whether ``word`` is one of them (what ``exact`` keeps)."""
    import pandas as pd

    key = _lemma_text(word)
    rows = []
    for synset in reader().synsets(word):
        names = [_lemma_text(n) for n in synset.lemma_names()]
        rows.append({"synset": synset.name(), "lemmas": ", ".join(names), "names_word": key in names})
    return pd.DataFrame(rows, columns=["synset", "lemmas", "names_word"])


def clear_cache() -> None:
    """Forget the loaded reader and cached synonyms (tests swap the data path)."""
    synonyms.cache_clear()
    wordnet_provenance.cache_clear()
    _reader_and_files.cache_clear()
