"""Edits of probe pairs that change what a formula says and nothing else: the inputs of the causal tests.

Two rules, both stated on the page and checked on the concept masks (:func:`check_edits`,
:func:`changed_concepts`):

* **Substitution** (faithfulness). On one side, every occurrence of a token ``old`` becomes ``new``, in
  the text (whole words, case kept) and in the tokens; the Penn tags stay (``new`` is chosen with
  ``old``'s tag). To make a formula's atom ``side:tok:W`` false, W is replaced by a vocabulary token of
  W's usual tag that occurs in neither sentence (*removal*); to make it true, a token of that tag that
  occurs only on that side is replaced by W (*insertion*). Only ``side:tok:old`` and ``side:tok:new``
  may change: an edit that changes any other concept (an overlap threshold, say) is dropped.
* **Appended clause** (adversarial pairs). ``There is a W.`` (``There are W.`` for a plural noun) is
  appended to the premise. A premise with more information still entails, or still contradicts, the
  same hypothesis, so the gold label of an entailment or a contradiction is kept. A pair with W and its
  control pair with another noun may differ only in the two nouns' concepts.

Whether the formula's truth changed, and which way, is read from the edited pair's own masks
(:func:`~clipneuron_utils.explain.concepts.masks_like`): the *predicted direction* of the unit's
activation is +1 where the formula became true and −1 where it became false.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from . import formulas
from .concepts import Concepts, masks_like, split_name
from .vocabulary import SKIP_TOKENS

COLUMNS = {"pre": ("premise", "premise_tokens", "premise_tags"),
           "hyp": ("hypothesis", "hypothesis_tokens", "hypothesis_tags")}
OTHER = {"pre": "hyp", "hyp": "pre"}
NOUN_TAGS = ("NN", "NNS")


def usual_tags(pairs: pd.DataFrame) -> dict[str, str]:
    """Each token's most frequent Penn tag over both sides (ties: the tag's text)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for side in COLUMNS.values():
        for toks, tags in zip(pairs[side[1]], pairs[side[2]]):
            for tok, tag in zip(toks, tags):
                counts[tok][tag] += 1
    return {tok: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for tok, c in counts.items()}


def token_atoms(formula: formulas.Formula | str) -> list[str]:
    """The formula's ``pre:tok:`` / ``hyp:tok:`` atoms, in order, without repeats."""
    f = formulas.parse(formula) if isinstance(formula, str) else formula
    return list(dict.fromkeys(a for a in f.atoms() if split_name(a)[1] == "tok"))


def _word(text: str) -> re.Pattern:
    # "girl's" holds girl, as SNLI's tokens do; "t-shirt" does not hold shirt
    return re.compile(r"(?<![\w'-])" + re.escape(text) + r"(?![\w-])", re.IGNORECASE)


def _replace_text(text: str, old: str, new: str, expected: int) -> str | None:
    """``old`` → ``new`` as whole words (a capital first letter kept); None when the text does not hold
    exactly ``expected`` such words (the tokens and the text would disagree)."""
    pattern = _word(old)
    if len(pattern.findall(text)) != expected:
        return None
    return pattern.sub(lambda m: new[:1].upper() + new[1:] if m.group(0)[:1].isupper() else new, text)


def substitute(pairs: pd.DataFrame, rows, side: str, old, new) -> pd.DataFrame:
    """Row ``rows[i]`` of ``pairs`` with every ``old[i]`` on ``side`` replaced by ``new[i]`` (text and
    tokens; tags kept). Rows whose text and tokens disagree about ``old`` are left out; ``source`` is the
    row of ``pairs`` each edited pair came from, ``old`` and ``new`` the substitution."""
    text_col, tok_col, _ = COLUMNS[side]
    out = []
    for row, o, n in zip(rows, old, new):
        record = pairs.iloc[int(row)].to_dict()
        toks = list(record[tok_col])
        text = _replace_text(record[text_col], o, n, toks.count(o))
        if text is None or o not in toks:
            continue
        record[text_col], record[tok_col] = text, [n if t == o else t for t in toks]
        record["pair_id"] = f"{record.get('pair_id', row)}~{side}:{o}>{n}"
        record["source"], record["old"], record["new"] = int(row), o, n
        out.append(record)
    return _edited(out, pairs, ("source", "old", "new"))


