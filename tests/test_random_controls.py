"""Random-network controls: a frozen random LSTM keeps its initial weights, shuffled labels leave nothing
to learn, and the names and switches are checked."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from clipneuron_utils.data.synthetic import make_splits
from clipneuron_utils.models import random_controls
from clipneuron_utils.models.heads import HeadConfig, NLIModel
from clipneuron_utils.models.lstm import build_vocab, lstm_identity
from clipneuron_utils.models.outputs import accuracy
from clipneuron_utils.models.training import train
from clipneuron_utils import run
from clipneuron_utils.seeding import seed_everything

TINY = HeadConfig(hidden=32, max_epochs=12, patience=12, batch_size=64, lr=5e-3, lstm_embedding_dim=16,
                  lstm_hidden_dim=16, seed=0)


@pytest.fixture(scope="module")
def splits():
    return make_splits(600, 300, seed=0)


def test_names_are_checked():
    assert random_controls.controls_of(["lstm-untrained", "minilm-shuffled", "lstm-untrained"]) == [
        "lstm-untrained", "minilm-shuffled"]
    assert random_controls.split("clip-shuffled") == ("clip", "shuffled")
    assert random_controls.is_control("lstm-shuffled") and not random_controls.is_control("lstm")
    with pytest.raises(ValueError, match="minilm-untrained"):
        random_controls.controls_of(["minilm-untrained"])
    with pytest.raises(ValueError, match="list"):
        random_controls.controls_of("lstm-untrained")
    with pytest.raises(ValueError, match="need their encoder"):
        run.check_controls(["clip-shuffled"], ["lstm"])
    assert random_controls.head_changes("lstm-untrained") == {"freeze_lstm": True}
    assert random_controls.head_changes("clip-untrained") == {}
    assert random_controls.encoder_weights("clip-untrained", "openai") == "untrained"
    assert random_controls.encoder_weights("clip-shuffled", "openai") == "openai"


def test_switches_leave_the_keys_of_ordinary_models_alone():
    assert "shuffle_labels" not in TINY.to_dict() and "freeze_lstm" not in TINY.to_dict()
    on = TINY.replace(shuffle_labels=True).to_dict()
    assert on["shuffle_labels"] is True and HeadConfig.from_dict(on) == TINY.replace(shuffle_labels=True)
    with pytest.raises(ValueError, match="shuffle_labels"):
        TINY.replace(shuffle_labels=1)


def test_seeds_of_controls():
    assert run.training_seeds(0, 3, 2, "lstm-shuffled", 1) == [0]
    assert run.training_seeds(0, 3, 2, "lstm-shuffled") == [0, 1]  # 0: as many as its encoder
    assert run.training_seeds(5, 3, 0, "minilm-shuffled", 2) == [5, 6]


def test_frozen_lstm_keeps_its_initial_weights(splits):
    config = TINY.replace(freeze_lstm=True, max_epochs=3)
    model = train("lstm", splits[0], config, progress=False, verbose=False)
    seed_everything(config.seed)
    initial = NLIModel("lstm", config, dim=0, vocab=build_vocab(splits[0], None, 1), encoder_identity=lstm_identity())
    for name, value in initial.lstm.state_dict().items():
        torch.testing.assert_close(model.lstm.state_dict()[name], value, rtol=0, atol=0)
    trained = train("lstm", splits[0], TINY.replace(max_epochs=3), progress=False, verbose=False)
    assert any((trained.lstm.state_dict()[n] != v).any() for n, v in initial.lstm.state_dict().items())
    assert (model.mlp[-1].weight != trained.mlp[-1].weight).any()  # its head did train


def test_shuffled_labels_leave_nothing_to_learn(splits):
    real = train("lstm", splits[0], TINY, progress=False, verbose=False)
    shuffled = train("lstm", splits[0], TINY.replace(shuffle_labels=True), progress=False, verbose=False)
    majority = splits[1]["label"].value_counts(normalize=True).max()
    assert accuracy(real, splits[1]) > 0.75
    assert accuracy(shuffled, splits[1]) < majority + 0.12  # chance, give or take 300 pairs' noise
