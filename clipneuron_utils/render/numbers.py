"""How the book prints numbers: estimates with their intervals, correlations and p-values, one rule each.

Why a module of its own: the tables, the charts' labels and the chapters' sentences print the same figures;
one rule per kind keeps them from disagreeing (a p-value is never printed as 0, whatever prints it).
"""

from __future__ import annotations

import math

import numpy as np


def missing(value) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def format_p(p) -> str:
    """A p-value with 2 significant digits in scientific notation ("3.2e-05"); "n/a" when missing.

    Never "0": a p that underflowed to 0 is printed as below the smallest normal double.
    """
    if missing(p):
        return "n/a"
    p = float(p)
    if p == 0:
        return f"<{np.finfo(float).tiny:.1e}"
    return f"{p:.1e}"


def significant(value, digits: int = 3) -> str:
    if missing(value):
        return "n/a"
    text = f"{float(value):#.{digits}g}"
    mantissa, sep, exponent = text.partition("e")
    return mantissa.rstrip(".") + sep + exponent


def format_ci(value, low, high) -> str:
    """``"0.382 [0.375, 0.389]"``: an estimate and its interval, 3 significant digits each, signs kept."""
    return f"{significant(value)} [{significant(low)}, {significant(high)}]"


def format_r(r) -> str:
    """A correlation with 3 decimals ("-0.213"); "n/a" when missing."""
    return "n/a" if missing(r) else f"{float(r):.3f}"


def format_estimate(row, empty: str = "") -> str:
    """A summary row's ``mean [ci_low, ci_high]`` (:func:`format_ci`); ``empty`` when there is no row."""
    return empty if row is None else format_ci(row["mean"], row["ci_low"], row["ci_high"])


def format_percent(row, signed: bool = True) -> str:
    """A pooled figure (``estimate, ci_low, ci_high``) as a percentage with its 95 % interval: a signed change to
    one decimal, or a share (``signed=False``) to a whole percent with its interval cut to [0, 100 %]."""
    if row is None:
        return "n/a"
    shown = "{:+.1%}" if signed else "{:.0%}"
    low, high = (row["ci_low"], row["ci_high"]) if signed else (max(row["ci_low"], 0.0), min(row["ci_high"], 1.0))
    return f"{shown.format(row['estimate'])} [{shown.format(low)}, {shown.format(high)}]"


def format_sd_shift(row) -> str:
    """A pooled shift in probe SDs with its 95 % interval (``+0.31 SD [+0.05, +0.57]``)."""
    return "n/a" if row is None else f"{row['estimate']:+.2f} SD [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
