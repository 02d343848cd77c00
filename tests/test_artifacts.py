"""Chapter 11_artifacts (issue 33): SNLI's annotation artifacts, the artifact detectors and their permutation
control, the hypothesis-only input and the easy / hard split, H2's ablation on easy and hard pairs, and the
verdicts. Each test checks a known answer worked out by hand, or a planted effect found where it was planted and
not where it was not. No model is trained and no notebook runs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.data.snli import LABELS
from clipneuron_utils.explain import formulas
from clipneuron_utils.run import hypothesis_only as H
from clipneuron_utils.run.parameters import ParameterError, check_artifact_alphas
from clipneuron_utils.stats import annotation_artifacts as A
from clipneuron_utils.stats import artifact_effects as E
from clipneuron_utils.stats import replicates
from clipneuron_utils.stats import verdicts as V

ARTIFACTS = {"entailment": ["outdoors"], "neutral": ["tall"], "contradiction": ["nobody"]}


# ------------------------------------------------------------------------------------ PMI


def _corpus() -> pd.DataFrame:
    """Six labelled hypotheses and one unlabelled. Per hypothesis, lowercased, each word once:

    E1 {a, man, sleeps}   E2 {a, dog, runs}   N1 {a, tall, man, runs}   N2 {a, tall, dog}
    C1 {nobody, sleeps, cat}   C2 {nobody, runs}   (the unlabelled pair is ignored)

    With min_count 2 the vocabulary is {a, dog, man, nobody, runs, sleeps, tall} (|V| = 7; *cat* is in one
    hypothesis only); word tokens over it: n(E) = 6, n(N) = 7, n(C) = 4, N = 17."""
    rows = [("entailment", ["A", "man", "sleeps", "man"]),  # "man" twice: counts once
            ("entailment", ["a", "dog", "runs"]),
            ("neutral", ["A", "tall", "man", "runs"]),
            ("neutral", ["a", "tall", "dog"]),
            ("contradiction", ["Nobody", "sleeps", "cat"]),  # "Nobody" and "nobody" are one word
            ("contradiction", ["nobody", "runs"]),
            ("-", ["nobody", "nobody", "man", "cat"])]
    return pd.DataFrame({"label": [r[0] for r in rows], "hypothesis_tokens": [r[1] for r in rows]})


def _pmi_of(table, label, word):
    row = table[(table["label"] == label) & (table["word"] == word)]
    assert len(row) == 1
    return row.iloc[0]


def test_pmi_known_answer_from_the_formula():
    """k = 1: PMI(nobody, C) = log[(2 + 1) / (4 + 7)] − log[(2 + 3) / (17 + 21)] = log(114 / 55);
    PMI(man, E) = log[(1 + 1) / (6 + 7)] − log[(2 + 3) / 38] = log(76 / 65);
    PMI(runs, N) = log[(1 + 1) / (7 + 7)] − log[(3 + 3) / 38] = log(38 / 42)."""
    table = A.hypothesis_pmi(_corpus(), k=1, min_count=2)
    assert len(table) == 3 * 7
    assert set(table["word"]) == {"a", "dog", "man", "nobody", "runs", "sleeps", "tall"}
    nobody = _pmi_of(table, "contradiction", "nobody")
    assert (nobody["count"], nobody["total"]) == (2, 2)
    assert nobody["pmi"] == pytest.approx(math.log(114 / 55))
    man = _pmi_of(table, "entailment", "man")
    assert (man["count"], man["total"]) == (1, 2)  # the repeat in E1 counts once; the unlabelled pair not at all
    assert man["pmi"] == pytest.approx(math.log(76 / 65))
    assert _pmi_of(table, "neutral", "runs")["pmi"] == pytest.approx(math.log(38 / 42))
    assert _pmi_of(table, "entailment", "nobody")["count"] == 0
    # the default add-100: PMI(nobody, C) = log[(2 + 100) / (4 + 700)] − log[(2 + 300) / (17 + 2100)]
    smoothed = A.hypothesis_pmi(_corpus(), min_count=2)
    assert _pmi_of(smoothed, "contradiction", "nobody")["pmi"] == pytest.approx(
        math.log(102 / 704) - math.log(302 / 2117))


def test_pmi_ranking_case_folding_and_min_count():
    table = A.hypothesis_pmi(_corpus(), k=1, min_count=2)
    # sorted by class (label order), then PMI highest first
    assert list(dict.fromkeys(table["label"].astype(str))) == list(LABELS)
    for c in LABELS:
        assert np.all(np.diff(table[table["label"] == c]["pmi"].to_numpy()) <= 0)
    # a word only in contradiction hypotheses tops contradiction, and no other class
    assert table[table["label"] == "contradiction"].iloc[0]["word"] == "nobody"
    assert A.artifact_words(table, top=1)["contradiction"] == ["nobody"]
    assert A.artifact_words(table, top=2)["neutral"][0] == "tall"
    assert all(len(words) == 3 for words in A.artifact_words(table, top=3).values())
    # case folding: only lowercased words, and "Nobody" / "nobody" pooled (otherwise each is in one hypothesis)
    assert all(w == w.lower() for w in table["word"])
    # min_count: cat is in one hypothesis (the unlabelled pair does not count); at 3 only a (4) and runs (3)
    assert "cat" not in set(table["word"])
    assert set(A.hypothesis_pmi(_corpus(), k=1, min_count=3)["word"]) == {"a", "runs"}
    with pytest.raises(ValueError, match="min_count"):
        A.hypothesis_pmi(_corpus(), k=1, min_count=5)


def test_default_artifact_words_rank_each_class_words():
    """Default settings (add-100, min_count 10): a word in every contradiction hypothesis and no other tops
    contradiction; likewise for the other classes; a word in every hypothesis tops none."""
    own = {"entailment": "outdoors", "neutral": "tall", "contradiction": "nobody"}
    rows = [(c, ["a", "person", own[c], f"x{i % 4}"]) for c in LABELS for i in range(20)]
    train = pd.DataFrame({"label": [r[0] for r in rows], "hypothesis_tokens": [r[1] for r in rows]})
    words = A.default_artifact_words(train)
    assert {c: w[0] for c, w in words.items()} == own


# ------------------------------------------------------------------------------------ formulas and detectors


@pytest.mark.parametrize("text, expected", [
    ("hyp:tok:w", {"w"}),
    ("NOT hyp:tok:w", set()),
    ("NOT (NOT hyp:tok:w)", {"w"}),
    ("pre:tok:w", set()),
    ("hyp:tag:NN", set()),
    ("(pre:tok:man AND NOT hyp:tok:man)", set()),
    ("(hyp:tok:a OR (NOT hyp:tok:b AND hyp:tok:c))", {"a", "c"}),
    ("NOT (hyp:tok:a AND NOT hyp:tok:b)", {"b"}),
    ("(hyp:tag:NN OR pre:tok:d)", set()),
    ("oth:overlap:50", set()),
])
def test_hypothesis_words_polarity(text, expected):
    assert A.hypothesis_words(text) == expected
    assert A.hypothesis_words(formulas.parse(text)) == expected


def test_hypothesis_words_of_a_missing_formula_is_empty():
    assert A.hypothesis_words(None) == set()
    assert A.hypothesis_words(float("nan")) == set()


def test_detectors_need_the_pushed_class_and_a_positive_hypothesis_word():
    units = pd.DataFrame({
        "formula": ["hyp:tok:nobody", "hyp:tok:nobody", "NOT hyp:tok:nobody", "pre:tok:nobody",
                    "(hyp:tok:cat OR hyp:tok:tall)", "(pre:tok:nobody AND NOT hyp:tok:nobody)", None,
                    "NOT (NOT hyp:tok:outdoors)"],
        "pushed": ["contradiction", "entailment", "contradiction", "contradiction", "neutral", "contradiction",
                   "contradiction", "entailment"]})
    assert A.detectors(units, ARTIFACTS).tolist() == [True, False, False, False, True, False, False, True]


def test_unit_870_pattern_is_never_a_detector_and_the_note_says_so():
    artifacts = {"entailment": [], "neutral": [], "contradiction": ["man", "nobody"]}
    found = ["(pre:tok:man AND NOT hyp:tok:man)", "(pre:tok:woman AND NOT hyp:tok:woman)", None]
    units = pd.DataFrame({"formula": found[:2], "pushed": "contradiction"})
    assert not A.detectors(units, artifacts).any()
    note = A.unit_870_note(found, artifacts)
    assert "0 of 2" in note
    assert "*man* (an artifact word of contradiction)" in note
    assert "*woman*" in note and "*woman* (an artifact" not in note
    assert A.unit_870_note([None], artifacts) == ""
    # a formula of the pattern that also names the word positively in the hypothesis is counted
    mixed = A.unit_870_note(["(pre:tok:man AND NOT hyp:tok:man)", "(pre:tok:man AND hyp:tok:nobody)"], artifacts)
    assert "1 of 2" in mixed


def test_pushed_classes_is_the_largest_output_weight():
    w = np.array([[1.0, 0.0, 0.2, -1.0],
                  [0.5, 3.0, 0.1, -2.0],
                  [0.9, 1.0, 0.3, -0.5]])
    assert A.pushed_classes(w, [0, 1, 2, 3]) == ["entailment", "neutral", "contradiction", "contradiction"]
    assert A.pushed_classes(w, [3, 1]) == ["contradiction", "neutral"]


def test_unit_examples_one_per_word_by_excess_iou():
    units = pd.DataFrame({
        "unit": [1, 2, 3, 4, 5],
        "formula": ["hyp:tok:nobody", "(hyp:tok:nobody OR hyp:tok:cat)", "hyp:tok:tall", "hyp:tok:tall",
                    "hyp:tok:outdoors"],
        "pushed": ["contradiction", "contradiction", "entailment", "neutral", "entailment"],
        "excess_iou": [0.1, 0.5, 0.9, 0.2, 0.05]})
    out = A.unit_examples(units, ARTIFACTS, 5)
    # unit 3 is no detector (tall is neutral's), unit 1 only repeats nobody
    assert out["unit"].tolist() == [2, 4, 5]
    assert out["words"].tolist() == [["nobody"], ["tall"], ["outdoors"]]
    assert A.unit_examples(units, ARTIFACTS, 1)["unit"].tolist() == [2]
    assert list(out.columns) == [*units.columns, "words"]


# ------------------------------------------------------------------------------------ permutation control


def _four_units():
    """u0 names contradiction's word, u1 neutral's and contradiction's, u2 no class's, u3 entailment's; pushed
    C, N, C, E (n_E = 1, n_N = 1, n_C = 2)."""
    return pd.DataFrame({"formula": ["hyp:tok:nobody", "(hyp:tok:tall OR hyp:tok:nobody)", "hyp:tok:cat",
                                     "hyp:tok:outdoors"],
                         "pushed": ["contradiction", "neutral", "contradiction", "entailment"]})


def test_permuted_shares_mean_is_the_analytic_expectation():
    """A unit receives each of the n pushed classes with probability 1/n, so the expected share is
    Σ_u Σ_c n_c·names(u, c) / n² = (2 + (1 + 2) + 0 + 1) / 16 = 6 / 16; the exhaustive mean over the 24
    permutations agrees."""
    units = _four_units()
    exhaustive = []
    for perm in itertools.permutations(units["pushed"]):
        exhaustive.append(A.detectors(units.assign(pushed=list(perm)), ARTIFACTS).mean())
    assert np.mean(exhaustive) == pytest.approx(6 / 16)
    shares = A.permuted_shares(units, ARTIFACTS, draws=4000, seed=1)
    assert shares.shape == (4000,)
    assert shares.mean() == pytest.approx(6 / 16, abs=0.02)
    assert set(np.round(shares * 4).astype(int)) <= {0, 1, 2, 3}  # u2 never counts: at most 3 of 4
    assert np.array_equal(shares, A.permuted_shares(units, ARTIFACTS, draws=4000, seed=1))


def test_permuted_shares_keep_each_class_count():
    # every unit pushes to contradiction: every shuffle is the units' own classes
    same = _four_units().assign(pushed="contradiction")
    shares = A.permuted_shares(same, ARTIFACTS, draws=50)
    assert np.all(shares == A.detectors(same, ARTIFACTS).mean())
    assert shares[0] == 0.5
    # every unit names only entailment's word, two of five push to it: exactly 2 of 5 in every shuffle
    units = pd.DataFrame({"formula": ["hyp:tok:outdoors"] * 5,
                          "pushed": ["entailment", "entailment", "neutral", "contradiction", "neutral"]})
    assert np.all(A.permuted_shares(units, ARTIFACTS, draws=200, seed=3) == 0.4)


def test_permuted_shares_units_naming_no_class_never_count():
    units = pd.DataFrame({"formula": ["hyp:tok:cat", "pre:tok:nobody", "NOT hyp:tok:nobody", "hyp:tag:NN"],
                          "pushed": ["contradiction", "neutral", "entailment", "contradiction"]})
    assert np.all(A.permuted_shares(units, ARTIFACTS, draws=100) == 0.0)
    # a unit of no known class never counts, wherever its class lands
    # (both name entailment's and contradiction's words: the unknown class must not read as the first class)
    odd = pd.DataFrame({"formula": ["(hyp:tok:outdoors OR hyp:tok:nobody)"] * 2, "pushed": ["contradiction", "other"]})
    assert np.all(A.permuted_shares(odd, ARTIFACTS, draws=100) == 0.5)
    assert np.isnan(A.permuted_shares(odd.iloc[:0], ARTIFACTS, draws=7)).all()


# ------------------------------------------------------------------------------------ H1 per seed


def test_aligned_classes_first_named_class_in_label_order():
    units = pd.DataFrame({"formula": ["(hyp:tok:nobody OR hyp:tok:tall)", "hyp:tok:cat", "NOT hyp:tok:outdoors",
                                      "hyp:tok:outdoors"],
                          "pushed": ["entailment", "neutral", "contradiction", "contradiction"]})
    assert E.aligned_classes(units, ARTIFACTS) == ["neutral", "neutral", "contradiction", "entailment"]


def _random_units(seed=0, n=30):
    rng = np.random.default_rng(seed)
    rows = []
    for encoder in ("enc_a", "enc_b"):
        for s in (0, 1, 2):
            for _ in range(n):
                word = rng.choice(["outdoors", "tall", "nobody", "cat"])
                rows.append({"encoder": encoder, "regime": "high", "seed": s, "formula": f"hyp:tok:{word}",
                             "pushed": rng.choice(LABELS)})
    return pd.DataFrame(rows)


def test_detector_shares_one_row_per_seed_with_delta_and_variance():
    units = _random_units()
    out = E.detector_shares(units, ARTIFACTS, draws=100)
    assert len(out) == 6
    assert set(map(tuple, out[["encoder", "regime", "seed"]].to_numpy().tolist())) == {
        (e, "high", s) for e in ("enc_a", "enc_b") for s in (0, 1, 2)}
    assert np.allclose(out["delta"], out["share"] - out["null"])
    assert (out["var"] > 0).all() and (out["planted_var"] > 0).all()
    assert (out["units"] == 30).all()
    for _, row in out.iterrows():
        group = units[(units["encoder"] == row["encoder"]) & (units["seed"] == row["seed"])]
        assert row["detectors"] == A.detectors(group, ARTIFACTS).sum()
        assert row["share"] == pytest.approx(row["detectors"] / 30)
    # classes at random: the positive control (each class agreeing with its formula) shows more than the figure
    assert (out["planted_delta"] >= out["delta"]).all()
    assert (out["planted_delta"] > 0.3).all() and abs(out["delta"].mean()) < 0.1
    assert out.equals(E.detector_shares(units, ARTIFACTS, draws=100))


def test_detector_shares_aligned_units_equal_their_positive_control():
    units = _random_units(seed=4)
    units = units.assign(pushed=E.aligned_classes(units, ARTIFACTS))
    out = E.detector_shares(units, ARTIFACTS, draws=100)
    assert np.allclose(out["delta"], out["planted_delta"])
    assert (out["delta"] > 0.3).all()
    # one class, one word: the null is constant, its variance the floor of one unit in n
    one = pd.DataFrame({"encoder": "e", "regime": "r", "seed": 0, "formula": ["hyp:tok:nobody"] * 8,
                        "pushed": "contradiction"})
    row = E.detector_shares(one, ARTIFACTS, draws=20).iloc[0]
    assert (row["share"], row["null"], row["delta"]) == (1.0, 1.0, 0.0)
    assert row["var"] == pytest.approx(1 / 64)
    assert E.detector_shares(one.iloc[:0], ARTIFACTS).empty


# ------------------------------------------------------------------------------------ H2: easy and hard pairs


def test_random_sets_match_classes_and_fill_short_ones():
    pool = np.arange(10, 20)
    classes = np.array(["a", "a", "a", "b", "b", "b", "c", "b", "a", "b"])
    rng = np.random.default_rng(0)
    for chosen in E._random_sets(pool, classes, np.array(["a", "a", "b"]), rng, 10):
        assert len(set(chosen)) == 3 and set(chosen) <= set(pool.tolist())
        got = [classes[pool == u][0] for u in chosen]
        assert sorted(got) == ["a", "a", "b"]
    for chosen in E._random_sets(pool, classes, np.array(["c", "c", "c"]), rng, 10):
        assert len(set(chosen)) == 3 and 16 in chosen  # the one c unit, and two others
    assert E._random_sets(pool[:2], classes[:2], np.array(["a", "a", "a"]), rng, 5) == []
    assert len(E._random_sets(pool, classes, np.array(["a"]), rng, 7)) == 7


def _easy_hard_model(only_easy=True, n=600, hidden=24, seed=0):
    """Noise units independent of gold, and three planted units (0, 1, 2) pushing to class 0, 1, 2 with weight
    2 and activation 1 + 2·[gold = c] on the easy pairs; on the hard pairs each is constant at its mean
    (``only_easy``), so it contributes nothing there, or the same 1 + 2·[gold = c] as on the easy ones."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, n)
    easy = rng.random(n) < 0.5
    h = np.maximum(rng.normal(0.5, 1.0, (n, hidden)), 0.0)
    w, b = rng.normal(0, 1, (3, hidden)), rng.normal(0, 0.1, 3)
    for c in range(3):
        w[:, c] = 0.0
        w[c, c] = 2.0
        h[:, c] = 1.0 + 2.0 * (gold == c)
        if only_easy:
            h[~easy, c] = h[easy, c].mean()
    return h, w, b, gold, easy