def append_clause(pairs: pd.DataFrame, rows, word: str, tag: str) -> pd.DataFrame:
    """``There is a W.`` (NN) or ``There are W.`` (NNS) appended to the premise of each row in ``rows``."""
    if tag not in NOUN_TAGS:
        raise ValueError(f"an appended clause names a noun (tag NN or NNS); {word!r} has tag {tag!r}")
    if tag == "NN":
        article = "an" if word[:1] in "aeiou" else "a"
        words, tags = ["there", "is", article, word, "."], ["EX", "VBZ", "DT", "NN", "."]
    else:
        words, tags = ["there", "are", word, "."], ["EX", "VBP", "NNS", "."]
    clause = " ".join(w.capitalize() if i == 0 else w for i, w in enumerate(words[:-1])) + "."
    out = []
    for row in rows:
        record = pairs.iloc[int(row)].to_dict()
        record["premise"] = record["premise"].rstrip() + " " + clause
        record["premise_tokens"] = list(record["premise_tokens"]) + words
        record["premise_tags"] = list(record["premise_tags"]) + tags
        record["pair_id"] = f"{record.get('pair_id', row)}+{word}"
        record["source"] = int(row)
        out.append(record)
    return _edited(out, pairs, ("source",))


def _edited(records: list[dict], pairs: pd.DataFrame, extra) -> pd.DataFrame:
    """Edited pairs as a frame with ``pairs``' columns then the ``extra`` ones (even when there is none)."""
    return pd.DataFrame(records, columns=[*pairs.columns, *(c for c in extra if c not in pairs.columns)])


def changed_concepts(before: Concepts, after: Concepts, sources) -> list[set[str]]:
    """For each edited pair (row of ``after``), the names of the concepts whose value differs from its
    source pair's (row ``sources[i]`` of ``before``)."""
    a = before.masks[np.asarray(sources, dtype=np.int64)].toarray()
    b = after.masks.toarray()
    diff = a != b
    names = np.asarray(before.names)
    return [set(names[row]) for row in diff]


def check_edits(before: Concepts, after: Concepts, sources, allowed) -> np.ndarray:
    """True where an edited pair changed only concepts in its ``allowed[i]`` set (the rule's stated change)."""
    return np.array([changed <= set(ok) for changed, ok in zip(changed_concepts(before, after, sources), allowed)],
                    dtype=bool)


