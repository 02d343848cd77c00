"""Chapter 12_inside_encoder's explanations of the encoders' own neurons (``run/encoder_units.py``): regime labels,
the models explained, the sampled neurons, planted neurons (the positive control) and every regime's masks; a
planted neuron of a known formula is recovered at each top-α regime and in the top cluster; the search with its
matched null per regime, and the per-model frame with its cache (under a temporary runs/ folder)."""

import re

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.explain import clusters as C
from clipneuron_utils.explain.regime import regime_min_acts
from clipneuron_utils.explain.search import beam_search_by_length, top_count
from clipneuron_utils.explain.sentence_concepts import distinct_sentences, sentence_concepts
from clipneuron_utils.run import encoder_units as U
from clipneuron_utils.stats import encoder_explanations as E

ALPHAS = (0.05, 0.1, 0.2)
SEARCH = dict(max_length=3, beam_size=5)


@pytest.fixture(scope="module")
def sconcepts(probe):
    """Sentence concepts of the synthetic probe pairs' distinct sentences (435 sentences)."""
    return sentence_concepts(distinct_sentences(probe), vocab_size=100)


@pytest.fixture(scope="module")
def real_acts(sconcepts) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(sconcepts.n_pairs, 6)).astype(np.float32)


def _atoms(formula) -> set[str]:
    return set(re.findall(r"(?:tok|tag):[^\s()]+", formula)) if isinstance(formula, str) else set()


# ------------------------------------------------------------------------------------------------ small parts


def test_regime_label():
    assert U.regime_label(0.005) == "top 0.5 %"
    assert U.regime_label(0.05) == "top 5 %"
    assert U.regime_label(0.07) == "top 7 %"
    assert U.regime_label((0, 5)) == "cluster 1 of 5"
    assert U.regime_label((4, 5)) == "cluster 5 of 5"


def test_model_names():
    assert U.model_names({"minilm": {}, "clip": {}, "lstm": {}}) == ["minilm", U.RANDOM_MINILM, "clip"]
    assert U.model_names({"clip": {}, "minilm": {}}) == ["minilm", U.RANDOM_MINILM, "clip"]
    assert U.model_names({"clip": {}}) == ["clip"]
    assert U.model_names({"lstm": {}}) == []
    with pytest.raises(RuntimeError, match="no frozen encoder"):
        U.check_models({"lstm": {}})


def test_sample_neurons():
    assert U.sample_neurons(10, 0, seed=0, layer=0).tolist() == list(range(10))
    assert U.sample_neurons(10, 10, seed=0, layer=0).tolist() == list(range(10))
    assert U.sample_neurons(10, 25, seed=0, layer=0).tolist() == list(range(10))
    a = U.sample_neurons(1000, 20, seed=1, layer=2)
    assert len(a) == 20 and len(set(a.tolist())) == 20 and (np.diff(a) > 0).all() and a.min() >= 0 and a.max() < 1000
    assert np.array_equal(a, U.sample_neurons(1000, 20, seed=1, layer=2))
    assert not np.array_equal(a, U.sample_neurons(1000, 20, seed=1, layer=3))
    assert not np.array_equal(a, U.sample_neurons(1000, 20, seed=2, layer=2))


