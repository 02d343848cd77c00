"""Result tables: accuracy when firing, IoU/accuracy correlations, IoU by length, encodings, one neuron."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from clipneuron_utils.stats import compositionality, contribution, single_neurons
from clipneuron_utils.data.snli import LABELS


def results_frame(rows):
    """Search-result rows (neuron, iou, …) with the columns beam_search_by_length writes."""
    frame = pd.DataFrame(rows)
    frame["explained"] = frame["iou"].notna()
    frame["formula"] = np.where(frame["explained"], "pre:tok:man", None)
    frame["n_fires"] = 50
    return frame


# ------------------------------------------------------------------------------- acc_when_firing


def test_acc_when_firing_matches_a_loop_over_neurons():
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(500, 40)), 0).astype(np.float32)
    acts[:, 7] = 0  # never fires
    acts[:, 8] = 0
    acts[3, 8] = 1.0  # fires once
    masks = acts > 0
    pred, gold = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    table = contribution.acc_when_firing(masks, pred, gold)
    assert list(table.columns) == ["neuron", "n_fires", "acc_when_firing"]
    assert table["neuron"].tolist() == list(range(40))
    for u in range(40):
        fires = masks[:, u]
        assert table.loc[u, "n_fires"] == fires.sum()
        if fires.any():
            assert table.loc[u, "acc_when_firing"] == pytest.approx(np.mean(pred[fires] == gold[fires]), abs=1e-12)
        else:
            assert math.isnan(table.loc[u, "acc_when_firing"])
    assert table.loc[8, "acc_when_firing"] == float(pred[3] == gold[3])


def test_acc_when_firing_accepts_label_strings():
    rng = np.random.default_rng(1)
    masks = rng.random((60, 5)) < 0.4
    pred, gold = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    codes = contribution.acc_when_firing(masks, pred, gold)
    names = contribution.acc_when_firing(masks, np.array(LABELS)[pred], list(np.array(LABELS)[gold]))
    pd.testing.assert_frame_equal(codes, names)


@pytest.mark.parametrize(
    "masks, pred, gold, word",
    [
        (np.ones((5, 3), bool), np.zeros(4, int), np.zeros(5, int), "pred"),
        (np.ones((5, 3), bool), np.zeros(5, int), np.zeros(6, int), "gold"),
        (np.ones(5, bool), np.zeros(5, int), np.zeros(5, int), "neuron_masks"),
        (np.ones((5, 3)), np.zeros(5, int), np.zeros(5, int), "neuron_masks"),
        (np.ones((5, 3), bool), np.full(5, "yes"), np.zeros(5, int), "pred"),
    ],
)
def test_acc_when_firing_names_the_bad_argument(masks, pred, gold, word):
    with pytest.raises(ValueError, match=word):
        contribution.acc_when_firing(masks, pred, gold)


# ------------------------------------------------------------------------------- correlations


def correlation_case():
    """Group (clip, standard, 1): acc = 1 − iou exactly; (clip, standard, 2): random; lstm: tiny."""
    rng = np.random.default_rng(3)
    rows, acc = [], []
    iou_1 = np.linspace(0.05, 0.5, 8)
    for u in range(8):
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=iou_1[u]))
        acc.append(dict(encoder="clip", neuron=u, acc_when_firing=1 - iou_1[u]))
    for u in range(8):
        rows.append(dict(encoder="clip", encoding="standard", max_length=2, neuron=u, iou=rng.random()))
    for u in range(8, 10):  # unexplained units: acc values that would spoil r = -1 if they counted
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=np.nan))
        acc.append(dict(encoder="clip", neuron=u, acc_when_firing=0.99))
    for u in range(3):
        rows.append(dict(encoder="lstm", encoding="standard", max_length=1, neuron=u, iou=0.1 * (u + 1) if u < 2 else np.nan))
        acc.append(dict(encoder="lstm", neuron=u, acc_when_firing=0.5 + 0.1 * u))
    rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=10, iou=0.5))
    acc.append(dict(encoder="clip", neuron=10, acc_when_firing=0.99))
    results = results_frame(rows)
    results.loc[results.neuron.eq(10), "explained"] = False  # flagged unexplained: ignored despite its IoU
    return results, pd.DataFrame(acc), rng


def test_correlation_against_scipy_and_perfect_anticorrelation():
    results, accuracy, _ = correlation_case()
    table = contribution.iou_accuracy_correlation(results, accuracy).set_index(["encoder", "encoding", "max_length"])
    perfect = table.loc[("clip", "standard", 1)]
    assert perfect["n"] == 8 and perfect["n_units"] == 11
    assert perfect["pearson_r"] == pytest.approx(-1.0)
    assert perfect["spearman_rho"] == pytest.approx(-1.0)
    assert perfect["pearson_p"] < 1e-6
    assert perfect["slope"] == pytest.approx(-1.0) and perfect["intercept"] == pytest.approx(1.0)

    merged = contribution.attach_accuracy(results, accuracy)
    sub = merged[(merged.encoder == "clip") & (merged.max_length == 2)]
    x, y = sub["iou"].to_numpy(), sub["acc_when_firing"].to_numpy()
    row = table.loc[("clip", "standard", 2)]
    assert row["pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert row["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert row["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert row["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert row["mean_iou"] == pytest.approx(x.mean())


def test_correlation_is_nan_for_tiny_or_constant_groups():
    results, accuracy, _ = correlation_case()
    table = contribution.iou_accuracy_correlation(results, accuracy, min_neurons=3)
    tiny = table[table.encoder == "lstm"].iloc[0]
    assert tiny["n"] == 2 and tiny["n_units"] == 3
    for col in ("pearson_r", "pearson_p", "spearman_rho", "spearman_p", "slope", "intercept"):
        assert math.isnan(tiny[col])
    constant = results_frame([dict(neuron=u, iou=0.2, max_length=1) for u in range(5)])
    constant["acc_when_firing"] = np.linspace(0, 1, 5)
    row = contribution.iou_accuracy_correlation(constant).iloc[0]
    assert row["n"] == 5 and math.isnan(row["pearson_r"])


def test_correlation_grouping_and_errors():
    results, accuracy, _ = correlation_case()
    single = contribution.iou_accuracy_correlation(results[results.encoder == "clip"].drop(columns="encoder"),
                                        accuracy[accuracy.encoder == "clip"].drop(columns="encoder"))
    assert list(single.columns[:2]) == ["encoding", "max_length"]
    with pytest.raises(ValueError, match="acc_when_firing"):
        contribution.iou_accuracy_correlation(results)
    with pytest.raises(ValueError, match="seed"):
        contribution.iou_accuracy_correlation(results, accuracy, by=["seed"])
    with pytest.raises(ValueError, match="min_neurons"):
        contribution.iou_accuracy_correlation(results, accuracy, min_neurons=1)


def test_attach_accuracy_spans_both_encodings():
    results = results_frame([dict(encoder="clip", encoding=e, max_length=1, neuron=u, iou=0.1)
                             for e in ("standard", "wordnet") for u in range(3)])
    accuracy = pd.DataFrame(dict(encoder="clip", neuron=range(3), n_fires=7, acc_when_firing=[0.1, 0.2, 0.3]))
    merged = contribution.attach_accuracy(results, accuracy)
    assert len(merged) == 6 and merged["n_fires"].eq(50).all()
    assert merged.groupby("encoding")["acc_when_firing"].apply(list).tolist() == [[0.1, 0.2, 0.3]] * 2


# ------------------------------------------------------------------------------ IoU by length


def test_mean_iou_by_length_ignores_unexplained_units():
    rows = []
    for length, ious in ((1, [0.1, 0.2, 0.3, np.nan]), (2, [0.2, 0.4, np.nan, np.nan])):
        rows += [dict(encoder="clip", encoding="standard", max_length=length, neuron=u, iou=i) for u, i in enumerate(ious)]
    rows.append(dict(encoder="lstm", encoding="standard", max_length=1, neuron=0, iou=0.5))
    table = compositionality.mean_iou_by_length(results_frame(rows)).set_index(["encoder", "encoding", "max_length"])
    assert table.loc[("clip", "standard", 1), "mean_iou"] == pytest.approx(0.2)
    assert table.loc[("clip", "standard", 1), "sem"] == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1) / math.sqrt(3))
    assert table.loc[("clip", "standard", 2), "mean_iou"] == pytest.approx(0.3)
    assert table.loc[("clip", "standard", 2), "n_explained"] == 2
    assert table.loc[("clip", "standard", 2), "n_units"] == 4
    assert math.isnan(table.loc[("lstm", "standard", 1), "sem"])


def test_explained_flag_wins_over_a_stray_iou():
    frame = results_frame([dict(max_length=1, neuron=u, iou=0.5) for u in range(3)])
    frame.loc[0, "explained"] = False
    assert compositionality.mean_iou_by_length(frame).loc[0, "n_explained"] == 2


# --------------------------------------------------------------------------- encoding difference


def test_encoding_difference_on_a_crafted_case():
    rng = np.random.default_rng(5)
    standard = rng.uniform(0.1, 0.4, 12)
    delta = np.array([0.01, -0.002, 0.0, 0.004, 0.003, 0.0, 0.001, 0.002, -0.001, 0.005, 0.0, 0.003])
    rows = []
    for u in range(12):
        rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=standard[u]))
        rows.append(dict(encoder="clip", encoding="wordnet", max_length=1, neuron=u, iou=standard[u] + delta[u]))
    # explained in one encoding only: left out of the paired difference
    rows.append(dict(encoder="clip", encoding="standard", max_length=1, neuron=12, iou=0.9))
    rows.append(dict(encoder="clip", encoding="wordnet", max_length=1, neuron=12, iou=np.nan))
    # a group with too few pairs for a test
    rows += [dict(encoder="lstm", encoding=e, max_length=1, neuron=0, iou=0.2) for e in ("standard", "wordnet")]
    table = compositionality.encoding_difference(results_frame(rows)).set_index(["encoder", "max_length"])
    clip = table.loc[("clip", 1)]
    assert clip["n"] == 12 and clip["n_nonzero"] == 9
    assert clip["mean_difference"] == pytest.approx(delta.mean())
    assert clip["std"] == pytest.approx(np.std(delta, ddof=1))
    assert clip["mean_iou_wordnet"] - clip["mean_iou_standard"] == pytest.approx(delta.mean())
    assert clip["wilcoxon_p"] == pytest.approx(stats.wilcoxon(standard + delta, standard).pvalue)
    lstm = table.loc[("lstm", 1)]
    assert lstm["n"] == 1 and lstm["mean_difference"] == 0 and math.isnan(lstm["wilcoxon_p"])


def test_encoding_difference_rejects_bad_input():
    frame = results_frame([dict(encoding="other", max_length=1, neuron=0, iou=0.1)])
    with pytest.raises(ValueError, match="encoding"):
        compositionality.encoding_difference(frame)
    frame = results_frame([dict(encoding="standard", max_length=1, neuron=0, iou=0.1)] * 2)
    with pytest.raises(ValueError, match="more than one row"):
        compositionality.encoding_difference(frame)


# ------------------------------------------------------------------------------- formula kinds


def test_formula_parts_and_kinds():
    assert compositionality.formula_parts("((hyp:tok:man AND NOT pre:tok:man) OR hyp:tag:JJ)") == (
        ("AND NOT", "OR"), ("hyp:tok:man", "pre:tok:man", "hyp:tag:JJ"))
    assert compositionality.formula_parts("(pre:tag:NN OR NOT oth:overlap:50)") == (("OR NOT",), ("pre:tag:NN", "oth:overlap:50"))
    assert compositionality.operator_mix(()) == "atom only"
    frame = pd.DataFrame({
        "max_length": 3,
        "formula": ["hyp:tok:man", "(hyp:tok:man AND NOT pre:tok:man)", "((pre:tag:NN AND hyp:tag:JJ) OR oth:overlap:75)",
                    "(hyp:tok:dog AND NOT pre:tok:dog)", None],
        "iou": [0.2, 0.3, 0.1, 0.25, np.nan],
        "explained": [True, True, True, True, False],
    })
    table = compositionality.formula_kinds(frame)
    ops = table[table.aspect == "operators"].set_index("category")
    assert ops["share"].sum() == pytest.approx(1.0)
    assert ops.loc["AND NOT", "n_formulas"] == 2 and ops.loc["AND + OR", "n_formulas"] == 1
    assert ops.loc["atom only", "share"] == pytest.approx(0.25)
    kinds = table[table.aspect == "concept kind"].set_index("category")
    assert list(kinds.index) == list(compositionality.CONCEPT_KINDS)
    assert kinds.loc["hyp:tok", "share"] == pytest.approx(0.75)
    assert kinds.loc["pre:tok", "n_atoms"] == 2
    assert kinds["atom_share"].sum() == pytest.approx(1.0)


# --------------------------------------------------------------------- conditional probability


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


# ---------------------------------------------------------------------------- spectrum, top pairs


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


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_mean_iou_by_length_has_a_standard_error_from_two_units_and_names_a_bad_frame():
    rows = [dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=i) for u, i in enumerate([0.1, 0.3])]
    table = compositionality.mean_iou_by_length(results_frame(rows))
    assert table.loc[0, "sem"] == pytest.approx(np.std([0.1, 0.3], ddof=1) / math.sqrt(2))
    with pytest.raises(ValueError, match="results"):
        compositionality.mean_iou_by_length(pd.DataFrame({"iou": [0.1]}))
    with pytest.raises(ValueError, match="results"):
        compositionality.formula_kinds(pd.DataFrame({"iou": [0.1]}))


def test_encoding_difference_edges():
    rows = []
    for u, (s, w) in enumerate([(0.2, 0.25), (0.3, 0.29)]):  # two pairs: a standard deviation, no test
        for length in (1, 2):
            rows += [dict(encoder="clip", encoding="standard", max_length=length, neuron=u, iou=s),
                     dict(encoder="clip", encoding="wordnet", max_length=length, neuron=u, iou=w + length / 100)]
    frame = results_frame(rows)
    table = compositionality.encoding_difference(frame)
    assert list(table.columns) == ["encoder", "max_length", "n", "mean_iou_standard", "mean_iou_wordnet", "mean_difference",
                                   "std", "median_difference", "n_nonzero", "wilcoxon_statistic", "wilcoxon_p"]
    first = table[table.max_length == 1].iloc[0]
    assert first["std"] == pytest.approx(np.std([0.06, 0.0], ddof=1)) and first["median_difference"] == pytest.approx(0.03)
    by_length = compositionality.encoding_difference(frame, by=["max_length"])  # grouped as asked, not by default
    assert list(by_length.columns)[:2] == ["max_length", "n"] and by_length["n"].tolist() == [2, 2]
    for only in ("standard", "wordnet"):  # one encoding searched: no pair, an empty table with the columns
        empty = compositionality.encoding_difference(frame[frame.encoding == only])
        assert empty.empty and list(empty.columns) == list(table.columns)


def test_formula_kinds_counts_zero_atoms_as_zero():
    frame = pd.DataFrame({"max_length": 1, "formula": ["hyp:tok:man", "pre:tok:dog"], "iou": [0.2, 0.3],
                          "explained": True})
    kinds = compositionality.formula_kinds(frame)
    assert str(kinds["n_atoms"].dtype) == "Int64"
    per = kinds[kinds.aspect == "concept kind"].set_index("category")["n_atoms"]
    assert per["hyp:tok"] == 1 and per["pre:tok"] == 1 and per["oth:overlap"] == 0


# ------------------------------------------------------------ known answers at the edges, round 2 (issue 21)


def test_mean_iou_by_length_puts_max_length_last_when_asked_to_group_by_it():
    """An explicit ``by`` naming max_length groups by it once, as the last key (one row per length)."""
    rows = [dict(encoder="clip", max_length=length, neuron=u, iou=0.1 * length + 0.1 * u)
            for length in (1, 2) for u in range(2)]
    table = compositionality.mean_iou_by_length(results_frame(rows), by=["max_length", "encoder"])
    assert list(table.columns) == ["encoder", "max_length", "mean_iou", "sem", "n_explained", "n_units"]
    assert table["max_length"].tolist() == [1, 2]
    assert table["mean_iou"].tolist() == pytest.approx([0.15, 0.25])


def test_encoding_difference_tests_five_nonzero_pairs_by_default():
    """Five neurons, WordNet − standard = +0.01, +0.02, −0.005, +0.03, +0.04: the default min_pairs is 5, so the
    test runs; the one negative difference has the smallest |d| (rank 1), so W = 1 and the exact two-sided p is
    2 · P(W ≤ 1) = 2 · 2/32 = 0.125."""
    delta = [0.01, 0.02, -0.005, 0.03, 0.04]
    rows = []
    for u, d in enumerate(delta):
        rows += [dict(encoder="clip", encoding="standard", max_length=1, neuron=u, iou=0.2),
                 dict(encoder="clip", encoding="wordnet", max_length=1, neuron=u, iou=0.2 + d)]
    row = compositionality.encoding_difference(results_frame(rows)).iloc[0]
    assert row["n_nonzero"] == 5
    assert row["wilcoxon_statistic"] == 1.0 and row["wilcoxon_p"] == pytest.approx(0.125)
    assert math.isnan(compositionality.encoding_difference(results_frame(rows), min_pairs=6).iloc[0]["wilcoxon_p"])


def test_compositionality_tables_name_the_results_frame():
    """A results frame lacking a needed column, or a ``by`` column, is refused with the parameter's name."""
    frame = results_frame([dict(max_length=1, neuron=0, iou=0.1)])  # no encoding column
    with pytest.raises(ValueError, match="^results lacks column"):
        compositionality.encoding_difference(frame)
    with pytest.raises(ValueError, match=r"^results lacks column\(s\) seed"):
        compositionality.formula_kinds(frame, by=["seed"])


def test_formula_kinds_counts_formulas_per_concept_kind():
    """Two formulas, 'hyp:tok:man' and '(hyp:tok:man AND NOT pre:tok:man)': hyp:tok is used by both, pre:tok by
    one, the other kinds by none — the concept-kind rows' n_formulas, with share = n_formulas / 2."""
    frame = pd.DataFrame({"max_length": 2, "formula": ["hyp:tok:man", "(hyp:tok:man AND NOT pre:tok:man)"],
                          "iou": [0.2, 0.3], "explained": True})
    kinds = compositionality.formula_kinds(frame)
    kinds = kinds[kinds.aspect == "concept kind"].set_index("category")
    assert kinds["n_formulas"].to_dict() == {"pre:tok": 1, "hyp:tok": 2, "pre:tag": 0, "hyp:tag": 0, "oth:overlap": 0}
    assert kinds["share"].tolist() == pytest.approx([0.5, 1.0, 0.0, 0.0, 0.0])


# activations with a hand-checkable SD: mean 2, SD exactly 2 (population, zeros included), two pairs not firing
KNOWN_ACTS = np.array([2.0, 0.0, 6.0, 2.0, 0.0, 2.0])


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
