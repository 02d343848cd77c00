"""Interactive tables (itables / DataTables) that sort, filter and page in the built book with no network.

:func:`interactive` turns a DataFrame into a :class:`Table`, which a notebook displays (last expression of
a cell, or ``display(...)``) with two representations:

* ``text/html`` — itables' HTML in its *connected* mode, but with the DataTables bundle imported from the
  book itself, ``./_static/itables/dt_bundle.js`` (and ``dt_bundle.css``), which
  :mod:`clipneuron_utils.render.sphinx_ext` copies there from the installed itables package at build time. The
  bundle (~0.7 MB) is therefore served once for the whole book instead of being embedded in every page, as
  itables' offline mode (``init_notebook_mode(connected=False)``) would do, and nothing is fetched from a
  CDN. Every page of the book sits at the root of the HTML folder, so the relative URL holds on all of
  them. Before the script runs (or if it cannot), the HTML shows itables' *static preview*: a plain HTML
  table of the first page of rows.
* ``text/plain`` — a one-line description (caption, rows, columns) and the first rows as text: what nbval
  compares, and what a text-only viewer shows.

The element id is derived from the table's content and options, so a rerun gives identical HTML.

**In Jupyter (outside the book)** there is no ``_static/`` folder beside the notebook, so the import of the
bundle fails and the reader keeps seeing the static preview — the first ``page_length`` rows, without
sorting, search or paging (an untrusted notebook, whose scripts never run, shows the same). This module
moves itables' "hide the preview, show the table" step into the script that imports the bundle, so a
failed import leaves the preview visible rather than an endless "Loading ITables" message. To browse the
tables interactively in Jupyter, call :func:`notebook_mode` before the tables are made and rerun the
notebook: it runs ``itables.init_notebook_mode(connected=False)`` (the bundle goes into the notebook, ~0.7 MB,
once) and the tables then use it. The book never does this; its chapters use the ``_static`` bundle.

Numbers are formatted in pandas before they reach the browser: floats with 3 significant digits, an empty
cell for NaN. DataTables still sorts those columns numerically (it detects numeric strings). Rows never
carry the frame's index. Text cells wrap within a bounded width, and the table sits in its own horizontal
scroll container (DataTables' ``scrollX``), so the page's main column is never widened by a long formula.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: where the book serves the DataTables bundle, relative to a page (the pages sit at the HTML root)
STATIC_FOLDER = "itables"
BUNDLE_URL = f"./_static/{STATIC_FOLDER}/dt_bundle.js"
#: text columns whose longest value is longer than this wrap within WRAP_WIDTH instead of widening the table
WRAP_AFTER = 24
WRAP_WIDTH = ("16em", "28em")  # min and max width of a wrapping column
TEXT_ROWS = 5

_NOTEBOOK_MODE = False
_TAG = re.compile(r"<[^>]*>")


def bundle_files() -> list[Path]:
    """The DataTables bundle that ships with the installed itables package (``dt_bundle.js`` and ``.css``)."""
    import itables

    folder = Path(itables.__file__).parent / "html"
    files = [folder / "dt_bundle.js", folder / "dt_bundle.css"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"itables {itables.__version__} does not ship {', '.join(missing)}: "
                                "update clipneuron_utils.render.tables to the new itables layout")
    return files


def write_bundle(static_dir: str | Path) -> Path:
    """Copy itables' DataTables bundle into ``<static_dir>/itables/`` (each file atomically); returns that folder."""
    from ..artifacts import atomic_path

    target = Path(static_dir) / STATIC_FOLDER
    for source in bundle_files():
        with atomic_path(target / source.name) as tmp:
            shutil.copyfile(source, tmp)
    return target


def notebook_mode() -> None:
    """Make the following tables interactive in Jupyter too (see the module docstring): embeds itables'
    bundle in this notebook once (``itables.init_notebook_mode(connected=False)``)."""
    global _NOTEBOOK_MODE
    import itables

    itables.init_notebook_mode(connected=False)
    _NOTEBOOK_MODE = True


