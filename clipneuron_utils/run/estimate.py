"""How long a profile's chapters will take on this machine, before running them.

``python -m clipneuron_utils.run.pipeline --profile paper --estimate`` (any profile, ``-p`` overrides and
``--only`` work as for a run) times each stage of the chapters on a small sample here, multiplies the
measured rates by the work the profile names, and prints one table — stage, measured rate, work,
projected time — with a total per chapter and for the run. Nothing is run, locked or written: no
chapter, no ``book/`` or ``tests/nbval/``, no ``runs/`` (the measurements keep nothing; ``$CLIPNEURON_RUNS``
points at a temporary folder while they run, and Hugging Face is put offline so no weights download).

What is projected, and from what (counted by :mod:`.workload`, measured by :mod:`.timing`, projected by
:mod:`.runtime`; this module reports):

* **Data.** Counts come from the profile's SNLI files when they are in the data folder (``data_dir``,
  ``$CLIPNEURON_DATA``, ``./data/snli``), else from the official sizes (:data:`OFFICIAL_SIZES`). Every
  chapter reads every line of its files, the pairs labelled ``-`` (no annotator consensus) included;
  :mod:`clipneuron_utils.data.snli` then drops those, so only labelled pairs are trained on, encoded and
  probed — as here. Distinct sentences (what an encoder encodes, de-duplicated) are counted from the
  files; for an absent file they are estimated with SNLI dev's ratio (:data:`UNIQUE_PER_PAIR`).
* **Chapter 02_encoders**: loading each frozen encoder, its throughput table (``benchmark_sentences`` encoded our
  way and, for CLIP, with ``encode_text`` at the full 77-token context) and CLIP's token count of every
  distinct sentence (the truncation table).
* **Chapter 03_head_training**, from scratch (empty caches): encoding the distinct train and probe sentences once per
  frozen encoder (sentences/s measured with the profile's ``clip_model``; when its weights cannot be
  loaded here — e.g. ``openai`` without internet — the same architecture untrained, which runs at the
  same speed, and the output says so); training every model of every seed (``seeds``, or ``lstm_seeds``
  for the LSTM) for ``max_epochs`` (LSTM: ``lstm_max_epochs``) epochs — an **upper bound**, as early
  stopping (``patience``) usually ends sooner; frozen heads train on cached features; each epoch also
  scores the held-out ``val_fraction``; then every model scores the probe pairs. The total is printed as a
  range: its shorter end stops every model as early as early stopping can (the first epoch, then
  ``patience`` epochs without a better held-out score), its longer end runs every epoch.
* **Chapter 05_search**: ``s/neuron`` of :func:`~clipneuron_utils.explain.search.beam_search_by_length` on random masks
  with the probe split's shape against its real concepts (length 1, and ``max_length`` at
  ``beam_size``: cost = atoms + rounds), for every unit (``hidden``; an upper bound: only units firing on
  ``min_acts`` pairs are searched) of every model × encoding, spread over ``n_jobs`` processes; plus the
  matched null: :data:`NULL_BINS` firing-count bins per encoding (capped by the bins ``null_bin_width``
  allows between ``min_acts`` and the probe size) × ``null_draws`` random masks, and the
  ``compare_expand_all`` search.
* **Chapter 99_differences**: retraining each encoder's primary model the other way (``measure_input_norm``), the
  comparison searches (lengths 1, ``compare_length`` and ``max_length``) and re-encoding every probe
  line (the unlabelled pairs included) for the labelled-only comparison.
* **Chapter 10_causal**: per model and seed, the random-network controls included, a fixed share (ablation,
  half-split search, planning: :data:`~.runtime.CAUSAL_MODEL_S`, estimated) and its edited pairs
  (:func:`~.runtime.causal_sentences`) encoded or scored at the measured rate.
* **Chapter 11_artifacts**: per frozen encoder, ``baseline_seeds`` hypothesis-only heads and one for the
  hard-split check, trained on cached features at the measured rate (and SNLI's test split encoded once
  where the heads do not train on it).
* **Chapters 01_data, 04_concepts, 06_results, 07_qualitative_neurons, 08_firing_regime and 09_neuron_browser**:
  start-up and reading the data (measured rate), 04_concepts's concept masks (measured), and a small fixed
  cost each (:data:`FIXED_S`: estimated, not measured).

Every chapter also pays a kernel start (:data:`CHAPTER_START_S`, estimated). The device stages (encoding,
training, scoring) are timed on the device the chapters would use (their ``device`` parameter; ``auto`` is
CUDA when there is one); the tokenizer, concept masks and search on the CPU, as they run. Rates depend on the
machine's load: the header prints the load average. ``benchmarks/paper_scale.py`` prints the same figures
per stage for ``--device cpu`` and ``cuda``, and ``benchmarks/validate_estimate.py`` runs chapters and
compares them with their projection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .runtime import CHAPTER_START_S, NULL_BINS, Row, chapter_totals, epochs_of, fewest_epochs, null_bins, project, seeds_of
from .timing import Measurements, measure, sandbox
from .workload import DataCounts, count_data


def duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``5.3 h``, ``2.1 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def span(low: float, high: float) -> str:
    """``3.1 d`` or, when early stopping can shorten it, ``14.2 h – 3.1 d``."""
    return duration(high) if high - low < 0.005 * high else f"{duration(low)} – {duration(high)}"


def machine_text(m: Measurements) -> str:
    import torch

    if m.device.startswith("cuda"):
        what = torch.cuda.get_device_name(0)
    else:
        what = f"{os.cpu_count()} CPU cores"
    return f"{m.device} ({what}, {m.labels.get('threads', '')}, torch {torch.__version__})"


def load_text() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


def render(profile: str, values: dict, counts: DataCounts, m: Measurements, rows: Sequence[Row],
           chapters: Sequence[str], load_at_start: str) -> str:
    """The report: header (device, load, data), the table, per-chapter and total times, notes."""
    lines = [f"Projected wall time of profile {profile!r}, chapters {', '.join(chapters)}, from scratch (empty caches), "
             f"on this machine",
             f"measured on: {machine_text(m)}; measurements took {m.seconds:.0f} s",
             f"machine load: {load_at_start} at start, {load_text()} at the end — rates fall as the load rises",
             "data: train " + "; ".join(f"{s.split} {s.labelled:,} labelled of {s.lines:,} pairs "
                                         f"({'file' if s.counted else 'official size, file absent'})" for s in counts.train)
             + f" → {counts.train_unique:,} distinct sentences; probe {counts.probe.split} {counts.probe.labelled:,} labelled "
               f"of {counts.probe.lines:,} ({'file' if counts.probe.counted else 'official size'}) → "
               f"{counts.probe_unique:,} distinct sentences",
             ""]
    widths = [3, 44, 40, 62, 10]
    head = ["ch", "stage", "measured rate", "work", "projected"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [row.chapter, row.stage, row.rate, row.work, duration(row.seconds)]
        lines.append("  ".join((c if len(c) <= w else c[: w - 1] + "…").ljust(w) if i < 4 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(cells, widths))))
    totals, low = chapter_totals(rows), chapter_totals(rows, fewest=True)
    high_s, low_s = sum(totals.values()), sum(low.values())
    lines += ["", "per chapter: " + ", ".join(f"{c} {span(low[c], s)}" for c, s in totals.items()),
              f"TOTAL: {span(low_s, high_s)} ({low_s:,.0f} – {high_s:,.0f} s) on {m.device}" if high_s - low_s >= 0.005 * high_s
              else f"TOTAL: {duration(high_s)} ({high_s:,.0f} s) on {m.device}"]
    fewest = {e: fewest_epochs(values, e) for e in dict.fromkeys(values.get("encoders", []))}
    lines += ["", "assumptions and notes:",
              f"- training: the longer figure runs every model for max_epochs={values.get('max_epochs', 20)} "
              + (f"(LSTM lstm_max_epochs={values.get('lstm_max_epochs')}) " if values.get("lstm_max_epochs") else "")
              + "epochs; the shorter one stops every model as early as early stopping can (the first epoch, then "
              f"patience={values.get('patience', 3)} without a better held-out score: "
              + ", ".join(f"{e} {n}" for e, n in fewest.items()) + " epochs). A real run lies between",
              f"- search: every unit explained (hidden={values.get('hidden', 1024)}), spread over the search processes "
              "with no loss; matched null over "
              f"{null_bins(values, counts.probe.labelled, 1)} firing-count bins per encoding (assumed: ~{NULL_BINS} at 1 % bins)",
              f"- kernel start {CHAPTER_START_S:.0f} s per chapter and the 'fixed' rows are estimated, not measured",
              f"- the chapters encode, train and probe on their device parameter ({values.get('device', 'auto')!r}: here "
              f"{m.device}); CLIP's tokenizer, the concept masks and the beam search run on the CPU whatever the device. "
              "benchmarks/paper_scale.py --device cpu --device cuda prints both, with the GPU's speed-up per stage"]
    lines += [f"- {note}" for note in [*counts.notes, *m.notes]]
    lines += ["", "largest stages:", *(f"- {line}" for line in largest_stages(rows, values, m.device))]
    return "\n".join(lines)


def shorter_with(row: Row, values: dict, device: str) -> list[str]:
    """The parameters that would shorten ``row``'s stage in this run (only those not already at their floor)."""
    gpu = ["a GPU (-p device=cuda)"] if not device.startswith("cuda") else []
    stage = row.stage
    if row.chapter == "99" and stage.startswith("train "):
        return ["-p measure_input_norm=false (chapter 99_differences then retrains nothing)"]
    if stage.startswith("train lstm"):
        knobs = ["-p lstm_seeds=1"] if seeds_of(values, "lstm") > 1 else []
        return knobs + (["-p lstm_max_epochs=N"] if epochs_of(values, "lstm") > 1 else []) + gpu
    if stage.startswith("train "):
        return (["-p seeds=N"] if values.get("seeds", 3) > 1 else []) + (["-p max_epochs=N"] if values.get(
            "max_epochs", 20) > 1 else []) + gpu
    if stage.startswith("encode with"):
        return gpu + ["nothing per run: the feature cache keeps the features for every later run, seed and profile"]
    if row.chapter == "12":  # the encoders' own neurons
        if stage.endswith("clusters and search"):
            knobs = ["-p neuron_sentences=N", "-p neurons_per_layer=N" if not stage.startswith("minilm-random")
                     else "-p control_neurons_per_layer=N"]
            return knobs + (["-p n_clusters=N"] if values.get("n_clusters", 5) > 2 else [])
        if stage.endswith("neuron activations"):
            return gpu + ["-p neuron_sentences=N"]
        if stage.endswith("encoder ablation"):
            return gpu + ["-p encoder_ablation_pairs=N"]
    if stage in ("beam search", "matched null", "search with every concept (comparison)", "comparison searches"):
        from ..explain.parallel import resolve_jobs

        knobs = [] if resolve_jobs(values.get("n_jobs", 0)) >= (os.cpu_count() or 1) else ["-p n_jobs=0 (every core)"]
        if stage == "matched null":
            return knobs + ["-p null_draws=N", "-p null_bin_width=W (wider bins share draws)"]
        if stage.startswith("search with every"):
            return ["-p compare_expand_all=false"]
        return knobs + (["-p compare_length=1"] if stage == "comparison searches" else ["-p max_length=N"])
    return []


