"""nbval compares the text of outputs (text/plain, text/markdown, stdout), not their HTML or chart JSON.

HTML tables and the charts' Vega-Lite JSON repeat what text/plain already says (the chart renderer's
text/plain is a fingerprint of the chart: marks, fields, data size), and their ids and float formatting
vary in ways the sanitize file cannot follow. stderr carries progress bars and library load messages,
whose presence depends on caches and terminal width, never results.

Numbers are *rounded* before comparison (a regex file can only cut them): decimals to 3 places, and
scientific notation to one significant digit, so ``1.7e-06`` and ``1.8e-06`` — the same machine noise on
two CPUs — compare equal. What is not stable at that precision is rounded in the chapter itself, or its
cell is tagged ``nbval-ignore-output`` and its bound asserted by a unit test.
"""

import re

SKIP = ("text/html", "application/vnd.vegalite.v5+json", "application/vnd.vegalite.v6+json",
        "application/javascript", "stderr")

SCIENTIFIC = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?[eE][-+]?\d+\b")
DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?![\d])")


def round_scientific(match: re.Match) -> str:
    return f"{float(match.group(0)):.0e}"


def round_decimal(match: re.Match) -> str:
    text = f"{float(match.group(0)):.3f}"
    return "0.000" if text == "-0.000" else text


ROUNDING = {SCIENTIFIC.pattern: round_scientific, DECIMAL.pattern: round_decimal}


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        parent = item.parent
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and "text/html" not in skip:
            parent.skip_compare = tuple(skip) + SKIP
        patterns = getattr(parent, "sanitize_patterns", None)
        if patterns is not None and SCIENTIFIC.pattern not in patterns:
            patterns.update(ROUNDING)  # before the sanitize file's patterns, which nbval adds at setup
