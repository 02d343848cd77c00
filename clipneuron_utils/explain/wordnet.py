"""WordNet 3.0 synonyms through NLTK, for the paper's WordNet concept encoding.

Why this module exists: NLTK cannot download WordNet without internet, but Debian ships the same
WordNet 3.0 database (``wordnet-base`` + ``wordnet-sense-index``, in ``/usr/share/wordnet``). NLTK's
reader opens that folder once it sits in an ``nltk_data`` layout (``corpora/wordnet/``) together with a
``lexnames`` file, which Debian does not ship; its 45 rows are documented in ``man 5 lexnames``.

Lookup order: (1) wherever NLTK normally finds ``corpora/wordnet`` (``nltk.data.path``); (2) a layout
built once under ``$CLIPNEURON_CACHE`` (else ``~/.cache/clipneuron``) from the Debian files, built in
a temporary folder and renamed into place, then appended to ``nltk.data.path``; the files are copied
(36 MB), because NLTK's path security refuses symlinks and hard links out of its data folders; (3) a
:class:`WordNetUnavailable` error that names both ways to install it.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import nltk

from .vocabulary import SKIP_TOKENS


if TYPE_CHECKING:
    import pandas as pd

CACHE_ENV = "CLIPNEURON_CACHE"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

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

#: Files NLTK's WordNetCorpusReader opens (besides ``lexnames``, which we generate).
REQUIRED_FILES = (
    "cntlist.rev", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb",
    "data.adj", "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc",
)

INSTALL_HINT = (
    "WordNet 3.0 was not found. Install it one of two ways:\n"
    "  python -m nltk.downloader wordnet          (needs internet)\n"
    "  sudo apt-get install wordnet-base wordnet-sense-index   (Debian/Ubuntu; files in "
    "/usr/share/wordnet, which clipneuron turns into an nltk_data layout on first use)"
)


class WordNetUnavailable(LookupError):
    """Neither NLTK's data path nor Debian's /usr/share/wordnet holds WordNet."""


def cache_root() -> Path:
    """``$CLIPNEURON_CACHE`` or ``~/.cache/clipneuron``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "clipneuron"


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>syntactic category`` for the 45 lexicographer files."""
    rows = [f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}" for i, name in enumerate(LEXNAMES)]
    return "\n".join(rows) + "\n"


def _layout_is_complete(corpus_dir: Path) -> bool:
    """Every file present as a plain, singly-linked file (what NLTK's path security accepts)."""
    paths = [corpus_dir / f for f in (*REQUIRED_FILES, "lexnames")]
    return all(p.is_file() and not p.is_symlink() and p.stat().st_nlink == 1 for p in paths)


def build_debian_layout(debian_dir: Path | None = None, cache: Path | None = None) -> Path:
    """Build ``<cache>/nltk_data/corpora/wordnet`` from Debian's files; return the nltk_data root.

    Reuses a complete existing layout. Builds in a temporary sibling folder and renames it into place,
    so an interrupted build never leaves a half layout that a later run would trust.
    """
    debian_dir = Path(debian_dir if debian_dir is not None else DEBIAN_WORDNET_DIR)
    root = Path(cache if cache is not None else cache_root()) / "nltk_data"
    target = root / "corpora" / "wordnet"
    if _layout_is_complete(target):
        return root
    missing = [f for f in REQUIRED_FILES if not (debian_dir / f).is_file()]
    if missing:
        raise WordNetUnavailable(f"{debian_dir} lacks {', '.join(missing)}.\n{INSTALL_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".wordnet.tmp-"))
    try:
        os.chmod(tmp, 0o755)
        for src in sorted(debian_dir.iterdir()):
            if src.is_file():
                shutil.copyfile(src, tmp / src.name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        (tmp / "SOURCE").write_text(f"Debian WordNet 3.0 from {debian_dir}\n", encoding="utf-8")
        if target.exists():  # an incomplete layout: replace it
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; keep theirs if it is usable
            if not _layout_is_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return root


def _find_nltk_wordnet():
    """NLTK's own lookup (folder or zip), as a path pointer, or None."""
    for resource in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return nltk.data.find(resource)
        except LookupError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def _reader_and_source():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    found = _find_nltk_wordnet()
    if found is not None:
        where = getattr(found, "path", str(found))
        ours = str(cache_root().resolve()) in str(Path(str(where)).resolve())
        # the book names the package, not this machine's folders (a reader's differ)
        source = "Debian's wordnet-base package" if ours else "NLTK's wordnet corpus (nltk.data.path)"
    else:
        if not DEBIAN_WORDNET_DIR.is_dir():
            raise WordNetUnavailable(INSTALL_HINT)
        root = build_debian_layout()
        if str(root) not in nltk.data.path:
            nltk.data.path.append(str(root))
        found = nltk.data.find("corpora/wordnet")
        source = "Debian's wordnet-base package"
    with warnings.catch_warnings():  # "multilingual functions not available": we only use English
        warnings.simplefilter("ignore")
        reader = WordNetCorpusReader(found, None)
    return reader, f"WordNet {reader.get_version()} ({source})"


def reader():
    """The NLTK WordNetCorpusReader in use (loaded once)."""
    return _reader_and_source()[0]


def wordnet_source() -> str:
    """Which WordNet was used, for provenance (e.g. ``WordNet 3.0 (Debian WordNet from ...)``)."""
    return _reader_and_source()[1]


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
    _reader_and_source.cache_clear()
