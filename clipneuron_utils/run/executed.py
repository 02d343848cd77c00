"""What an executed chapter keeps: stripped of volatile metadata (timings, timestamps, progress bars, duplicated
chart specs) so that reruns diff cleanly, with what the chapter recorded in its metadata and its parameter
cells folded into one "Parameters of this run" box for the book.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from . import parameters
from ..artifacts import atomic_path

VOLATILE_CELL_KEYS = ("execution", "papermill", "ExecuteTime", "collapsed")
_PROGRESS = re.compile(r"\r|\d+%\|")


def to_ipynb(source: Path, target: Path) -> Path:
    """Pair a py:percent source to a notebook file (jupytext)."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    jupytext.write(notebook, target, fmt="ipynb")
    return target


def strip_volatile(notebook) -> None:
    """Drop timings, timestamps, progress bars and duplicated chart specs in place (reruns diff cleanly)."""
    params = notebook.metadata.get("papermill", {}).get("parameters")
    notebook.metadata.pop("papermill", None)
    notebook.metadata.pop("widgets", None)
    if params is not None:
        notebook.metadata["clipneuron"] = {"parameters": params}
    for index, cell in enumerate(notebook.cells):
        # jupytext draws random cell ids; derive them from position and source instead
        cell["id"] = hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            # a chart's Vega-Lite JSON repeats the spec its text/html already embeds: keep one copy
            data = out.get("data", {})
            if "text/html" in data:
                for mime in [m for m in data if m.startswith("application/vnd.vegalite")]:
                    del data[mime]
        cell.outputs = [
            out
            for out in cell.outputs
            if not (out.get("output_type") == "stream" and out.get("name") == "stderr"
                    and (_PROGRESS.search(out.get("text", "")) or not out.get("text", "").strip()))
        ]


def _value_text(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def parameters_box(notebook, declared: dict) -> None:
    """Fold the chapter's two parameter cells (its defaults and papermill's injected values) into one
    collapsed "Parameters of this run" box for the book.

    The code cells stay (tagged ``remove-cell``: nbval and a reader of the notebook still run them);
    a Markdown cell before them lists every parameter with this run's value and what it means, the
    values the run's profile or command line set (papermill's injected parameters) in bold.
    """
    import nbformat

    tags = [set(cell.get("metadata", {}).get("tags", [])) for cell in notebook.cells]
    where = [i for i, t in enumerate(tags) if t & {"parameters", "injected-parameters"}]
    if not where or not declared:
        return
    # papermill's record of the injected values; strip_volatile moves it under "clipneuron"
    given = (notebook.metadata.get("papermill", {}).get("parameters")
             or notebook.metadata.get("clipneuron", {}).get("parameters") or {})
    rows = []
    for name, param in declared.items():
        value = given.get(name, param.default)
        shown = f"`{_value_text(value)}`"
        changed = name in given
        rows.append(f"| `{name}` | {'**' + shown + '**' if changed else shown} | "
                    f"{param.help.replace('|', '/') if param.help else ''} |")
    box = nbformat.v4.new_markdown_cell(
        ":::{admonition} Parameters of this run\n:class: dropdown\n\n"
        "Values in bold were set by the run's profile or command line; the others are the chapter's defaults. "
        "Rerun with other values: `python -m clipneuron_utils.run.pipeline --profile <profile> -p name=value`.\n\n"
        "| parameter | value | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n:::")
    box.metadata["tags"] = ["parameters-box"]
    if "id" in box:
        box["id"] = "parameters-of-this-run"  # fixed, not random: reruns stay byte-identical
    for i in where:
        cell_tags = notebook.cells[i].setdefault("metadata", {}).setdefault("tags", [])
        if "remove-cell" not in cell_tags:
            cell_tags.append("remove-cell")
    notebook.cells = [c for c in notebook.cells if "parameters-box" not in c.get("metadata", {}).get("tags", [])]
    where = [i for i, c in enumerate(notebook.cells)
             if set(c.get("metadata", {}).get("tags", [])) & {"parameters", "injected-parameters"}]
    notebook.cells.insert(where[0], box)


def write_clean(executed: Path, target: Path, notes: dict | None = None, source: Path | None = None) -> None:
    """The executed notebook, stripped, with what the chapter recorded (``provenance``, ``uses``) in its
    metadata and its parameter cells folded into one box (:func:`parameters_box`)."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    strip_volatile(notebook)
    notebook.metadata.setdefault("clipneuron", {}).update(notes or {})
    if source is not None:
        parameters_box(notebook, parameters.read_parameters(source))
    with atomic_path(target) as tmp:
        nbformat.write(notebook, tmp)
