"""Notebooks → executed notebooks: ``python -m clipneuron_utils.run.pipeline --profile NAME [-p key=value ...]``.

Each ``notebooks/NN_*.py`` (jupytext py:percent) is converted to a notebook and executed by papermill
with the parameters of ``params/NAME.yaml`` plus the ``-p`` overrides — each notebook receives only the
keys its ``parameters`` cell declares. Before any kernel starts, every key and value is checked against
the parameters cells (:mod:`clipneuron_utils.run.parameters`), what the chapters need beyond code is checked
(:mod:`clipneuron_utils.run.prerequisites`: a missing one stops the run at once; ``--check`` only lists them),
and the run takes the profile's lock: one run per profile at a time, so two runs never mix their models or
results. Under the lock, what the network allows is fetched (WordNet, SNLI), still before the first chapter.

Executed copies are staged, stripped of volatile metadata (timings, timestamps, progress bars) so reruns
give clean diffs, and swapped into the output folder (``book/``, or ``tests/nbval/`` for ``smoke``) with
renames only when every notebook has succeeded and the new folder is complete: on any failure — a
chapter error, a full disk, Ctrl-C — the output folder is left byte-identical. A failed chapter's
executed copy is kept under ``runs/NAME/failed/``. Artifacts always go to ``runs/`` of this checkout (or
``$CLIPNEURON_RUNS``), whatever the output folder.

Profile loading is :mod:`.profiles`, the parameter checks :mod:`.parameters`, the prerequisites
:mod:`.prerequisites`, and what an executed notebook keeps (stripped of volatile output, its parameters in a
box) :mod:`.executed`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import getpass
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path


from . import parameters, prerequisites, profiles
from .executed import to_ipynb, write_clean
from .profiles import PipelineError, parse_override
from ..render import provenance
from ..artifacts import environment, repo_root, run_dir, runs_root, umask, write_text



class ProfileBusyError(PipelineError):
    """Another run of the same profile holds its lock."""


def default_output_dir(profile: str) -> Path:
    return repo_root() / ("tests/nbval" if profile == "smoke" else "book")


# ------------------------------------------------------------------------------------------ the lock


LOCK_NAME = ".lock"


def _owner_path(profile: str) -> Path:
    return run_dir(profile) / f"{LOCK_NAME}.owner.json"


@contextlib.contextmanager
def profile_lock(profile: str, *, wait: bool = False):
    """Hold ``runs/<profile>/.lock`` for the run; a second run stops (or waits) naming the first.

    The lock is an OS file lock (``filelock``), released by the kernel even when its holder is killed,
    so a crashed run never blocks the next one.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(run_dir(profile) / LOCK_NAME))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise
            print(f"waiting for the running {profile} run ({_describe_owner(profile)}) to finish…", flush=True)
            lock.acquire(timeout=-1)
    except Timeout:
        raise ProfileBusyError(
            f"another run of profile {profile!r} is in progress ({_describe_owner(profile)}); it holds "
            f"{run_dir(profile) / LOCK_NAME}. Wait for it to finish, or pass --wait to queue behind it. "
            f"(Two runs of one profile would overwrite each other's registry and results.)"
        ) from None
    try:
        write_text(_owner_path(profile), checksum=False, text=json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "user": _user(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}))
        yield
    finally:
        _owner_path(profile).unlink(missing_ok=True)
        lock.release()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not worth failing a run for
        return "?"


def _describe_owner(profile: str) -> str:
    try:
        owner = json.loads(_owner_path(profile).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "owner unknown"
    return f"pid {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}: {owner.get('command')}"


# ------------------------------------------------------------------------------------------ staging


def remove_stale(profile: str, output: Path) -> list[Path]:
    """Leftovers of runs that were killed: ``runs/<profile>/.staging-*`` and the output's swap folders.

    Called under the profile's lock, so nothing removed here belongs to a live run. An output folder
    lost between the two renames of a swap (a kill at exactly that moment) is put back first.
    """
    removed = [p for p in run_dir(profile).glob(".staging-*") if p.is_dir()]
    if output.parent.is_dir():
        olds = sorted(output.parent.glob(f".{output.name}.old-*"))
        if olds and not output.exists():
            os.replace(olds[-1], output)
            olds = olds[:-1]
        removed += olds + [p for p in output.parent.glob(f".{output.name}.new-*")]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))


