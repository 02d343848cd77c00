"""The conventions every analysis table follows, in one place.

A unit fires on a pair iff its activation is > 0 (as in the search). Unexplained units (formula None,
IoU NaN: they fired on fewer than ``min_acts`` pairs) are left out of every IoU statistic and counted
separately, never treated as IoU 0. Grouping columns default to those of ``("encoder", "encoding",
"max_length")`` that the frame has (a notebook that analyses one encoder need not add an ``encoder``
column); a ``by`` given explicitly must exist. Statistics that need more data than a group has are NaN,
never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.snli import LABELS


DEFAULT_BY = ("encoder", "encoding", "max_length")


def check_vector(values, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} entries but {n} were expected (one per probe pair)")
    return array


def check_columns(frame: pd.DataFrame, needed: Sequence[str], name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")


def group_keys(frame: pd.DataFrame, by, default: Sequence[str], name: str) -> list[str]:
    """Grouping columns: the defaults the frame has, or every column of an explicit ``by``."""
    if by is None:
        return [c for c in default if c in frame.columns]
    by = [by] if isinstance(by, str) else list(by)
    check_columns(frame, by, name)
    return by


def iter_groups(frame: pd.DataFrame, keys: list[str]):
    """(key dict, sub-frame) per group; the whole frame as one group when there are no keys."""
    if not keys:
        yield {}, frame
        return
    for values, sub in frame.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values)), sub


def explained_mask(frame: pd.DataFrame) -> pd.Series:
    """Rows with a formula and a finite IoU (``explained`` when the column is there)."""
    ok = np.isfinite(pd.to_numeric(frame["iou"], errors="coerce").to_numpy(dtype=float))
    if "explained" in frame.columns:
        ok &= frame["explained"].fillna(False).to_numpy(dtype=bool)
    return pd.Series(ok, index=frame.index)


def label_codes(values, name: str = "labels") -> np.ndarray:
    """Labels as integer codes in the order of ``LABELS``; accepts codes or label strings."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        codes = array.astype(np.int64)
    elif array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        codes = array.astype(np.int64)
    else:
        lookup = {label: i for i, label in enumerate(LABELS)}
        unknown = sorted({str(v) for v in array.ravel() if v not in lookup})
        if unknown:
            raise ValueError(f"{name} holds values that are not labels {LABELS}: {unknown[:5]}")
        codes = np.array([lookup[v] for v in array.ravel()], dtype=np.int64).reshape(array.shape)
    if codes.size and (codes.min() < 0 or codes.max() >= len(LABELS)):
        raise ValueError(f"{name} holds codes outside 0..{len(LABELS) - 1}")
    return codes


def first_row(frame: pd.DataFrame, **match):
    """The first row of ``frame`` whose columns equal ``match`` (``encoder="lstm", k=64``), or None."""
    selected = frame
    for column, value in match.items():
        selected = selected[selected[column] == value]
    return selected.iloc[0] if len(selected) else None


#: the columns of a table of pooled figures (:func:`figure_frame`); ``_pooled`` holds the pooled figure itself
FIGURES = ["encoder", "regime", "measure", "estimate", "ci_low", "ci_high", "seeds", "_pooled"]


def figure_columns(pooled: dict) -> dict:
    """The columns of a pooled figure in a chapter's tables (``seeds``: how many were pooled)."""
    return {"estimate": pooled["estimate"], "ci_low": pooled["ci_low"], "ci_high": pooled["ci_high"],
            "seeds": pooled["k"]}


def figure_row(encoder, regime, measure: str, pooled: dict, **counts) -> dict:
    """One row of a pooled figure's table (``counts``: how many units or pairs it rests on)."""
    return {"encoder": encoder, "regime": regime, "measure": measure, **counts, **figure_columns(pooled),
            "_pooled": pooled}


def figure_frame(rows: list[dict], count: str) -> pd.DataFrame:
    """Pooled figures as a table, with its columns even when there is no row."""
    return pd.DataFrame(rows, columns=[*FIGURES[:3], count, *FIGURES[3:]])
