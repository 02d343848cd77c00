"""Concepts over single sentences (``explain/sentence_concepts.py``) on a hand-built example: names, masks, the
vocabulary's size cut (raw token counts, ties by text) and the skip list; the distinct sentences of pairs."""

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.explain.sentence_concepts import atom_kind, distinct_sentences, sentence_concepts

ROWS = [  # sentence, tokens, tags
    ("The dog runs .", ["the", "dog", "runs", "."], ["DT", "NN", "VBZ", "."]),
    ("A dog and a cat .", ["a", "dog", "and", "a", "cat", "."], ["DT", "NN", "CC", "DT", "NN", "."]),
    ("Dogs of the park , run", ["dogs", "of", "the", "park", ",", "run"], ["NNS", "IN", "DT", "NN", ",", "VB"]),
    ("An old cat sleeps", ["an", "old", "cat", "sleeps"], ["DT", "JJ", "NN", "VBZ"]),
    ("run run run", ["run", "run", "run"], ["VB", "VB", "VB"]),
]
TAGS = [",", ".", "CC", "DT", "IN", "JJ", "NN", "NNS", "VB", "VBZ"]


@pytest.fixture
def sentences() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["sentence", "tokens", "tags"])


def _expected_mask(kind: str, value: str) -> list[bool]:
    column = 1 if kind == "tok" else 2
    return [value in row[column] for row in ROWS]


def test_sentence_concepts_equal_the_hand_built_example(sentences):
    # raw counts without the skip list: run 4 (3 in one sentence), cat 2, dog 2, then and/dogs/old/park/runs/sleeps 1;
    # ties by the token's text
    concepts = sentence_concepts(sentences, vocab_size=4)
    words = ["run", "cat", "dog", "and"]
    assert concepts.names == [f"tok:{w}" for w in words] + [f"tag:{t}" for t in TAGS]
    assert concepts.n_pairs == len(ROWS)
    for name in concepts.names:
        kind, value = name.split(":", 1)
        assert concepts.mask(name).tolist() == _expected_mask(kind, value), name
    assert concepts.mask("tok:run").tolist() == [False, False, True, False, True]
    assert concepts.mask("tag:DT").tolist() == [True, True, True, True, False]
    assert concepts.counts().tolist() == [sum(_expected_mask(*n.split(":", 1))) for n in concepts.names]
    assert concepts.encoding == "standard" and concepts.wordnet_mode is None


def test_the_vocabulary_cut_and_the_skip_list(sentences):
    everything = sentence_concepts(sentences, vocab_size=100)
    words = [n.removeprefix("tok:") for n in everything.names if n.startswith("tok:")]
    assert words == ["run", "cat", "dog", "and", "dogs", "old", "park", "runs", "sleeps"]
    for skipped in ("a", "an", "the", "of", ".", ","):
        assert f"tok:{skipped}" not in everything
    assert "tag:." in everything and "tag:," in everything  # punctuation stays a tag
    assert not any(n.startswith(("pre:", "hyp:", "oth:")) for n in everything.names)
    one = sentence_concepts(sentences, vocab_size=1)
    assert [n for n in one.names if n.startswith("tok:")] == ["tok:run"]
    assert [n for n in one.names if n.startswith("tag:")] == [f"tag:{t}" for t in TAGS]  # tags are not cut
    assert np.array_equal(one.mask("tok:run"), everything.mask("tok:run"))


def test_distinct_sentences_keep_premises_first_and_each_sentence_once():
    pairs = pd.DataFrame({
        "premise": ["A dog runs .", "A cat sleeps .", "A dog runs ."],
        "hypothesis": ["An animal moves .", "A dog runs .", "A cat naps ."],
        "premise_tokens": [["a", "dog", "runs", "."], ["a", "cat", "sleeps", "."], ["a", "dog", "runs", "."]],
        "hypothesis_tokens": [["an", "animal", "moves", "."], ["a", "dog", "runs", "."], ["a", "cat", "naps", "."]],
        "premise_tags": [["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."]],
        "hypothesis_tags": [["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."]],
    })
    out = distinct_sentences(pairs)
    assert out.columns.tolist() == ["sentence", "tokens", "tags"]
    assert out["sentence"].tolist() == ["A dog runs .", "A cat sleeps .", "An animal moves .", "A cat naps ."]
    assert out["tokens"].tolist()[2] == ["an", "animal", "moves", "."]
    assert out.index.tolist() == [0, 1, 2, 3]
    concepts = sentence_concepts(out, vocab_size=10)
    assert concepts.mask("tok:cat").tolist() == [False, True, False, True]


def test_atom_kind():
    assert atom_kind("tok:dog") == "word"
    assert atom_kind("tag:NN") == "tag"
    assert atom_kind("tag:tok") == "tag"
