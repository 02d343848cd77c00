"""The matched null: planted formulas beat it, random units do not, counts match, shared draws agree,
p-values against a brute-force count, and the cache of draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from clipneuron_utils.explain import controls
from clipneuron_utils import run
from clipneuron_utils.explain.concepts import Concepts
from clipneuron_utils.explain.search import beam_search_by_length

SEARCH = dict(max_length=2, beam_size=5, min_acts=20)


def world(seed=0, n=1500, m=30):
    """Concepts of varied density (pairs × concepts) and their names."""
    rng = np.random.default_rng(seed)
    masks = rng.random((n, m)) < rng.uniform(0.05, 0.5, m)
    return masks, [f"c{j:02d}" for j in range(m)]


def noisy(mask, rng, share=0.05):
    """``mask`` with ``share`` of its firing pairs moved to random other pairs (same firing count)."""
    out = mask.copy()
    on, off = np.flatnonzero(mask), np.flatnonzero(~mask)
    k = int(round(share * len(on)))
    out[rng.choice(on, k, replace=False)] = False
    out[rng.choice(off, k, replace=False)] = True
    return out


def test_planted_formulas_beat_the_null():
    concepts, names = world()
    rng = np.random.default_rng(1)
    units = np.stack([noisy(concepts[:, i] | concepts[:, i + 1] if i % 2 else concepts[:, i] & ~concepts[:, i + 1], rng)
                      for i in range(0, 16, 2)], axis=1)
    real = beam_search_by_length(units, concepts, names=names, progress=False, **SEARCH)
    null = controls.matched_null(units, concepts, names=names, n_draws=20, seed=0, real=real, **SEARCH)
    scored = controls.attach(real, null)
    assert scored["explained"].all()
    assert (scored["excess_iou"] > 0.3).all(), scored[["neuron", "max_length", "iou", "null_mean_iou"]]
    # no draw reaches a planted unit: p is the smallest the +1 correction allows, 1 / (20 + 1)
    assert np.allclose(scored["p_value"], 1 / 21)
    assert (scored["n_draws"] == 20).all()


def test_random_units_have_no_excess():
    concepts, names = world(2)
    rng = np.random.default_rng(3)
    units = rng.random((concepts.shape[0], 200)) < rng.uniform(0.03, 0.6, 200)
    real = beam_search_by_length(units, concepts, names=names, progress=False, **SEARCH)
    null = controls.matched_null(units, concepts, names=names, n_draws=10, seed=0, real=real, **SEARCH)
    scored = controls.attach(real, null)
    for length, sub in scored.groupby("max_length"):
        assert abs(sub["excess_iou"].mean()) < 0.02, (length, sub["excess_iou"].mean())
    assert 0.3 < scored["p_value"].mean() < 0.7  # p is roughly uniform for null units


def test_every_null_mask_has_its_units_firing_count():
    counts = [0, 1, 7, 250, 999, 1000]
    masks = controls.random_masks(counts, 1000, 4, seed=5)
    assert masks.shape == (1000, 24)
    assert masks.sum(0).tolist() == [c for c in counts for _ in range(4)]
    # seeded by (seed, count, draw): the same draw whatever it is drawn with
    alone = controls.random_masks([250], 1000, 4, seed=5)
    assert np.array_equal(alone, masks[:, 12:16])
    assert not np.array_equal(controls.random_masks([250], 1000, 4, seed=6), alone)
    with pytest.raises(ValueError, match=r"firing counts must lie in 0..1000"):
        controls.random_masks([1001], 1000, 1)


@pytest.mark.parametrize("width", [0.01, 0.02, 0.05])
def test_shared_bins_stay_within_their_width(width):
    counts = np.arange(1, 200_000)
    centre = controls.firing_bins(counts, width)
    assert (np.abs(centre - counts) <= width / 2 * counts + 0.5).all()  # half the bin, plus rounding to a count
    assert (np.abs(centre - counts) <= width * counts).all()
    small = counts < 1 / width
    assert (centre[small] == counts[small]).all()
    assert (controls.firing_bins(counts, 0) == counts).all()
    assert len(np.unique(centre[counts >= 500])) < len(counts) / 50
    with pytest.raises(ValueError, match="bin_width"):
        controls.firing_bins(counts, -0.1)


def test_shared_null_agrees_with_the_per_unit_null():
    concepts, names = world(4, n=2500)
    rng = np.random.default_rng(5)
    units = rng.random((concepts.shape[0], 150)) < rng.uniform(0.05, 0.5, 150)
    units[:, :40] = np.stack([noisy(concepts[:, i % 30] | concepts[:, (i + 3) % 30], rng) for i in range(40)], 1)
    real = beam_search_by_length(units, concepts, names=names, progress=False, **SEARCH)
    exact = controls.matched_null(units, concepts, names=names, n_draws=10, real=real, **SEARCH)
    shared = controls.matched_null(units, concepts, names=names, n_draws=10, real=real, bin_width=0.01, **SEARCH)
    assert shared["null_count"].nunique() < exact["null_count"].nunique()
    both = exact.merge(shared, on=["neuron", "max_length"], suffixes=("", "_shared"))
    explained = both.dropna(subset=["null_mean_iou"])
    assert ((explained["null_count_shared"] - explained["null_count"]).abs()
            <= 0.01 * explained["null_count"]).all()
    for _, sub in explained.groupby("max_length"):
        assert abs(sub["null_mean_iou_shared"].mean() - sub["null_mean_iou"].mean()) < 0.005


def test_p_value_counts_the_draws_at_least_as_good():
    real = pd.DataFrame({"neuron": [0, 0, 1, 1, 2, 2], "max_length": [1, 2] * 3, "iou": [0.5, 0.6, 0.2, 0.2, np.nan, np.nan],
                         "n_fires": [10, 10, 12, 12, 3, 3], "explained": [True, True, True, True, False, False]})
    draws = pd.DataFrame([(c, d, k, iou) for c, ious in ((10, [0.4, 0.5, 0.7]), (12, [0.1, 0.3, 0.2]))
                          for d, iou in enumerate(ious) for k in (1, 2)], columns=["count", "draw", "max_length", "iou"])
    null = controls.summarise(real, draws).set_index(["neuron", "max_length"])
    assert null.loc[(0, 1), "p_value"] == pytest.approx((1 + 2) / 4)  # 0.5 and 0.7 reach 0.5
    assert null.loc[(0, 2), "p_value"] == pytest.approx((1 + 1) / 4)  # only 0.7 reaches 0.6
    assert null.loc[(1, 1), "p_value"] == pytest.approx((1 + 2) / 4)  # a tie counts
    assert null.loc[(0, 1), "null_mean_iou"] == pytest.approx(np.mean([0.4, 0.5, 0.7]))
    assert null.loc[(0, 1), "null_sd_iou"] == pytest.approx(np.std([0.4, 0.5, 0.7], ddof=1))
    assert np.isnan(null.loc[(2, 1), "null_mean_iou"]) and null.loc[(2, 1), "n_draws"] == 0  # unexplained stays so
    with pytest.raises(ValueError, match=r"no null for firing count"):
        controls.summarise(real.assign(n_fires=[10, 10, 13, 13, 3, 3]), draws)


@pytest.mark.parametrize("bin_width", [0.0, 0.01])
def test_an_unexplained_unit_gets_no_null_whatever_bin_it_shares(bin_width):
    """A unit below min_acts (here 496: 495 fires) whose count shares draws with an explained one (497, both
    in the 1 % bin of 497): no null for it, so nothing that averages the null over units mixes in a unit
    that has no real IoU."""
    real = pd.DataFrame({"neuron": [0, 1], "max_length": [1, 1], "iou": [0.3, np.nan], "n_fires": [497, 495],
                         "explained": [True, False]})
    counts = sorted(set(controls.firing_bins([497, 495], bin_width)))
    draws = pd.DataFrame([(c, d, 1, 0.1 + 0.1 * d) for c in counts for d in range(3)],
                         columns=["count", "draw", "max_length", "iou"])
    if bin_width:
        assert len(counts) == 1  # 499 and 500 share a bin: the case the guard is for
    null = controls.summarise(real, draws, bin_width=bin_width).set_index("neuron")
    assert null.loc[0, "n_draws"] == 3 and null.loc[0, "null_mean_iou"] == pytest.approx(0.2)
    assert null.loc[1, "n_draws"] == 0
    assert null.loc[1, ["null_mean_iou", "null_sd_iou", "p_value"]].isna().all() and pd.isna(null.loc[1, "null_count"])


def test_null_draws_are_kept_and_grow(runs_tmp, monkeypatch):
    concepts, names = world(6, n=400, m=12)
    c = Concepts(names, sp.csc_matrix(concepts), "standard")
    first = run.null_draws("t", c, [50, 80], n_pairs=400, n_draws=3, seed=0, **SEARCH)
    searched = []
    real_search = controls.search_null

    def spy(counts, *args, **kwargs):
        searched.append(list(counts))
        return real_search(counts, *args, **kwargs)

    monkeypatch.setattr(controls, "search_null", spy)
    again = run.null_draws("t", c, [50, 80], n_pairs=400, n_draws=3, seed=0, **SEARCH)
    pd.testing.assert_frame_equal(first, again)
    more = run.null_draws("t", c, [80, 120], n_pairs=400, n_draws=3, seed=0, **SEARCH)
    assert searched == [[120]]  # only the count never searched
    alone = controls.search_null([120], c, n_pairs=400, n_draws=3, seed=0, **SEARCH)
    pd.testing.assert_frame_equal(more[more["count"] == 120].reset_index(drop=True), alone)
    run.null_draws("t", c, [50], n_pairs=400, n_draws=3, seed=1, **SEARCH)  # another seed: another store
    assert searched[-1] == [50]


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_a_draw_as_good_as_the_unit_counts_as_a_hit():
    real = pd.DataFrame({"neuron": [0], "max_length": [1], "iou": [0.5], "n_fires": [10], "explained": [True]})
    draws = pd.DataFrame({"count": [10] * 4, "draw": range(4), "max_length": [1] * 4, "iou": [0.5, 0.2, 0.6, 0.1]})
    out = controls.summarise(real, draws)
    assert out.loc[0, "p_value"] == pytest.approx((1 + 2) / (4 + 1))  # the tie and the better draw
    with pytest.raises(ValueError, match=r"real lacks the columns \['n_fires'\]"):
        controls.summarise(real.drop(columns="n_fires"), draws)
    with pytest.raises(ValueError, match=r"draws lacks the columns \['iou'\]"):
        controls.summarise(real, draws.drop(columns="iou"))


def test_search_null_of_no_counts_and_its_parameters():
    concepts = Concepts(["pre:tok:a"], sp.csc_matrix(np.array([[1], [0], [1], [0]], dtype=bool)))
    empty = controls.search_null([], concepts, n_pairs=4, n_draws=2)
    assert list(empty.columns) == ["count", "draw", "max_length", "iou"] and empty.empty
    assert [str(t) for t in empty.dtypes] == ["int64", "int64", "int64", "float64"]
    found = controls.search_null([2], concepts, n_pairs=4, n_draws=2, chunk_neurons=1, max_length=1)
    assert len(found) == 2 and set(found["count"]) == {2}
    several = controls.search_null([1, 3], concepts, n_pairs=4, n_draws=2, max_length=1)
    assert list(zip(several["count"], several["draw"])) == [(1, 0), (1, 1), (3, 0), (3, 1)]  # draw: 0..n_draws-1
    with pytest.raises(ValueError, match="unknown search parameters for the null: \\['bogus'\\]"):
        controls.search_null([2], concepts, n_pairs=4, n_draws=2, bogus=1)


def test_matched_null_searches_the_real_units_itself_from_integer_masks():
    concepts = Concepts(["pre:tok:a", "pre:tok:b"], sp.csc_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]],
                                                                            dtype=bool)))
    masks = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], dtype=np.int64)  # 0/1 ints, not bools
    given = controls.matched_null(masks.astype(bool), concepts, n_draws=3, max_length=2, min_acts=1,
                                  real=beam_search_by_length(masks.astype(bool), concepts, max_length=2, min_acts=1))
    itself = controls.matched_null(masks, concepts, n_draws=3, max_length=2, min_acts=1)
    pd.testing.assert_frame_equal(given, itself)
    assert (itself["null_count"] == 3).all()


def test_bin_width_half_is_refused_and_just_below_is_accepted():
    """``bin_width`` lies in [0, 0.5): 0.5 itself is an error naming the parameter (bins that wide would let a
    count stand in for one half again as large), 0.49 is a valid width."""
    with pytest.raises(ValueError, match=r"bin_width must be a number in \[0, 0.5\)"):
        controls.firing_bins([10], 0.5)
    assert controls.firing_bins([1, 2], 0.49).tolist() == [1, 2]  # below 1 / bin_width: each count itself


def test_a_draw_within_the_tolerance_below_the_unit_counts_as_a_hit():
    """The p-value's ``null >= real`` allows 1e-12 of float noise: a draw exactly 1e-12 below the real IoU is
    still a tie, so it counts (p = (1 + 1) / (1 + 1)); one clearly below does not."""
    real = pd.DataFrame({"neuron": [0, 1], "max_length": [1, 1], "iou": [0.5, 0.5], "n_fires": [10, 11],
                         "explained": [True, True]})
    draws = pd.DataFrame({"count": [10, 11], "draw": [0, 0], "max_length": [1, 1], "iou": [0.5 - 1e-12, 0.5 - 1e-9]})
    out = controls.summarise(real, draws).set_index("neuron")
    assert out.loc[0, "p_value"] == 1.0 and out.loc[1, "p_value"] == 0.5


def test_search_null_passes_n_jobs_to_the_search():
    """``n_jobs`` reaches the beam search (which checks it): a bad value is an error naming it, not ignored."""
    concepts = Concepts(["pre:tok:a"], sp.csc_matrix(np.array([[1], [0], [1], [0]], dtype=bool)))
    with pytest.raises(ValueError, match="n_jobs must be an integer"):
        controls.search_null([2], concepts, n_pairs=4, n_draws=2, max_length=1, n_jobs="two")