def _by_hand(h, w, b, gold, easy, units):
    """The mean gold-margin change (probe SDs) on easy and on hard pairs when ``units`` are held at their mean."""
    logits = h @ w.T + b
    own = logits[np.arange(len(h)), gold]
    sd = (own - (logits.sum(axis=1) - own) / 2).std()
    change = np.zeros(len(h))
    for u in units:
        others = (w[:, u].sum() - w[gold, u]) / 2
        change -= (h[:, u] - h[:, u].mean()) * (w[gold, u] - others)
    return change[easy].mean() / sd, change[~easy].mean() / sd


def test_easy_hard_changes_finds_units_that_carry_only_the_easy_pairs():
    h, w, b, gold, easy = _easy_hard_model()
    explained = list(range(18))
    pushed = A.pushed_classes(w, explained)
    out = E.easy_hard_changes(h, w, b, gold, easy, [0, 1, 2], explained, pushed, n_sets=20, seed=0)
    easy_change, hard_change = _by_hand(h, w, b, gold, easy, [0, 1, 2])
    assert out["margin easy"] == pytest.approx(easy_change)
    assert out["margin hard"] == pytest.approx(0.0, abs=1e-12) and hard_change == pytest.approx(0.0, abs=1e-12)
    assert easy_change < -0.5
    assert (out["detectors"], out["easy"], out["hard"]) == (3, int(easy.sum()), int((~easy).sum()))
    # delta: (loss on easy − loss on hard) of the detectors less that of the random sets
    expected = (out["margin hard"] - out["random margin hard"]) - (out["margin easy"] - out["random margin easy"])
    assert out["delta"] == pytest.approx(expected)
    assert out["delta"] > 5 * math.sqrt(out["var"])
    # clearly above random sets: every class-matched set of other explained units loses far less
    rng = np.random.default_rng(1)
    for _ in range(10):
        other = rng.choice(np.arange(3, 18), 3, replace=False)
        e, k = _by_hand(h, w, b, gold, easy, other)
        assert abs(k - e) < (hard_change - easy_change) / 5
    # the positive control is the best any three explained units do: here, the planted ones themselves
    assert out["planted_delta"] == pytest.approx(out["delta"])
    assert out["planted_delta"] >= out["delta"] - 1e-12


