"""The chapters' set-up (run.prologue): what a Book derives from the search and the registry, and what open_book
checks, with the search, the registry and the sweep planted (no training)."""

from __future__ import annotations

import pandas as pd
import pytest

from clipneuron_utils import run
from clipneuron_utils.data import corpus
from clipneuron_utils.run import caches, prologue, regimes, trained

REGISTRY = {
    "lstm": {"seeds": {"0": {"probe_accuracy": 0.5}, "1": {"probe_accuracy": 0.75}}},
    "lstm-shuffled": {"seeds": {"0": {"probe_accuracy": 0.25}}},
}


def planted_search() -> pd.DataFrame:
    search = pd.DataFrame({"encoder": ["lstm", "lstm", "lstm-shuffled"], "seed": [0, 1, 0], "neuron": [0, 0, 0],
                           "explained": [True, True, True], "encoding": ["standard"] * 3, "max_length": [1] * 3})
    search.attrs["params"] = {"max_length": 1, "activation_alpha": 0.0}
    return search


def test_a_book_derives_models_seeds_and_accuracy_counts_from_its_search_and_registry():
    pairs = corpus.load_pairs("synthetic", n_synthetic_train=40, n_synthetic_probe=8, seed=0)
    book = prologue.Book("t", pairs, 0, planted_search(), REGISTRY)
    assert book.models == ["lstm", "lstm-shuffled"] and book.encoders == ["lstm"] and book.controls == ["lstm-shuffled"]
    assert book.seeds("lstm") == [0, 1] and book.search_params == {"max_length": 1, "activation_alpha": 0.0}
    assert book.probe_accuracy.to_dict("records") == [  # 8 probe pairs: 0.5 → 4, 0.75 → 6, 0.25 → 2 correct
        {"encoder": "lstm", "seed": 0, "n": 8, "correct": 4}, {"encoder": "lstm", "seed": 1, "n": 8, "correct": 6},
        {"encoder": "lstm-shuffled", "seed": 0, "n": 8, "correct": 2}]


@pytest.fixture
def planted(monkeypatch):
    """latest_search, check_models and latest_regimes answering from planted values, recording their calls."""
    calls = {}
    monkeypatch.setattr(caches, "latest_search", lambda profile, pairs: planted_search())
    monkeypatch.setattr(caches, "check_search_vocab", lambda s, v, m: calls.setdefault("vocab", (v, m)))

    def check_models(profile, pairs, models, seeds=None):
        calls["models"], calls["seeds"] = models, seeds
        return {m: REGISTRY[m] for m in models}

    monkeypatch.setattr(trained, "check_models", check_models)
    sweep = {"value": None}

    def latest_regimes(profile, search):
        calls["sweeps"] = calls.get("sweeps", 0) + 1
        return sweep["value"]

    monkeypatch.setattr(regimes, "latest_regimes", latest_regimes)
    return calls, sweep


def test_open_book_checks_seeds_and_vocabulary_and_reads_the_sweep_only_when_asked(planted):
    calls, sweep = planted
    book = run.open_book("t", "synthetic", [], "", "", 40, 8, seed=3, seeds=2, lstm_seeds=0, control_seeds=1,
                         vocab_size=50, wordnet_mode="exact")
    assert calls["models"] == ["lstm", "lstm-shuffled"]
    assert calls["seeds"] == {"lstm": [3, 4], "lstm-shuffled": [3]} and calls["vocab"] == (50, "exact")
    assert "sweeps" not in calls  # a chapter that never reads the sweep does not depend on it
    sweep["value"] = frame = pd.DataFrame({"alpha": [0.1]})
    assert book.sweep is frame and book.sweep is frame and calls["sweeps"] == 1  # read once


def test_open_book_without_a_sweep_stops_only_a_chapter_that_needs_one(planted):
    calls, _ = planted
    book = run.open_book("t", "synthetic", [], "", "", 40, 8, seed=0)
    assert book.sweep is None and calls["seeds"] is None  # no seeds given: none checked
    with pytest.raises(RuntimeError, match=r"no firing-regime sweep.*--only 05 --only 08"):
        run.open_book("t", "synthetic", [], "", "", 40, 8, seed=0, need_sweep=True)
