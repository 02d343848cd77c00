"""nbval compares the text of outputs (text/plain, text/markdown, stdout), not their HTML or chart JSON.

HTML tables and the charts' Vega-Lite JSON repeat what text/plain already says (the chart renderer's
text/plain is a fingerprint of the chart: marks, fields, data size), and their ids and float formatting
vary in ways the sanitize file cannot follow. stderr carries progress bars and library load messages,
whose presence depends on caches and terminal width, never results.

Numbers are *rounded* before comparison (a regex file can only cut them): decimals to 3 places, and
scientific notation to one significant digit, so ``1.7e-06`` and ``1.8e-06`` — the same machine noise on
two CPUs — compare equal. Rounding alone cannot be stable: 0.3695 and 0.3696 round apart. So an output
that differs from its reference *only* in decimals, each within one unit of its last printed place
(``-0.369`` against ``-0.370``), also passes: ``within_last_place`` below. Integers (counts, unit ids)
and all text must still match exactly. What is not stable at that precision is rounded in the chapter
itself, or its cell is tagged ``nbval-ignore-output`` and its bound asserted by a unit test.
"""

import re

from nbval.plugin import transform_streams_for_comparison

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

PRINTED_DECIMAL = re.compile(r"[-+]?\d+\.(\d+)")


def within_last_place(reference: str, test: str) -> bool:
    """True when the texts are equal but for decimals that differ by at most one unit of their last place."""
    if reference == test:
        return True
    ref_numbers, test_numbers = list(PRINTED_DECIMAL.finditer(reference)), list(PRINTED_DECIMAL.finditer(test))
    if PRINTED_DECIMAL.split(reference)[::2] != PRINTED_DECIMAL.split(test)[::2] or len(ref_numbers) != len(test_numbers):
        return False
    for ref, got in zip(ref_numbers, test_numbers):
        places = len(ref.group(1))
        if len(got.group(1)) != places or abs(float(ref.group(0)) - float(got.group(0))) > 1.5 * 10.0 ** -places:
            return False
    return True


def _flatten(item, outputs, skip):
    """nbval's view of a cell's outputs: key -> sanitized texts (streams keyed by their name)."""
    flat = {}
    for output in transform_streams_for_comparison(outputs):
        for key, value in output.items():
            if key in skip:
                continue
            pairs = value.items() if key == "data" else [(key, value)]
            for name, text in pairs:
                if name not in skip:
                    flat.setdefault(name, []).append(item.sanitize(text))
    return flat


def tolerant(compare):
    """Wrap nbval's exact comparison: what it rejects passes if it differs only within the last printed place."""
    def compare_outputs(test, ref, skip_compare=None):
        if compare(test, ref, skip_compare):
            return True
        item = compare.__self__
        skip = skip_compare or item.parent.skip_compare
        got, want = _flatten(item, test, skip), _flatten(item, ref, skip)
        if got.keys() != want.keys() or any(len(got[k]) != len(want[k]) for k in want):
            return False
        if all(within_last_place(r, g) if isinstance(r, str) and isinstance(g, str) else r == g
               for k in want for r, g in zip(want[k], got[k])):
            item.comparison_traceback = []
            return True
        return False
    return compare_outputs


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        parent = item.parent
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and "text/html" not in skip:
            parent.skip_compare = tuple(skip) + SKIP
        patterns = getattr(parent, "sanitize_patterns", None)
        if patterns is not None and SCIENTIFIC.pattern not in patterns:
            patterns.update(ROUNDING)  # before the sanitize file's patterns, which nbval adds at setup
        if hasattr(item, "compare_outputs"):
            item.compare_outputs = tolerant(item.compare_outputs)
