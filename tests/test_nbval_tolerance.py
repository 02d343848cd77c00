"""The nbval comparison forgives a decimal one unit off in its last printed place, and nothing else."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("nbval_conftest", Path(__file__).parent / "nbval" / "conftest.py")
nbval_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbval_conftest)
within_last_place = nbval_conftest.within_last_place


@pytest.mark.parametrize("reference, test", [
    ("A3 lstm -0.134 [-0.369, +0.118] does not hold", "A3 lstm -0.134 [-0.370, +0.118] does not hold"),
    ("mean IoU 0.42", "mean IoU 0.43"),
    ("12.5 %", "12.4 %"),
])
def test_one_unit_in_the_last_place_passes(reference, test):
    assert within_last_place(reference, test)


@pytest.mark.parametrize("reference, test", [
    ("-0.369", "-0.371"),                 # two units off
    ("17 units at 0.300", "18 units at 0.300"),   # integers are exact
    ("holds -0.369", "does not hold -0.369"),     # text is exact
    ("0.30", "0.3"),                      # printed precision must agree
    ("0.300 0.200", "0.300"),             # as must the count of numbers
    ("0.369", "1.369"),
])
def test_anything_else_fails(reference, test):
    assert not within_last_place(reference, test)