def largest_stages(rows: Sequence[Row], values: dict | None = None, device: str = "cpu", n: int = 3) -> list[str]:
    """The ``n`` longest stages (upper bound), their share of the total, and what would shorten each."""
    total = sum(r.seconds for r in rows) or 1.0
    lines = []
    for row in sorted(rows, key=lambda r: r.seconds, reverse=True)[:n]:
        knobs = shorter_with(row, values or {}, device)
        lines.append(f"{row.chapter} {row.stage}: {duration(row.seconds)} ({row.seconds / total:.0%})"
                     + (f" — shorter with {', '.join(knobs)}" if knobs else ""))
    return lines


def resolved_values(profile: str, overrides: dict | None = None, only: list[str] | None = None) -> tuple[dict, list[str]]:
    """Every parameter the chapters see (their defaults, the profile's values, the ``-p`` overrides), checked
    exactly as a run checks them, and the chapter numbers to estimate."""
    from . import parameters
    from .profiles import PipelineError, load_profile, notebook_sources, params_dir

    profile_values = load_profile(profile)
    sources = notebook_sources(only)
    try:
        values = parameters.resolve(profile_values, params_dir() / f"{profile}.yaml", dict(overrides or {}),
                                    notebook_sources(None), sources)
    except parameters.ParameterError as exc:
        raise PipelineError(str(exc)) from None
    merged = {name: p.default for name, p in parameters.declared(notebook_sources(None)).items()}
    merged.update(values)
    return merged, [s.stem[:2] for s in sources]


