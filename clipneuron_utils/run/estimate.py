"""How long a profile's chapters will take on this machine, before running them.

``python -m clipneuron_utils.run.pipeline --profile paper --estimate`` (any profile, ``-p`` overrides and
``--only`` work as for a run) times each stage of the chapters on a small sample here, multiplies the
measured rates by the work the profile names, and prints one table — stage, measured rate, work,
projected time — with a total per chapter and for the run. Nothing is run, locked or written: no
chapter, no ``book/`` or ``tests/nbval/``, no ``runs/`` (the measurements keep nothing; ``$CLIPNEURON_RUNS``
points at a temporary folder while they run, and Hugging Face is put offline so no weights download).

What is projected, and from what (see :func:`project`):

* **Data.** Counts come from the profile's SNLI files when they are in the data folder (``data_dir``,
  ``$CLIPNEURON_DATA``, ``./data/snli``), else from the official sizes (:data:`OFFICIAL_SIZES`). Every
  chapter reads every line of its files, the pairs labelled ``-`` (no annotator consensus) included;
  :mod:`clipneuron_utils.data.snli` then drops those, so only labelled pairs are trained on, encoded and
  probed — as here. Distinct sentences (what an encoder encodes, de-duplicated) are counted from the
  files; for an absent file they are estimated with SNLI dev's ratio (:data:`UNIQUE_PER_PAIR`).
* **Chapter 2**: loading each frozen encoder, its throughput table (``benchmark_sentences`` encoded our
  way and, for CLIP, with ``encode_text`` at the full 77-token context) and CLIP's token count of every
  distinct sentence (the truncation table).
* **Chapter 3**, from scratch (empty caches): encoding the distinct train and probe sentences once per
  frozen encoder (sentences/s measured with the profile's ``clip_model``; when its weights cannot be
  loaded here — e.g. ``openai`` without internet — the same architecture untrained, which runs at the
  same speed, and the output says so); training every model of every seed (``seeds``, or ``lstm_seeds``
  for the LSTM) for ``max_epochs`` (LSTM: ``lstm_max_epochs``) epochs — an **upper bound**, as early
  stopping (``patience``) usually ends sooner; frozen heads train on cached features; each epoch also
  scores the held-out ``val_fraction``; then every model scores the probe pairs. The total is printed as a
  range: its shorter end stops every model as early as early stopping can (the first epoch, then
  ``patience`` epochs without a better held-out score), its longer end runs every epoch.
* **Chapter 5**: ``s/neuron`` of :func:`~clipneuron_utils.explain.search.beam_search_by_length` on random masks
  with the probe split's shape against its real concepts (length 1, and ``max_length`` at
  ``beam_size``: cost = atoms + rounds), for every unit (``hidden``; an upper bound: only units firing on
  ``min_acts`` pairs are searched) of every model × encoding, spread over ``n_jobs`` processes; plus the
  matched null: :data:`NULL_BINS` firing-count bins per encoding (capped by the bins ``null_bin_width``
  allows between ``min_acts`` and the probe size) × ``null_draws`` random masks, and the
  ``compare_expand_all`` search.
* **Chapter 8**: retraining each encoder's primary model the other way (``measure_input_norm``), the
  comparison searches (lengths 1, ``compare_length`` and ``max_length``) and re-encoding every probe
  line (the unlabelled pairs included) for the labelled-only comparison.
* **Chapters 1, 4, 6, 7, 9**: start-up and reading the data (measured rate), chapter 4's concept masks
  (measured), and a small fixed cost each (:data:`FIXED_S`: estimated, not measured).

Every chapter also pays a kernel start (:data:`CHAPTER_START_S`, estimated). The device stages (encoding,
training, scoring) are timed on the device the chapters would use (their ``device`` parameter; ``auto`` is
CUDA when there is one); the tokenizer, concept masks and search on the CPU, as they run. Rates depend on the
machine's load: the header prints the load average. ``benchmarks/paper_scale.py`` prints the same figures
per stage for ``--device cpu`` and ``cuda``, and ``benchmarks/validate_estimate.py`` runs chapters and
compares them with their projection.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: SNLI 1.0's splits: (pairs in the file, pairs with a gold label). The pairs labelled ``-`` are read by
#: every chapter and then dropped (:func:`clipneuron_utils.data.snli.load_snli`): train 785, dev 158, test 176,
#: train_0.01 4 (the shared folder's README); test_hard holds labelled pairs only.
OFFICIAL_SIZES: dict[str, tuple[int, int]] = {
    "train": (550_152, 549_367),
    "dev": (10_000, 9_842),
    "test": (10_000, 9_824),
    "test_hard": (3_261, 3_261),
    "train_0.01": (5_502, 5_498),
}
#: distinct sentences per labelled pair when a split's file is absent: SNLI dev's 12,982 / 9,842 (premises
#: repeat about 3 times). The full train split repeats its premises more, so this over-counts it a little.
UNIQUE_PER_PAIR = 12_982 / 9_842
#: distinct sentences per pair line (all lines, the unlabelled ones included) of SNLI dev: 13,134 / 10,000
UNIQUE_PER_LINE = 13_134 / 10_000
#: firing-count bins of the matched null per encoding when they cannot be counted (no model is trained yet):
#: the offline build's 7 models gave 69 bins of 1 %; a trained CLIP's units spread wider
NULL_BINS = 150
#: kernel start, imports and saving of one chapter (estimated: ~2 s measured for a kernel with the chapters'
#: light imports; torch adds ~2 s)
CHAPTER_START_S = 4.0
#: work of a chapter not modelled stage by stage (estimated seconds: charts, tables, bootstrap intervals)
FIXED_S = {"01": 3.0, "02": 2.0, "03": 3.0, "04": 5.0, "05": 5.0, "06": 30.0, "07": 15.0, "08": 10.0, "09": 10.0}
CHAPTERS = ("01", "02", "03", "04", "05", "06", "07", "08", "09")
#: soft limit of one timing (s): on a loaded machine fewer repeats are timed, so ``--estimate`` stays short
BUDGET_S = 10.0
_WORDNET_FALLBACK_S = {"load": 4.0, "build": 1.5}


# ------------------------------------------------------------------------------------------ data counts


@dataclass
class SplitCount:
    """One split: pair lines in its file, labelled pairs, distinct sentences of the labelled pairs."""

    split: str
    lines: int
    labelled: int
    unique: int
    source: str  # the file read, or why the official size was used
    counted: bool  # True: from the file; False: official size / estimate


@dataclass
class DataCounts:
    """What the profile's chapters read, encode, train on and probe."""

    train: list[SplitCount]
    probe: SplitCount
    train_unique: int  # distinct sentences of all labelled train pairs (one feature-cache entry)
    probe_unique: int  # distinct sentences of the labelled probe pairs
    probe_all_unique: int  # distinct sentences of every probe line (chapter 8's labelled-vs-all comparison)
    lstm_vocab: int  # tokens of the LSTM's vocabulary (capped by lstm_max_vocab)
    notes: list[str] = field(default_factory=list)
    sample: object = None  # labelled pairs (DataFrame) the measurements use: train pairs when loaded, else probe
    probe_pairs: object = None  # the labelled probe pairs when loaded (masks and concepts are shaped like them)
    load_seconds: float = 0.0  # time spent reading the files that were present
    load_lines: int = 0  # their lines

    @property
    def train_lines(self) -> int:
        return sum(s.lines for s in self.train)

    @property
    def train_pairs(self) -> int:
        return sum(s.labelled for s in self.train)

    @property
    def read_lines(self) -> int:
        """Lines every chapter reads: all train files and the probe file."""
        return self.train_lines + self.probe.lines