def test_easy_hard_changes_known_answer_against_copies():
    """Every other explained unit is a copy of planted unit 0 (class entailment), so each random set of the two
    detectors' size is two copies of it: delta is, per pair, the detectors' margin change less twice unit 0's,
    averaged on hard less on easy pairs, and its variance the two means' sampling variances."""
    h, w, b, gold, easy = _easy_hard_model(n=300, hidden=10, seed=2)
    for u in range(3, 10):
        h[:, u], w[:, u] = h[:, 0], w[:, 0]
    explained = [0, 1, 2, *range(3, 10)]
    pushed = A.pushed_classes(w, explained)
    assert set(pushed[3:]) == {"entailment"}
    out = E.easy_hard_changes(h, w, b, gold, easy, [1, 2], explained, pushed, n_sets=5, seed=0)

    logits = h @ w.T + b
    own = logits[np.arange(len(h)), gold]
    sd = (own - (logits.sum(axis=1) - own) / 2).std()

    def change(u):  # per pair, the gold-margin change (probe SDs) of holding unit u at its mean
        return -(h[:, u] - h[:, u].mean()) * (w[gold, u] - (w[:, u].sum() - w[gold, u]) / 2) / sd

    d = change(1) + change(2) - 2 * change(0)
    assert out["random margin easy"] == pytest.approx(2 * change(0)[easy].mean())
    assert out["delta"] == pytest.approx(d[~easy].mean() - d[easy].mean())
    assert out["var"] == pytest.approx(d[easy].var(ddof=1) / easy.sum() + max(d[~easy].var(ddof=1), 1e-12) / (~easy).sum())
    assert out["planted_delta"] >= out["delta"] - 1e-12


