"""Concept masks: vocabulary, token/tag/overlap definitions, WordNet encoding, storage, validation."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipneuron_utils.data import synthetic
from clipneuron_utils.explain import concepts, wordnet
from clipneuron_utils.explain.concepts import (
    OVERLAP_THRESHOLDS,
    Concepts,
    build_concepts,
    compare_encodings,
    split_name,
)
from clipneuron_utils.explain.vocabulary import SKIP_TOKENS, build_vocab


def make_pairs(rows) -> pd.DataFrame:
    """rows: (premise tokens, hypothesis tokens[, premise tags, hypothesis tags]); tags default "NN"."""
    out = []
    for i, row in enumerate(rows):
        pre, hyp = list(row[0]), list(row[1])
        pre_tags = list(row[2]) if len(row) > 2 else ["NN"] * len(pre)
        hyp_tags = list(row[3]) if len(row) > 3 else ["NN"] * len(hyp)
        out.append(
            {
                "pair_id": f"p{i}",
                "premise": " ".join(pre),
                "hypothesis": " ".join(hyp),
                "label": "neutral",
                "premise_tokens": pre,
                "hypothesis_tokens": hyp,
                "premise_tags": pre_tags,
                "hypothesis_tags": hyp_tags,
            }
        )
    return pd.DataFrame(out)


@pytest.fixture
def pairs():
    return make_pairs(
        [
            ("a man plays the guitar .".split(), "a man plays .".split(),
             ["DT", "NN", "VBZ", "DT", "NN", "."], ["DT", "NN", "VBZ", "."]),
            ("two dogs run .".split(), "the dogs sleep .".split(),
             ["CD", "NNS", "VBP", "."], ["DT", "NNS", "VBP", "."]),
            ("a woman sings".split(), "nobody sings".split(), ["DT", "NN", "VBZ"], ["NN", "VBZ"]),
        ]
    )


#: the original's skip list (Mu & Andreas' NLI code skips these six, and its vocabulary's UNK and PAD) — written
#: out here so that the tests do not check the module against itself
ORIGINAL_SKIP = {"a", "an", "the", "of", ".", ","}


def test_the_skip_list_is_the_originals():
    assert set(SKIP_TOKENS) == ORIGINAL_SKIP
    pairs = make_pairs([(["a", "man", "of", "the", "sea", "."], ["an", "old", "man", ","])])
    assert set(build_vocab(pairs, 100)) == {"man", "sea", "old"}


def test_vocab_counts_both_sides_skips_function_tokens_and_breaks_ties_by_text(pairs):
    vocab = build_vocab(pairs, 100)
    assert not set(vocab) & ORIGINAL_SKIP
    # man 2, plays 2, dogs 2, sings 2 (first, alphabetical), then the singletons alphabetically.
    assert vocab[:4] == ["dogs", "man", "plays", "sings"]
    assert vocab[4:] == sorted(vocab[4:])
    assert build_vocab(pairs, 3) == ["dogs", "man", "plays"]


def test_names_and_fixed_column_order(pairs):
    c = build_concepts(pairs, vocab_size=3, progress=False)
    assert c.names == [
        "pre:tok:dogs", "pre:tok:man", "pre:tok:plays",
        "hyp:tok:dogs", "hyp:tok:man", "hyp:tok:plays",
        "pre:tag:.", "pre:tag:CD", "pre:tag:DT", "pre:tag:NN", "pre:tag:NNS", "pre:tag:VBP", "pre:tag:VBZ",
        "hyp:tag:.", "hyp:tag:DT", "hyp:tag:NN", "hyp:tag:NNS", "hyp:tag:VBP", "hyp:tag:VBZ",
        "oth:overlap:25", "oth:overlap:50", "oth:overlap:75",
    ]
    assert c.masks.shape == (3, len(c.names)) and c.masks.format == "csc" and c.masks.dtype == bool
    assert c.index["hyp:tok:man"] == 4 and c.vocab == ["dogs", "man", "plays"]
    assert c.pair_ids == ["p0", "p1", "p2"] and c.encoding == "standard"


def test_token_and_tag_masks_per_side(pairs):
    c = build_concepts(pairs, progress=False)
    assert c.mask("pre:tok:man").tolist() == [True, False, False]
    assert c.mask("hyp:tok:nobody").tolist() == [False, False, True]
    assert c.mask("pre:tok:nobody").tolist() == [False, False, False]  # hypothesis-only word
    assert c.mask("pre:tag:CD").tolist() == [False, True, False]
    assert "hyp:tag:CD" not in c  # tags only where seen on that side
    assert c["hyp:tag:DT"].tolist() == [True, True, False]


def test_overlap_ratio_thresholds():
    c = build_concepts(
        make_pairs(
            [
                ("x y".split(), "y x".split()),  # identical sets: above every threshold
                ("x y".split(), "x z".split()),  # 1 / 2 = 0.5: > 0.25 only
                ("x y z".split(), "x u v".split()),  # 1 / 4 = 0.25: none (strictly greater)
                ("x y z w".split(), "x y z v".split()),  # 3 / 2 = 1.5: all
                ("x".split(), "y".split()),  # 0
                ("x y z".split(), "x y u".split()),  # 2 / 2 = 1.0: all
                ("x y z w".split(), "x y u v".split()),  # 2 / 4 = 0.5
                ("x y".split(), "x y z v".split()),  # 2 / 2 = 1
            ]
        ),
        progress=False,
    )
    got = np.stack([c.mask(f"oth:overlap:{t}") for t in OVERLAP_THRESHOLDS], axis=1).astype(int)
    expected = [[1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1], [1, 0, 0], [1, 1, 1]]
    assert got.tolist() == expected


words = st.sampled_from(["a", "the", ".", "man", "dog", "red", "runs", "of", "x-y", "3:30"])
tags = st.sampled_from(["NN", "DT", "JJ", "VBZ", ".", "PRP$"])
sentence = st.lists(st.tuples(words, tags), min_size=0, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(sentence, sentence), min_size=1, max_size=8), st.integers(1, 8))
def test_masks_match_brute_force_definitions(rows, vocab_size):
    df = make_pairs([([w for w, _ in p], [w for w, _ in h], [t for _, t in p], [t for _, t in h]) for p, h in rows])
    c = build_concepts(df, vocab_size=vocab_size, progress=False)
    counts = {}
    for toks in list(df["premise_tokens"]) + list(df["hypothesis_tokens"]):
        for t in toks:
            if t not in ORIGINAL_SKIP:
                counts[t] = counts.get(t, 0) + 1
    vocab = sorted(counts, key=lambda t: (-counts[t], t))[:vocab_size]
    assert c.vocab == vocab
    dense = c.masks.toarray()
    for j, name in enumerate(c.names):
        side, kind, value = split_name(name)
        for i, row in df.iterrows():
            pre, hyp = set(row["premise_tokens"]), set(row["hypothesis_tokens"])
            if kind == "tok":
                want = value in (pre if side == "pre" else hyp)
            elif kind == "tag":
                want = value in set(row["premise_tags"] if side == "pre" else row["hypothesis_tags"])
            else:
                sym = len(pre ^ hyp)
                want = sym == 0 or len(pre & hyp) / sym > int(value) / 100
            assert dense[i, j] == want, (name, i)


@pytest.fixture(scope="module")
def needs_wordnet():
    try:
        wordnet.wordnet_source()
    except wordnet.WordNetUnavailable as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"WordNet not installed here: {err}")


def test_wordnet_encoding_adds_synonym_occurrences(needs_wordnet):
    df = make_pairs(
        [
            ("a dog runs to a dog".split(), "a dog".split()),
            ("a dog sleeps".split(), "a hound".split()),
            ("a canis familiaris".split(), "familiaris canis".split()),  # multi-word lemma, in order only
            ("a canis".split(), "a cat".split()),
        ]
    )
    std = build_concepts(df, vocab_size=1, progress=False)  # "a" is skipped; "dog" counts 4
    wn = build_concepts(df, vocab_size=1, encoding="wordnet", progress=False)
    assert std.vocab == wn.vocab == ["dog"]
    assert std.names == wn.names and wn.encoding == "wordnet"
    assert std.mask("hyp:tok:dog").tolist() == [True, False, False, False]
    assert wn.mask("hyp:tok:dog").tolist() == [True, True, False, False]  # hound
    assert wn.mask("pre:tok:dog").tolist() == [True, True, True, False]  # canis familiaris
    # Token masks only grow; tags and overlap are unchanged.
    assert (std.masks.toarray() <= wn.masks.toarray()).all()
    for name in std.names:
        if split_name(name)[1] != "tok":
            assert (std.mask(name) == wn.mask(name)).all()


@pytest.fixture
def mode_pairs():
    """A hand-made vocabulary where the two WordNet modes differ, one reason per row."""
    return make_pairs(
        [
            ("men run as a team".split(), "a workforce rests".split()),  # workforce: a lemma of "men"'s synset
            ("a man and a hound".split(), "an adult male sleeps".split()),  # man / adult male: morphy men -> man
            ("dogs walk along the road".split(), "dogs walk on the road".split()),  # along.r.01: along, on
            ("men feel down".split(), "blue sky".split()),  # blue.s.?: blue, down, ...
            ("as men run".split(), "men feel blue".split()),
        ]
    )


def test_wordnet_modes_on_a_hand_made_vocabulary(needs_wordnet, mode_pairs):
    std = build_concepts(mode_pairs, vocab_size=100, progress=False)
    exact = build_concepts(mode_pairs, vocab_size=100, encoding="wordnet", progress=False)
    naive = build_concepts(mode_pairs, vocab_size=100, encoding="wordnet", wordnet_mode="all_senses", progress=False)
    assert exact.wordnet_mode == "exact" and naive.wordnet_mode == "all_senses" and std.wordnet_mode is None
    assert {"as", "men", "along", "blue", "down", "on"} <= set(std.vocab)
    # "as" is a stop word: exact never expands it. all_senses looks it up as "a" (morphy), whose
    # lemmas (angstrom, vitamin A, ..., and "a" itself) make the article a synonym of "as".
    assert exact.mask("pre:tok:as").tolist() == std.mask("pre:tok:as").tolist() == [True, False, False, False, True]
    assert naive.mask("pre:tok:as").tolist() == [True, True, False, False, True]  # "a" in rows 0 and 1
    assert naive.mask("hyp:tok:as").tolist() == [True, False, False, False, False]
    # "men": exact takes only the synset naming "men" (work force, workforce, manpower, hands);
    # all_senses takes man's synsets too (man, adult male, ...).
    assert std.mask("hyp:tok:men").tolist() == [False, False, False, False, True]
    assert exact.mask("hyp:tok:men").tolist() == [True, False, False, False, True]  # workforce
    assert naive.mask("hyp:tok:men").tolist() == [True, True, False, False, True]  # + adult male
    assert exact.mask("pre:tok:men").tolist() == std.mask("pre:tok:men").tolist()
    assert naive.mask("pre:tok:men").tolist() == [True, True, False, True, True]  # + man
    # Stop words are never expanded ("along" keeps its mask) and never a synonym ("on" for "along",
    # "down" for "blue").
    assert exact.mask("hyp:tok:along").tolist() == std.mask("hyp:tok:along").tolist() == [False] * 5
    assert naive.mask("hyp:tok:along").tolist() == [False, False, True, False, False]  # via "on"
    assert exact.mask("pre:tok:blue").tolist() == std.mask("pre:tok:blue").tolist() == [False] * 5
    assert naive.mask("pre:tok:blue").tolist() == [False, False, False, True, False]  # via "down"
    stops = wordnet.stop_words()
    for name in exact.names:
        side, kind, word = split_name(name)
        if kind == "tok" and word in stops:
            assert (exact.mask(name) == std.mask(name)).all(), name
    # Exact synonyms are a subset of all_senses ones, so its masks lie between the two.
    assert (std.masks.toarray() <= exact.masks.toarray()).all()
    assert (exact.masks.toarray() <= naive.masks.toarray()).all()


def test_bad_wordnet_mode_names_the_parameter(pairs):
    with pytest.raises(ValueError, match="wordnet_mode") as info:
        build_concepts(pairs, encoding="wordnet", wordnet_mode="morphy", progress=False)
    assert "exact" in str(info.value) and "all_senses" in str(info.value)


def test_snli_dev_exact_mode_has_no_morphological_or_stop_word_leak(needs_wordnet, shared_snli):
    from clipneuron_utils.data.snli import load_snli

    probe = load_snli("dev", shared_snli, download=False)
    std = build_concepts(probe, progress=False)
    exact = build_concepts(probe, encoding="wordnet", progress=False)  # the default mode
    assert exact.wordnet_mode == "exact"
    added = compare_encodings(std, exact).set_index("name")["added"]
    assert added["pre:tok:as"] < 100  # all_senses: +8,100 ("as" -> "a")
    stops = wordnet.stop_words()
    stop_concepts = [n for n in std.names if split_name(n)[1] == "tok" and split_name(n)[2] in stops]
    assert len(stop_concepts) > 100  # as, along, on, in, ... are in the vocabulary
    assert (added[stop_concepts] == 0).all()
    for word in std.vocab:  # no stop word is anyone's synonym
        assert not wordnet.synonyms(word) & stops, word
    naive = build_concepts(probe, encoding="wordnet", wordnet_mode="all_senses", progress=False)
    assert naive.counts()[naive.index["pre:tok:as"]] - std.counts()[std.index["pre:tok:as"]] > 1000


def test_compare_encodings(needs_wordnet, pairs):
    std = build_concepts(pairs, progress=False)
    wn = build_concepts(pairs, encoding="wordnet", progress=False)
    frame = compare_encodings(std, wn)
    assert list(frame.columns) == ["name", "pairs_standard", "pairs_wordnet", "added"]
    assert (frame["pairs_wordnet"] - frame["pairs_standard"] == frame["added"]).all()
    summary = frame.attrs["summary"]
    assert summary["n_concepts"] == len(std.names)
    assert summary["n_changed"] == int((frame["added"] > 0).sum())
    assert summary["pairs_added_total"] == int(frame["added"].sum())
    with pytest.raises(ValueError, match="same"):
        compare_encodings(std, build_concepts(pairs, vocab_size=2, progress=False))


def test_save_load_round_trip(tmp_path, pairs):
    c = build_concepts(pairs, progress=False)
    path = c.save(tmp_path / "concepts.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["concepts.npz", "concepts.npz.sha256"]  # no temporary left behind
    back = Concepts.load(path)
    assert back.names == c.names and back.encoding == c.encoding and back.pair_ids == c.pair_ids
    assert (back.masks != c.masks).nnz == 0 and back.masks.dtype == bool
    kinds = back.kinds
    assert list(kinds.columns) == ["name", "side", "kind", "value", "n_pairs"]
    assert kinds.set_index("name").loc["pre:tok:man", "n_pairs"] == 1


def test_wordnet_mode_is_saved_and_old_files_load_as_all_senses(tmp_path, pairs, needs_wordnet):
    from clipneuron_utils.artifacts import record_checksum

    for mode in ("exact", "all_senses"):
        c = build_concepts(pairs, encoding="wordnet", wordnet_mode=mode, progress=False)
        assert Concepts.load(c.save(tmp_path / f"{mode}.npz")).wordnet_mode == mode
    assert Concepts.load(build_concepts(pairs, progress=False).save(tmp_path / "s.npz")).wordnet_mode is None
    # A file written before the field existed: WordNet masks were the naive ones, standard has no mode.
    for encoding, expected in (("wordnet", "all_senses"), ("standard", None)):
        path = build_concepts(pairs, encoding=encoding, progress=False).save(tmp_path / f"{encoding}.npz")
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k != "wordnet_mode"}
        np.savez_compressed(path, **arrays)
        record_checksum(path)
        back = Concepts.load(path)
        assert back.encoding == encoding and back.wordnet_mode == expected


@pytest.mark.parametrize(
    "kwargs, word",
    [({"encoding": "glove"}, "encoding"), ({"vocab_size": 0}, "vocab_size"), ({"vocab_size": 2.5}, "vocab_size")],
)
def test_bad_parameters_name_the_parameter(pairs, kwargs, word):
    with pytest.raises(ValueError, match=word) as info:
        build_concepts(pairs, progress=False, **kwargs)
    if word == "encoding":
        assert "standard" in str(info.value) and "wordnet" in str(info.value)


def test_missing_columns_and_mismatched_tags(pairs):
    with pytest.raises(ValueError, match="hypothesis_tags"):
        build_concepts(pairs.drop(columns=["hypothesis_tags"]), progress=False)
    bad = pairs.copy()
    bad.at[0, "premise_tags"] = ["DT"]
    with pytest.raises(ValueError, match="premise_tags"):
        build_concepts(bad, progress=False)


def test_ten_thousand_pairs_is_fast():
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)])
    p = 1 / np.arange(1, 5001)
    p /= p.sum()
    rows = [
        (list(vocab[rng.choice(5000, 12, p=p)]), list(vocab[rng.choice(5000, 7, p=p)]))
        for _ in range(10_000)
    ]
    df = make_pairs(rows)
    start = time.perf_counter()
    c = build_concepts(df, progress=False)
    assert time.perf_counter() - start < 10  # about 0.2 s here
    assert len(c.vocab) == 2000 and c.masks.shape == (10_000, 4000 + 2 + 3)


def test_probe_concepts_cache_keys_the_wordnet_mode(runs_tmp, capsys, needs_wordnet, mode_pairs):
    from clipneuron_utils import run

    exact = run.probe_concepts("t", mode_pairs, 100, "wordnet", progress=False)
    naive = run.probe_concepts("t", mode_pairs, 100, "wordnet", "all_senses", progress=False)
    assert (exact.wordnet_mode, naive.wordnet_mode) == ("exact", "all_senses")
    assert (exact.masks != naive.masks).nnz > 0
    files = sorted(p.name for p in (runs_tmp / "t" / "concepts").glob("*.npz"))
    assert [f.rsplit("-", 1)[0] for f in files] == ["wordnet-all_senses-100", "wordnet-exact-100"]
    capsys.readouterr()
    again = run.probe_concepts("t", mode_pairs, 100, "wordnet", "all_senses", progress=False)
    assert "cache hit: wordnet (all_senses)" in capsys.readouterr().out and again.wordnet_mode == "all_senses"
    # The standard masks do not depend on the mode: one file serves both.
    run.probe_concepts("t", mode_pairs, 100, "standard", progress=False)
    run.probe_concepts("t", mode_pairs, 100, "standard", "all_senses", progress=False)
    assert "cache hit: standard" in capsys.readouterr().out
    with pytest.raises(ValueError, match="wordnet_mode"):
        run.probe_concepts("t", mode_pairs, 100, "standard", "morphy", progress=False)


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_summarize_comparison_known_answers():
    from clipneuron_utils.explain.concepts import summarize_comparison

    frame = pd.DataFrame({"name": ["hyp:tok:b", "hyp:tok:a", "hyp:tok:c", "hyp:tok:d"],
                          "pairs_standard": [10, 4, 5, 7], "pairs_wordnet": [13, 7, 5, 8], "added": [3, 3, 0, 1]})
    out = summarize_comparison(frame)
    assert out == {"n_concepts": 4, "n_changed": 3, "share_changed": 0.75, "pairs_added_total": 7,
                   "mean_added_if_changed": pytest.approx(7 / 3), "median_relative_growth_if_changed": pytest.approx(0.3),
                   "max_added": 3, "max_added_concept": "hyp:tok:a"}  # ties of the largest gain: by name
    same = summarize_comparison(frame.assign(pairs_wordnet=frame["pairs_standard"], added=0))
    assert same["n_changed"] == 0 and same["mean_added_if_changed"] == 0.0 and same["max_added_concept"] is None
    assert same["median_relative_growth_if_changed"] == 0.0  # nothing changed: no growth, not a growth of 1


def test_masks_like_keeps_tags_that_hold_a_colon():
    """Penn's tag for ``;`` / ``--`` is ``:``, so ``pre:tag::`` is a real concept name: masks_like must read the
    tag after the second colon whole, and rebuild the reference's masks on the same pairs."""
    from clipneuron_utils.explain.concepts import masks_like

    df = make_pairs([("wait ; go".split(), "go".split(), ["VB", ":", "VB"], ["VB"]),
                     ("go now".split(), "wait ; now".split(), ["VB", "RB"], ["VB", ":", "RB"])])
    reference = build_concepts(df, progress=False)
    assert reference.mask("pre:tag::").tolist() == [True, False] and reference.mask("hyp:tag::").tolist() == [False, True]
    again = masks_like(df, reference)
    assert again.names == reference.names and (again.masks != reference.masks).nnz == 0
    assert again.mask("pre:tag::").tolist() == [True, False]