def significant(value, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits as text (``""`` for NaN/None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def format_numbers(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``frame`` with a fresh 0..n-1 index and every float column as text with ``digits`` significant
    digits (empty for NaN); integers, booleans and text are kept."""
    out = frame.reset_index(drop=True).copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = [significant(v, digits) for v in out[column]]
    return out


def compact(frame: pd.DataFrame, *, digits: int = 3, keep_index: bool = False, wrap: bool = False,
            caption: str | None = None) -> "Static":
    """``frame`` as a small static table for reading: no index column (unless ``keep_index``: a meaningful
    index is moved into the columns), integers with thousands separators, floats with ``digits``
    significant digits, NaN as blank; ``wrap`` lets long text cells wrap. The book shows no raw frame (the
    browser test checks it): use this for a short table, :func:`interactive` for a long one. Its text
    form is the same formatted table, so nbval compares the values, not a Styler's address."""
    out = frame.reset_index() if keep_index else frame.reset_index(drop=True)
    out = out.copy()
    out.columns = [" ".join(map(str, c)).strip() if isinstance(c, tuple) else str(c) for c in out.columns]
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_integer_dtype(values):
            out[column] = values.map("{:,}".format)
        elif pd.api.types.is_float_dtype(values):
            whole = values.dropna()
            if len(whole) and np.all(np.mod(whole, 1) == 0) and whole.abs().max() >= 10:
                out[column] = values.map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
            else:
                out[column] = values.map(lambda v: significant(v, digits))
    digest = hashlib.sha256(pd.util.hash_pandas_object(out.astype(str), index=False).to_numpy().tobytes())
    digest.update(json.dumps([caption, list(out.columns)]).encode())
    styler = out.style.hide(axis="index").set_uuid("c" + digest.hexdigest()[:10])
    if wrap:
        styler = styler.set_properties(**{"text-align": "left", "white-space": "normal"})
    if caption:
        styler = styler.set_caption(caption)
    text = out.to_string(index=False) if len(out) else "(no rows)"
    return Static(frame=out, html=styler.to_html(), text=f"{caption}\n{text}" if caption else text)


@dataclass(frozen=True)
class Static:
    """A small static table (see :func:`compact`); ``html`` and ``text`` are its two representations."""

    frame: pd.DataFrame  # the formatted frame that is shown
    html: str
    text: str

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": self.text}

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    """An interactive table; display it in a notebook. ``html`` and ``text`` are its two representations."""

    frame: pd.DataFrame  # the formatted frame that is shown
    html: str
    text: str
    table_id: str

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": self.text}

    def __repr__(self) -> str:
        return self.text


def _table_id(frame: pd.DataFrame, caption, options: dict) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([caption, list(map(str, frame.columns)), options], sort_keys=True, default=str).encode())
    digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return "itables-" + digest.hexdigest()[:12]


def _text(frame: pd.DataFrame, caption) -> str:
    head = f"<Interactive table{f' {caption!r}' if caption else ''}: {len(frame):,} rows × {frame.shape[1]} columns>"
    if frame.empty:
        return head
    shown = frame.head(TEXT_ROWS).to_string(index=False)
    more = f"\n… {len(frame) - TEXT_ROWS:,} more rows" if len(frame) > TEXT_ROWS else ""
    return f"{head}\n{shown}{more}"


def _is_text(column: pd.Series) -> bool:
    """A column of text (object or pandas' string dtype), not numbers or booleans."""
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"itables' HTML has changed ({old[:60]!r} found {text.count(old)} times, not once): "
                           "update clipneuron_utils.render.tables to the installed itables version")
    return text.replace(old, new)


def _serve_from_static(html: str, table_id: str) -> str:
    """Show the interactive table only once the bundle is imported: a failed import keeps the preview."""
    fallback = f"{table_id}_fallback"
    swap = (f'document.getElementById("{table_id}")?.removeAttribute("hidden");'
            f'document.getElementById("{fallback}")?.setAttribute("hidden", "hidden");')
    html = _replace_once(html, f"<script>{swap}</script>", "")
    importer = f"import {{ ITable, jQuery as $ }} from '{BUNDLE_URL}';"
    return _replace_once(html, importer, f"{importer}\n    {swap}")


def interactive(frame: pd.DataFrame, *, caption: str | None = None, page_length: int = 10,
                html_columns: list[str] | tuple[str, ...] = (), wrap: list[str] | None = None,
                wrap_width: tuple[str, str] = WRAP_WIDTH, min_widths: dict[str, str] | None = None,
                **options) -> Table:
    """``frame`` as an interactive table: sortable columns, a search box, ``page_length`` rows a page, and
    no index column. The search keeps the rows in which every word typed occurs somewhere, as a substring
    of a cell's text (DataTables' "smart" search), so a concept name finds every row that mentions it.

    Floats get 3 significant digits (:func:`format_numbers`). ``html_columns``: columns whose cells are
    HTML (e.g. links) — itables' ``allow_html`` is then on, and every other text cell is HTML-escaped, so
    a formula such as ``pre:tok:<`` shows (and is searched) as the text it is. Text columns in ``wrap``
    (default: those whose longest value exceeds ``WRAP_AFTER`` characters) wrap within ``wrap_width`` (min,
    max; narrower for a wide table that must fit a page, e.g. the scorecard); other cells do not wrap.
    ``min_widths``: a column -> CSS width that column's cells keep at least (the one column a reader reads
    first, in a table squeezed by ``wrap_width``).
    ``options`` go to itables / DataTables (``order``, ``columnDefs``, ``lengthMenu``, …) and override the
    defaults here.
    """
    from itables import to_html_datatable

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"interactive() takes a pandas DataFrame, not {type(frame).__name__}")
    if len(set(map(str, frame.columns))) != frame.shape[1]:
        raise ValueError(f"interactive() needs distinct column names; got {list(frame.columns)}")
    shown = format_numbers(frame)
    html_columns = list(html_columns)
    unknown = [c for c in html_columns if c not in shown.columns]
    if unknown:
        raise KeyError(f"html_columns {unknown} are not columns of the frame ({list(shown.columns)})")
    plain = shown.copy()  # the text representation shows what the HTML cells say, without their tags
    for column in html_columns:
        plain[column] = [html_lib.unescape(_TAG.sub("", v)) if isinstance(v, str) else v for v in plain[column]]
    text = _text(plain, caption)
    sent = shown.copy()
    allow_html = bool(html_columns)
    if allow_html:  # only the columns the caller names are HTML; the rest is shown as the text it is
        for column in sent.columns:
            if column not in html_columns and _is_text(sent[column]):
                sent[column] = [html_lib.escape(v, quote=False) if isinstance(v, str) else v for v in sent[column]]
    if wrap is None:
        wrap = [c for c in shown.columns if _is_text(shown[c]) and shown[c].astype(str).str.len().max() > WRAP_AFTER]
    targets = [list(shown.columns).index(c) for c in wrap]
    column_defs = list(options.pop("columnDefs", []))
    if targets:
        column_defs.append({"targets": targets, "className": "clipneuron-wrap"})
    settings = {
        "showIndex": False, "maxBytes": 0, "maxRows": 0, "maxColumns": 0, "scrollX": True,
        "pageLength": int(page_length), "lengthMenu": sorted({int(page_length), 10, 25, 50, 100}),
        "classes": "display compact", "display_logo_when_loading": False, "allow_html": allow_html,
        "style": "table-layout:auto;width:100%;margin:0",
        **({"columnDefs": column_defs} if column_defs else {}),
        **options,
    }
    table_id = _table_id(sent, caption, settings)
    wrapper = f"#{table_id}_wrapper"
    settings["css"] = (f"{wrapper} {{ max-width: 100%; }} {wrapper} td {{ white-space: nowrap; }} "
                       f"{wrapper} td.clipneuron-wrap {{ white-space: normal; overflow-wrap: anywhere; "
                       f"min-width: {wrap_width[0]}; max-width: {wrap_width[1]}; }}")
    for column, width in (min_widths or {}).items():
        if column not in shown.columns:
            raise KeyError(f"min_widths names {column!r}, not a column of the frame ({list(shown.columns)})")
        settings["css"] += (f" {wrapper} td:nth-child({list(shown.columns).index(column) + 1}) "
                            f"{{ min-width: {width}; max-width: none; }}")
    # the caption goes above the table, not into it: with scrollX, DataTables draws a <caption> between the
    # header and the rows
    if _NOTEBOOK_MODE:
        html = to_html_datatable(sent, table_id=table_id, connected=False, **settings)
    else:
        html = to_html_datatable(sent, table_id=table_id, connected=True, dt_url=BUNDLE_URL, **settings)
        html = _serve_from_static(html, table_id)
    if caption:
        html = f'<p class="clipneuron-table-caption"><em>{html_lib.escape(caption)}</em></p>\n{html}'
    return Table(frame=shown, html=html, text=text, table_id=table_id)