def swap_in(staged: Path, output: Path) -> None:
    """Replace ``output`` by ``staged`` (same filesystem) with two renames; on failure put it back."""
    if not output.exists():
        os.replace(staged, output)
        return
    old = output.parent / f".{output.name}.old-{os.getpid()}"
    os.replace(output, old)
    try:
        os.replace(staged, output)
    except BaseException:
        os.replace(old, output)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _notebook_parameters(path: Path) -> dict:
    import nbformat

    try:
        return nbformat.read(path, as_version=4).metadata.get("clipneuron", {}).get("parameters", {}) or {}
    except Exception:  # noqa: BLE001 - an unreadable notebook is replaced anyway
        return {}


def check_consistent(output: Path, rerun: list[Path], values: dict, declared_by: dict[str, dict]) -> None:
    """Refuse a partial run whose chapters would disagree with the kept ones on a shared parameter.

    ``--only 01`` with other data, kept beside chapters 02_encoders–07_qualitative_neurons of the old data, would make a book whose
    provenance and results describe different runs.
    """
    rerun_stems = {p.stem for p in rerun}
    for kept in sorted(output.glob("[0-9][0-9]_*.ipynb")) if output.is_dir() else []:
        if kept.stem in rerun_stems:
            continue
        old = _notebook_parameters(kept)
        source = profiles.notebooks_dir() / f"{kept.stem}.py"
        kept_declared = parameters.read_parameters(source) if source.is_file() else {}
        defaults = {k: p.default for k, p in kept_declared.items()}
        for stem, declared in declared_by.items():
            for key in sorted(set(declared) & (set(old) | set(defaults))):
                new, was = values.get(key, declared[key].default), old.get(key, defaults.get(key))
                if was != new:
                    raise PipelineError(
                        f"{stem} would run with {key}={new!r}, but {kept.name} in {output} was run with "
                        f"{key}={was!r}: the book would mix two runs. Run every chapter (drop --only), "
                        f"pass -p {key}=... to match, or use another --output-dir."
                    )


def plan(profile: str, overrides: dict | None = None, only: list[str] | None = None) -> tuple[dict, list[Path]]:
    """The checked parameter values and the chapter sources of a run (nothing runs, nothing is written)."""
    profile_values = profiles.load_profile(profile)
    if overrides and "profile" in overrides and overrides["profile"] != profile:
        raise PipelineError("the profile is chosen with --profile, not -p profile=...")
    sources = profiles.notebook_sources(only)
    if not sources:
        raise PipelineError(f"no notebooks/NN_*.py found in {profiles.notebooks_dir()}")
    try:
        values = parameters.resolve(profile_values, profiles.params_dir() / f"{profile}.yaml", dict(overrides or {}),
                                    profiles.notebook_sources(None), sources)
    except parameters.ParameterError as exc:
        raise PipelineError(str(exc)) from None
    return values, sources


