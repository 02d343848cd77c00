"""What a profile asks the machine to do, counted before anything runs: the pairs and distinct sentences
of each split (from the files when present, else SNLI's official sizes) and the LSTM's vocabulary.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field



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
    probe_all_unique: int  # distinct sentences of every probe line (chapter 99_differences's labelled-vs-all comparison)
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
