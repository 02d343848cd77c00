"""Small stand-ins shared by several test modules: an SNLI record, an encoder that counts its calls, a
training interrupted after a given epoch, and search rows with a known IoU ↔ accuracy correlation."""

import contextlib
import math
import zlib

import numpy as np
import pandas as pd
import pytest

from clipneuron_utils.models import base
from clipneuron_utils.models import training

PARSE_1 = "(ROOT (S (NP (DT A) (NN Man)) (VP (VBZ is) (VP (VBG running))) (. .)))"
PARSE_2 = "(ROOT (S (NP (DT The) (NN person)) (VP (VBZ moves)) (. .)))"


def snli_record(i, label="entailment", **overrides):
    """One line of an official SNLI ``.jsonl`` file; ``overrides`` replace any field."""
    rec = {
        "annotator_labels": [label],
        "captionID": f"c{i}",
        "gold_label": label,
        "pairID": f"p{i}",
        "sentence1": "A Man is running.",
        "sentence1_binary_parse": "( ( A Man ) ( ( is running ) . ) )",
        "sentence1_parse": PARSE_1,
        "sentence2": "The person moves.",
        "sentence2_binary_parse": "( ( The person ) ( moves . ) )",
        "sentence2_parse": PARSE_2,
    }
    rec.update(overrides)
    return rec


class CountingEncoder(base.Encoder):
    """A deterministic stand-in encoder that counts its calls."""

    name, dim = "counter", 3

    def __init__(self):
        self.calls = 0

    @property
    def identity(self):
        return {"encoder": "counter", "version": 1}

    @property
    def spec(self):
        return {"encoder": "counter", "params": {}}

    def _encode_unique(self, sentences, batch_size, progress):
        self.calls += 1
        return np.array([[len(s), s.count(" "), 1.0] for s in sentences], dtype=np.float32)


@contextlib.contextmanager
def interrupted_at_epoch(monkeypatch, stop_at: int):
    """The training run inside the block must stop with KeyboardInterrupt (an in-process Ctrl-C) right after it
    saves the checkpoint of epoch ``stop_at``; the real checkpoint save is back after the block."""
    real_save = training._save_checkpoint

    def save_then_stop(*args, epoch, **kw):
        real_save(*args, epoch=epoch, **kw)
        if epoch == stop_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_checkpoint", save_then_stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        monkeypatch.setattr(training, "_save_checkpoint", real_save)


def results_frame(rows):
    """Search-result rows (neuron, iou, …) with the columns beam_search_by_length writes."""
    frame = pd.DataFrame(rows)
    frame["explained"] = frame["iou"].notna()
    frame["formula"] = np.where(frame["explained"], "pre:tok:man", None)
    frame["n_fires"] = 50
    return frame


def units(model="clip", r=0.0, n=600, seeds=(0, 1, 2), seed_shift=(0.0, 0.0, 0.0), gain=0.02, wordnet_shift=0.0,
          rng=None, excess_gain=None):
    """Search rows of a model whose IoU ↔ accuracy-when-firing correlation is ``r`` (± sampling) at both
    lengths, IoU growing by ``gain`` from length 1 to 2 (the excess IoU over the null by ``excess_gain``, by
    default the same), and WordNet IoU = standard + ``wordnet_shift``."""
    rng = rng or np.random.default_rng(zlib.crc32(repr((model, r, n)).encode()))  # hash() changes per process
    excess_gain = gain if excess_gain is None else excess_gain
    rows = []
    for s, shift in zip(seeds, seed_shift):
        z = rng.standard_normal(n)
        acc = 0.7 + 0.05 * (r * z + math.sqrt(1 - r * r) * rng.standard_normal(n))
        fires = rng.integers(500, 5000, n)
        for length in (1, 2):
            iou = 0.2 + shift + 0.02 * z + gain * (length - 1)
            for encoding, extra in (("standard", 0.0), ("wordnet", wordnet_shift)):
                rows.append(pd.DataFrame({
                    "encoder": model, "encoding": encoding, "seed": s, "max_length": length, "neuron": np.arange(n),
                    "formula": "hyp:tag:NN", "iou": iou + extra, "null_mean_iou": iou - 0.01, "null_sd_iou": 0.01,
                    "excess_iou": np.full(n, 0.01 + extra + excess_gain * (length - 1)), "n_fires": fires, "explained": True,
                    "acc_when_firing": acc}))
    return pd.concat(rows, ignore_index=True)
