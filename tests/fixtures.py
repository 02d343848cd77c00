"""Small stand-ins shared by several test modules: an SNLI record, an encoder that counts its calls, and a
training interrupted after a given epoch."""

import contextlib

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
