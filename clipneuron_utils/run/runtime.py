"""Projecting the estimate: measured rates × the work the profile names, the run time per stage and
chapter, as a range whose shorter end lets early stopping end every model as soon as it can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from .timing import Measurements, split_fit_val
from .workload import DataCounts


#: firing-count bins of the matched null per encoding when they cannot be counted (no model is trained yet):
#: the offline build's 7 models gave 69 bins of 1 %; a trained CLIP's units spread wider
NULL_BINS = 150


#: kernel start, imports and saving of one chapter (estimated: ~2 s measured for a kernel with the chapters'
#: light imports; torch adds ~2 s)
CHAPTER_START_S = 4.0


#: work of a chapter not modelled stage by stage (estimated seconds: charts, tables, bootstrap intervals)
FIXED_S = {"01": 3.0, "02": 2.0, "03": 3.0, "04": 5.0, "05": 5.0, "06": 30.0, "07": 15.0, "08": 60.0, "09": 10.0,
           "10": 20.0, "11": 30.0, "12": 30.0, "99": 10.0}

#: chapter 10_causal per model and seed, besides running edited pairs through it: ablation, the half-split search
#: and planning the edits (estimated from benchmarks/causal.py on the offline build: 7–8 s for a model whose
#: edits needed no encoding)
CAUSAL_MODEL_S = 8.0


def causal_sentences(values: dict, adversarial: bool) -> int:
    """Edited sentences chapter 10_causal runs through one model: per regime, each tested unit's removals and
    insertions, each with its sham, for its own formula and another unit's (4 kinds); with ``adversarial``, the
    adversarial pairs and their controls, and the noun control (3 classes at most)."""
    regimes = 2 if values.get("activation_alphas", [0.2, 0.1, 0.05, 0.02]) else 1
    units, edits = values.get("faithfulness_units", 20), values.get("faithfulness_edits", 6)
    planted = values.get("planted_units", 6) if adversarial else 0
    n = regimes * (units * 2 * edits * 4 + planted * 2 * edits * 2 * 2)
    if adversarial:
        pairs = values.get("adversarial_pairs", 50)
        n += regimes * values.get("adversarial_units", 8) * pairs * 2 + 3 * (8 * 16 + pairs) * 2
    return int(n)


CHAPTERS = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "99")


@dataclass
class Row:
    chapter: str
    stage: str
    rate: str
    work: str
    seconds: float  # projected (the upper bound for training: every epoch runs)
    fewest: float | None = None  # training only: when early stopping ends every model as soon as it can


def figure(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}" if x >= 0.1 else f"{x:.3g}"


def seeds_of(values: dict, encoder: str) -> int:
    """Models chapter 03_head_training trains for ``encoder`` (``seeds``, or ``lstm_seeds`` for the LSTM when not 0)."""
    from .trained import training_seeds

    return len(training_seeds(values.get("seed", 0), values.get("seeds", 3), values.get("lstm_seeds", 0), encoder))


def epochs_of(values: dict, encoder: str) -> int:
    if encoder == "lstm" and values.get("lstm_max_epochs"):
        return int(values["lstm_max_epochs"])
    return int(values.get("max_epochs", 20))


def fewest_epochs(values: dict, encoder: str) -> int:
    """Epochs a model runs when early stopping ends it as soon as it can: the first epoch always improves, then
    ``patience`` epochs without a better held-out score (``training.train``); all of them without a held-out set."""
    most = epochs_of(values, encoder)
    if values.get("val_fraction", 0.1) <= 0:
        return most
    return min(most, 1 + int(values.get("patience", 3)))


def epoch_seconds(m: Measurements, encoder: str, fit: int, val: int) -> float:
    """Seconds of one training epoch: ``fit`` pairs trained on, then ``val`` held-out pairs scored."""
    return fit / m.train_pairs_per_s[encoder] + val / m.eval_pairs_per_s[encoder]


#: chapter 12_inside_encoder: seconds of 1-D k-means per neuron (SciPy's kmeans2 on ~13,000 sentences, measured
#: on 2 cores) and each encoder's MLP blocks and width (by open_clip model name for CLIP)
CLUSTER_S = 0.005
ENCODER_SHAPES = {"minilm": (6, 1536), "ViT-B-32": (12, 2048), "ViT-B-16": (12, 2048), "ViT-L-14": (12, 3072),
                  "clipneuron-tiny": (2, 128)}


def encoder_shape(name: str, values: dict) -> tuple[int, int]:
    """(MLP blocks, neurons per block) of a frozen encoder (CLIP's by ``clip_model``; unknown: ViT-B-32's)."""
    key = "minilm" if name == "minilm" else values.get("clip_model", "ViT-B-32")
    return ENCODER_SHAPES.get(key, ENCODER_SHAPES["ViT-B-32"])


def search_seconds(m: Measurements, length: int) -> float:
    """Seconds per neuron of a search up to ``length`` atoms (one process)."""
    return m.search_atoms_s + max(length - 1, 0) * m.search_round_s


def null_bins(values: dict, n_probe: int, n_models: int) -> int:
    """Firing-count bins the matched null searches per encoding: :data:`NULL_BINS`, capped by the bins
    ``null_bin_width`` allows between ``min_acts`` and the probe size (and by the units when it is 0)."""
    from ..explain.controls import firing_bins

    low = values.get("min_acts", 500)
    width = values.get("null_bin_width", 0.01)
    possible = len(np.unique(firing_bins(np.arange(low, n_probe + 1), width))) if n_probe >= low else 0  # 0: none explained
    assumed = NULL_BINS if width > 0 else n_models * values.get("hidden", 1024)
    return int(min(possible, assumed))


def project(values: dict, counts: DataCounts, m: Measurements, chapters: Sequence[str] = CHAPTERS,
            jobs: int | None = None) -> list[Row]:
    """Projected seconds of every stage of ``chapters``: measured rate × work (pure arithmetic)."""
    from ..explain.parallel import resolve_jobs

    encoders = list(dict.fromkeys(values.get("encoders", ["clip", "lstm", "minilm"])))
    frozen = [e for e in encoders if e != "lstm"]
    jobs = jobs if jobs is not None else resolve_jobs(values.get("n_jobs", 0))
    n_train, n_probe = counts.train_pairs, counts.probe.labelled
    # units searched: at most every unit (none when no unit can fire on min_acts probe pairs)
    hidden = values.get("hidden", 1024) if values.get("min_acts", 500) <= n_probe else 0
    fit, val = split_fit_val(n_train, values.get("val_fraction", 0.1))
    top = values.get("max_length", 5)
    encodings = list(dict.fromkeys(values.get("encodings", ["standard", "wordnet"])))
    rows: list[Row] = []
    read = f"{counts.read_lines:,} lines ({', '.join(dict.fromkeys([*(s.split for s in counts.train), counts.probe.split]))})"

    def add(chapter, stage, rate, work, seconds, fewest=None):
        if chapter in chapters:
            rows.append(Row(chapter, stage, rate, work, float(seconds), None if fewest is None else float(fewest)))

    def trained(chapter, name, n_models, label):
        epochs, fewest, per = epochs_of(values, name), fewest_epochs(values, name), epoch_seconds(m, name, fit, val)
        add(chapter, f"train {name} {label}", f"{figure(m.train_pairs_per_s[name])} pairs/s (scoring "
            f"{figure(m.eval_pairs_per_s[name])}/s)", f"{fit:,} + {val:,} held-out pairs × "
            f"{f'{fewest}–' if fewest < epochs else ''}{epochs} epochs × {n_models} model{'s' if n_models > 1 else ''}",
            n_models * epochs * per, n_models * fewest * per)
        add(chapter, f"score {name} on the probe pairs", f"{figure(m.eval_pairs_per_s[name])} pairs/s",
            f"{n_probe:,} pairs × {n_models}", n_models * n_probe / m.eval_pairs_per_s[name])

    for chapter in CHAPTERS:
        add(chapter, "kernel start, imports", "estimated", "1 chapter", CHAPTER_START_S)
        add(chapter, "read SNLI files", f"{figure(m.load_lines_per_s)} lines/s", read, counts.read_lines / m.load_lines_per_s)
    # chapter 02_encoders
    for name in frozen:
        add("02", f"load {name} encoder", m.labels.get(name, name), "1 load", m.encoder_load_s[name])
        bench = min(values.get("benchmark_sentences", 512), counts.probe_unique)
        seconds = bench / m.encode_per_s[name]
        rate = f"{figure(m.encode_per_s[name])} sentences/s"
        if name in m.reference_per_s:
            seconds += bench / m.reference_per_s[name]
            rate += f"; encode_text {figure(m.reference_per_s[name])}/s"
        add("02", f"{name} throughput table", rate, f"{bench:,} sentences × {2 if name in m.reference_per_s else 1} ways",
            seconds)
    if "clip" in frozen and m.tokenize_per_s:
        total = counts.train_unique + counts.probe_unique
        add("02", "CLIP token counts (truncation table)", f"{figure(m.tokenize_per_s)} sentences/s",
            f"{total:,} distinct sentences", total / m.tokenize_per_s)
    # chapter 03_head_training
    for name in encoders:
        n_models = seeds_of(values, name)
        if name != "lstm":
            add("03", f"load {name} encoder", f"{figure(m.encoder_load_s[name])} s per load", f"{n_models} (one per model)",
                n_models * m.encoder_load_s[name])
            total = counts.train_unique + counts.probe_unique
            add("03", f"encode with {name}", f"{figure(m.encode_per_s[name])} sentences/s",
                f"{counts.train_unique:,} train + {counts.probe_unique:,} probe distinct sentences", total / m.encode_per_s[name])
            trained("03", name, n_models, "head (cached features)")
        else:
            trained("03", name, n_models, "end to end")
    # chapter 04_concepts
    n_modes = len(dict.fromkeys([values.get("wordnet_mode", "exact"), "exact", "all_senses"]))
    add("04", "standard concepts", f"{figure(m.concepts_s['standard'])} s per build", f"{n_probe:,} probe pairs",
        m.concepts_s["standard"])
    add("04", "WordNet concepts", f"load {figure(m.concepts_s['wordnet_load'])} s, {figure(m.concepts_s['wordnet'])} s per build",
        f"{n_modes} modes", m.concepts_s["wordnet_load"] + n_modes * m.concepts_s["wordnet"])
    # chapter 05_search
    n_models = sum(seeds_of(values, e) for e in encoders)
    per = search_seconds(m, top)
    rate = f"{per * 1000:.1f} ms/neuron at length {top} ÷ {jobs} process{'es' if jobs > 1 else ''}"
    add("05", "beam search", rate, f"{hidden:,} units × {n_models} models × {len(encodings)} encodings",
        hidden * n_models * len(encodings) * per / jobs)
    bins = null_bins(values, n_probe, n_models)
    draws = values.get("null_draws", 20)
    add("05", "matched null", rate, f"{bins} firing-count bins × {draws} draws × {len(encodings)} encodings",
        bins * draws * len(encodings) * per / jobs)
    if values.get("compare_expand_all", True) and not values.get("expand_all", False) and encoders:
        add("05", "search with every concept (comparison)", rate, f"{hidden:,} units × 1 model", hidden * per / jobs)
    alphas = values.get("activation_alphas", [0.2, 0.1, 0.05, 0.02])
    if alphas:
        per_regime = search_seconds(m, values.get("regime_max_length", 2))
        add("05", "firing-regime sweep, with its null",
            f"{per_regime * 1000:.1f} ms/neuron at length {values.get('regime_max_length', 3)} ÷ {jobs}",
            f"{len(alphas)} regimes × ({hidden:,} units × {n_models} models + {draws} null draws) × {len(encodings)} encodings",
            len(alphas) * (hidden * n_models + draws) * len(encodings) * per_regime / jobs)
    # chapter 11_artifacts: a hypothesis-only head per frozen encoder and seed on the cached features (plus one
    # with SNLI's test split held out, for the hard-split check), the empty premise its only new sentence
    for name in frozen:
        n_models = min(values.get("baseline_seeds", 3) or seeds_of(values, name), seeds_of(values, name)) + 1
        trained("11", name, n_models, "hypothesis-only head (cached features)")
        if "test" not in values.get("train_splits", ["train"]) and values.get("data_source", "snli") == "snli":
            # the hard-split check scores SNLI's test split: encoded once (then cached), about as many distinct
            # sentences as the probe split's
            add("11", f"encode SNLI's test split with {name} (first run)", f"{figure(m.encode_per_s[name])} sentences/s",
                f"~{counts.probe_unique:,} distinct sentences", counts.probe_unique / m.encode_per_s[name])
    # chapter 12_inside_encoder: every frozen encoder's own neurons (MiniLM with its random-weight control)
    untrained_clip = values.get("clip_weights", "untrained") == "untrained"
    n_sentences = min(values.get("neuron_sentences", 0) or counts.probe_unique, counts.probe_unique)
    for name in [e for e in ("minilm", "clip") if e in frozen]:
        blocks, width = encoder_shape(name, values)
        models = [(name, values.get("neurons_per_layer", 0) if name == "minilm" or not untrained_clip
                   else values.get("control_neurons_per_layer", 256))]
        if name == "minilm":
            models.append(("minilm-random", values.get("control_neurons_per_layer", 256)))
        for model, sample in models:
            neurons = blocks * (min(sample, width) if sample else width)
            regimes = len(values.get("neuron_alphas", [0.005, 0.05])) + values.get("n_clusters", 5)
            per = search_seconds(m, values.get("neuron_max_length", 3))
            add("12", f"{model}: neuron activations", f"{figure(m.encode_per_s[name])} sentences/s (encoding)",
                f"{n_sentences:,} sentences", n_sentences / m.encode_per_s[name])
            add("12", f"{model}: clusters and search", f"{CLUSTER_S * 1000:g} ms/neuron (estimated) + "
                f"{per * 1000:.1f} ms per search ÷ {jobs}", f"{neurons:,} neurons × {regimes} regimes",
                neurons * (CLUSTER_S + regimes * per / jobs) * n_sentences / max(n_probe, 1))
        if name == "minilm" or not untrained_clip:
            sets = 3 * (2 + values.get("encoder_ablation_draws", 3))
            sentences = 2 * values.get("encoder_ablation_pairs", 500)
            add("12", f"{name}: encoder ablation", f"{figure(m.encode_per_s[name])} sentences/s; attribution ≈ 4 passes",
                f"{sets} sets × {sentences:,} sentences", (sets + 4) * sentences / m.encode_per_s[name])
    # chapter 99_differences
    add("99", "read the probe file again (all lines)", f"{figure(m.load_lines_per_s)} lines/s", f"{counts.probe.lines:,} lines",
        counts.probe.lines / m.load_lines_per_s)
    if values.get("measure_input_norm", True):
        for name in encoders:
            if name != "lstm":
                add("99", f"load {name} encoder", f"{figure(m.encoder_load_s[name])} s", "1", m.encoder_load_s[name])
            trained("99", name, 1, "without/with input norm")
    length2 = values.get("compare_length", 2)
    short = (1 if values.get("measure_input_norm", True) else 0) + 2  # input norm, penalty × 2 at compare_length
    n_searches = f"{short} × length {length2}, 3 × length 1, {1 + ('standard' not in encodings)} × length {top}"
    seconds = hidden * len(encoders) * (short * search_seconds(m, length2) + 4 * search_seconds(m, 1)
                                        + (1 + ("standard" not in encodings)) * search_seconds(m, top)) / jobs
    add("99", "comparison searches", f"{search_seconds(m, 1) * 1000:.1f} / {search_seconds(m, length2) * 1000:.1f} / "
        f"{per * 1000:.1f} ms/neuron ÷ {jobs}", f"{hidden:,} units × {len(encoders)} models × ({n_searches}, 1 × length 1 "
        "on all probe lines)", seconds)
    for name in frozen:
        add("99", f"load {name} encoder, encode every probe line", f"{figure(m.encoder_load_s[name])} s + "
            f"{figure(m.encode_per_s[name])} sentences/s", f"{counts.probe_all_unique:,} distinct sentences",
            m.encoder_load_s[name] + counts.probe_all_unique / m.encode_per_s[name])
    for name in encoders:
        add("99", f"score every probe line ({name})", f"{figure(m.eval_pairs_per_s[name])} pairs/s", f"{counts.probe.lines:,} pairs",
            counts.probe.lines / m.eval_pairs_per_s[name])
    # chapter 10_causal: every model and seed, the random-network controls included (an untrained CLIP is a
    # control of the others: edits, no adversarial pairs; its shuffled-label control the ablation only)
    untrained_clip = values.get("clip_weights", "untrained") == "untrained"
    for name in [*encoders, *values.get("controls", [])]:
        base = name.split("-")[0]
        if base not in encoders:
            continue
        n_models = (seeds_of(values, base) if name == base or not values.get("control_seeds")
                    else values["control_seeds"])
        if name == "lstm-shuffled" and values.get("lstm_shuffled_seeds"):
            n_models = values["lstm_shuffled_seeds"]
        edited = not (base == "clip" and untrained_clip and name != "clip")
        sentences = causal_sentences(values, adversarial=name == base and not (base == "clip" and untrained_clip)) if edited else 0
        rate = m.eval_pairs_per_s[base] if base == "lstm" else m.encode_per_s[base]
        add("10", f"causal tests of {name}", f"{CAUSAL_MODEL_S:g} s per model (estimated) + {figure(rate)} "
            f"{'pairs' if base == 'lstm' else 'sentences'}/s", f"{n_models} model{'s' if n_models > 1 else ''} × "
            f"~{sentences:,} edited pairs", n_models * (CAUSAL_MODEL_S + sentences / rate))
    for chapter in CHAPTERS:
        add(chapter, "tables, charts, other work", "estimated", "fixed", FIXED_S[chapter])
    order = {c: i for i, c in enumerate(CHAPTERS)}
    return sorted(rows, key=lambda r: order[r.chapter])  # stable: stages stay in the order above


def chapter_totals(rows: Sequence[Row], *, fewest: bool = False) -> dict[str, float]:
    """Projected seconds per chapter; ``fewest``: with every model stopped as early as early stopping can."""
    totals: dict[str, float] = {}
    for row in rows:
        seconds = row.fewest if fewest and row.fewest is not None else row.seconds
        totals[row.chapter] = totals.get(row.chapter, 0.0) + seconds
    return totals