def test_easy_hard_changes_null_and_positive_control():
    # the planted units carry easy and hard pairs alike: no easy-minus-hard figure
    h, w, b, gold, easy = _easy_hard_model(only_easy=False)
    explained = list(range(18))
    pushed = A.pushed_classes(w, explained)
    null = E.easy_hard_changes(h, w, b, gold, easy, [0, 1, 2], explained, pushed, seed=0)
    assert abs(null["delta"]) < 3 * math.sqrt(null["var"])
    assert null["margin easy"] < -0.5 and null["margin hard"] < -0.5
    assert null["planted_delta"] >= null["delta"] - 1e-12
    # detectors that are noise units: no positive figure (the random sets may hold planted units, so it is
    # negative), and the positive control finds the planted units
    h, w, b, gold, easy = _easy_hard_model()
    pushed = A.pushed_classes(w, explained)
    noise = E.easy_hard_changes(h, w, b, gold, easy, [3, 4, 5], explained, pushed, seed=0)
    planted = E.easy_hard_changes(h, w, b, gold, easy, [0, 1, 2], explained, pushed, seed=0)
    assert noise["delta"] < planted["delta"] / 5
    noise_easy, noise_hard = _by_hand(h, w, b, gold, easy, [3, 4, 5])
    assert noise["margin easy"] == pytest.approx(noise_easy) and noise["margin hard"] == pytest.approx(noise_hard)
    assert abs(noise_hard - noise_easy) < planted["delta"] / 5
    assert noise["planted_delta"] > noise["delta"] + planted["delta"] / 2


