"""Small stand-ins shared by several test modules: an SNLI record and an encoder that counts its calls."""

import numpy as np

from clipneuron_utils import encoders

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


class CountingEncoder(encoders.Encoder):
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
