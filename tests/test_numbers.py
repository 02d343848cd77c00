"""The book's printing rules (render.numbers): p-values never 0, estimates and intervals to 3 significant digits,
correlations to 3 decimals."""

import re

import numpy as np
import pandas as pd

from clipneuron_utils.render import numbers


def test_format_p_is_scientific_with_two_digits_and_never_zero():
    assert numbers.format_p(3.2e-05) == "3.2e-05"
    assert numbers.format_p(0.49) == "4.9e-01"
    assert numbers.format_p(1.0) == "1.0e+00"
    assert numbers.format_p(float("nan")) == "n/a" and numbers.format_p(None) == "n/a"
    for p in [0.0, 1e-320, 5e-300, 1e-16, 0.0499, 0.05, 0.999, 0.3]:
        text = numbers.format_p(p)
        assert text not in ("0", "0.0", "0.00") and not re.fullmatch(r"[0.]+(e[+-]?0+)?", text)
        assert re.fullmatch(r"<?\d\.\de[+-]\d{2,3}", text), text
    assert numbers.format_p(0.0).startswith("<")  # underflow: below the smallest double, not zero


def test_format_ci_has_three_significant_digits_and_keeps_signs():
    assert numbers.format_ci(0.382, 0.375, 0.389) == "0.382 [0.375, 0.389]"
    assert numbers.format_ci(-0.0213, -0.0402, -0.00251) == "-0.0213 [-0.0402, -0.00251]"
    assert numbers.format_ci(0.38234, 0.37512, 0.38949) == "0.382 [0.375, 0.389]"
    assert numbers.format_ci(0.5, 0.25, 1) == "0.500 [0.250, 1.00]"
    assert numbers.format_ci(12.345, 100, -3) == "12.3 [100, -3.00]"
    assert numbers.format_ci(0.1, float("nan"), None) == "0.100 [n/a, n/a]"
    assert numbers.format_ci(np.nan, np.nan, np.nan) == "n/a [n/a, n/a]"


# ------------------------------------------------------------------ known answers at the edges (issue 21)


def test_formatting_treats_pandas_missing_values_as_missing():
    """pd.NA (what nullable columns hold) cannot be converted to float: it prints "n/a" like NaN and None."""
    assert numbers.format_p(pd.NA) == "n/a"
    assert numbers.format_ci(0.5, pd.NA, "not a number") == "0.500 [n/a, n/a]"


def test_format_r_has_three_decimals_and_reads_missing_values():
    assert numbers.format_r(-0.21349) == "-0.213" and numbers.format_r(1) == "1.000"
    assert numbers.format_r(None) == numbers.format_r(float("nan")) == numbers.format_r(pd.NA) == "n/a"