def test_sample_sentences():
    frame = pd.DataFrame({"sentence": [f"s{i}" for i in range(10)], "tokens": [[f"w{i}"] for i in range(10)]},
                         index=range(100, 110))
    assert U.sample_sentences(frame, 0, seed=0)["sentence"].tolist() == frame["sentence"].tolist()
    assert U.sample_sentences(frame, 10, seed=0).index.tolist() == list(range(10))
    four = U.sample_sentences(frame, 4, seed=3)
    assert len(four) == 4 and four.index.tolist() == [0, 1, 2, 3]
    numbers = [int(s[1:]) for s in four["sentence"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4  # in their order, no repeats
    assert four["tokens"].tolist() == [[f"w{i}"] for i in numbers]  # whole rows
    pd.testing.assert_frame_equal(four, U.sample_sentences(frame, 4, seed=3))
    assert U.sample_sentences(frame, 4, seed=4)["sentence"].tolist() != four["sentence"].tolist()


def test_planted_neurons_are_a_words_indicator_plus_a_real_neurons_cut_noise(sconcepts, real_acts):
    n = sconcepts.n_pairs
    for alpha in ALPHAS:
        values, words = U.planted(real_acts, sconcepts, alpha, 3, seed=5)
        assert values.shape == (n, len(words)) and values.dtype == np.float32 and 1 <= len(words) <= 3
        assert len(set(words)) == len(words)
        k = top_count(n, alpha)
        z = (real_acts - real_acts.mean(0)) / real_acts.std(0)
        for j, word in enumerate(words):
            assert word.startswith("tok:") and k // 2 <= sconcepts.mask(word).sum() <= k
            noise = values[:, j] - U.PLANTED_SCALE * sconcepts.mask(word)
            assert np.abs(noise).max() <= U.NOISE_CUT + 1e-5
            # the noise is one of the real neurons, standardised and cut
            assert any(np.allclose(noise, np.clip(z[:, i], -U.NOISE_CUT, U.NOISE_CUT), atol=1e-4)
                       for i in range(real_acts.shape[1]))
        again = U.planted(real_acts, sconcepts, alpha, 3, seed=5)
        assert np.array_equal(again[0], values) and again[1] == words
    empty, none = U.planted(real_acts, sconcepts, 0.05, 0, seed=5)
    assert empty.shape == (n, 0) and none == []
    # no word holds on between half and all of the top sentence (every word is too frequent for k = 1)
    empty, none = U.planted(real_acts, sconcepts, 1 / n, 3, seed=5)
    assert top_count(n, 1 / n) == 1 and sconcepts.counts()[[w.startswith("tok:") for w in sconcepts.names]].min() > 1
    assert empty.shape == (n, 0) and none == []


def test_regime_masks(real_acts):
    masks = U.regime_masks(real_acts, ALPHAS, 4, seed=0)
    assert list(masks) == [*ALPHAS, (0, 4), (1, 4), (2, 4), (3, 4)]
    n = real_acts.shape[0]
    for alpha in ALPHAS:
        k = top_count(n, alpha)
        assert masks[alpha].shape == real_acts.shape and (masks[alpha].sum(axis=0) == k).all()
        for j in range(real_acts.shape[1]):
            top = np.argsort(-real_acts[:, j], kind="stable")[:k]
            assert set(np.flatnonzero(masks[alpha][:, j])) == set(top)
    clusters = C.cluster_masks(real_acts, 4, seed=0)
    for c in range(4):
        assert np.array_equal(masks[(c, 4)], clusters[c])
    assert list(U.regime_masks(real_acts, [0.1], 0, seed=0)) == [0.1]


# ------------------------------------------------------------------------------------------ planted recovery


def _best(mask: np.ndarray, concepts, regime) -> list[str]:
    least = regime_min_acts(5, regime if not isinstance(regime, tuple) else None, mask.shape[0])
    rows = beam_search_by_length(mask, concepts, min_acts=least, progress=False, **SEARCH)
    rows = rows[rows["max_length"] == SEARCH["max_length"]].sort_values("neuron")
    assert rows["explained"].all()
    return rows["formula"].tolist()


def test_planted_words_are_recovered_at_each_regime_and_in_the_top_cluster(sconcepts, real_acts):
    # at La Rosa et al.'s K = 5 (with K = 3 a rare word's sentences are a minority of the top cluster: k-means
    # splits the bulk of the noise rather than isolate 16 sentences)
    k = C.K
    for alpha in ALPHAS:
        values, words = U.planted(real_acts, sconcepts, alpha, 3, seed=1)
        assert words
        masks = U.regime_masks(values, [alpha], k, seed=0)
        for regime in (alpha, (k - 1, k)):
            formulas = _best(masks[regime], sconcepts, regime)
            for word, formula in zip(words, formulas):
                assert word in _atoms(formula), (alpha, regime, word, formula)
                assert f"NOT {word}" not in formula
            if isinstance(regime, tuple):  # the top cluster lies inside the planted word's sentences
                assert not (masks[regime] & ~np.stack([sconcepts.mask(w) for w in words], axis=1)).any()
        # the lowest cluster holds none of the word's sentences: the word is no positive atom of its formula
        low = masks[(0, k)]
        for j, word in enumerate(words):
            assert not (low[:, j] & sconcepts.mask(word)).any()


def test_a_planted_disjunction_is_found_exactly(sconcepts):
    counts = dict(zip(sconcepts.names, sconcepts.counts()))
    words = [w for w in sconcepts.names if w.startswith("tok:") and 15 <= counts[w] <= 40]
    w1 = words[0]
    w2 = next(w for w in words[1:] if not (sconcepts.mask(w) & sconcepts.mask(w1)).any())
    union = sconcepts.mask(w1) | sconcepts.mask(w2)
    n = sconcepts.n_pairs
    neuron = 3.0 * union + np.random.default_rng(2).normal(0, 0.05, n)
    alpha = union.sum() / n
    masks = U.regime_masks(neuron[:, None], [alpha], 5, seed=0)
    assert np.array_equal(masks[alpha][:, 0], union)
    rows = beam_search_by_length(masks[alpha], sconcepts, max_length=2, beam_size=5, min_acts=1, progress=False)
    best = rows[rows["max_length"] == 2].iloc[0]
    assert best["iou"] == 1.0 and _atoms(best["formula"]) == {w1, w2} and " OR " in best["formula"]
    one = rows[rows["max_length"] == 1].iloc[0]
    assert one["formula"] in (w1, w2) and one["iou"] < 1.0
    top = masks[(4, 5)][:, 0]
    assert top.any() and not (top & ~union).any()  # the top cluster lies inside the disjunction
    assert _atoms(_best(masks[(4, 5)], sconcepts, (4, 5))[0]) & {w1, w2}


# ------------------------------------------------------------------------------------- search with its null


PARAMS = dict(min_acts=5, null_draws=3, bin_width=0.0, max_length=2, beam_size=5)


def test_explain_runs_the_search_and_its_null_per_regime(sconcepts, real_acts, runs_tmp):
    values, words = U.planted(real_acts, sconcepts, 0.1, 2, seed=1)
    masks = U.regime_masks(values, [0.1], 3, seed=0)
    rows = U.explain("smoke", masks, sconcepts, seed=0, **PARAMS)
    assert rows["regime"].unique().tolist() == ["top 10 %", "cluster 1 of 3", "cluster 2 of 3", "cluster 3 of 3"]
    assert len(rows) == 4 * len(words) * PARAMS["max_length"]
    assert {"formula", "iou", "null_mean_iou", "p_value", "excess_iou", "n_fires"} <= set(rows.columns)
    ok = rows["explained"]
    np.testing.assert_allclose(rows.loc[ok, "excess_iou"], rows.loc[ok, "iou"] - rows.loc[ok, "null_mean_iou"])
    top = rows[(rows["regime"] == "top 10 %") & (rows["max_length"] == 2)].sort_values("neuron")
    assert (top["n_fires"] == top_count(sconcepts.n_pairs, 0.1)).all()
    assert all(w in _atoms(f) for w, f in zip(words, top["formula"]))
    assert (top["excess_iou"] > 0.2).all()  # far above the firing-rate-matched null
    assert list((runs_tmp / "smoke" / "search" / "null").glob("*.pkl"))  # the null's draws are kept in tmp runs/


def test_explain_model_plants_caches_and_recovers(sconcepts, real_acts, runs_tmp, monkeypatch):
    layers = [real_acts, real_acts[:, ::-1].copy()]
    kwargs = dict(alphas=[0.05, 0.1], k=3, per_layer=4, planted_per_alpha=2, seed=0, params=PARAMS)
    rows = U.explain_model("smoke", "minilm", layers, sconcepts, **kwargs)
    assert set(rows["model"]) == {"minilm"} and set(rows["layer"]) == {0, 1}
    real_rows, plant_rows = rows[rows["planted"].isna()], rows[rows["planted"].notna()]
    assert (real_rows["neuron"] >= 0).all() and (plant_rows["neuron"] < 0).all()
    assert set(plant_rows["layer"]) == {0}  # planted neurons only on the first layer
    chosen = [U.sample_neurons(6, 4, seed=0, layer=layer) for layer in (0, 1)]
    for layer in (0, 1):
        assert sorted(real_rows.loc[real_rows["layer"] == layer, "neuron"].unique()) == chosen[layer].tolist()
    assert sorted(plant_rows["neuron"].unique()) == [-4, -3, -2, -1]
    per_neuron = plant_rows.groupby("neuron")[["planted", "planted_for"]].nunique()
    assert (per_neuron == 1).all().all()
    assert sorted(plant_rows["planted_for"].unique()) == ["top 10 %", "top 5 %"]
    n_regimes = 2 + 3
    assert len(rows) == (4 + 4 + 4) * n_regimes * PARAMS["max_length"]

    recovery = E.planted_recovery(rows, 2, "cluster 3 of 3")
    assert recovery["regime"].tolist() == ["top 5 %", "top 10 %", "cluster 3 of 3"]
    assert recovery["planted"].tolist() == [2, 2, 4]
    assert (recovery["recovered"] == recovery["planted"]).all()

    # a second call is a cache hit: nothing is searched again
    def boom(*args, **kw):
        raise AssertionError("searched again")

    monkeypatch.setattr(U, "explain", boom)
    again = U.explain_model("smoke", "minilm", layers, sconcepts, **kwargs)
    pd.testing.assert_frame_equal(again, rows)
    assert len(list((runs_tmp / "smoke" / "encoder_neurons" / "explanations").glob("minilm-*.pkl"))) == 1
    with pytest.raises(AssertionError, match="searched again"):  # another seed is another key
        U.explain_model("smoke", "minilm", layers, sconcepts, **{**kwargs, "seed": 1})


def test_each_planted_neurons_noise_comes_from_a_real_neuron(sconcepts, real_acts, runs_tmp, monkeypatch):
    widths = []
    original = U.planted

    def spy(acts, concepts, alpha, n, *, seed):
        widths.append(acts.shape[1])
        return original(acts, concepts, alpha, n, seed=seed)

    monkeypatch.setattr(U, "planted", spy)
    monkeypatch.setattr(U, "explain", lambda profile, masks, concepts, **kw: pd.DataFrame(
        {"neuron": np.zeros(0, dtype=int)}))
    U.explain_model("smoke", "minilm", [real_acts], sconcepts, alphas=[0.05, 0.1, 0.2], k=0, per_layer=3,
                    planted_per_alpha=2, seed=0, params=PARAMS)
    assert widths == [3, 3, 3]  # every alpha's noise is drawn among the 3 sampled real neurons


# ------------------------------------------------------------------- what the explanations show (stats module)


def test_formula_kind():
    assert E.formula_kind("tok:dog") == "word"
    assert E.formula_kind("NOT tok:dog") == "word"
    assert E.formula_kind("tag:NN") == "tag"
    assert E.formula_kind("tag:.") == "tag"
    assert E.formula_kind("(tok:dog AND tag:NN)") == "compositional"
    assert E.formula_kind("(tok:dog OR tag:,)") == "compositional"
    assert E.formula_kind("((tok:a OR tok:b) AND NOT tag:JJ)") == "compositional"
    assert E.formula_kind("(tok:dog AND NOT tok:dog)") == "compositional"  # two atoms, the same concept
    assert E.formula_kind(None) is None and E.formula_kind(float("nan")) is None


def _rows(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for col, default in (("model", "m"), ("layer", 0), ("regime", "top 5 %"), ("max_length", 3), ("explained", True),
                         ("planted", None), ("planted_for", None)):
        if col not in frame:
            frame[col] = [default] * len(frame)
    return frame


def test_kind_shares_by_the_single_atom_unless_composition_gains_excess():
    """A neuron is compositional when its longest formula beats its single atom's excess IoU by COMPOSITION_GAIN;
    otherwise it is its single atom's kind. Planted and unexplained neurons are left out."""
    g = E.COMPOSITION_GAIN
    rows = _rows(
        layer=[0] * 8 + [1] * 2,
        neuron=[0, 0, 1, 1, 2, 2, 3, 3, 0, 0],
        max_length=[1, 3] * 5,
        formula=["tok:a", "(tok:a OR tok:b)", "tag:NN", "(tag:NN AND tok:c)", "tok:d", "(tok:d OR tag:JJ)",
                 "tok:e", "(tok:e OR tok:f)", "tag:VB", "(tag:VB OR tok:g)"],
        excess_iou=[0.2, 0.2 + g, 0.1, 0.1 + g / 2, 0.3, 0.3 + 2 * g, 0.1, 0.5, 0.2, 0.2],
        explained=[True] * 10,
        planted=[None] * 6 + ["tok:x", "tok:x"] + [None, None],
    )
    out = E.kind_shares(rows, 3)
    assert out[["layer", "neurons"]].values.tolist() == [[0, 3], [1, 1]]
    # layer 0: neuron 0 gains exactly g (compositional), 1 gains g/2 (its atom: a tag), 2 gains 2g (compositional)
    np.testing.assert_allclose(out[list(E.KINDS)].values, [[0, 1 / 3, 2 / 3], [0, 1, 0]])
    np.testing.assert_allclose(out[list(E.KINDS)].sum(axis=1), 1.0)


def test_planted_recovery_counts_by_hand():
    rows = _rows(
        regime=["top 5 %", "top 5 %", "top 5 %", "top 10 %", "cluster 3 of 3", "cluster 3 of 3", "cluster 1 of 3",
                "top 5 %", "top 5 %"],
        planted=["tok:dog", "tok:cat", "tok:sun", "tok:dog", "tok:dog", "tok:sun", "tok:dog", None, "tok:dog"],
        planted_for=["top 5 %", "top 5 %", "top 10 %", "top 5 %", "top 5 %", "top 10 %", "top 5 %", None, "top 5 %"],
        formula=["(tok:dog AND tag:NN)", "tok:cats", "tok:sun", "tok:dog", "NOT tok:dog", "(tok:sun OR tok:x)",
                 "tok:dog", "tok:dog", None],
        max_length=[3, 3, 3, 3, 3, 3, 3, 3, 1],
    )
    out = E.planted_recovery(rows, 3, "cluster 3 of 3")
    # top 5 %: dog (found) and cat ("tok:cats" is another word); sun was planted for top 10 %, where nothing of its
    # own is; the top cluster counts every planted neuron (the atom of a NOT counts); other clusters are left out
    assert out.to_dict("records") == [
        {"model": "m", "regime": "top 5 %", "planted": 2, "recovered": 1},
        {"model": "m", "regime": "cluster 3 of 3", "planted": 2, "recovered": 2}]
    none = E.planted_recovery(rows, 3, None)
    assert none["regime"].tolist() == ["top 5 %"]
    assert E.planted_recovery(rows, 2, None).empty


def test_mean_interval_is_scipys_t_interval():
    import scipy.stats as sps

    x = np.array([0.3, 0.1, np.nan, 0.45, 0.2, 0.05, np.inf])
    mean, low, high, n = E.mean_interval(x)
    finite = x[np.isfinite(x)]
    want = sps.t.interval(0.95, len(finite) - 1, loc=finite.mean(), scale=sps.sem(finite))
    assert n == 5 and mean == pytest.approx(finite.mean())
    assert (low, high) == pytest.approx(want)
    want90 = sps.t.interval(0.9, len(finite) - 1, loc=finite.mean(), scale=sps.sem(finite))
    assert E.mean_interval(x, 0.1)[1:3] == pytest.approx(want90)
    one = E.mean_interval([2.0])
    assert one[0] == 2.0 and np.isnan(one[1]) and np.isnan(one[2]) and one[3] == 1
    empty = E.mean_interval([np.nan])
    assert np.isnan(empty[0]) and empty[3] == 0


def test_layer_summary_leaves_planted_and_unexplained_rows_out():
    rows = _rows(
        layer=[0, 0, 0, 0, 0, 1],
        iou=[0.2, 0.4, 0.9, 0.95, np.nan, 0.5],
        excess_iou=[0.1, 0.3, 0.8, 0.9, np.nan, 0.2],
        explained=[True, True, True, True, False, True],
        planted=[None, None, "tok:a", "tok:b", None, None],
    )
    out = E.layer_summary(rows)
    assert out[["layer", "neurons"]].values.tolist() == [[0, 2], [1, 1]]
    assert out["iou"].tolist() == pytest.approx([0.3, 0.5])
    mean, low, high, _ = E.mean_interval([0.1, 0.3])
    assert out.loc[0, ["excess_iou", "excess_low", "excess_high"]].tolist() == pytest.approx([mean, low, high])
    assert np.isnan(out.loc[1, "excess_low"])
    with pytest.raises(Exception):
        E.layer_summary(rows.drop(columns=["excess_iou"]))


def test_against_control_sets_each_layer_beside_the_random_network():
    summary = pd.DataFrame({
        "model": ["minilm", "minilm", "minilm-random", "minilm-random", "minilm"],
        "layer": [0, 1, 0, 1, 0], "regime": ["top 5 %"] * 4 + ["top 10 %"], "max_length": [3] * 5,
        "excess_iou": [0.3, 0.4, 0.01, 0.02, 0.9], "excess_low": [0.2, 0.3, 0.0, 0.01, 0.8],
        "excess_high": [0.4, 0.5, 0.02, 0.03, 1.0], "neurons": [10, 11, 12, 13, 14]})
    out = E.against_control(summary, "minilm", "minilm-random", "top 5 %", 3)
    assert out["layer"].tolist() == [0, 1]
    assert out["excess_iou"].tolist() == [0.3, 0.4] and out["excess_iou (control)"].tolist() == [0.01, 0.02]
    assert out["neurons (control)"].tolist() == [12, 13]


def test_cluster_coverage_by_hand():
    rows = _rows(
        neuron=[0, 0, 0, 1, 1, 1, 2, 0],
        regime=["cluster 1 of 3", "cluster 2 of 3", "cluster 3 of 3"] * 2 + ["cluster 1 of 3", "top 5 %"],
        n_fires=[50, 30, 20, 60, 30, 10, 100, 5],
        explained=[True, True, False, True, True, True, True, True],
        excess_iou=[0.2, 0.0, np.nan, 0.1, 0.3, 0.05, 0.4, 0.9],
        planted=[None] * 6 + ["tok:a", None],
    )
    out = E.cluster_coverage(rows, 3, margin=0.01)
    # neuron 0: cluster 1 only (cluster 2's excess is not above the margin): 50/100; neuron 1: all three: 100/100
    assert out["clusters explained"].tolist() == [pytest.approx(2.0)]
    assert out["sentences covered"].tolist() == [pytest.approx(0.75)]
    assert E.cluster_coverage(rows, 3, margin=0.2)["sentences covered"].tolist() == [pytest.approx((0 + 0.3) / 2)]
    assert E.cluster_coverage(rows[rows["regime"] == "top 5 %"], 3).empty
