"""What every chart of the book shares: data embedded inline (NaN → null, so a chart needs no file and
no URL), the label colours, panel sizes, rounding, formula labels, multi-line headers and the r / p
labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

from ..stats import tidy


LABEL_COLORS = {"entailment": "#1b9e77", "neutral": "#7570b3", "contradiction": "#d95f02"}


def inline_data(frame: pd.DataFrame) -> alt.InlineData:
    """Inline records; JSON via pandas turns NaN/NA into null, numpy scalars into numbers.

    Six decimals are far beyond what a chart draws or a tooltip prints (at most four), and nulls are
    left out: both keep pages with thousands of points light.
    """
    records = json.loads(frame.to_json(orient="records", double_precision=6))
    # a missing field reads as null in Vega: layers with other columns (points vs fitted lines) need not carry them
    return alt.InlineData(values=[{k: v for k, v in r.items() if v is not None} for r in records])


check_columns = tidy.check_columns  # one check of a frame's columns for the tables and the charts


CONTROL_WIDTH, CONTROL_HEIGHT = 280, 220


_FORMULA_CHARS = 80


def round_columns(frame: pd.DataFrame, columns: Sequence[str], digits: int = 4) -> pd.DataFrame:
    """Numeric ``columns`` rounded (per-unit charts keep 3 decimals: their tooltips print 3)."""
    out = frame.copy()
    for c in columns:
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").round(digits)
    return out


def short_formula(formula) -> str | None:
    if formula is None or (isinstance(formula, float) and not math.isfinite(formula)):
        return None
    text = str(formula)
    return text if len(text) <= _FORMULA_CHARS else text[: _FORMULA_CHARS - 1] + "…"


def columnar_records(frame: pd.DataFrame, keys: Sequence[str], arrays: Sequence[str], every: Sequence[str] = (),
              **scalars) -> list[dict]:
    """One record per ``keys`` group whose ``arrays`` hold the group's values as lists (for ``flatten``).

    Fields of ``every`` that the group lacks are empty lists, so each record has each flattened field;
    ``scalars`` are added to every record.
    """
    records = []
    for key, sub in tidy.iter_groups(frame, list(keys)):
        record = {**key, **scalars, **{c: [] for c in every}}
        record.update({c: sub[c].tolist() for c in arrays})
        records.append(record)
    return records


def header_label_expr(labels: dict) -> str:
    """A header ``labelExpr`` giving each facet value its own (multi-line) label; unknown values as they are."""
    expr = "datum.value"
    for value, label in reversed(list(labels.items())):
        expr = f"datum.value === {json.dumps(value)} ? {json.dumps(label.split(chr(10)))} : ({expr})"
    return expr