def run(
    profile: str,
    overrides: dict | None = None,
    *,
    only: list[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    kernel_name: str = "python3",
    log_output: bool = False,
    wait: bool = False,
) -> list[Path]:
    """Execute the chapters under ``profile``; returns the notebooks written to ``output_dir``.

    ``overrides`` maps parameter names to values; a ``str`` value of a non-string parameter is read as
    YAML (as ``-p`` does).
    """
    started_all = time.perf_counter()
    values, sources = plan(profile, overrides, only)
    output = Path(output_dir).expanduser().resolve() if output_dir else default_output_dir(profile)
    declared_by = {s.stem: parameters.read_parameters(s) for s in sources}
    if output.exists() and not output.is_dir():
        raise PipelineError(f"--output-dir {output} exists and is not a folder")
    check_consistent(output, sources, values, declared_by)
    writable = next(p for p in (output, *output.parents) if p.exists())
    if not os.access(writable, os.W_OK):
        raise PipelineError(f"cannot write to {writable} (the output folder {output} goes there): check its "
                            "permissions or choose another --output-dir; nothing was run")
    needs = prerequisites.check(values, sources)
    if prerequisites.missing(needs):
        raise PipelineError(f"the chapters need what this machine does not have:\n{prerequisites.report(needs)}")
    print(f"[{profile}] parameters and prerequisites checked in {time.perf_counter() - started_all:.2f} s", flush=True)

    with profile_lock(profile, wait=wait), _run_environment(), _kernel_stderr(run_dir(profile) / "kernels.log"):
        for stale in remove_stale(profile, output):
            print(f"[{profile}] removed {stale.name}, left by an interrupted run", flush=True)
        try:
            prerequisites.fetch(needs, values)
        except Exception as exc:  # noqa: BLE001 - a failed download stops the run before any chapter, with its how-to
            raise PipelineError(f"fetching what the chapters need failed, before any chapter ran: {exc}") from None
        runs = run_dir(profile)
        staging = Path(tempfile.mkdtemp(dir=runs, prefix=".staging-"))
        staged_output = None
        try:
            executed = [_execute(profile, source, staging, {k: v for k, v in values.items() if k in declared_by[source.stem]},
                                 output, kernel_name, log_output) for source in sources]
            output.parent.mkdir(parents=True, exist_ok=True)
            staged_output = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.new-"))
            if output.is_dir():
                _copy_tree(output, staged_output)
                shutil.copymode(output, staged_output)
            else:
                os.chmod(staged_output, 0o777 & ~umask())
            written = []
            for source, out, notes in executed:
                write_clean(out, staged_output / f"{source.stem}.ipynb", notes, source)
                written.append(output / f"{source.stem}.ipynb")
            check_same_artifacts(staged_output, [s.stem for s in sources], output)
            recorded = collect_provenance(staged_output)
            write_text(staged_output / "_provenance.md", provenance.render_markdown(profile, recorded), checksum=False)
            write_text(staged_output / "_scorecard.md", provenance.render_scorecard(recorded), checksum=False)
            written += [output / "_provenance.md", output / "_scorecard.md"]
            swap_in(staged_output, output)
            staged_output = None
            return written
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if staged_output is not None:
                shutil.rmtree(staged_output, ignore_errors=True)


@contextlib.contextmanager
def _run_environment():
    """Environment the kernels inherit: absolute ``runs/`` and data folders, whatever their cwd."""
    data = os.environ.get("CLIPNEURON_DATA")
    with environment(CLIPNEURON_RUNS=str(runs_root().resolve()),
                     CLIPNEURON_DATA=str(Path(data).expanduser().resolve()) if data else data):
        yield


@contextlib.contextmanager
def _kernel_stderr(log: Path):
    """Send the kernels' stderr (file descriptor 2, which they inherit) to ``log``; ours stays on the terminal.

    A kernel writes transport warnings and, on Ctrl-C, the traceback of the interrupted cell to its stderr;
    the reader should see one line from us instead. Progress bars still reach the terminal.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): nothing to redirect
        yield
        return
    original = sys.stderr
    with open(log, "wb") as sink:  # one log per run
        os.dup2(sink.fileno(), 2)
        sys.stderr = open(saved, "w", closefd=False, buffering=1)
        try:
            yield
        finally:
            sys.stderr.flush()
            sys.stderr = original
            os.dup2(saved, 2)
            os.close(saved)


def _execute(profile: str, source: Path, staging: Path, params: dict, output: Path, kernel_name: str,
             log_output: bool) -> tuple[Path, Path, dict]:
    """Run one chapter into ``staging``; returns (source, executed copy, provenance it recorded)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = to_ipynb(source, staging / f"{source.stem}.source.ipynb")
    out = staging / f"{source.stem}.ipynb"
    record = staging / f"{source.stem}.provenance.json"
    started = time.perf_counter()
    print(f"[{profile}] {source.stem}: running with {params}", flush=True)
    from .reruns import USES_ENV

    uses = staging / f"{source.stem}.uses.json"
    os.environ[provenance.FILE_ENV], os.environ[USES_ENV] = str(record), str(uses)
    try:
        papermill.execute_notebook(
            str(notebook), str(out), parameters=params, kernel_name=kernel_name,
            cwd=str(output if output.is_dir() else repo_root()), progress_bar=True, log_output=log_output,
        )
    except PapermillExecutionError as exc:
        failed = run_dir(profile, "failed") / f"{source.stem}.ipynb"
        if out.exists():
            shutil.copyfile(out, failed)
        raise PipelineError(
            f"{source.stem} failed at cell {exc.exec_count} (cell index {exc.cell_index}): "
            f"{exc.ename}: {exc.evalue}\nThe executed copy is in {failed}; {output} was not changed."
        ) from None
    finally:
        os.environ.pop(provenance.FILE_ENV, None)
        os.environ.pop(USES_ENV, None)
    print(f"[{profile}] {source.stem}: done in {time.perf_counter() - started:.1f} s", flush=True)
    notes = {key: json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
             for key, path in (("provenance", record), ("uses", uses))}
    return source, out, notes


def check_same_artifacts(folder: Path, rerun: list[str], output: Path) -> None:
    """Refuse a staged output whose chapters used different models or search results.

    Each chapter notes the model keys and the search-results key it made or read (``run.note_use``).
    A chapter rerun alone (``--only 03 -p hidden=32``, ``--only 05 -p max_length=2``) or one that read
    another run's artifacts from the shared ``runs/`` would otherwise sit beside chapters of the old run.
    """
    import nbformat

    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, encoder or "") → (value, chapter)
    stale = set()
    problems = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        uses = nbformat.read(path, as_version=4).metadata.get("clipneuron", {}).get("uses") or {}
        items = [(("models", k), v) for k, v in (uses.get("models") or {}).items()]
        if uses.get("search"):
            items.append((("search", ""), uses["search"]))
        for what, value in items:
            if what not in seen:
                seen[what] = (value, path.stem)
                continue
            first_value, first = seen[what]
            if value != first_value:
                label = f"{what[1]} model" if what[0] == "models" else "search results"
                problems.append(f"{first} used {label} {first_value}, {path.stem} used {value}")
                stale.update(s for s in (first, path.stem) if s not in rerun)
    if problems:
        chapters = sorted(set(rerun) | stale)
        raise PipelineError(
            "the chapters would mix two runs: " + "; ".join(problems[:3]) + ". Chapters that read what a rerun "
            f"chapter makes must be rerun with it: add {' '.join(f'--only {c[:2]}' for c in chapters)} "
            f"(or drop --only). {output} was not changed; the artifacts are cached, so this is quick."
        )