# ------------------------------------------------------------------------------------------ neuron browser


def card_anchor(encoder: str, neuron: int) -> str:
    """The HTML id of a unit's card in chapter 07_qualitative_neurons (``card-<encoder>-<unit>``): the neuron browser links to it."""
    return f"card-{encoder}-{int(neuron)}"


def browser_rows(results: pd.DataFrame, encoder: str, weights: np.ndarray, *, encoding: str = "standard",
                 card_units=(), card_page: str = "07_qualitative_neurons.html", regime: pd.DataFrame | None = None,
                 regime_label: str = "") -> pd.DataFrame:
    """One row per unit of one model, for chapter 09_neuron_browser's neuron browser.

    ``results``: search results of the model (one seed) with ``acc_when_firing`` attached
    (:func:`~clipneuron_utils.stats.contribution.attach_accuracy`); ``weights``: its output weights ``(3, hidden)``
    (:func:`~clipneuron_utils.models.heads.output_weights`). Columns: unit, fires on (probe pairs), the best
    formula at length 1 and at the longest length searched, that formula's IoU, its excess IoU over the
    matched null and that excess in the null's standard deviations (with 20 draws a per-unit p-value
    cannot fall below 1/21, so it is not shown), the accuracy when firing, the class of the unit's largest
    output weight ("(all < 0)": every weight is negative, and this is the least negative), and a link to
    the unit's card in chapter 07_qualitative_neurons for
    ``card_units``. Unexplained units have empty formulas and IoUs. ``regime``: the same model's search
    rows at the firing regime nearest the paper's IoU (chapter 08_firing_regime), whose longest formula, IoU and excess IoU follow
    as columns named with ``regime_label`` (e.g. ``top 5 %``).
    """
    from ..data.snli import LABELS

    frame = results[(results["encoder"] == encoder) & (results["encoding"] == encoding)]
    if frame.empty:
        raise ValueError(f"no search result for the {encoder} model with the {encoding} encoding")
    if "seed" in frame.columns and frame["seed"].nunique() > 1:
        raise ValueError(f"results hold {frame['seed'].nunique()} seeds of the {encoder} model; pass one "
                         "(run.primary_rows)")
    if "acc_when_firing" not in frame.columns:
        raise KeyError("results need an acc_when_firing column (contribution.attach_accuracy)")
    top = int(frame["max_length"].max())
    last = frame[frame["max_length"] == top].set_index("neuron").sort_index()
    weights = np.asarray(weights)
    if weights.shape[0] != len(LABELS) or weights.shape[1] <= int(last.index.max()):
        raise ValueError(f"output weights of shape {weights.shape} do not fit the {encoder} model's "
                         f"{len(last)} units and {len(LABELS)} classes")
    explained = last["explained"].astype(bool)

    def formulas(rows: pd.DataFrame) -> list[str]:
        return [f if ok and isinstance(f, str) else "" for f, ok in zip(rows["formula"], rows["explained"].astype(bool))]

    units = last.index.to_numpy(dtype=int)
    strongest = weights[:, units].argmax(0)
    out = pd.DataFrame({"unit": units, "fires on": last["n_fires"].astype(int).to_numpy()})
    if top > 1:
        first = frame[frame["max_length"] == 1].set_index("neuron").reindex(last.index)
        out["formula, length 1"] = formulas(first)
    out[f"formula, length ≤ {top}"] = formulas(last)
    out["IoU"] = last["iou"].where(explained).to_numpy(dtype=float)
    out["excess IoU"] = last["excess_iou"].where(explained).to_numpy(dtype=float)
    sd = last["null_sd_iou"].astype(float)
    out["excess (null SDs)"] = ((last["iou"] - last["null_mean_iou"]) / sd.where(sd > 0)).where(explained).to_numpy(dtype=float)
    out["accuracy when firing"] = last["acc_when_firing"].to_numpy(dtype=float)
    largest = weights[:, units].max(0)
    out["largest output weight"] = [LABELS[i] + ("" if w > 0 else " (all < 0)") for i, w in zip(strongest, largest)]
    if regime is not None:
        at = regime[(regime["encoder"] == encoder) & (regime["encoding"] == encoding)]
        if "seed" in at.columns and "seed" in frame.columns:
            at = at[at["seed"].isin(frame["seed"].unique())]
        at = at[at["max_length"] == at["max_length"].max()].set_index("neuron").reindex(last.index)
        ok = at["explained"].fillna(False).astype(bool)
        out[f"formula, {regime_label}"] = formulas(at.assign(explained=ok))
        out[f"IoU, {regime_label}"] = at["iou"].where(ok).to_numpy(dtype=float)
        out[f"excess IoU, {regime_label}"] = at["excess_iou"].where(ok).to_numpy(dtype=float)
    cards = {int(u) for u in card_units}
    out["card"] = [f'<a href="{card_page}#{card_anchor(encoder, u)}">card</a>' if u in cards else "" for u in units]
    return out
