"""Concept masks over probe pairs: the atoms that formulas are built from (DESIGN.md, "Concepts").

One boolean column per concept, one row per premise/hypothesis pair, named as in Mu & Andreas' code:

- ``pre:tok:W`` / ``hyp:tok:W``: token W occurs in the premise / hypothesis. The vocabulary is the
  ``vocab_size`` most frequent tokens (raw counts over premises and hypotheses together), skipping
  ``{a, an, the, of, ., ,}``, ties broken by the token's text; each word gives both concepts.
- ``pre:tag:T`` / ``hyp:tag:T``: Penn tag T occurs (one concept per tag seen on that side).
- ``oth:overlap:25|50|75``: |P ∩ H| / (|P \\ H| + |H \\ P|) over token sets is > 0.25 / 0.5 / 0.75;
  identical sets count as above every threshold.

``encoding="wordnet"`` keeps the same names and vocabulary, and makes ``W`` also true where any WordNet
synonym of W occurs on that side (multi-word lemmas match as contiguous token runs). ``wordnet_mode``
chooses the synonyms (:func:`clipneuron_utils.explain.wordnet.synonyms`): ``"exact"`` (the default) takes only
the synsets that have W itself as a lemma name, and never expands nor matches a stop word
(:func:`clipneuron_utils.explain.wordnet.stop_words`: scikit-learn's English stop list plus ``SKIP_TOKENS``);
``"all_senses"`` takes every synset NLTK's lookup returns after morphy (so "as" is looked up as "a"),
the naive encoding. The mode is recorded in :attr:`Concepts.wordnet_mode` (``None`` for the standard
encoding).

Masks are built from index arrays into one scipy CSC matrix (no per-concept loop over pairs); the
WordNet encoding inverts the map concept → synonyms into synonym → concepts, then scans each sentence
once.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .vocabulary import build_vocab
from ..artifacts import CorruptArtifactError, atomic_path, record_checksum
from ..artifacts import verify as verify_artifact

ENCODINGS = ("standard", "wordnet")
WORDNET_MODES = ("exact", "all_senses")  # as clipneuron_utils.explain.wordnet.WORDNET_MODES (not imported: NLTK loads lazily)
OVERLAP_THRESHOLDS = (25, 50, 75)
REQUIRED_COLUMNS = ("premise_tokens", "hypothesis_tokens", "premise_tags", "hypothesis_tags")
SIDES = {"pre": ("premise_tokens", "premise_tags"), "hyp": ("hypothesis_tokens", "hypothesis_tags")}
_FORMAT = 1


def split_name(name: str) -> tuple[str, str, str]:
    """``"pre:tok:man"`` → ``("pre", "tok", "man")`` (the value may itself hold colons)."""
    side, kind, value = name.split(":", 2)
    return side, kind, value


@dataclass
class Concepts:
    """Concept names and their masks (``n_pairs × n_concepts`` boolean CSC matrix)."""

    names: list[str]
    masks: sp.csc_matrix
    encoding: str = "standard"
    pair_ids: list[str] | None = None
    wordnet_mode: str | None = None  # how WordNet synonyms were found (WORDNET_MODES); None: standard
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.wordnet_mode is not None and self.wordnet_mode not in WORDNET_MODES:
            raise ValueError(f"wordnet_mode must be one of {WORDNET_MODES} or None, got {self.wordnet_mode!r}")
        self.names = list(self.names)
        self.masks = sp.csc_matrix(self.masks, dtype=bool)
        if self.masks.shape[1] != len(self.names):
            raise ValueError(f"masks has {self.masks.shape[1]} columns but {len(self.names)} names")
        if self.pair_ids is not None:
            self.pair_ids = [str(p) for p in self.pair_ids]
            if len(self.pair_ids) != self.masks.shape[0]:
                raise ValueError("pair_ids must have one entry per mask row")
        self.index = {name: j for j, name in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError("concept names must be unique")

    @property
    def n_pairs(self) -> int:
        return self.masks.shape[0]

    @property
    def n_concepts(self) -> int:
        return self.masks.shape[1]

    def mask(self, name: str) -> np.ndarray:
        """Dense boolean mask of one concept over the pairs."""
        j = self.index[name]
        out = np.zeros(self.n_pairs, dtype=bool)
        out[self.masks.indices[self.masks.indptr[j] : self.masks.indptr[j + 1]]] = True
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        return self.mask(name)

    def __contains__(self, name: object) -> bool:
        return name in self.index

    def counts(self) -> np.ndarray:
        """Number of pairs where each concept holds."""
        return np.diff(self.masks.indptr).astype(np.int64)

    @property
    def kinds(self) -> pd.DataFrame:
        """One row per concept: name, side (pre/hyp/oth), kind (tok/tag/overlap), value, n_pairs."""
        parts = [split_name(n) for n in self.names]
        return pd.DataFrame(
            {
                "name": self.names,
                "side": [p[0] for p in parts],
                "kind": [p[1] for p in parts],
                "value": [p[2] for p in parts],
                "n_pairs": self.counts(),
            }
        )

    @property
    def vocab(self) -> list[str]:
        """The token vocabulary, in frequency order (from the ``pre:tok:`` names)."""
        return [n[len("pre:tok:") :] for n in self.names if n.startswith("pre:tok:")]

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` atomically, with its checksum (``<name>.sha256``) so a damaged copy is refused."""
        m = self.masks
        arrays = {
            "format": np.array(_FORMAT),
            "shape": np.array(m.shape, dtype=np.int64),
            "indptr": m.indptr.astype(np.int64),
            "indices": m.indices.astype(np.int32),
            "names": np.array(self.names, dtype=str),
            "encoding": np.array(self.encoding),
            "wordnet_mode": np.array(self.wordnet_mode or ""),
        }
        if self.pair_ids is not None:
            arrays["pair_ids"] = np.array(self.pair_ids, dtype=str)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return record_checksum(path)

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = True) -> Concepts:
        """Masks saved by :meth:`save`; a damaged or unreadable file raises ``CorruptArtifactError`` (rebuild them).

        A file saved before ``wordnet_mode`` existed has no such field: its WordNet masks were built the
        naive way, so they load as ``"all_senses"`` (and standard masks as ``None``).
        """
        path = Path(path)
        if verify:
            verify_artifact(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                shape = tuple(int(s) for s in z["shape"])
                indices = z["indices"]
                masks = sp.csc_matrix((np.ones(len(indices), dtype=bool), indices, z["indptr"]), shape=shape)
                pair_ids = z["pair_ids"].tolist() if "pair_ids" in z.files else None
                encoding = str(z["encoding"])
                if "wordnet_mode" in z.files:
                    mode = str(z["wordnet_mode"]) or None
                else:  # written before the modes existed
                    mode = "all_senses" if encoding == "wordnet" else None
                return cls(z["names"].tolist(), masks, encoding, pair_ids, mode)
        except MemoryError:
            raise
        except Exception as exc:  # bad zip, missing member, inconsistent CSC arrays
            raise CorruptArtifactError.unparsable(path, exc, checked=verify) from exc


# --------------------------------------------------------------------------------------------- build


def _validate(pairs: pd.DataFrame, vocab_size: int, encoding: str, wordnet_mode: str = "exact") -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if wordnet_mode not in WORDNET_MODES:
        raise ValueError(f"wordnet_mode must be one of {WORDNET_MODES}, got {wordnet_mode!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError(f"pairs must be a pandas DataFrame with columns {REQUIRED_COLUMNS}")
    missing = [c for c in REQUIRED_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pairs lacks column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    if len(pairs) == 0:
        raise ValueError("pairs is empty: concepts need at least one pair")
    for tok_col, tag_col in SIDES.values():
        bad = pairs[tok_col].map(len).to_numpy() != pairs[tag_col].map(len).to_numpy()
        if bad.any():
            raise ValueError(f"{tok_col} and {tag_col} differ in length at row {int(np.argmax(bad))}")


def _flatten(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Row index per item and the items, for a column of lists."""
    lengths = column.map(len).to_numpy()
    rows = np.repeat(np.arange(len(column)), lengths)
    return rows, list(itertools.chain.from_iterable(column))


def _bool_csc(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csc_matrix:
    data = np.ones(len(rows), dtype=np.int32)
    m = sp.csc_matrix((data, (np.asarray(rows), np.asarray(cols))), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1
    return m.astype(bool)


def _membership(column: pd.Series, lookup: dict[str, int], n_cols: int) -> sp.csc_matrix:
    """Mask (pairs × n_cols): item with column ``lookup[item]`` occurs in the row's list."""
    rows, items = _flatten(column)
    cols = np.fromiter((lookup.get(t, -1) for t in items), dtype=np.int64, count=len(items))
    keep = cols >= 0
    return _bool_csc(rows[keep], cols[keep], (len(column), n_cols))


def _synonym_index(vocab: Sequence[str], mode: str = "exact") -> dict[tuple[str, ...], list[int]]:
    """Inverted WordNet map: token sequence of a synonym → vocabulary indices it stands for."""
    from .wordnet import synonyms

    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for j, word in enumerate(vocab):
        for syn in synonyms(word, mode) | {word}:
            seq = tuple(syn.split())
            if seq:
                index[seq].append(j)
    return dict(index)


def _synonym_occurrences(column: pd.Series, index: dict[tuple[str, ...], list[int]]):
    """(rows, cols): vocabulary index j wherever a synonym of word j occurs as a contiguous run."""
    lengths_by_first: dict[str, list[int]] = defaultdict(list)
    for seq in index:
        lengths_by_first[seq[0]].append(len(seq))
    lengths_by_first = {k: sorted(set(v)) for k, v in lengths_by_first.items()}
    rows: list[int] = []
    cols: list[int] = []
    for i, tokens in enumerate(column):
        n = len(tokens)
        for start, tok in enumerate(tokens):
            for length in lengths_by_first.get(tok, ()):
                if start + length > n:
                    break
                hits = index.get(tuple(tokens[start : start + length]))
                if hits:
                    rows.extend([i] * len(hits))
                    cols.extend(hits)
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def _overlap_masks(pairs: pd.DataFrame) -> sp.csc_matrix:
    ratios = np.empty(len(pairs))
    for i, (pre, hyp) in enumerate(zip(pairs["premise_tokens"], pairs["hypothesis_tokens"])):
        p, h = set(pre), set(hyp)
        sym = len(p ^ h)
        ratios[i] = np.inf if sym == 0 else len(p & h) / sym
    dense = np.stack([ratios > t / 100 for t in OVERLAP_THRESHOLDS], axis=1)
    return sp.csc_matrix(dense)


def build_concepts(
    pairs: pd.DataFrame, vocab_size: int = 2000, encoding: str = "standard", *, wordnet_mode: str = "exact",
    progress: bool = True,
) -> Concepts:
    """Concept masks for ``pairs`` (see the module docstring for the exact definitions).

    ``wordnet_mode`` ("exact" or "all_senses") matters only for ``encoding="wordnet"``; it is validated
    either way and recorded only for the WordNet encoding.
    """
    _validate(pairs, vocab_size, encoding, wordnet_mode)
    from tqdm.auto import tqdm

    n = len(pairs)
    steps = tqdm(total=4, desc=f"concepts ({encoding})", disable=not progress, leave=False)
    vocab = build_vocab(pairs, int(vocab_size))
    syn_index = _synonym_index(vocab, wordnet_mode) if encoding == "wordnet" else None
    tags = {side: sorted(set(itertools.chain.from_iterable(pairs[tag_col]))) for side, (_, tag_col) in SIDES.items()}
    steps.update(1)
    masks, names = _masks(pairs, vocab, tags, syn_index)
    steps.update(3)
    steps.close()
    pair_ids = pairs["pair_id"].astype(str).tolist() if "pair_id" in pairs.columns else None
    assert masks.shape == (n, len(names))
    return Concepts(names, masks, encoding, pair_ids, wordnet_mode if encoding == "wordnet" else None)


def _masks(pairs: pd.DataFrame, vocab: Sequence[str], tags: dict[str, list[str]], syn_index) -> tuple[sp.csc_matrix, list[str]]:
    """The masks and names of the tokens ``vocab`` (with their synonyms when ``syn_index`` is given), the
    ``tags`` of each side and the overlap thresholds on ``pairs``, in that order."""
    lookup = {w: j for j, w in enumerate(vocab)}
    blocks = []
    for tok_col, _ in SIDES.values():
        block = _membership(pairs[tok_col], lookup, len(vocab))
        if syn_index is not None:
            rows, cols = _synonym_occurrences(pairs[tok_col], syn_index)
            block = (block + _bool_csc(rows, cols, block.shape)).astype(bool)
        blocks.append(block)
    for side, (_, tag_col) in SIDES.items():
        blocks.append(_membership(pairs[tag_col], {t: j for j, t in enumerate(tags[side])}, len(tags[side])))
    masks = sp.hstack([*blocks, _overlap_masks(pairs)], format="csc").astype(bool)
    masks.sort_indices()
    names = ([f"pre:tok:{w}" for w in vocab] + [f"hyp:tok:{w}" for w in vocab]
             + [f"{side}:tag:{t}" for side in SIDES for t in tags[side]]
             + [f"oth:overlap:{t}" for t in OVERLAP_THRESHOLDS])
    return masks, names


def masks_like(pairs: pd.DataFrame, reference: Concepts) -> Concepts:
    """The masks of ``reference``'s concepts (same names, vocabulary, encoding and WordNet mode) on other
    ``pairs``, e.g. edited probe pairs: a concept is a fixed definition, not re-chosen from the new pairs.
    A tag that ``reference`` has no concept for is ignored."""
    missing = [c for c in REQUIRED_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pairs need columns {', '.join(REQUIRED_COLUMNS)}; missing {', '.join(missing)}")
    vocab = reference.vocab
    syn_index = _synonym_index(vocab, reference.wordnet_mode or "exact") if reference.encoding == "wordnet" else None
    tags = {side: [n.split(":", 2)[2] for n in reference.names if n.startswith(f"{side}:tag:")] for side in SIDES}
    masks, names = _masks(pairs, vocab, tags, syn_index)
    order = {n: j for j, n in enumerate(names)}
    if set(order) != set(reference.names):
        raise ValueError("reference concepts are not in build_concepts' layout (tokens, tags, overlap)")
    masks = masks[:, [order[n] for n in reference.names]]
    ids = pairs["pair_id"].astype(str).tolist() if "pair_id" in pairs.columns else None
    return Concepts(reference.names, masks, reference.encoding, ids, reference.wordnet_mode)


# ----------------------------------------------------------------------------------------- compare


def compare_encodings(standard: Concepts, wordnet: Concepts) -> pd.DataFrame:
    """Per concept: pairs where it holds under each encoding, and pairs the WordNet encoding added.

    ``frame.attrs["summary"]`` holds :func:`summarize_comparison` of the result.
    """
    if standard.names != wordnet.names or standard.n_pairs != wordnet.n_pairs:
        raise ValueError("standard and wordnet must share concept names and pairs (same probe set)")
    added = np.diff((wordnet.masks.astype(np.int8) - standard.masks.astype(np.int8)).maximum(0).tocsc().indptr)
    frame = pd.DataFrame(
        {
            "name": standard.names,
            "pairs_standard": standard.counts(),
            "pairs_wordnet": wordnet.counts(),
            "added": added.astype(np.int64),
        }
    )
    frame.attrs["summary"] = summarize_comparison(frame)
    return frame


def summarize_comparison(frame: pd.DataFrame) -> dict:
    """How many masks the WordNet encoding changed, and by how much (pairs added)."""
    changed = frame[frame["pairs_wordnet"] != frame["pairs_standard"]]
    rel = changed["added"] / changed["pairs_standard"].clip(lower=1)
    top = changed.sort_values(["added", "name"], ascending=[False, True]).head(1)
    return {
        "n_concepts": int(len(frame)),
        "n_changed": int(len(changed)),
        "share_changed": float(len(changed) / max(len(frame), 1)),
        "pairs_added_total": int(frame["added"].sum()),
        "mean_added_if_changed": float(changed["added"].mean()) if len(changed) else 0.0,
        "median_relative_growth_if_changed": float(rel.median()) if len(changed) else 0.0,
        "max_added": int(top["added"].iloc[0]) if len(top) else 0,
        "max_added_concept": str(top["name"].iloc[0]) if len(top) else None,
    }



def _runs_found(tokens: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """The candidates (space-separated token runs) that occur contiguously in ``tokens``."""
    text = " " + " ".join(tokens) + " "
    return [c for c in candidates if f" {c} " in text]


def wordnet_examples(pairs: pd.DataFrame, standard: Concepts, wordnet: Concepts, words: Sequence[str] = (),
                     n: int = 6, n_synonyms: int = 8, sides: Sequence[str] = ("hyp",)) -> pd.DataFrame:
    """For a few token concepts: the word, its synonyms, how many pairs newly match, which synonyms did it.

    ``words`` picks the concepts (``hyp:tok:W`` first, then ``pre:tok:W``); by default the ``n`` concepts
    of ``sides`` ("hyp", "pre") that gained the most pairs. Synonyms are those of ``wordnet``'s
    ``wordnet_mode``. ``responsible`` lists every synonym found in the newly matching pairs, with the
    number of those pairs it occurs in, most first. The example is the first pair where the WordNet
    mask holds and the standard one does not, and ``via`` the synonym that made it match.
    """
    from . import wordnet as wn

    mode = wordnet.wordnet_mode or "exact"
    comparison = compare_encodings(standard, wordnet)
    if words:
        names = [f"{side}:tok:{w}" for w in words for side in ("hyp", "pre") if f"{side}:tok:{w}" in standard]
    else:
        prefixes = tuple(f"{side}:tok:" for side in sides)
        gained = comparison[comparison["name"].str.startswith(prefixes) & (comparison["added"] > 0)]
        names = gained.sort_values(["added", "name"], ascending=[False, True])["name"].head(n).tolist()
    rows = []
    for name in names:
        side, _, word = split_name(name)
        column = "premise" if side == "pre" else "hypothesis"
        new = np.flatnonzero(wordnet.mask(name) & ~standard.mask(name))
        synonyms = sorted(s for s in wn.synonyms(word, mode) if s != word)
        tokens = pairs[f"{column}_tokens"]
        found = Counter(itertools.chain.from_iterable(_runs_found(tokens.iloc[i], synonyms) for i in new))
        example, matched = "", ""
        if len(new):
            matched = next(iter(_runs_found(tokens.iloc[new[0]], synonyms)), "")
            example = pairs[column].iloc[new[0]]
        row = comparison.loc[comparison["name"] == name].iloc[0]
        rows.append({
            "concept": name, "synonyms": ", ".join(synonyms[:n_synonyms]) + (" …" if len(synonyms) > n_synonyms else ""),
            "pairs (standard)": int(row["pairs_standard"]), "pairs (wordnet)": int(row["pairs_wordnet"]),
            "added": int(row["added"]),
            "responsible": ", ".join(f"{s} ({k:,})" for s, k in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))),
            "example that newly matches": example, "via": matched,
        })
    return pd.DataFrame(rows)