def test_easy_hard_changes_none_without_detectors_hard_or_easy_pairs_or_others():
    h, w, b, gold, easy = _easy_hard_model(n=120, hidden=12)
    explained = list(range(10))
    pushed = A.pushed_classes(w, explained)
    assert E.easy_hard_changes(h, w, b, gold, easy, [], explained, pushed) is None
    assert E.easy_hard_changes(h, w, b, gold, np.ones(len(h), bool), [0, 1], explained, pushed) is None
    assert E.easy_hard_changes(h, w, b, gold, np.zeros(len(h), bool), [0, 1], explained, pushed) is None
    assert E.easy_hard_changes(h, w, b, gold, easy, [0, 1], [0, 1, 2], pushed[:3]) is None  # one other unit
    assert E.easy_hard_changes(h, w, b, gold, easy, [0, 1], explained, pushed) is not None


# ------------------------------------------------------------------------------------ hypothesis-only input


def test_hypothesis_only_sees_no_premise(probe):
    pairs = probe.head(40).reset_index(drop=True)
    original = pairs.copy()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pairs))
    shuffled = pairs.assign(premise=pairs["premise"].to_numpy()[order],
                            premise_tokens=list(pairs["premise_tokens"].to_numpy()[order]),
                            premise_tags=list(pairs["premise_tags"].to_numpy()[order]))
    replaced = pairs.assign(premise="Something else entirely .",
                            premise_tokens=[["something", "else", "entirely", "."]] * len(pairs),
                            premise_tags=[["NN", "RB", "RB", "."]] * len(pairs))
    seen = H.hypothesis_only(pairs)
    for other in (shuffled, replaced):
        pd.testing.assert_frame_equal(seen, H.hypothesis_only(other))
    assert (seen["premise"] == H.PREMISE).all() and H.PREMISE == ""
    assert all(t == [] for t in seen["premise_tokens"]) and all(t == [] for t in seen["premise_tags"])
    for column in ("pair_id", "hypothesis", "hypothesis_tokens", "hypothesis_tags", "label"):
        assert seen[column].tolist() == pairs[column].tolist()
    pd.testing.assert_frame_equal(pairs, original)  # the input is not changed