def _unique(frame) -> set[str]:
    return set(frame["premise"]) | set(frame["hypothesis"])


def _heaps_vocab(frame, target_pairs: int) -> int:
    """Distinct tokens of ``target_pairs`` pairs, extrapolated from ``frame`` by Heaps' law ``V = K n^β``
    (β fitted between a quarter and all of ``frame``)."""
    def vocab(rows):
        return len({t for col in ("premise_tokens", "hypothesis_tokens") for toks in rows[col] for t in toks})
    n = len(frame)
    small, full = vocab(frame.iloc[: max(n // 4, 1)]), vocab(frame)
    beta = math.log(full / small) / math.log(n / max(n // 4, 1)) if n >= 8 and full > small else 0.6
    return int(round(full * (target_pairs / n) ** min(max(beta, 0.3), 0.9)))


def count_data(values: dict) -> DataCounts:
    """Counts of the data the profile names: from its files when present, else official sizes."""
    from ..data import snli, synthetic

    if values.get("data_source", "snli") == "synthetic":
        started = time.perf_counter()
        train, probe = synthetic.make_splits(values.get("n_synthetic_train", 600), values.get("n_synthetic_probe", 300),
                                             seed=values.get("seed", 0))
        seconds = time.perf_counter() - started
        t = SplitCount("synthetic", len(train), len(train), len(_unique(train)), "embedded synthetic pairs", True)
        p = SplitCount("synthetic", len(probe), len(probe), len(_unique(probe)), "embedded synthetic pairs", True)
        return DataCounts([t], p, t.unique, p.unique, p.unique, _vocab_size(train, values), sample=train,
                          probe_pairs=probe, load_seconds=seconds, load_lines=len(train) + len(probe))

    data_dir = values.get("data_dir") or None
    notes: list[str] = []
    frames: dict[str, object] = {}
    counts: dict[str, SplitCount] = {}
    load_seconds, load_lines = 0.0, 0
    splits = list(dict.fromkeys([*values.get("train_splits", ["train"]), values.get("probe_split", "dev")]))
    for split in splits:
        try:
            path = snli.find_split(split, data_dir, download=False)
        except snli.SNLINotFoundError:
            path = None
        if path is not None:
            started = time.perf_counter()
            frame = snli.read_snli_file(path, keep_unlabelled=True)
            load_seconds += time.perf_counter() - started
            load_lines += len(frame)
            labelled = frame[frame["label"] != snli.UNLABELLED].reset_index(drop=True)
            frames[split] = (frame, labelled)
            counts[split] = SplitCount(split, len(frame), len(labelled), len(_unique(labelled)), str(path), True)
            continue
        if split not in OFFICIAL_SIZES:
            raise ValueError(f"SNLI split {split!r}: no file in {snli.resolve_data_dir(data_dir).path} and no official "
                             f"size known (known: {', '.join(OFFICIAL_SIZES)})")
        lines, labelled = OFFICIAL_SIZES[split]
        counts[split] = SplitCount(split, lines, labelled, int(round(labelled * UNIQUE_PER_PAIR)),
                                   "file absent: official size", False)
        notes.append(f"SNLI {split}: no file in {snli.resolve_data_dir(data_dir).path}; official size {lines:,} pairs, "
                     f"{labelled:,} labelled ({lines - labelled:,} labelled '-' are read, then dropped as snli.py does); "
                     f"its {counts[split].unique:,} distinct sentences are estimated with SNLI dev's "
                     f"{UNIQUE_PER_PAIR:.3f} per labelled pair"
                     + (" (an upper bound: the full train split repeats its premises more)" if split == "train" else ""))
    train_names = list(dict.fromkeys(values.get("train_splits", ["train"])))
    probe_name = values.get("probe_split", "dev")
    train = [counts[s] for s in train_names]
    probe = counts[probe_name]
    present = [s for s in train_names if s in frames]
    import pandas as pd

    train_frame = pd.concat([frames[s][1] for s in present], ignore_index=True) if present else None
    if train_frame is not None:
        union = set().union(*(_unique(frames[s][1]) for s in present))
        train_unique = len(union) + sum(s.unique for s in train if not s.counted)
    else:
        train_unique = sum(s.unique for s in train)
    if probe.counted:
        probe_all_unique = len(_unique(frames[probe_name][0]))
        probe_pairs = frames[probe_name][1]
    else:
        probe_all_unique = int(round(probe.lines * UNIQUE_PER_LINE))
        probe_pairs = None
    sample = train_frame if train_frame is not None else probe_pairs
    if len(present) == len(train_names):
        vocab = _vocab_size(train_frame, values)
    else:
        base = train_frame if train_frame is not None else probe_pairs
        if base is None:
            vocab = 40_000
            notes.append("LSTM vocabulary: no SNLI file here to count it; assumed 40,000 tokens")
        else:
            vocab = _heaps_vocab(base, sum(s.labelled for s in train))
            cap = values.get("lstm_max_vocab") or 0
            vocab = min(vocab, cap) + 2 if cap else vocab + 2
            notes.append(f"LSTM vocabulary: {vocab:,} tokens, extrapolated by Heaps' law from the {len(base):,} pairs "
                         "read here (the train files are absent)")
    if sample is None:
        sample, _ = synthetic.make_splits(600, 300, seed=0)
        notes.append("no SNLI file here at all: the sentences and tokens of the timings come from the embedded "
                     "synthetic pairs, shorter than SNLI's (encoding and LSTM rates are optimistic)")
    return DataCounts(train, probe, train_unique, probe.unique, probe_all_unique, vocab, notes, sample, probe_pairs,
                      load_seconds, load_lines)


def _vocab_size(frame, values: dict) -> int:
    counts = Counter(t for col in ("premise_tokens", "hypothesis_tokens") for toks in frame[col] for t in toks)
    cap = values.get("lstm_max_vocab") or 0
    return (min(len(counts), cap) if cap else len(counts)) + 2  # + <pad>, <unk>


# ------------------------------------------------------------------------------------------ measurements


@dataclass
class Measurements:
    """Rates measured on this machine (what :func:`project` multiplies by the work)."""

    device: str
    load_lines_per_s: float  # SNLI file lines read and parsed per second
    tokenize_per_s: float | None = None  # CLIP BPE token counts per second (chapter 2's truncation table)
    encoder_load_s: dict[str, float] = field(default_factory=dict)  # building each frozen encoder
    encode_per_s: dict[str, float] = field(default_factory=dict)  # distinct sentences per second, our encoding
    reference_per_s: dict[str, float] = field(default_factory=dict)  # CLIP's encode_text at 77 tokens
    train_pairs_per_s: dict[str, float] = field(default_factory=dict)  # training pairs per second (per model)
    eval_pairs_per_s: dict[str, float] = field(default_factory=dict)  # scoring pairs per second (eval mode)
    search_atoms_s: float = 0.0  # s per neuron of a length-1 search (scoring every atom)
    search_round_s: float = 0.0  # s per neuron of each further round (beam × expansion atoms)
    concepts_s: dict[str, float] = field(default_factory=dict)  # 'standard', 'wordnet' (one build), 'wordnet_load'
    labels: dict[str, str] = field(default_factory=dict)  # what was timed, e.g. the CLIP model actually built
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # time the measurements took


@contextlib.contextmanager
def sandbox():
    """While measuring: runs/ in a temporary folder, Hugging Face offline (no download), progress bars off."""
    from ..artifacts import RUNS_ENV, environment

    with tempfile.TemporaryDirectory(prefix="clipneuron-estimate-") as tmp, \
            environment(**{RUNS_ENV: tmp}, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1"):
        yield tmp


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _sentences(frame, n: int, seed: int = 0) -> list[str]:
    unique = list(dict.fromkeys([*frame["premise"], *frame["hypothesis"]]))
    rng = np.random.default_rng(seed)
    return [unique[i] for i in rng.choice(len(unique), size=min(n, len(unique)), replace=False)]


def strata(n: int, k: int) -> list[int]:
    """Indices of ``k`` items spread over ``n`` ordered ones, one at the middle of each of ``k`` equal strata.

    Middles, not ends: the first and last batch of a length order hold the extreme sentences, and with a
    few strata each would weigh ``1/k`` instead of ``1/n`` (end points projected MiniLM's encoding 1.4×
    too slow)."""
    k = max(min(k, n), 1)
    return sorted({min(int((i + 0.5) * n / k), n - 1) for i in range(k)})


def _plan_batches(encoder, pool: list[str], n_batches: int):
    """``(batches, run)``: ``n_batches`` full batches of the encoder's own batch plan over ``pool``, evenly
    spaced along its length order, or None for an encoder without a plan.

    A run encodes its distinct sentences sorted by length, each batch cut to its longest sentence, so a
    batch costs what its length costs. Random sentences in one batch pad to the longest of them and ran
    about 2× slower than the offline run (170 vs 460 sentences/s for MiniLM); batches taken at evenly spaced
    quantiles of the plan's length order cost, on average, what the run's batches cost."""
    plan = encoder._batch_plan(pool, encoder.default_batch_size) if hasattr(encoder, "_batch_plan") else None
    if plan is None:
        return None
    batches, run = plan
    full = [idx for idx in batches if len(idx) == encoder.default_batch_size] or batches
    chosen = [full[i] for i in strata(len(full), n_batches)]
    run(chosen[0])  # warm-up at this batch size
    return chosen, run


def time_encoder(name: str, values: dict, sentences: list[str], device: str, *, n_encode: int, n_reference: int,
                 n_tokenize: int, pool: list[str] | None = None) -> dict:
    """Build one frozen encoder (the profile's weights if they load here, else the same architecture
    untrained) and time its encoding; returns the figures and a note. ``n_encode``: batches of the
    encoder's plan over ``pool`` (the distinct sentences of the sample) that are timed."""
    from ..models.clip import ClipWeightsError
    from ..models.encoders import make_encoder
    from .store import encoder_params

    out: dict = {"note": None}
    params = encoder_params(name, values.get("clip_model", "ViT-B-32"), values.get("clip_weights", "openai"),
                            values.get("clip_sha256", ""))
    started = time.perf_counter()
    try:
        encoder = make_encoder(name, **params, device=device)
    except ClipWeightsError as exc:
        first = str(exc).splitlines()[0]
        params = {**params, "weights": "untrained", "sha256": None}
        started = time.perf_counter()
        encoder = make_encoder(name, **params, device=device)
        out["note"] = (f"CLIP {params['model_name']} weights {values.get('clip_weights')!r} cannot be loaded here "
                       f"({first}); timed the same architecture UNTRAINED: the speed does not depend on the weights")
    out["load_s"] = time.perf_counter() - started
    out["label"] = encoder.name
    out["dim"] = encoder.dim
    encoder.encode(sentences[:8], progress=False)  # warm-up
    _sync(device)
    planned = _plan_batches(encoder, pool or sentences, n_encode)
    if planned is not None:  # batches of the encoder's own plan, spread over its length order (see _plan_batches)
        batches, run = planned
        seconds = _median_seconds(lambda: [run(idx) for idx in batches], device)
        out["encode_per_s"] = sum(len(idx) for idx in batches) / seconds
    else:
        chunk = sentences[8 : 8 + n_encode] if len(sentences) > 8 + n_encode // 2 else sentences[:n_encode]
        out["encode_per_s"] = len(chunk) / _median_seconds(lambda: encoder.encode(chunk, progress=False), device)
    reference = getattr(encoder, "encode_reference", None)
    if reference is not None and n_reference:
        reference(sentences[:4])
        few = sentences[:n_reference]
        out["reference_per_s"] = len(few) / _median_seconds(lambda: reference(few), device)
    if hasattr(encoder, "token_lengths") and n_tokenize:
        try:
            started = time.perf_counter()
            encoder.token_lengths(sentences[:n_tokenize])
            out["tokenize_per_s"] = min(n_tokenize, len(sentences)) / max(time.perf_counter() - started, 1e-9)
        except NotImplementedError:
            pass
    return out


def _median_seconds(work: Callable[[], object], device: str, repeats: int = 3) -> float:
    """Median wall seconds of ``repeats`` runs of ``work`` (one burst of other work on a shared machine
    does not decide the rate; fewer runs once :data:`BUDGET_S` is spent)."""
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        work()
        _sync(device)
        times.append(time.perf_counter() - started)
        if sum(times) > BUDGET_S:
            break
    return max(float(np.median(times)), 1e-9)


def head_config(values: dict):
    """Chapter 3's HeadConfig from the parameter values."""
    from ..models.heads import HeadConfig

    return HeadConfig(hidden=values.get("hidden", 1024), dropout=values.get("dropout", 0.1),
                      input_norm=values.get("input_norm", True), lr=values.get("lr", 1e-3),
                      batch_size=values.get("batch_size", 128), max_epochs=values.get("max_epochs", 20),
                      lstm_max_epochs=values.get("lstm_max_epochs") or None, patience=values.get("patience", 3),
                      val_fraction=values.get("val_fraction", 0.1), seed=values.get("seed", 0),
                      lstm_embedding_dim=values.get("lstm_embedding_dim", 300),
                      lstm_hidden_dim=values.get("lstm_hidden_dim", 512),
                      lstm_bidirectional=values.get("lstm_bidirectional", True),
                      lstm_max_vocab=values.get("lstm_max_vocab") or None)


def _stepper(model, device: str) -> Callable:
    """Chapter 3's training step (forward, cross-entropy, backward, Adam) for ``model`` on ``device``."""
    import torch
    from torch import nn

    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=model.config.lr)
    loss_fn = nn.CrossEntropyLoss()

    def step(inputs, target):
        logits = model(*_encode_inputs(model, inputs, device))
        loss = loss_fn(logits, target.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach().item() + int((logits.argmax(1) == target.to(device)).sum())  # training.train syncs too

    return step


def _train_steps(model, batches: list, device: str, warmup: int = 2) -> float:
    """Seconds per pair of chapter 3's training step over ``batches`` (each ``(inputs, targets)``), after
    ``warmup`` untimed steps (:func:`_per_pair`)."""
    step = _stepper(model, device)
    for inputs, target in batches[:warmup]:
        step(inputs, target)
    _sync(device)
    timed = batches[warmup:] or batches
    return _per_pair(timed, lambda batch: step(*batch), device)


def _per_pair(batches: list, work: Callable, device: str, repeats: int = 3) -> float:
    """Seconds per pair of ``work`` over every batch of ``batches`` (each ``(inputs, targets)``): the median
    of up to ``repeats`` passes over all of them (fewer once :data:`BUDGET_S` is spent).

    Every pass covers every batch, so no batch is left out of a rate (the frozen heads and scoring; the
    LSTM's training, whose batches differ in length, is timed batch by batch: :func:`lstm_epoch_seconds`)."""
    pairs = sum(len(target) for _, target in batches)
    per_pair, begun = [], time.perf_counter()
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        for batch in batches:
            work(batch)
        _sync(device)
        per_pair.append((time.perf_counter() - started) / pairs)
        if time.perf_counter() - begun > BUDGET_S:
            break
    return float(np.median(per_pair))


def _eval_steps(model, batches: list, device: str) -> float:
    """Seconds per pair of scoring in eval mode (hidden units and logits), as ``heads`` does for the held-out
    slice and the probe pairs."""
    import torch

    model.to(device).eval()
    with torch.inference_mode():
        model.hidden_units(*_encode_inputs(model, batches[0][0], device))

        def score(batch):
            h = model.hidden_units(*_encode_inputs(model, batch[0], device))
            model.mlp[3](model.mlp[2](h)).cpu()

        return _per_pair(batches, score, device)


def _encode_inputs(model, inputs, device: str):
    """(u, v) of a batch: frozen features as they are, LSTM token ids through the model's encoder."""
    if model.lstm is None:
        u, v = inputs
        return u.to(device, non_blocking=True), v.to(device, non_blocking=True)
    (p_ids, p_len), (h_ids, h_len) = inputs
    return model.lstm(p_ids.to(device), p_len.to(device)), model.lstm(h_ids.to(device), h_len.to(device))


def time_frozen_head(name: str, dim: int, values: dict, device: str, *, n_batches: int, n_eval: int) -> dict:
    """Training and scoring pairs/s of a frozen encoder's head on random features of its dimension."""
    import torch

    from ..models.heads import NLIModel

    config = head_config(values)
    torch.manual_seed(0)
    model = NLIModel(name, config, dim)
    size = config.batch_size

    def batches(n, size):
        return [((torch.randn(size, dim), torch.randn(size, dim)), torch.randint(0, 3, (size,))) for _ in range(n)]

    train_s = _train_steps(model, batches(n_batches + 2, size), device)
    eval_s = _eval_steps(model, batches(max(n_eval // 1024, 1), 1024), device)
    return {"train_per_s": 1 / train_s, "eval_per_s": 1 / eval_s}


def _padded(seqs: list[np.ndarray]):
    import torch

    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for row, s in enumerate(seqs):
        out[row, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)


def time_lstm(frame, vocab_size: int, values: dict, device: str, *, n_batches: int, n_eval: int) -> dict:
    """Training and scoring pairs/s of the LSTM model on real sentences, batched as ``training.train`` does
    (pools of 50 batches sorted by length), with an embedding of the projected vocabulary size."""
    import torch

    from ..models.heads import NLIModel

    config = head_config(values)
    seen = list(dict.fromkeys(t for col in ("premise_tokens", "hypothesis_tokens") for toks in frame[col] for t in toks))
    vocab = ["<pad>", "<unk>", *seen[: max(vocab_size - 2, 1)]]
    vocab += [f"<fill{i}>" for i in range(max(vocab_size - len(vocab), 0))]
    index = {w: i for i, w in enumerate(vocab)}
    ids = lambda toks: np.array([index.get(t, 1) for t in toks] or [1], dtype=np.int64)  # noqa: E731
    torch.manual_seed(0)
    model = NLIModel("lstm", config, 0, vocab=vocab)
    rng = np.random.default_rng(0)
    size = config.batch_size
    pool = rng.choice(len(frame), size=min(50 * size, len(frame)), replace=False)
    lengths = np.array([len(frame["premise_tokens"].iat[i]) * 1000 + len(frame["hypothesis_tokens"].iat[i]) for i in pool])
    pool = pool[np.argsort(lengths, kind="stable")]
    cut = [pool[i : i + size] for i in range(0, len(pool), size)]
    full = [c for c in cut if len(c) == size] or cut
    spread = np.array(strata(len(full), n_batches))
    # one batch of the middle length warms up (untimed); then every stratum of the length order, shuffled
    chosen = [full[len(full) // 2]] + [full[i] for i in rng.permutation(spread)]

    def batch(rows):
        rows = np.asarray(rows, dtype=np.int64)
        p = _padded([ids(frame["premise_tokens"].iat[i]) for i in rows])
        h = _padded([ids(frame["hypothesis_tokens"].iat[i]) for i in rows])
        return (p, h), torch.randint(0, 3, (len(rows),))

    built = [batch(r) for r in chosen]
    times = _train_batch_seconds(model, built, device, warmup=1)
    slots = [_token_slots(inputs) for inputs, _ in built[1:]]
    train_s = lstm_epoch_seconds(frame, config, slots, times) / split_fit_val(len(frame), config.val_fraction)[0]
    order = np.argsort([len(frame["premise_tokens"].iat[i]) * 1000 + len(frame["hypothesis_tokens"].iat[i])
                        for i in range(len(frame))], kind="stable")
    n_eval = min(n_eval, len(frame))
    pick = order[np.linspace(0, len(order) - 1, n_eval).astype(int)]
    eval_s = _eval_steps(model, [batch(pick[i : i + 256]) for i in range(0, n_eval, 256)], device)
    return {"train_per_s": 1 / train_s, "eval_per_s": 1 / eval_s}


def _token_slots(inputs) -> int:
    """Padded token positions of an LSTM batch: rows × (longest premise + longest hypothesis)."""
    (p_ids, _), (h_ids, _) = inputs
    return int(p_ids.shape[0] * (p_ids.shape[1] + h_ids.shape[1]))


def _train_batch_seconds(model, batches: list, device: str, warmup: int = 1, repeats: int = 3) -> np.ndarray:
    """Seconds of one training step on each of ``batches[warmup:]``: the median over up to ``repeats`` passes
    (fewer once :data:`BUDGET_S` is spent), after ``warmup`` untimed steps."""
    step = _stepper(model, device)
    for inputs, target in batches[:warmup]:
        step(inputs, target)
    timed, passes, begun = batches[warmup:] or batches, [], time.perf_counter()
    for _ in range(repeats):
        seconds = []
        for inputs, target in timed:
            _sync(device)
            started = time.perf_counter()
            step(inputs, target)
            _sync(device)
            seconds.append(time.perf_counter() - started)
        passes.append(seconds)
        if time.perf_counter() - begun > BUDGET_S:
            break
    return np.median(np.array(passes), axis=0)


def lstm_epoch_seconds(frame, config, slots: Sequence[int], seconds: Sequence[float]) -> float:
    """Seconds of one LSTM training epoch over ``frame``'s fitted pairs, from timed batches.

    A batch's step costs about ``a + b × token slots`` (rows × its longest premise + longest hypothesis),
    fitted on the timed batches; the sum runs over every batch of the epoch's own plan
    (:func:`clipneuron_utils.models.batches._batches`: pools of 50 batches sorted by length). Long sentences are
    rare but cost several short batches each: a mean over a few timed batches projected the offline LSTM's
    epochs 18-29 % too short, this sum within a few percent of the same pairs' real epoch."""
    from types import SimpleNamespace

    from ..models.batches import _batches

    slots, seconds = np.asarray(slots, dtype=float), np.asarray(seconds, dtype=float)
    if len(slots) >= 2 and np.ptp(slots) > 0:
        b, a = np.polyfit(slots, seconds, 1)
        if b <= 0 or a < 0:  # a noisy fit: proportional to the slots through the timed total
            a, b = 0.0, seconds.sum() / slots.sum()
    else:
        a, b = 0.0, seconds.sum() / max(slots.sum(), 1.0)
    n_fit = split_fit_val(len(frame), config.val_fraction)[0]
    rng = np.random.default_rng(config.seed)
    p = [range(max(len(t), 1)) for t in frame["premise_tokens"]]  # lengths are all _batches reads
    h = [range(max(len(t), 1)) for t in frame["hypothesis_tokens"]]
    plan = _batches(rng.permutation(len(frame))[:n_fit], config, rng,
                    SimpleNamespace(p_ids=p, h_ids=h) if config.lstm_bucket else None)
    total = sum(a + b * len(idx) * (max(len(p[i]) for i in idx) + max(len(h[i]) for i in idx)) for idx in plan)
    return float(total)


def probe_masks(n_pairs: int, n_masks: int, min_acts: int, seed: int = 0) -> np.ndarray:
    """Random firing masks (pairs × n_masks) over ``n_pairs`` probe pairs, firing counts spread from
    ``min_acts`` (at least 5 % of the pairs) to 60 % of them: trained units fire on ~45 % of SNLI dev."""
    from ..explain.controls import random_masks

    low = min(max(min_acts, int(0.05 * n_pairs), 1), n_pairs)
    high = max(int(0.6 * n_pairs), low)
    counts = np.unique(np.linspace(low, high, n_masks).astype(np.int64))
    masks = random_masks(counts, n_pairs, 1, seed)
    if masks.shape[1] < n_masks:  # tiny probe sets: repeat counts with other draws
        masks = random_masks(np.resize(counts, n_masks), n_pairs, 1, seed + 1)
    return masks


def snli_like_concepts(n_pairs: int, vocab_size: int = 2000, seed: int = 0):
    """A standard-encoding concept matrix shaped like SNLI's when the probe file is absent: ``vocab_size``
    token concepts per side with Zipf densities, tags from near-always to rare, 3 overlap concepts
    (the densities ``benchmarks/search.py`` fitted to SNLI dev: 4,083 concepts, ~300,000 nonzeros)."""
    import scipy.sparse as sp

    from ..explain.concepts import Concepts

    rng = np.random.default_rng(seed)
    tok = np.clip(1.4 * np.arange(1, vocab_size + 1) ** -1.02, 1e-4, 0.48)
    tags = np.clip(0.98 * np.exp(-(np.arange(1, 41) - 2) / 6), 2e-4, 0.98)
    columns = [("pre:tok:w", tok), ("hyp:tok:w", tok * 0.55), ("pre:tag:T", tags), ("hyp:tag:T", tags * 0.9),
               ("oth:overlap:", np.array([0.54, 0.22, 0.12]))]
    names, rows, cols = [], [], []
    for prefix, densities in columns:
        for rank, density in enumerate(densities):
            hit = np.flatnonzero(rng.random(n_pairs) < density)
            rows.append(hit if len(hit) else rng.integers(0, n_pairs, 1))
            cols.append(np.full(len(rows[-1]), len(names)))
            names.append(f"{prefix}{(25, 50, 75)[rank] if prefix == 'oth:overlap:' else rank}")
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    masks = sp.csc_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n_pairs, len(names)))
    return Concepts(names, masks, encoding="standard")


def time_search(probe, values: dict, *, n_masks: int, n_pairs: int | None = None) -> dict:
    """Seconds per neuron of the beam search at length 1 and per further round, on random masks shaped
    like the probe split against its standard concepts (built here, timed); without the probe pairs
    (``probe`` None), against :func:`snli_like_concepts` of ``n_pairs`` rows."""
    from ..explain.concepts import build_concepts
    from ..explain.search import beam_search_by_length

    started = time.perf_counter()
    if probe is not None:
        concepts = build_concepts(probe, vocab_size=values.get("vocab_size", 2000), encoding="standard", progress=False)
    else:
        concepts = snli_like_concepts(n_pairs, values.get("vocab_size", 2000))
    standard_s = time.perf_counter() - started
    masks = probe_masks(concepts.masks.shape[0], n_masks, values.get("min_acts", 500))
    params = dict(beam_size=values.get("beam_size", 10), min_acts=0, complexity_penalty=values.get("complexity_penalty", 1.0),
                  or_not=values.get("or_not", False), expand_all=values.get("expand_all", False), progress=False, n_jobs=1)
    top = values.get("max_length", 5)
    beam_search_by_length(masks[:, :2], concepts, max_length=min(top, 2), **params)  # warm-up
    started = time.perf_counter()
    beam_search_by_length(masks, concepts, max_length=1, **params)
    atoms = (time.perf_counter() - started) / masks.shape[1]
    per_round = 0.0
    if top > 1:
        started = time.perf_counter()
        beam_search_by_length(masks, concepts, max_length=top, **params)
        per_round = max((time.perf_counter() - started) / masks.shape[1] - atoms, 0.0) / (top - 1)
    return {"atoms_s": atoms, "round_s": per_round, "standard_s": standard_s, "n_concepts": len(concepts.names)}


def time_wordnet(probe, values: dict) -> dict:
    """Loading WordNet and one WordNet concept build of the probe pairs (chapter 4 builds two modes)."""
    from ..explain import wordnet
    from ..explain.concepts import build_concepts

    started = time.perf_counter()
    wordnet.reader()
    load = time.perf_counter() - started
    started = time.perf_counter()
    build_concepts(probe, vocab_size=values.get("vocab_size", 2000), encoding="wordnet",
                   wordnet_mode=values.get("wordnet_mode", "exact"), progress=False)
    return {"load_s": load, "build_s": time.perf_counter() - started}


def time_loading(counts: DataCounts, values: dict) -> float:
    """SNLI lines read per second: from reading the profile's files (``count_data``), else the probe-sized
    synthetic generation (no file here: a bound that hides the parsing)."""
    if counts.load_lines and counts.load_seconds > 0:
        return counts.load_lines / counts.load_seconds
    from ..data import snli

    try:
        started = time.perf_counter()
        frame = snli.read_snli_file(snli.find_split("dev", values.get("data_dir") or None, download=False),
                                    keep_unlabelled=True)
        return len(frame) / (time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - no SNLI file anywhere: dev's rate on these machines
        return 20_000.0


def measure(values: dict, counts: DataCounts, device: str = "cpu") -> Measurements:
    """Time every stage the profile runs, on small samples (well under a minute on 2 CPU cores)."""
    import torch

    started = time.perf_counter()
    encoders = list(dict.fromkeys(values.get("encoders", ["clip", "lstm", "minilm"])))
    m = Measurements(device=device, load_lines_per_s=time_loading(counts, values))
    sample = counts.sample
    sentences, pool = _sentences(sample, 408), _sentences(sample, 4096, seed=1)
    for name in [e for e in encoders if e != "lstm"]:
        figures = time_encoder(name, values, sentences, device, n_encode=6 if name == "clip" else 4, pool=pool,
                               n_reference=12 if name == "clip" else 0, n_tokenize=400 if name == "clip" else 0)
        m.encoder_load_s[name] = figures["load_s"]
        m.encode_per_s[name] = figures["encode_per_s"]
        m.labels[name] = figures["label"]
        if "reference_per_s" in figures:
            m.reference_per_s[name] = figures["reference_per_s"]
        if "tokenize_per_s" in figures:
            m.tokenize_per_s = figures["tokenize_per_s"]
        if figures["note"]:
            m.notes.append(figures["note"])
        head = time_frozen_head(name, figures["dim"], values, device, n_batches=18, n_eval=4096)
        m.train_pairs_per_s[name], m.eval_pairs_per_s[name] = head["train_per_s"], head["eval_per_s"]
    if "lstm" in encoders:
        lstm = time_lstm(sample, counts.lstm_vocab, values, device, n_batches=8, n_eval=768)
        m.train_pairs_per_s["lstm"], m.eval_pairs_per_s["lstm"] = lstm["train_per_s"], lstm["eval_per_s"]
        m.labels["lstm"] = (f"LSTM {values.get('lstm_embedding_dim', 300)}→{values.get('lstm_hidden_dim', 512)} "
                            f"{'bi' if values.get('lstm_bidirectional', True) else 'uni'}directional, "
                            f"vocabulary {counts.lstm_vocab:,}")
    probe = counts.probe_pairs
    search = time_search(probe, values, n_masks=24, n_pairs=counts.probe.labelled)
    m.search_atoms_s, m.search_round_s = search["atoms_s"], search["round_s"]
    m.concepts_s["standard"] = search["standard_s"]
    m.labels["search"] = (f"{counts.probe.labelled:,} pairs × {search['n_concepts']:,} concepts, beam "
                          f"{values.get('beam_size', 10)}, 1 process")
    if probe is None:
        m.notes.append(f"the probe split's file is absent: the search was timed on an SNLI-like synthetic concept matrix "
                       f"of {counts.probe.labelled:,} pairs, and the concept builds on the pairs read here")
    try:
        wn = time_wordnet(probe if probe is not None else sample, values)
        m.concepts_s["wordnet_load"], m.concepts_s["wordnet"] = wn["load_s"], wn["build_s"]
    except Exception as exc:  # noqa: BLE001 - no WordNet here: chapter 4 would stop; estimate anyway
        m.concepts_s["wordnet_load"], m.concepts_s["wordnet"] = _WORDNET_FALLBACK_S["load"], _WORDNET_FALLBACK_S["build"]
        m.notes.append(f"WordNet could not be loaded here ({type(exc).__name__}); its concept builds are estimated "
                       f"({_WORDNET_FALLBACK_S['load']:.0f} s to load, {_WORDNET_FALLBACK_S['build']:.1f} s per mode)")
    m.labels["threads"] = f"{torch.get_num_threads()} torch threads"
    m.seconds = time.perf_counter() - started
    return m


# ------------------------------------------------------------------------------------------ projection


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


def duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``5.3 h``, ``2.1 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def seeds_of(values: dict, encoder: str) -> int:
    """Models chapter 3 trains for ``encoder`` (``seeds``, or ``lstm_seeds`` for the LSTM when not 0)."""
    from .store import training_seeds

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


def split_fit_val(n: int, val_fraction: float) -> tuple[int, int]:
    """(pairs fitted, pairs held out) per epoch, as ``training.train`` splits them."""
    n_val = min(n - 1, max(1, round(val_fraction * n))) if val_fraction > 0 and n > 1 else 0
    return n - n_val, n_val


def epoch_seconds(m: Measurements, encoder: str, fit: int, val: int) -> float:
    """Seconds of one training epoch: ``fit`` pairs trained on, then ``val`` held-out pairs scored."""
    return fit / m.train_pairs_per_s[encoder] + val / m.eval_pairs_per_s[encoder]


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
    from ..explain.search import resolve_jobs

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
    # chapter 2
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
    # chapter 3
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
    # chapter 4
    n_modes = len(dict.fromkeys([values.get("wordnet_mode", "exact"), "exact", "all_senses"]))
    add("04", "standard concepts", f"{figure(m.concepts_s['standard'])} s per build", f"{n_probe:,} probe pairs",
        m.concepts_s["standard"])
    add("04", "WordNet concepts", f"load {figure(m.concepts_s['wordnet_load'])} s, {figure(m.concepts_s['wordnet'])} s per build",
        f"{n_modes} modes", m.concepts_s["wordnet_load"] + n_modes * m.concepts_s["wordnet"])
    # chapter 5
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
    # chapter 8
    add("08", "read the probe file again (all lines)", f"{figure(m.load_lines_per_s)} lines/s", f"{counts.probe.lines:,} lines",
        counts.probe.lines / m.load_lines_per_s)
    if values.get("measure_input_norm", True):
        for name in encoders:
            if name != "lstm":
                add("08", f"load {name} encoder", f"{figure(m.encoder_load_s[name])} s", "1", m.encoder_load_s[name])
            trained("08", name, 1, "without/with input norm")
    length2 = values.get("compare_length", 2)
    short = (1 if values.get("measure_input_norm", True) else 0) + 2  # input norm, penalty × 2 at compare_length
    n_searches = f"{short} × length {length2}, 3 × length 1, {1 + ('standard' not in encodings)} × length {top}"
    seconds = hidden * len(encoders) * (short * search_seconds(m, length2) + 4 * search_seconds(m, 1)
                                        + (1 + ("standard" not in encodings)) * search_seconds(m, top)) / jobs
    add("08", "comparison searches", f"{search_seconds(m, 1) * 1000:.1f} / {search_seconds(m, length2) * 1000:.1f} / "
        f"{per * 1000:.1f} ms/neuron ÷ {jobs}", f"{hidden:,} units × {len(encoders)} models × ({n_searches}, 1 × length 1 "
        "on all probe lines)", seconds)
    for name in frozen:
        add("08", f"load {name} encoder, encode every probe line", f"{figure(m.encoder_load_s[name])} s + "
            f"{figure(m.encode_per_s[name])} sentences/s", f"{counts.probe_all_unique:,} distinct sentences",
            m.encoder_load_s[name] + counts.probe_all_unique / m.encode_per_s[name])
    for name in encoders:
        add("08", f"score every probe line ({name})", f"{figure(m.eval_pairs_per_s[name])} pairs/s", f"{counts.probe.lines:,} pairs",
            counts.probe.lines / m.eval_pairs_per_s[name])
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


def span(low: float, high: float) -> str:
    """``3.1 d`` or, when early stopping can shorten it, ``14.2 h – 3.1 d``."""
    return duration(high) if high - low < 0.005 * high else f"{duration(low)} – {duration(high)}"


# ------------------------------------------------------------------------------------------ report


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
    if row.chapter == "08" and stage.startswith("train "):
        return ["-p measure_input_norm=false (chapter 8 then retrains nothing)"]
    if stage.startswith("train lstm"):
        knobs = ["-p lstm_seeds=1"] if seeds_of(values, "lstm") > 1 else []
        return knobs + (["-p lstm_max_epochs=N"] if epochs_of(values, "lstm") > 1 else []) + gpu
    if stage.startswith("train "):
        return (["-p seeds=N"] if values.get("seeds", 3) > 1 else []) + (["-p max_epochs=N"] if values.get(
            "max_epochs", 20) > 1 else []) + gpu
    if stage.startswith("encode with"):
        return gpu + ["nothing per run: the feature cache keeps the features for every later run, seed and profile"]
    if stage in ("beam search", "matched null", "search with every concept (comparison)", "comparison searches"):
        from ..explain.search import resolve_jobs

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
