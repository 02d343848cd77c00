"""Goh et al.'s views of one unit: conditional probability, activation spectrum, top pairs (stats.single_neurons)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipneuron_utils.data.snli import LABELS
from clipneuron_utils.stats import single_neurons


@pytest.fixture
def unit():
    rng = np.random.default_rng(11)
    acts = np.maximum(rng.normal(size=40), 0)
    acts[5] = acts[6] = 2.5  # a tie
    pairs = pd.DataFrame({"pair_id": [f"p{i}" for i in range(40)], "premise": [f"premise {i}" for i in range(40)],
                          "hypothesis": [f"hypothesis {i}" for i in range(40)],
                          "label": np.array(LABELS)[rng.integers(0, 3, 40)]})
    pred = rng.integers(0, 3, 40)
    return acts, pairs, pred

# activations with a hand-checkable SD: mean 2, SD exactly 2 (population, zeros included), two pairs not firing
KNOWN_ACTS = np.array([2.0, 0.0, 6.0, 2.0, 0.0, 2.0])

@settings(max_examples=60, deadline=None)
@given(
    acts=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 50.0, allow_nan=False)), min_size=1, max_size=80),
    width=st.sampled_from([0.25, 0.5, 1.0]),
    origin=st.sampled_from(["zero", "mean"]),
    seed=st.integers(0, 1000),
)
def test_conditional_probability_bins_cover_every_pair_once(acts, width, origin, seed):
    acts = np.asarray(acts)
    rng = np.random.default_rng(seed)
    masks = {"a": rng.random(len(acts)) < 0.5, "b": acts > np.median(acts)}
    frame = single_neurons.conditional_probability(acts, masks, width, origin=origin)
    assert frame["share"].between(0, 1).all()
    for name, mask in masks.items():
        part = frame[frame.concept == name]
        assert part["n_pairs"].sum() == len(acts)
        assert part["n_concept"].sum() == mask.sum()
        assert part["bin_order"].tolist() == list(range(len(part)))
        assert np.allclose(part["share"], part["n_concept"] / part["n_pairs"])
    part = frame[frame.concept == "a"]
    zero = part[~part["firing"]]
    assert zero["n_pairs"].sum() == np.count_nonzero(acts <= 0)
    assert (zero["bin_label"] == single_neurons.ZERO_BIN_LABEL).all()
    # every pair lies in the bin the spectrum gives it, and that bin's range holds its activation
    pairs = pd.DataFrame({"premise": "p", "hypothesis": "h", "label": "neutral"}, index=range(len(acts)))
    spectrum = single_neurons.activation_spectrum(acts, pairs, bin_width_sd=width, origin=origin)
    firing = spectrum[spectrum["firing"]]
    assert (firing["activation_sd"] >= firing["bin_low"] - 1e-6).all()
    assert (firing["activation_sd"] < firing["bin_high"] + 1e-6).all()
    counts = spectrum.groupby("bin_order").size()
    assert counts.tolist() == part["n_pairs"].tolist()

def test_conditional_probability_of_a_perfect_concept():
    acts = np.r_[np.zeros(50), np.linspace(0.1, 3.0, 50)]
    concept = acts > 1.5
    frame = single_neurons.conditional_probability(acts, {"c": concept, "never": np.zeros(100, bool)}, 0.5)
    c = frame[frame.concept == "c"]
    assert c.iloc[0]["firing"] == False and c.iloc[0]["share"] == 0 and c.iloc[0]["n_pairs"] == 50  # noqa: E712
    assert c.iloc[0]["bin"] == 0.0 and c.iloc[1]["bin_low"] == 0.0
    assert c.iloc[-1]["share"] == 1.0
    assert (frame[frame.concept == "never"]["share"] == 0).all()
    assert frame.attrs["sd"] == pytest.approx(acts.std())
    assert c["bin_low"].iloc[1:].tolist() == sorted(c["bin_low"].iloc[1:].tolist())

def test_conditional_probability_errors_and_dead_unit():
    with pytest.raises(ValueError, match="concept_masks\\['x'\\]"):
        single_neurons.conditional_probability(np.zeros(4), {"x": np.zeros(3, bool)})
    with pytest.raises(ValueError, match="concept_masks"):
        single_neurons.conditional_probability(np.zeros(4), {})
    with pytest.raises(ValueError, match="acts_of_unit"):
        single_neurons.conditional_probability(np.zeros((4, 2)), {"x": np.zeros(4, bool)})
    with pytest.raises(ValueError, match="bin_width_sd"):
        single_neurons.conditional_probability(np.zeros(4), {"x": np.zeros(4, bool)}, 0)
    dead = single_neurons.conditional_probability(np.zeros(4), {"x": np.ones(4, bool)})
    assert len(dead) == 1 and dead.iloc[0]["n_pairs"] == 4 and dead.iloc[0]["share"] == 1

def test_formula_concepts_adds_the_formula():
    lookup = {"a": np.array([1, 1, 0, 0], bool), "b": np.array([1, 0, 1, 0], bool)}
    masks = single_neurons.formula_concepts("(a AND NOT b)", lookup)
    assert list(masks) == ["a", "b", "(a AND NOT b)"]
    assert masks["(a AND NOT b)"].tolist() == [False, True, False, False]

def test_activation_spectrum_keeps_every_pair(unit):
    acts, pairs, pred = unit
    spectrum = single_neurons.activation_spectrum(acts, pairs, pred)
    assert len(spectrum) == 40 and sorted(spectrum["pair_id"]) == sorted(pairs["pair_id"])
    assert spectrum["rank"].tolist() == list(range(1, 41))
    assert spectrum["activation"].is_monotonic_decreasing
    assert spectrum.iloc[:2]["pair_id"].tolist() == ["p5", "p6"]  # ties in pair order
    by_id = spectrum.set_index("pair_id")
    assert by_id.loc["p3", "gold"] == pairs.loc[3, "label"]
    assert by_id.loc["p3", "predicted"] == LABELS[pred[3]]
    assert by_id.loc["p3", "correct"] == (LABELS[pred[3]] == pairs.loc[3, "label"])
    assert (spectrum["firing"] == (spectrum["activation"] > 0)).all()

def test_top_activating(unit):
    acts, pairs, pred = unit
    top = single_neurons.top_activating(acts, pairs, pred, k=5)
    assert list(top.columns) == ["rank", "pair_id", "premise", "hypothesis", "gold", "predicted", "correct", "activation"]
    assert top["activation"].tolist() == sorted(acts, reverse=True)[:5]
    assert top.loc[0, "premise"] == "premise 5"
    few = np.zeros(40)
    few[[2, 9]] = [1.0, 3.0]
    assert single_neurons.top_activating(few, pairs, k=10)["pair_id"].tolist() == ["p9", "p2"]
    with pytest.raises(ValueError, match="pairs"):
        single_neurons.top_activating(acts[:-1], pairs, pred)
    with pytest.raises(ValueError, match="pred"):
        single_neurons.top_activating(acts, pairs, pred[:-1])
    with pytest.raises(ValueError, match="k"):
        single_neurons.top_activating(acts, pairs, pred, k=0)

def test_conditional_probability_of_a_hand_computed_unit():
    """KNOWN_ACTS in SD from zero are 1, 0, 3, 1, 0, 1. With the default width 0.5 SD the bins are: not firing
    (pairs 1, 4), [1, 1.5) (pairs 0, 3, 5, raw 2) and [3, 3.5) (pair 2, raw 6). Concept c holds on pairs 0 and
    2: shares 0, 1/3, 1; concept d on the rest: 1, 2/3, 0. One row per (bin, concept), numbered 0..5."""
    c = np.array([1, 0, 1, 0, 0, 0], bool)
    frame = single_neurons.conditional_probability(KNOWN_ACTS, {"c": c, "d": ~c})
    assert frame.index.tolist() == list(range(6))
    assert frame["bin"].tolist() == [0.0, 1.25, 3.25] * 2
    assert frame["bin_low"].tolist() == [0.0, 1.0, 3.0] * 2 and frame["bin_high"].tolist() == [0.0, 1.5, 3.5] * 2
    assert frame["bin_label"].tolist()[:3] == [single_neurons.ZERO_BIN_LABEL, "[1, 1.5) SD", "[3, 3.5) SD"]
    assert frame["share"].tolist() == pytest.approx([0, 1 / 3, 1, 1, 2 / 3, 0])
    assert frame["n_pairs"].tolist() == [2, 3, 1] * 2
    assert frame["act_min"].tolist() == [0.0, 2.0, 6.0] * 2 and frame["act_max"].tolist() == [0.0, 2.0, 6.0] * 2
    assert frame.attrs == {"sd": 2.0, "origin": "zero", "center": 0.0, "bin_width_sd": 0.5}

def test_conditional_probability_of_no_pairs_reports_no_spread():
    """No activations: an empty table whose SD is 0 (nothing varies), not an invented 1."""
    frame = single_neurons.conditional_probability(np.array([]), {"c": np.array([], bool)})
    assert frame.empty and frame.attrs["sd"] == 0.0

def test_bin_table_links_bin_codes_to_rows():
    """The bin table's bin_code is the code _activation_bins gives each pair: −1 for the not-firing bin, then
    0, 1, … for the firing bins in order."""
    bins = single_neurons._activation_bins(KNOWN_ACTS, 0.5, "zero", True)
    assert bins["code"].tolist() == [0, -1, 1, 0, -1, 0]
    assert single_neurons._bin_table(bins)["bin_code"].tolist() == [-1, 0, 1]

def test_activation_spectrum_of_a_hand_computed_unit():
    """KNOWN_ACTS measured from the mean (2) in SD (2): 0, −1, 2, 0, −1, 0, and activation 0 sits at −1 SD, so
    the firing bins are [0, 0.5) and [2, 2.5). Sorted by activation (ties in pair order): pairs 2, 0, 3, 5, 1, 4,
    ranked 1..6 as integers; the frame has exactly the documented columns and the SD, origin, centre and width
    in its attrs."""
    pairs = pd.DataFrame({"premise": list("abcdef"), "hypothesis": list("ABCDEF"),
                          "label": ["entailment", "neutral", "contradiction", "neutral", "entailment", "neutral"]})
    spectrum = single_neurons.activation_spectrum(KNOWN_ACTS, pairs, pred=[0, 1, 2, 2, 0, 1], origin="mean")
    assert list(spectrum.columns) == ["rank", "pair_id", "premise", "hypothesis", "activation", "activation_sd", "firing",
                                      "bin_order", "bin", "bin_low", "bin_high", "bin_label", "gold", "predicted", "correct"]
    assert spectrum["rank"].tolist() == [1, 2, 3, 4, 5, 6] and spectrum["rank"].dtype == np.int64
    assert spectrum["pair_id"].tolist() == ["2", "0", "3", "5", "1", "4"]
    assert spectrum["activation_sd"].tolist() == [2.0, 0.0, 0.0, 0.0, -1.0, -1.0]
    assert spectrum["bin"].tolist() == [2.25, 0.25, 0.25, 0.25, -1.0, -1.0]
    assert spectrum["bin_low"].tolist() == [2.0, 0.0, 0.0, 0.0, -1.0, -1.0]
    assert spectrum["bin_high"].tolist() == [2.5, 0.5, 0.5, 0.5, -1.0, -1.0]
    assert spectrum["correct"].tolist() == [True, True, False, True, True, True]
    assert spectrum.attrs == {"sd": 2.0, "origin": "mean", "center": 2.0, "bin_width_sd": 0.5}

def test_activation_spectrum_names_each_bad_argument():
    """Bad input is refused with the name of the argument at fault, spelt as the caller knows it."""
    pairs = pd.DataFrame({"premise": list("abc"), "hypothesis": list("ABC")})
    with pytest.raises(ValueError, match="^acts_of_unit must be 1-D"):
        single_neurons.activation_spectrum(np.zeros((3, 2)), pairs, gold=[0, 1, 2])
    with pytest.raises(ValueError, match=r"^pairs \(or pass gold\) lacks column\(s\) label"):
        single_neurons.activation_spectrum(np.zeros(3), pairs)
    with pytest.raises(ValueError, match="^gold holds"):
        single_neurons.activation_spectrum(np.zeros(3), pairs, gold=["entailment", "yes", "neutral"])

def test_top_activating_defaults_to_ten_and_allows_one(unit):
    """k defaults to 10 (the paper's examples), and k = 1 (the single strongest pair) is allowed."""
    acts, pairs, pred = unit
    assert np.count_nonzero(acts > 0) > 10
    top = single_neurons.top_activating(acts, pairs, pred)
    assert len(top) == 10 and top["activation"].tolist() == sorted(acts, reverse=True)[:10]
    one = single_neurons.top_activating(acts, pairs, pred, k=1)
    assert one["pair_id"].tolist() == ["p5"]
