"""1-D k-means clusters of a neuron's activations (``explain/clusters.py``): every sentence in exactly one cluster,
clusters numbered by centre and cutting the range into ordered intervals, fewer clusters where there are fewer
distinct values, deterministic for a seed; their ranges and La Rosa et al.'s coverage."""

import numpy as np
import pytest

from clipneuron_utils.explain import clusters as C


@pytest.fixture(scope="module")
def acts() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.column_stack([
        rng.normal(size=300),
        np.concatenate([rng.normal(0, 0.1, 100), rng.normal(5, 0.1, 100), rng.normal(-3, 0.1, 100)]),
        rng.exponential(size=300),
        rng.normal(size=300).astype(np.float16).astype(np.float64),
    ])


def test_clusters_partition_each_neuron_and_are_ordered_by_centre(acts):
    masks = C.cluster_masks(acts, 5, seed=0)
    assert masks.shape == (5, 300, 4) and masks.dtype == bool
    assert (masks.sum(axis=0) == 1).all()  # every sentence in exactly one cluster of each neuron
    for j in range(acts.shape[1]):
        labels = C.cluster_labels(acts[:, j], 5, seed=0)
        assert set(labels.tolist()) == set(range(5))
        for c in range(5):
            assert np.array_equal(masks[c, :, j], labels == c)
        for c in range(4):
            assert acts[labels == c, j].max() < acts[labels == c + 1, j].min()
            assert acts[labels == c, j].mean() < acts[labels == c + 1, j].mean()


def test_well_separated_groups_are_found():
    x = np.repeat([10.0, -1.0, 3.0], [4, 5, 6]) + np.tile([0.0, 0.01, -0.01], 5)
    labels = C.cluster_labels(x, 3, seed=0)
    assert labels.tolist() == [2] * 4 + [0] * 5 + [1] * 6


def test_fewer_distinct_values_than_k_give_fewer_clusters_the_top_one_last():
    """Fewer distinct values than k leave the lowest cluster numbers empty: the highest activations are always in
    cluster k (index k − 1), which the chapter reads as the neuron's top."""
    x = np.array([1.0, 1.0, 4.0, 4.0, 4.0, 9.0, 1.0])
    labels = C.cluster_labels(x, 5)
    assert labels.tolist() == [2, 2, 3, 3, 3, 4, 2]
    masks = C.cluster_masks(x[:, None], 5)
    assert masks[2:, :, 0].sum(axis=1).tolist() == [3, 3, 1]
    assert not masks[:2].any()  # clusters 1 and 2 are empty
    assert (masks.sum(axis=0) == 1).all()
    constant = C.cluster_labels(np.full(6, 2.5), 5)
    assert constant.tolist() == [4] * 6
    two = C.cluster_labels(np.array([0.0, 1.0, 0.0]), 5)
    assert two.tolist() == [3, 4, 3]
    ranges = C.cluster_ranges(x[:, None], masks)
    assert ranges[2:, 0].tolist() == [[1.0, 1.0], [4.0, 4.0], [9.0, 9.0]]
    assert np.isnan(ranges[:2]).all()
    assert C.cluster_masks(x[:, None], 0).shape == (0, 7, 1)


def test_clusters_are_deterministic_for_a_seed(acts):
    a = C.cluster_masks(acts, 5, seed=3)
    assert np.array_equal(a, C.cluster_masks(acts, 5, seed=3))
    assert np.array_equal(C.cluster_labels(acts[:, 0], 4, seed=11), C.cluster_labels(acts[:, 0], 4, seed=11))


def test_cluster_ranges_are_each_clusters_lowest_and_highest(acts):
    masks = C.cluster_masks(acts, 3, seed=0)
    ranges = C.cluster_ranges(acts, masks)
    assert ranges.shape == (3, 4, 2)
    for c in range(3):
        for j in range(4):
            members = acts[masks[c, :, j], j]
            assert ranges[c, j].tolist() == [members.min(), members.max()]
    assert (ranges[1:, :, 0] > ranges[:-1, :, 1]).all()


def test_coverage_by_hand():
    # one neuron, three clusters: [0, 1] (4 sentences), [2, 5] (3), [6, 10] (2); a second with only two clusters
    ranges = np.array([[[0.0, 1.0], [0.0, 2.0]],
                       [[2.0, 5.0], [3.0, 4.0]],
                       [[6.0, 10.0], [np.nan, np.nan]]])
    sizes = np.array([[4, 5], [3, 5], [2, 0]])
    holds = np.array([[1, 4], [3, 2], [2, 0]])
    explained = np.array([[False, True], [True, False], [True, False]])
    out = C.coverage(ranges, explained, sizes, holds)
    np.testing.assert_allclose(out["range"], [(3 + 4) / 10, 2 / 4])
    np.testing.assert_allclose(out["samples"], [(3 + 2) / 9, 4 / 10])
    none = C.coverage(ranges, np.zeros_like(explained), sizes, holds)
    assert none["range"].tolist() == [0.0, 0.0] and none["samples"].tolist() == [0.0, 0.0]
