"""What a run trains and probes on: the train and probe pairs of a profile, with their provenance.

Every chapter calls :func:`load_pairs` with the same parameters, so they all see the same pairs; the
provenance table says exactly which files (or the embedded synthetic generator) were used, so the book
can state it wherever results are shown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import snli, synthetic

DATA_SOURCES = ("snli", "synthetic")


@dataclass
class Pairs:
    """Train pairs (heads learn on them) and probe pairs (neurons are explained on them)."""

    train: pd.DataFrame
    probe: pd.DataFrame
    provenance: pd.DataFrame = field(repr=False)
    #: the data parameters that produced these pairs (what a rerun command must repeat)
    params: dict = field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        """One line for a provenance box, e.g. ``"trained on SNLI 1% train sample + test; probed on dev"``."""
        rows = self.provenance
        if (rows["source"] == "synthetic").all():
            return (
                f"embedded synthetic data ({len(self.train):,} train / {len(self.probe):,} probe pairs, "
                "not SNLI)"
            )
        train = " + ".join(_describe_split(s) for s in rows.loc[rows.role == "train", "split"])
        probe = " + ".join(_describe_split(s) for s in rows.loc[rows.role == "probe", "split"])
        return f"trained on SNLI {train} ({len(self.train):,} pairs); probed on SNLI {probe} ({len(self.probe):,} pairs)"


def _describe_split(split: str) -> str:
    return {"train_0.01": "1% train sample", "train": "full train", "test_hard": "test (hard subset)"}.get(split, split)


def load_pairs(
    data_source: str = "snli",
    train_splits: list[str] | tuple[str, ...] = ("train",),
    probe_split: str = "dev",
    data_dir: str | None = None,
    *,
    n_synthetic_train: int = 600,
    n_synthetic_probe: int = 300,
    seed: int = 0,
) -> Pairs:
    """Load the profile's train and probe pairs (labelled only)."""
    if data_source not in DATA_SOURCES:
        raise ValueError(f"data_source must be one of {', '.join(DATA_SOURCES)}; got {data_source!r}")
    params = {"data_source": data_source, "data_dir": data_dir or "", "train_splits": list(train_splits),
              "probe_split": probe_split, "n_synthetic_train": n_synthetic_train,
              "n_synthetic_probe": n_synthetic_probe, "seed": seed}
    if data_source == "synthetic":
        for name, value in (("n_synthetic_train", n_synthetic_train), ("n_synthetic_probe", n_synthetic_probe)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 3:
                raise ValueError(
                    f"{name} must be an integer ≥ 3 (the synthetic generator makes one pair per label at "
                    f"least), got {value!r}; set it in the profile's YAML or with -p {name}=300."
                )
        train, probe = synthetic.make_splits(n_synthetic_train, n_synthetic_probe, seed=seed)
        provenance = pd.DataFrame(
            [
                {"role": "train", "split": "synthetic", "source": "synthetic", "file": f"clipneuron_utils.data.synthetic (seed {seed})", "pairs": len(train), "official": False},
                {"role": "probe", "split": "synthetic", "source": "synthetic", "file": f"clipneuron_utils.data.synthetic (seed {seed + 1})", "pairs": len(probe), "official": False},
            ]
        )
        return Pairs(train, probe, provenance, params)
    if isinstance(train_splits, str) or not train_splits:
        raise ValueError(f"train_splits must be a non-empty list of SNLI split names; got {train_splits!r}")
    if probe_split in train_splits:
        raise ValueError(f"probe_split {probe_split!r} is also in train_splits {list(train_splits)}: probe on held-out pairs")
    frames, rows = [], []
    for role, split in [("train", s) for s in train_splits] + [("probe", probe_split)]:
        frame = snli.load_snli(split, data_dir)
        source = frame.attrs["source"]
        if frame.empty:  # read_snli_file refuses such files; a substitute loader must not slip one through
            raise ValueError(
                f"the {role} split {split!r} ({source}) has 0 labelled pairs: nothing to {role} on. Check "
                f"that file (re-download it from {snli.SNLI_URL}) or choose another split."
            )
        rows.append({"role": role, "split": split, "source": "snli", "file": source, "pairs": len(frame),
                     "official": snli.is_official(split, source)})
        frames.append((role, frame))
    train = pd.concat([f for r, f in frames if r == "train"], ignore_index=True)
    probe = next(f for r, f in frames if r == "probe").reset_index(drop=True)
    return Pairs(train, probe, pd.DataFrame(rows), params)


def label_distribution(pairs: Pairs) -> pd.DataFrame:
    """Pairs per label and set, with shares (a tidy frame for a chart)."""
    rows = []
    for role, frame in (("train", pairs.train), ("probe", pairs.probe)):
        counts = frame["label"].value_counts()
        for label in snli.LABELS:
            rows.append({"set": role, "label": label, "pairs": int(counts.get(label, 0)),
                         "share": float(counts.get(label, 0) / max(len(frame), 1))})
    return pd.DataFrame(rows)


def sentence_lengths(pairs: Pairs) -> pd.DataFrame:
    """Tokens per sentence, one row per (set, side, length) with its count."""
    rows = []
    for role, frame in (("train", pairs.train), ("probe", pairs.probe)):
        for side in ("premise", "hypothesis"):
            counts = Counter(len(t) for t in frame[f"{side}_tokens"])
            rows += [{"set": role, "side": side, "tokens": n, "sentences": c} for n, c in sorted(counts.items())]
    return pd.DataFrame(rows)


def vocabulary_stats(pairs: Pairs) -> pd.DataFrame:
    """Per set and side: sentences, mean/max tokens, distinct tokens and tags."""
    rows = []
    for role, frame in (("train", pairs.train), ("probe", pairs.probe)):
        for side in ("premise", "hypothesis"):
            tokens, tags = frame[f"{side}_tokens"], frame[f"{side}_tags"]
            lengths = tokens.map(len)
            rows.append({
                "set": role, "side": side, "sentences": int(frame[side].nunique()),
                "mean tokens": round(float(lengths.mean()), 2), "max tokens": int(lengths.max()),
                "distinct tokens": len({t for ts in tokens for t in ts}),
                "distinct tags": len({t for ts in tags for t in ts}),
            })
    return pd.DataFrame(rows)


def top_tokens(frame: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """Most frequent tokens over premises and hypotheses together (raw occurrence counts)."""
    counts = Counter(t for col in ("premise_tokens", "hypothesis_tokens") for ts in frame[col] for t in ts)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return pd.DataFrame(ranked, columns=["token", "count"])


def tagged(tokens: list[str], tags: list[str]) -> str:
    """``word/TAG`` rendering of a sentence, for example tables."""
    return " ".join(f"{w}/{t}" for w, t in zip(tokens, tags))
