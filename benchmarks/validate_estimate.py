"""Validate ``--estimate``: project some chapters, run them from scratch, and compare projected with actual.

The projection is :func:`clipneuron_utils.run.estimate.projection` (what ``pipeline --estimate`` prints). Then
each chapter runs on its own through the pipeline (``--only NN``) with a fresh, temporary ``runs/``
folder (empty caches: every encoder encodes, every model trains) and a temporary output folder, so the
book, ``tests/nbval/`` and ``runs/`` are not touched. Per chapter it prints the projected and the actual
wall time, the error, the machine's load while it ran and the CPU time it used; for the training stage it
also prints the projection re-run with the epochs the models actually took (early stopping cannot be
known beforehand, so this isolates the measured rates from it). A second projection after the run
brackets a load that changed in between.

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/validate_estimate.py --profile offline \\
        --only 02 --only 03 -p seeds=1 -p lstm_max_epochs=1 --json validation.json

Timings move with the load of a shared machine: compare them on a quiet one (the load column says how
quiet it was) — a chapter that ran while the load doubled takes about twice as long.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clipneuron_utils.run import estimate, runtime, timing
from clipneuron_utils.run.pipeline import PipelineError, parse_override  # noqa: E402


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a thread while a chapter runs."""

    def __init__(self, every: float = 5.0):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = pd.Series(self.samples or [float("nan")])
        return {"load_mean": float(s.mean()), "load_min": float(s.min()), "load_max": float(s.max())}


def run_chapter(chapter: str, profile: str, parameters: list[str], output: Path, env: dict) -> dict:
    """Run one chapter through the pipeline; its wall time, CPU time (every process it started) and load."""
    command = [sys.executable, "-m", "clipneuron_utils.run.pipeline", "--profile", profile, "--only", chapter,
               "--output-dir", str(output), *(a for p in parameters for a in ("-p", p))]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with LoadSampler() as load:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"chapter {chapter} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"chapter": chapter, "actual_s": wall, "cpu_s": cpu, **load.summary()}


def trained_epochs(runs: Path, profile: str) -> dict[str, list[tuple[int, float]]]:
    """Per encoder: (epochs run, seconds they took) of every model the run trained (its ``history.csv``)."""
    found: dict[str, list[tuple[int, float]]] = {}
    for history in sorted((runs / profile).glob("**/history.csv")):
        frame = pd.read_csv(history)
        encoder = json.loads((history.parent / "model.json").read_text())["encoder_name"]  # written with the history
        found.setdefault(encoder, []).append((len(frame), float(frame["seconds"].sum())))
    return found


def training_check(p: estimate.Projection, epochs: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """Per encoder: projected training seconds with the epochs actually run, against the epochs' own seconds."""
    fit, val = timing.split_fit_val(p.counts.train_pairs, p.values.get("val_fraction", 0.1))
    rows = []
    for encoder, models in epochs.items():
        if encoder not in p.measurements.train_pairs_per_s:
            continue
        run = sum(n for n, _ in models)
        projected, actual = run * runtime.epoch_seconds(p.measurements, encoder, fit, val), sum(s for _, s in models)
        rows.append({"encoder": encoder, "models": len(models), "epochs": run, "projected_s": projected,
                     "actual_s": actual, "error": projected / actual - 1})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--only", action="append", default=None, metavar="NN",
                        help="chapters to project and run (default: 02 and 03)")
    parser.add_argument("--keep", default=None, help="keep the runs and notebooks in this folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    chapters = args.only or ["02", "03"]
    try:
        overrides = dict(parse_override(p) for p in args.parameter)
        before = estimate.projection(args.profile, overrides, chapters)
    except PipelineError as exc:
        sys.exit(f"error: {exc}")
    print(before.report(), flush=True)

    with tempfile.TemporaryDirectory(prefix="clipneuron-validate-") as tmp:
        folder = Path(args.keep).resolve() if args.keep else Path(tmp)
        runs, output = folder / "runs", folder / "book"
        if runs.exists() and any(runs.iterdir()):
            sys.exit(f"error: {runs} is not empty; a validation must start from empty caches")
        env = {**os.environ, "CLIPNEURON_RUNS": str(runs), "TQDM_DISABLE": "1"}
        actual = []
        for chapter in before.chapters:
            print(f"running chapter {chapter} from scratch…", flush=True)
            actual.append(run_chapter(chapter, args.profile, args.parameter, output, env))
            print(f"  {actual[-1]['actual_s']:.0f} s", flush=True)
        epochs = trained_epochs(runs, args.profile)
    after = estimate.projection(args.profile, overrides, chapters, out=lambda _: None)

    high, low = runtime.chapter_totals(before.rows), runtime.chapter_totals(before.rows, fewest=True)
    high_after = runtime.chapter_totals(after.rows)
    table = pd.DataFrame(actual).set_index("chapter")
    table.insert(0, "projected_s", pd.Series(high))
    table.insert(1, "fewest_epochs_s", pd.Series(low))
    table.insert(2, "projected_after_s", pd.Series(high_after))
    table["error"] = table["projected_s"] / table["actual_s"] - 1
    training = pd.DataFrame(training_check(before, epochs))
    if "03" in table.index and len(training):  # chapter 3 again, its models charged the epochs they really ran
        upper = sum(r.seconds for r in before.rows if r.chapter == "03" and r.stage.startswith("train "))
        table["epochs_as_run_s"] = table["projected_s"]
        table.loc["03", "epochs_as_run_s"] = table.loc["03", "projected_s"] - upper + training["projected_s"].sum()
        table["error_as_run"] = table["epochs_as_run_s"] / table["actual_s"] - 1
    total = table[[c for c in ("projected_s", "fewest_epochs_s", "projected_after_s", "epochs_as_run_s", "actual_s",
                               "cpu_s") if c in table]].sum()
    print("\nprojected (every epoch) and actual wall time per chapter; load = 1-min load average while it ran")
    print(table.round({"projected_s": 0, "fewest_epochs_s": 0, "projected_after_s": 0, "epochs_as_run_s": 0,
                       "actual_s": 0, "cpu_s": 0, "load_mean": 2, "load_min": 2, "load_max": 2, "error": 3,
                       "error_as_run": 3}).to_string())
    print(f"\ntotal: projected {total['fewest_epochs_s']:.0f}–{total['projected_s']:.0f} s (fewest epochs – every epoch; "
          f"projected again after the run {total['projected_after_s']:.0f} s), actual {total['actual_s']:.0f} s → "
          f"error of the longer end {total['projected_s'] / total['actual_s'] - 1:+.1%}"
          + (f"; with the epochs the models ran {total['epochs_as_run_s']:.0f} s → "
             f"{total['epochs_as_run_s'] / total['actual_s'] - 1:+.1%}" if "epochs_as_run_s" in total else ""))
    if len(training):
        print("\ntraining with the epochs the models actually ran (measured rates × epochs run vs the epochs' own seconds):")
        print(training.round(3).to_string(index=False))
    result = {"profile": args.profile, "chapters": before.chapters, "parameters": args.parameter,
              "load_before": before.load_at_start, "per_chapter": table.reset_index().to_dict("records"),
              "total": total.to_dict(), "training": training.to_dict("records"),
              "projection": [vars(r) for r in before.rows]}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