@pytest.fixture
def dog_pairs():
    """Only "dog" in the vocabulary (vocab_size 1); three hypotheses newly match it through two synonyms."""
    return make_pairs([("a dog runs".split(), "a dog".split()),
                       ("a dog sleeps".split(), "the hound sleeps".split()),
                       ("a dog eats".split(), "a hound".split()),  # the synonym ends the sentence
                       ("a dog sits".split(), "canis familiaris sits".split())])


def test_wordnet_examples_known_answers(needs_wordnet, dog_pairs):
    """The table the book shows for the WordNet encoding: every field of the one hypothesis concept that gained
    pairs (chosen by default: the most gained), with the synonyms responsible most first and the first new pair."""
    from clipneuron_utils.explain.concepts import wordnet_examples

    std = build_concepts(dog_pairs, vocab_size=1, progress=False)
    wn = build_concepts(dog_pairs, vocab_size=1, encoding="wordnet", progress=False)
    table = wordnet_examples(dog_pairs, std, wn)  # default: the hyp concepts that gained most
    assert table.to_dict("records") == [{
        "concept": "hyp:tok:dog",
        "synonyms": "andiron, blackguard, bounder, cad, canis familiaris, chase, chase after, click …",
        "pairs (standard)": 1, "pairs (wordnet)": 4, "added": 3,
        "responsible": "hound (2), canis familiaris (1)",  # "a hound" counts too: a synonym at the sentence's end
        "example that newly matches": "the hound sleeps", "via": "hound",  # the first new pair, not the second
    }]
    short = wordnet_examples(dog_pairs, std, wn, words=["dog"], n_synonyms=2).set_index("concept")
    assert short.loc["hyp:tok:dog", "synonyms"] == "andiron, blackguard …"
    assert short.loc["pre:tok:dog", "added"] == 0 and short.loc["pre:tok:dog", "responsible"] == ""


