"""The conventions every analysis table shares (stats/tidy.py), with known answers."""

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.stats import tidy


def test_label_codes_follow_the_order_of_labels():
    assert tidy.label_codes(["neutral", "entailment", "contradiction"]).tolist() == [1, 0, 2]
    assert tidy.label_codes(np.array([2.0, 0.0])).tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"not labels .*\['unknown'\]"):
        tidy.label_codes(["entailment", "unknown"])
    with pytest.raises(ValueError, match="outside 0..2"):
        tidy.label_codes([0, 3])


def test_unexplained_units_are_left_out_not_counted_as_zero():
    frame = pd.DataFrame({"iou": [0.4, np.nan, 0.0, 0.2], "explained": [True, False, True, False]})
    assert tidy.explained_mask(frame).tolist() == [True, False, True, False]
    assert tidy.explained_mask(frame.drop(columns="explained")).tolist() == [True, False, True, True]


def test_grouping_keys_default_to_the_columns_the_frame_has():
    frame = pd.DataFrame({"encoder": ["a", "a", "b"], "max_length": [1, 2, 1], "iou": [0.1, 0.2, 0.3]})
    assert tidy.group_keys(frame, None, tidy.DEFAULT_BY, "results") == ["encoder", "max_length"]
    with pytest.raises(ValueError, match="results lacks column.s. encoding"):
        tidy.group_keys(frame, "encoding", tidy.DEFAULT_BY, "results")
    groups = [(keys, len(sub)) for keys, sub in tidy.iter_groups(frame, ["encoder"])]
    assert groups == [({"encoder": "a"}, 2), ({"encoder": "b"}, 1)]
    assert [len(sub) for _, sub in tidy.iter_groups(frame, [])] == [3]