class Editor:
    """Plans the edits of one probe set: its concepts, each token's usual tag, and the substitutes by tag."""

    def __init__(self, probe: pd.DataFrame, concepts: Concepts):
        if concepts.encoding != "standard":
            raise ValueError("edits are planned on the standard concepts (a WordNet synonym would let a "
                             "substitute keep the atom true)")
        if concepts.n_pairs != len(probe) or (concepts.pair_ids is not None and "pair_id" in probe.columns
                                               and concepts.pair_ids != probe["pair_id"].astype(str).tolist()):
            raise ValueError("the concepts were built on other pairs than these probe pairs: rebuild them "
                             "(run.probe_concepts with this probe split)")
        self.probe, self.concepts = probe.reset_index(drop=True), concepts
        self.tags = usual_tags(self.probe)
        self.vocab = concepts.vocab
        by_tag: dict[str, list[str]] = defaultdict(list)
        for w in self.vocab:  # frequency order
            if w not in SKIP_TOKENS and w in self.tags:
                by_tag[self.tags[w]].append(w)
        self.by_tag = dict(by_tag)
        self.sets = {side: [set(t) for t in self.probe[cols[1]]] for side, cols in COLUMNS.items()}
        self.truth_cache: dict[str, np.ndarray] = {}
        self._key: str | None = None

    @property
    def key(self) -> str:
        """What the edits depend on: the probe pairs' texts, tokens and tags, and the concepts."""
        if self._key is None:
            from ..artifacts import cache_key

            cols = [c for side in COLUMNS.values() for c in side]
            self._key = cache_key(*(self.probe[c].astype(str).tolist() for c in cols), self.concepts.names,
                                  self.concepts.masks.indptr, self.concepts.masks.indices)
        return self._key

    def truth(self, formula: str) -> np.ndarray:
        if formula not in self.truth_cache:
            self.truth_cache[formula] = formulas.evaluate(formula, self.concepts)
        return self.truth_cache[formula]

    def frequency_match(self, atom: str, exclude=()) -> str | None:
        """The control atom for ``atom``: a token on the same side with the same usual tag whose concept
        holds on the nearest number of probe pairs (not in ``exclude``); None when there is none."""
        side, _, word = split_name(atom)
        tag = self.tags.get(word)
        counts = self.concepts.counts()
        target = counts[self.concepts.index[atom]]
        best, gap = None, None
        for w in self.by_tag.get(tag, ()):
            name = f"{side}:tok:{w}"
            if w == word or name in exclude or name not in self.concepts.index:
                continue
            g = abs(int(counts[self.concepts.index[name]]) - int(target))
            if gap is None or g < gap:
                best, gap = name, g
        return best

    def _absent(self, words, side: str, row: int) -> list[str]:
        """The ``words`` in neither sentence of probe row ``row``: what a substitution may bring in."""
        here, there = self.sets[side][row], self.sets[OTHER[side]][row]
        return [w for w in words if w not in here and w not in there]

    def _own_words(self, side: str, row: int, tag: str, avoid) -> list[str]:
        """The words of row ``row``'s ``side`` sentence tagged ``tag`` there and usually, not skipped, not on the
        other side and not in ``avoid`` (sorted): what a substitution may take out."""
        toks, tags = self.probe.at[row, COLUMNS[side][1]], self.probe.at[row, COLUMNS[side][2]]
        there = self.sets[OTHER[side]][row]
        return sorted({t for t, g in zip(toks, tags) if g == tag and self.tags.get(t) == tag and t not in SKIP_TOKENS
                       and t not in there and t not in avoid})

    def _substituted(self, rows, side: str, old, new):
        """:func:`substitute` of each row's ``old`` → ``new`` on ``side``, the edited pairs' concept masks, and
        whether each changed no concept but its two tokens' (:func:`check_edits`); None when no row could
        be edited (text and tokens disagreed)."""
        edited = substitute(self.probe, rows, side, old, new)
        if edited.empty:
            return None
        after = masks_like(edited, self.concepts)
        allowed = [{f"{side}:tok:{o}", f"{side}:tok:{n}"} for o, n in zip(edited["old"], edited["new"])]
        return edited, after, check_edits(self.concepts, after, edited["source"].to_numpy(), allowed)

    def plan(self, formula: str, atom: str, n_edits: int, rng: np.random.Generator, avoid=(), rows=None) -> pd.DataFrame:
        """Up to ``n_edits`` removals and ``n_edits`` insertions of ``atom``'s token that change the truth of
        ``formula`` and no concept but the two substituted tokens': the edited pairs with ``source``,
        ``edit`` (removal/insertion), ``old``, ``new`` and ``direction`` (+1: the formula became true).

        The other word of a substitution is never one of ``avoid`` (nor a word ``formula`` names): a
        control edit must not swap the unit's own formula words in or out. ``rows``: the probe rows an
        edit may start from (all when None), e.g. the half of the pairs no formula was searched on."""
        side, kind, word = split_name(atom)
        if kind != "tok":
            raise ValueError(f"edits substitute tokens; {atom!r} is not a token concept")
        avoid = set(avoid) | {split_name(a)[2] for a in token_atoms(formula)}
        tag = self.tags.get(word)
        subs = [w for w in self.by_tag.get(tag, ()) if w != word and w not in avoid]
        if tag is None or not subs:
            return _empty(self.probe)
        sets, other = self.sets[side], self.sets[OTHER[side]]
        has = np.array([word in s for s in sets])
        allowed = np.ones(len(has), bool) if rows is None else np.isin(np.arange(len(has)), np.asarray(rows, dtype=np.int64))
        plans = []
        for edit, sources in (("removal", np.flatnonzero(has & allowed)), ("insertion", np.flatnonzero(~has & allowed))):
            old, new, keep = [], [], []
            for r in rng.permutation(sources)[: 4 * n_edits]:
                if edit == "removal":
                    choices = self._absent(subs, side, r)
                    if not choices:
                        continue
                    old.append(word)
                    new.append(choices[int(rng.integers(len(choices)))])
                else:
                    choices = self._own_words(side, r, tag, avoid | {word})
                    if not choices or word in other[r]:
                        continue
                    old.append(choices[int(rng.integers(len(choices)))])
                    new.append(word)
                keep.append(r)
            checked = self._substituted(keep, side, old, new) if keep else None
            if checked is None:
                continue
            edited, after, clean = checked
            src = edited["source"].to_numpy()
            before_truth = self.truth(formula)[src]
            after_truth = formulas.evaluate(formula, after)
            flips = clean & (before_truth != after_truth)
            chosen = edited[flips].head(n_edits).assign(edit=edit, direction=np.where(after_truth[flips][:n_edits], 1, -1))
            plans.append(chosen)
        return pd.concat(plans, ignore_index=True) if plans else _empty(self.probe)

    def shams(self, formula: str, atom: str, plan: pd.DataFrame, rng: np.random.Generator, avoid=()) -> pd.DataFrame:
        """A sham edit of each edit in ``plan`` (:meth:`plan` of ``formula`` on ``atom``): the same pair, the
        same side, a substitution of the same tag that leaves every concept of the formula as it was.

        For an insertion (t → W) the sham replaces the same t with another word of W's tag; for a removal
        (W → s) it replaces another word of W's tag in the same sentence with the same s. So the formula
        edit and its sham differ in one word only, the formula's: both start from the same, possibly
        unusual, pair, and what an edit does to any pair's unit cancels in their difference. Each sham has
        ``link``: the row of ``plan`` it shadows, and that edit's ``direction``; an edit with no possible
        sham gets none, and a sham that changes any concept but its two tokens' (or the formula's truth,
        or any of its atoms) is dropped."""
        side, _, word = split_name(atom)
        if plan.empty:
            return _empty(self.probe).assign(link=pd.Series(dtype=np.int64))
        names = formulas.parse(formula).atoms()
        avoid = set(avoid) | {split_name(a)[2] for a in token_atoms(formula)} | {word}
        tag = self.tags.get(word)
        subs = [w for w in self.by_tag.get(tag, ()) if w not in avoid]
        keep, old, new, links = [], [], [], []
        for link, r in enumerate(plan.itertuples(index=False)):
            src = int(r.source)
            if r.edit == "insertion":
                choices = self._absent(subs, side, src)
                if not choices:
                    continue
                o, n = r.old, choices[int(rng.integers(len(choices)))]
            else:
                choices = self._own_words(side, src, tag, avoid)
                if not choices or r.new in self.sets[side][src]:
                    continue
                o, n = choices[int(rng.integers(len(choices)))], r.new
            keep.append(src)
            old.append(o)
            new.append(n)
            links.append(link)
        checked = self._substituted(keep, side, old, new) if keep else None
        if checked is None:
            return _empty(self.probe).assign(link=pd.Series(dtype=np.int64))
        edited, after, clean = checked
        by_key = {(s_, o_, n_): l_ for s_, o_, n_, l_ in zip(keep, old, new, links)}
        edited = edited.assign(link=[by_key[k] for k in zip(edited["source"], edited["old"], edited["new"])])
        src = edited["source"].to_numpy()
        same = formulas.evaluate(formula, after) == self.truth(formula)[src]
        for name in names:  # every concept the formula names keeps its value
            if name in self.concepts.index:
                same &= after.mask(name) == self.concepts.mask(name)[src]
        kept = edited[clean & same]
        directions = plan["direction"].to_numpy()
        edits = plan["edit"].to_numpy()
        return kept.assign(edit=["sham " + edits[int(l_)] for l_ in kept["link"]],
                           direction=[int(directions[int(l_)]) for l_ in kept["link"]]).reset_index(drop=True)


def _empty(probe: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(columns=[*probe.columns, "source", "edit", "old", "new", "direction"])