# ------------------------------------------------------------------------------------ easy / hard split


def test_easy_pairs_majority_of_models():
    gold = np.array([0, 1, 2, 0, 1])
    predicted = [np.array([0, 1, 0, 1, 1]),  # model 1 right on 0, 1, 4
                 np.array([0, 0, 2, 1, 1]),  # model 2 right on 0, 2, 4
                 np.array([0, 0, 0, 1, 2])]  # model 3 right on 0
    frame = pd.DataFrame({"gold": np.tile(gold, 3), "predicted": np.concatenate(predicted)})
    assert H.easy_pairs(frame, 5).tolist() == [True, False, False, False, True]
    # two models: a tie (one right, one wrong) is not a majority
    assert H.easy_pairs(frame.iloc[:10], 5).tolist() == [True, False, False, False, True]
    assert H.easy_pairs(frame.iloc[:5], 5).tolist() == [True, True, False, False, True]


def test_hard_split_agreement_precision_and_recall():
    rows = []
    wrong_counts = {"p1": 3, "p2": 2, "p3": 1, "p4": 0, "p5": 0}
    for pid, wrong in wrong_counts.items():
        for i in range(3):
            rows.append({"pair_id": pid, "gold": 1, "predicted": 0 if i < wrong else 1})
    rows += [{"pair_id": "p6", "gold": 2, "predicted": 0}, {"pair_id": "p6", "gold": 2, "predicted": 2}]  # a tie
    frame = pd.DataFrame(rows)
    out = H.hard_split_agreement(frame, ["p2", "p3", "p4", "p99"])  # p99 is not among the pairs
    # ours {p1, p2, p6} (a tie is hard, as in easy_pairs), official here {p2, p3, p4}, both {p2}
    assert out == {"pairs": 6, "hard here": 3, "hard officially": 3, "both": 1, "precision": pytest.approx(1 / 3),
                   "recall": pytest.approx(1 / 3)}
    none_hard = H.hard_split_agreement(frame[frame["pair_id"].isin(["p4", "p5"])], ["p4"])
    assert none_hard["hard here"] == 0 and math.isnan(none_hard["precision"]) and none_hard["recall"] == 0.0
    assert math.isnan(H.hard_split_agreement(frame, [])["recall"])
    # integer ids match their strings
    ints = frame.assign(pair_id=frame["pair_id"].str[1:].astype(int))
    assert H.hard_split_agreement(ints, ["2", 3, 4])["both"] == 1