def test_wordnet_examples_use_the_synonyms_of_the_wordnet_concepts_mode(needs_wordnet, mode_pairs):
    """With all_senses masks, the synonyms listed and counted are all_senses ones ("adult male" for "men"),
    not the exact mode's, or the table would not explain the pairs the masks gained."""
    from clipneuron_utils.explain.concepts import wordnet_examples

    std = build_concepts(mode_pairs, vocab_size=100, progress=False)
    naive = build_concepts(mode_pairs, vocab_size=100, encoding="wordnet", wordnet_mode="all_senses", progress=False)
    row = wordnet_examples(mode_pairs, std, naive, words=["men"]).set_index("concept").loc["hyp:tok:men"]
    assert row["added"] == 2 and row["responsible"] == "adult male (1), workforce (1)"
    assert row["synonyms"].startswith("adult male, gentleman, ")


def test_wordnet_examples_show_pairs_that_newly_match():
    probe = synthetic.make_pairs(90, seed=2)
    standard = concepts.build_concepts(probe, 50, "standard", progress=False)
    wordnet = concepts.build_concepts(probe, 50, "wordnet", progress=False)
    table = concepts.wordnet_examples(probe, standard, wordnet, words=["small"])
    row = table[table.concept == "pre:tok:small"].iloc[0]
    assert row["pairs (standard)"] == 0  # synthetic premises never say "small" ...
    assert row["pairs (wordnet)"] > 0  # ... but often "little", one of its WordNet synonyms
    assert row["via"] == "little"
    assert row["via"] and row["via"] in row["example that newly matches"].lower()