@dataclass
class Projection:
    """One estimate: what was resolved, counted and measured, and the projected rows."""

    profile: str
    values: dict
    chapters: list[str]
    counts: DataCounts
    measurements: Measurements
    rows: list[Row]
    load_at_start: str

    def report(self) -> str:
        return render(self.profile, self.values, self.counts, self.measurements, self.rows, self.chapters,
                      self.load_at_start)


def run_device(values: dict, device: str | None = None) -> str:
    """The device the chapters would use: ``device`` when given, else the profile's ``device`` parameter
    resolved as the chapters resolve it (``auto``: CUDA when available)."""
    from ..models.devices import resolve_device

    return str(resolve_device(device if device is not None else values.get("device", "auto")))


def projection(profile: str, overrides: dict | None = None, only: list[str] | None = None, *, device: str | None = None,
               measure_fn: Callable[..., Measurements] | None = None, out: Callable[[str], None] = print) -> Projection:
    """Measure and project (the figures behind :func:`estimate`, for benchmarks that compare them with a run)."""
    values, chapters = resolved_values(profile, overrides, only)
    device = run_device(values, device)
    load_at_start = load_text()
    out(f"[{profile}] estimating chapters {', '.join(chapters)}: timing each stage on a small sample on {device} "
        "(no chapter runs, nothing is written)…")
    with sandbox():
        counts = count_data(values)
        measurements = (measure_fn or measure)(values, counts, device)
    rows = project(values, counts, measurements, chapters)
    return Projection(profile, values, chapters, counts, measurements, rows, load_at_start)


def estimate(profile: str, overrides: dict | None = None, only: list[str] | None = None, *, device: str | None = None,
             measure_fn: Callable[..., Measurements] | None = None, out: Callable[[str], None] = print) -> float:
    """Measure, project and print; returns the projected total in seconds (the upper bound). Runs no chapter,
    writes nothing. ``device``: where to time the device stages (default: the profile's ``device`` parameter)."""
    result = projection(profile, overrides, only, device=device, measure_fn=measure_fn, out=out)
    out(result.report())
    return sum(r.seconds for r in result.rows)


if __name__ == "__main__":  # pragma: no cover - use the pipeline's --estimate
    sys.exit("use: python -m clipneuron_utils.run.pipeline --profile <profile> --estimate")