# ------------------------------------------------------------------------------------ pooling and verdicts


def _per_seed(encoder, deltas, var, planted, planted_var, regime="high"):
    return pd.DataFrame({"encoder": encoder, "regime": regime, "seed": range(len(deltas)), "delta": deltas,
                         "var": var, "planted_delta": planted, "planted_var": planted_var})


def test_pooled_is_replicates_pool_per_group():
    per_seed = pd.concat([_per_seed("a", [0.3, 0.32, 0.28], 1e-4, [0.6, 0.62, 0.58], 1e-4),
                          _per_seed("b", [0.01, -0.02, 0.0], 1e-3, [0.2, 0.25, 0.3], 1e-3)])
    out = E.pooled(per_seed)
    assert out["encoder"].tolist() == ["a", "b"] and list(out.columns) == ["encoder", "regime", "figure", "positive"]
    for _, row in out.iterrows():
        group = per_seed[per_seed["encoder"] == row["encoder"]]
        expected = replicates.pool(group["delta"], group["var"], seeds=group["seed"])
        positive = replicates.pool(group["planted_delta"], group["planted_var"], seeds=group["seed"])
        assert row["figure"]["estimate"] == pytest.approx(expected["estimate"])
        assert row["figure"]["ci_low"] == pytest.approx(expected["ci_low"])
        assert row["positive"]["estimate"] == pytest.approx(positive["estimate"])
        assert row["figure"]["k"] == 3


