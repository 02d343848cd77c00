"""Notebooks → executed notebooks: ``python -m clipneuron_utils.pipeline --profile NAME [-p key=value ...]``.

Each ``notebooks/NN_*.py`` (jupytext py:percent) is converted to a notebook and executed by papermill
with the parameters of ``params/NAME.yaml`` plus the ``-p`` overrides — each notebook receives only the
keys its ``parameters`` cell declares. Executed copies are staged, stripped of volatile metadata
(timings, timestamps, progress bars) so reruns give clean diffs, and moved into the output folder
(``book/``, or ``tests/nbval/`` for ``smoke``) only when every notebook has succeeded: a failure stops
at the first failing notebook, names it and its cell, keeps the failed copy under
``runs/NAME/failed/`` and leaves the output folder as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import provenance
from .artifacts import atomic_path, repo_root, run_dir, write_text

VOLATILE_CELL_KEYS = ("execution", "papermill", "ExecuteTime", "collapsed")
_PROGRESS = re.compile(r"\r|\d+%\|")


class PipelineError(RuntimeError):
    """A profile, parameter or notebook problem, with a message that says what to do."""


def params_dir() -> Path:
    return repo_root() / "params"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def load_profile(profile: str) -> dict:
    """The parameters of ``params/<profile>.yaml`` (a flat mapping)."""
    path = params_dir() / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in params_dir().glob("*.yaml"))) or "none"
        raise PipelineError(f"profile {profile!r}: {path} does not exist (profiles: {known})")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise PipelineError(f"{path}: expected a mapping of parameter: value")
    values.setdefault("profile", profile)
    return values


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` → (key, YAML-parsed value), so ``-p max_length=3`` gives an int."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"override {text!r}: expected key=value, e.g. -p max_length=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise PipelineError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return key.strip(), value


def notebook_sources(only: list[str] | None = None) -> list[Path]:
    """The chapter sources in order; ``only`` picks chapters by prefix (``03``) or stem."""
    sources = sorted(notebooks_dir().glob("[0-9][0-9]_*.py"))
    if not only:
        return sources
    chosen = [p for p in sources if any(p.stem == o or p.stem.startswith(f"{o}_") for o in only)]
    missing = [o for o in only if not any(p.stem == o or p.stem.startswith(f"{o}_") for p in sources)]
    if missing:
        raise PipelineError(f"--only {', '.join(missing)}: no such chapter in {notebooks_dir()}")
    return chosen


def to_ipynb(source: Path, target: Path) -> Path:
    """Pair a py:percent source to a notebook file (jupytext)."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    jupytext.write(notebook, target, fmt="ipynb")
    return target


def declared_parameters(notebook: Path) -> dict:
    """Parameters the notebook's ``parameters`` cell declares (papermill's inspection)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


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


def _write_clean(executed: Path, target: Path) -> None:
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    strip_volatile(notebook)
    with atomic_path(target) as tmp:
        nbformat.write(notebook, tmp)


def default_output_dir(profile: str) -> Path:
    return repo_root() / ("tests/nbval" if profile == "smoke" else "book")


def run(
    profile: str,
    overrides: dict | None = None,
    *,
    only: list[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    kernel_name: str = "python3",
    log_output: bool = False,
) -> list[Path]:
    """Execute the chapters under ``profile``; returns the notebooks written to ``output_dir``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    values = {**load_profile(profile), **(overrides or {})}
    output = Path(output_dir) if output_dir else default_output_dir(profile)
    sources = notebook_sources(only)
    if not sources:
        raise PipelineError(f"no notebooks/NN_*.py found in {notebooks_dir()}")
    if os.environ.get("CLIPNEURON_DATA"):  # notebooks run from another folder: make it absolute
        os.environ["CLIPNEURON_DATA"] = str(Path(os.environ["CLIPNEURON_DATA"]).expanduser().resolve())
    runs = run_dir(profile)
    staging = Path(tempfile.mkdtemp(dir=runs, prefix=".staging-"))
    try:
        prepared = []
        for source in sources:
            notebook = to_ipynb(source, staging / f"{source.stem}.source.ipynb")
            prepared.append((source, notebook, declared_parameters(notebook)))
        declared_anywhere = set().union(*(set(d) for _, _, d in prepared))
        unknown = sorted(set(overrides or {}) - declared_anywhere)
        if unknown:
            raise PipelineError(
                f"override(s) {', '.join(unknown)} not declared by any chapter run; known parameters: "
                f"{', '.join(sorted(declared_anywhere))}"
            )
        executed = []
        for source, notebook, declared in prepared:
            params = {k: v for k, v in values.items() if k in declared}
            out = staging / f"{source.stem}.ipynb"
            started = time.perf_counter()
            print(f"[{profile}] {source.stem}: running with {params}", flush=True)
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(out),
                    parameters=params,
                    kernel_name=kernel_name,
                    cwd=str(output if output.is_dir() else repo_root()),
                    progress_bar=True,
                    log_output=log_output,
                )
            except PapermillExecutionError as exc:
                failed = runs / "failed" / f"{source.stem}.ipynb"
                failed.parent.mkdir(parents=True, exist_ok=True)
                if out.exists():
                    shutil.copyfile(out, failed)
                raise PipelineError(
                    f"{source.stem} failed at cell {exc.exec_count} (cell index {exc.cell_index}): "
                    f"{exc.ename}: {exc.evalue}\nThe executed copy is in {failed}; {output} was not changed."
                ) from None
            print(f"[{profile}] {source.stem}: done in {time.perf_counter() - started:.1f} s", flush=True)
            executed.append((source, out))
        output.mkdir(parents=True, exist_ok=True)
        written = []
        for source, out in executed:
            target = output / f"{source.stem}.ipynb"
            _write_clean(out, target)
            written.append(target)
        written.append(write_text(output / "_provenance.md", provenance.render_markdown(profile)))
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipneuron_utils.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="paper", help="params/<profile>.yaml (smoke, offline, paper)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter (YAML value), e.g. -p max_length=3; repeatable")
    parser.add_argument("--only", action="append", default=None, metavar="NN",
                        help="run only this chapter (01, 03_head_training, ...); repeatable")
    parser.add_argument("--output-dir", default=None, help="where executed notebooks go (default book/, smoke: tests/nbval/)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output to this terminal")
    args = parser.parse_args(argv)
    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        written = run(args.profile, overrides, only=args.only, output_dir=args.output_dir, log_output=args.log_output)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