def collect_provenance(folder: Path) -> dict:
    """Provenance recorded by the chapters now in ``folder`` (from their metadata), in chapter order."""
    import nbformat

    merged: dict = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        merged.update(nbformat.read(path, as_version=4).metadata.get("clipneuron", {}).get("provenance", {}) or {})
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipneuron_utils.run.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="paper", help="params/<profile>.yaml (smoke, offline, paper)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter (YAML value), e.g. -p max_length=3; repeatable")
    parser.add_argument("--only", action="append", default=None, metavar="NN",
                        help="run only this chapter (01, 03_head_training, ...); repeatable")
    parser.add_argument("--output-dir", default=None, help="where executed notebooks go (default book/, smoke: tests/nbval/)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output to this terminal")
    parser.add_argument("--wait", action="store_true", help="if another run of this profile is in progress, wait for it")
    parser.add_argument("--estimate", action="store_true",
                        help="run no chapter: time each stage on a small sample here and print the projected wall time "
                             "per chapter and in total (clipneuron_utils.run.estimate); writes nothing")
    parser.add_argument("--check", action="store_true",
                        help="run no chapter: list what the chapters need (WordNet, SNLI splits, CLIP weights, MiniLM, "
                             "disk), what is ready, what is missing and how to get it; exit 1 when something is missing")
    args = parser.parse_args(argv)
    if args.estimate:
        return _estimate(args)
    if args.check:
        return _check(args)
    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        written = run(args.profile, overrides, only=args.only, output_dir=args.output_dir,
                      log_output=args.log_output, wait=args.wait)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): the output folder was not changed; finished artifacts stay cached in runs/",
              file=sys.stderr)
        return 130
    except OSError as exc:
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        advice = {errno.ENOSPC: "free some disk space and run again",
                  errno.EACCES: "check the folder's permissions (or choose another --output-dir / $CLIPNEURON_RUNS)",
                  errno.EPERM: "check the folder's permissions (or choose another --output-dir / $CLIPNEURON_RUNS)",
                  errno.EROFS: "the file system is read-only: choose another --output-dir / $CLIPNEURON_RUNS"}
        print(f"error: {what}. {advice.get(exc.errno, 'fix the cause and run again')}; the output folder was not "
              "changed.", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def _check(args) -> int:
    """``--check``: the prerequisites of the run these arguments describe; downloads nothing, writes nothing."""
    started = time.perf_counter()
    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        values, sources = plan(args.profile, overrides, args.only)
        needs = prerequisites.check(values, sources)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    chapters = ", ".join(s.stem[:2] for s in sources)
    print(f"[{args.profile}] what chapters {chapters} need ({time.perf_counter() - started:.2f} s):")
    print(prerequisites.report(needs))
    lost = prerequisites.missing(needs)
    if not lost:
        fetched = sum(item.state == prerequisites.FETCH for item in needs)
        print("ready" + (f": {fetched} item(s) will be downloaded before the first chapter" if fetched else ""))
    return 1 if lost else 0


def _estimate(args) -> int:
    """``--estimate``: the projected wall time of the run these arguments describe; nothing runs or is written."""
    from . import estimate

    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        estimate.estimate(args.profile, overrides, only=args.only)
    except (PipelineError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): nothing was run or written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