def test_verdicts_follow_the_causal_rule():
    encoders = ["clear", "null", "blind", "untested", "one", "absent"]
    per_seed = pd.concat([
        _per_seed("clear", [0.30, 0.32, 0.28], 1e-4, [0.60, 0.62, 0.58], 1e-4),
        # a null figure with a small MDE against a detected positive control (minimum 0.05)
        _per_seed("null", [0.001, -0.002, 0.0005], 1e-5, [0.50, 0.52, 0.48], 1e-4),
        # the same null figure, its positive control as large but far too noisy to be detected
        _per_seed("blind", [0.001, -0.002, 0.0005], 1e-5, [0.50, 0.52, 0.48], 1.0),
        _per_seed("untested", [0.30, 0.32, 0.28], 1e-4, [0.60, 0.62, 0.58], 1e-4),
        _per_seed("one", [0.30], 1e-4, [0.60], 1e-4)])
    figures = {"H1": E.pooled(per_seed)}
    # the null figure's rule, as claimed: an interval around 0 below the minimum, an MDE below it
    null_figure = figures["H1"].set_index("encoder").loc["null", "figure"]
    assert null_figure["ci_high"] < 0.05 and V.mde(null_figure) < 0.05
    table = E.verdicts(figures, encoders, ["high"], controls={}, untestable={"untested": "no hypothesis-only head"})
    assert len(table) == 2 * len(encoders)
    h1 = table[table["id"] == "H1"].set_index("encoder")
    assert h1.loc["clear", "verdict"] == V.HOLDS
    assert h1.loc["clear", "minimum"] == "≥ 0.060"
    assert h1.loc["clear", "positive control"].endswith("(detected)")
    assert h1.loc["null", "verdict"] == V.DOES_NOT_HOLD
    assert h1.loc["blind", "verdict"] == V.INSENSITIVE
    assert h1.loc["blind", "positive control"].endswith("(not detected)")
    assert h1.loc["untested", "verdict"] == V.NOT_TESTABLE and h1.loc["untested", "note"] == "no hypothesis-only head"
    assert h1.loc["one", "verdict"] == V.NOT_TESTABLE
    assert h1.loc["absent", "verdict"] == V.NOT_TESTABLE and h1.loc["absent", "this build"] == "n/a"
    # H2 has no figures at all: not testable everywhere, in probe SDs
    h2 = table[table["id"] == "H2"]
    assert (h2["verdict"] == V.NOT_TESTABLE).all()
    h2_table = E.verdicts({"H2": figures["H1"]}, ["clear"], ["high"], controls={})
    row = h2_table[h2_table["id"] == "H2"].iloc[0]
    assert row["verdict"] == V.HOLDS and row["minimum"] == "≥ 0.060 SD"


def test_verdicts_random_network_showing_the_effect_too():
    per_seed = pd.concat([_per_seed("trained", [0.30, 0.32, 0.28], 1e-4, [0.60, 0.62, 0.58], 1e-4),
                          _per_seed("random", [0.30, 0.31, 0.29], 1e-4, [0.60, 0.62, 0.58], 1e-4),
                          _per_seed("random_small", [0.10, 0.11, 0.09], 1e-4, [0.60, 0.62, 0.58], 1e-4)])
    figures = {"H1": E.pooled(per_seed)}
    same = E.verdicts(figures, ["trained"], ["high"], controls={"trained": ["random"]})
    assert same.iloc[0]["verdict"] == V.HOLDS_RANDOM
    assert same.iloc[0]["random networks"].startswith("random: ")
    larger = E.verdicts(figures, ["trained"], ["high"], controls={"trained": ["random_small"]})
    assert larger.iloc[0]["verdict"] == V.HOLDS


def test_rules_table_lists_both_tests():
    table = E.rules_table()
    assert table["id"].tolist() == ["H1", "H2"]
    assert list(table.columns) == ["id", "claim", "as stated", "rule (minimum effect)", "positive control"]


# ------------------------------------------------------------------------------------ parameters


def test_check_artifact_alphas():
    assert check_artifact_alphas([0.5], [0.25, 0.5, 0.75]) == [0.5]
    # densest first, whatever the order given: the chapter's last regime is the sparsest
    assert check_artifact_alphas([0.1 + 0.2, 0.75], ["0.3", 0.75]) == [0.75, pytest.approx(0.3)]
    assert check_artifact_alphas([], [0.5]) == []
    with pytest.raises(ParameterError, match=r"activation_alphas=\[0\.25, 0\.5, 0\.75\]") as info:
        check_artifact_alphas([0.5, 0.9], [0.25, 0.5, 0.75])
    assert "[0.9]" in str(info.value) and "05_search" in str(info.value)


def test_pmi_needs_a_positive_smoothing():
    pairs = pd.DataFrame({"hypothesis_tokens": [["a"]] * 3, "label": ["entailment"] * 3})
    with pytest.raises(ValueError, match="k must be > 0"):
        A.hypothesis_pmi(pairs, k=0, min_count=1)


def test_a_positive_control_that_could_not_be_computed_gives_no_verdict():
    """A clear figure whose positive control has no estimate has no minimum to clear: inconclusive, never
    'too small'."""
    per_seed = pd.DataFrame({"encoder": "m", "regime": "r", "seed": [0, 1, 2], "delta": [0.30, 0.32, 0.28],
                             "var": 1e-4, "planted_delta": np.nan, "planted_var": np.nan})
    table = E.verdicts({"H1": E.pooled(per_seed)}, ["m"], ["r"], {})
    row = table[table["id"] == "H1"].iloc[0]
    assert row["verdict"] == V.INSENSITIVE and "could not be computed" in row["note"]
