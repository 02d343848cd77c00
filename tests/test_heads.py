"""Heads: the paper's MLP over three encoders learns the synthetic rules, and is saved/reused, never retrained."""

from __future__ import annotations

import copy
import json
import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils import artifacts
from clipneuron_utils.models import batches, heads, lstm, training
from clipneuron_utils.data.snli import LABELS
from clipneuron_utils.models.clip import TINY_MODEL, ClipTextEncoder
from clipneuron_utils.models.features import FeatureCache
from clipneuron_utils.models.batches import _no_single_pair
from clipneuron_utils.models.heads import HeadConfig, as_pairs, output_weights
from clipneuron_utils.models.outputs import accuracy, activations, predict, probe_outputs
from clipneuron_utils.models.saving import fit_or_load, load_model, save_model
from clipneuron_utils.models.training import train
from clipneuron_utils.data.synthetic import make_splits

# batch 128: with small batches oneDNN prepares an LSTM kernel for each of many (batch, length) shapes,
# which made the first epoch take minutes on a loaded 2-core machine
TINY_LSTM = HeadConfig(hidden=48, max_epochs=30, patience=6, batch_size=128, lr=5e-3, lstm_embedding_dim=24,
                       lstm_hidden_dim=24, seed=0)
TINY_CLIP = HeadConfig(hidden=64, max_epochs=40, patience=5, batch_size=32, lr=3e-3, seed=0)


@pytest.fixture(scope="module")
def splits():
    return make_splits(600, 300, seed=0)


@pytest.fixture(scope="module")
def lstm_model(splits):
    return train("lstm", splits[0], TINY_LSTM, progress=False, verbose=False)


@pytest.fixture(scope="module")
def clip_encoder():
    return ClipTextEncoder(TINY_MODEL, "untrained", seed=0)


@pytest.fixture(scope="module")
def clip_model(splits, clip_encoder, tmp_path_factory):
    cache = FeatureCache(tmp_path_factory.mktemp("features"), verbose=False)
    return train("clip", splits[0], TINY_CLIP, encoder=clip_encoder, cache=cache, progress=False, verbose=False)


def test_lstm_learns_synthetic_rules(lstm_model, splits):
    assert accuracy(lstm_model, splits[1]) > 0.8


def test_clip_head_learns_synthetic_rules(clip_model, splits):
    assert accuracy(clip_model, splits[1]) > 0.6  # random-init tiny tower, frozen: only the head learns


def test_history_and_epoch_log(splits, capsys):
    model = train("lstm", splits[0].iloc[:90], TINY_LSTM.replace(max_epochs=2), progress=False)
    out = capsys.readouterr().out
    assert out.count("epoch ") >= 2 and "val loss" in out
    assert list(model.history.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert list(model.history.epoch) == [1, 2]


def test_activations_shape_dtype_and_manual_forward(lstm_model, clip_model, clip_encoder, splits):
    probe = splits[1].iloc[:50]
    for model in (lstm_model, clip_model):
        acts = activations(model, probe)
        assert acts.shape == (50, model.config.hidden) and acts.dtype == np.float32
        assert (acts >= 0).all() and (acts > 0).any()
    # manual forward of the paper's head on encoder features
    u = torch.from_numpy(clip_encoder.encode(list(probe.premise), progress=False))
    v = torch.from_numpy(clip_encoder.encode(list(probe.hypothesis), progress=False))
    first, norm = clip_model.mlp[0], clip_model.input_norm[0]
    x = torch.cat([u, v, u - v, u * v], dim=1)
    x = (x - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps) * norm.weight + norm.bias  # eval-mode BN
    manual = torch.relu(first(x)).detach().numpy()
    np.testing.assert_allclose(activations(clip_model, probe), manual, atol=1e-5)
    labels, probs = predict(clip_model, probe)
    logits = clip_model.mlp[3](torch.from_numpy(manual)).detach().numpy()
    np.testing.assert_array_equal(labels, logits.argmax(1))
    assert probs.shape == (50, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    w = output_weights(clip_model)
    assert w.shape == (len(LABELS), clip_model.config.hidden)
    np.testing.assert_array_equal(w, clip_model.mlp[3].weight.detach().numpy())


def test_early_stopping_stops(splits):
    # a huge learning rate makes validation loss worse after the first epochs
    config = TINY_LSTM.replace(max_epochs=30, patience=2, lr=0.5)
    model = train("lstm", splits[0].iloc[:150], config, progress=False, verbose=False)
    assert len(model.history) < 30
    assert model.best_epoch == int(model.history.val_acc.idxmax()) + 1  # monitor="val_acc" (first best)
    assert len(model.history) == model.best_epoch + config.patience


def test_early_stopping_on_val_loss(splits):
    config = TINY_LSTM.replace(max_epochs=30, patience=2, lr=0.5, monitor="val_loss")
    model = train("lstm", splits[0].iloc[:150], config, progress=False, verbose=False)
    assert model.best_epoch == int(model.history.val_loss.idxmin()) + 1
    assert len(model.history) == model.best_epoch + config.patience


def test_lstm_max_epochs(splits):
    model = train("lstm", splits[0].iloc[:60], TINY_LSTM.replace(max_epochs=5, lstm_max_epochs=1, val_fraction=0.0),
                  progress=False, verbose=False)
    assert len(model.history) == 1 and model.history.val_acc.isna().all()


def test_training_is_seeded(splits):
    small = splits[0].iloc[:120]
    config = TINY_LSTM.replace(max_epochs=2)
    a = train("lstm", small, config, progress=False, verbose=False)
    b = train("lstm", small, config, progress=False, verbose=False)
    np.testing.assert_array_equal(activations(a, splits[1].iloc[:20]), activations(b, splits[1].iloc[:20]))


def test_save_load_round_trip(lstm_model, clip_model, splits, tmp_path):
    probe = splits[1].iloc[:40]
    for model in (lstm_model, clip_model):
        folder = save_model(model, tmp_path / model.encoder_name)
        again = load_model(folder)  # frozen encoder rebuilt from its saved spec when needed
        np.testing.assert_array_equal(activations(again, probe), activations(model, probe))
        assert again.train_key == model.train_key and again.config == model.config
        pd.testing.assert_frame_equal(again.history, model.history, check_dtype=False)


def test_probe_new_pairs_written_by_a_reader(lstm_model, clip_model, tmp_path):
    pairs = [("the boys said hello to the girls", "the girls said hello"), ("A dog is running.", "A cat is sleeping.")]
    frame = as_pairs(pairs)
    assert frame.premise_tokens[0][:2] == ["the", "boys"]
    for model in (lstm_model, load_model(save_model(clip_model, tmp_path / "c"))):
        labels, probs = predict(model, pairs)
        assert labels.shape == (2,) and probs.shape == (2, 3)


def test_fit_or_load_reuses_and_retrains(splits, tmp_path, monkeypatch, capsys):
    small = splits[0].iloc[:120]
    config = TINY_LSTM.replace(max_epochs=2)
    first = fit_or_load("lstm", small, tmp_path / "m", config, progress=False)
    assert "training the lstm model" in capsys.readouterr().out
    calls = []
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    again = fit_or_load("lstm", small, tmp_path / "m", config, progress=False)
    assert not calls and "reusing" in capsys.readouterr().out
    np.testing.assert_array_equal(activations(again, small), activations(first, small))
    fit_or_load("lstm", small, tmp_path / "m", config.replace(dropout=0.2), progress=False)
    assert calls == [1] and "config changed (dropout)" in capsys.readouterr().out
    fit_or_load("lstm", small.iloc[:100], tmp_path / "m", config.replace(dropout=0.2), progress=False)
    assert calls == [1, 1] and "training data changed" in capsys.readouterr().out


def test_fit_or_load_frozen_never_reencodes(splits, clip_encoder, tmp_path, monkeypatch):
    small = splits[0].iloc[:90]
    cache = FeatureCache(tmp_path / "features", verbose=False)
    config = TINY_CLIP.replace(max_epochs=2)
    fit_or_load("clip", small, tmp_path / "m", config, encoder=clip_encoder, cache=cache, progress=False)
    monkeypatch.setattr(clip_encoder, "_encode_unique", lambda *a, **k: pytest.fail("re-encoded"))
    fit_or_load("clip", small, tmp_path / "m", config.replace(hidden=32), encoder=clip_encoder, cache=cache,
                progress=False, verbose=False)  # retrains the head on cached features
    assert cache.misses == 1 and cache.hits == 1
    other = ClipTextEncoder(TINY_MODEL, "untrained", seed=5)
    model = fit_or_load("clip", small, tmp_path / "m", config.replace(hidden=32), encoder=other, cache=cache,
                        progress=False, verbose=False)
    assert model.encoder_identity == other.identity  # another encoder → retrained


def test_probe_outputs_cached(lstm_model, splits, tmp_path, capsys):
    probe = splits[1].iloc[:30]
    out = probe_outputs(lstm_model, probe, tmp_path, progress=False)
    assert set(out) == {"activations", "predictions", "probabilities"}
    assert (tmp_path / "probe_activations.npy").is_file()
    np.testing.assert_array_equal(out["activations"], activations(lstm_model, probe))
    again = probe_outputs(lstm_model, probe, tmp_path, progress=False)
    assert "cache hit" in capsys.readouterr().out
    np.testing.assert_array_equal(again["predictions"], out["predictions"])


@pytest.mark.parametrize(
    "changes, name",
    [({"hidden": 0}, "hidden"), ({"dropout": 1.0}, "dropout"), ({"lr": 0}, "lr"), ({"val_fraction": 1.0}, "val_fraction"),
     ({"batch_size": 2.5}, "batch_size"), ({"lstm_bidirectional": "yes"}, "lstm_bidirectional"),
     ({"lstm_max_vocab": 0}, "lstm_max_vocab"), ({"monitor": "loss"}, "monitor")],
)
def test_bad_config(changes, name):
    with pytest.raises(ValueError, match=name):
        HeadConfig(**changes)


def test_bad_arguments(splits):
    with pytest.raises(ValueError, match="encoder name must be one of clip, lstm, minilm"):
        train("bert", splits[0])
    with pytest.raises(ValueError, match="unknown HeadConfig parameter"):
        HeadConfig.from_dict({"hiden": 3})
    bad = splits[0].iloc[:10].assign(label="-")
    with pytest.raises(ValueError, match="labels must be one of"):
        train("lstm", bad, TINY_LSTM)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_lstm_encoder_equals_packed_lstm(bidirectional):
    """Our padded two-LSTM form gives the final states of nn.LSTM over packed sequences."""
    torch.manual_seed(0)
    enc = lstm.LSTMEncoder(30, embedding_dim=6, hidden_dim=5, bidirectional=bidirectional)
    packed_lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=bidirectional)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(packed_lstm, name).copy_(getattr(enc.rnn, name))
            if bidirectional:
                getattr(packed_lstm, name + "_reverse").copy_(getattr(enc.rnn_reverse, name))
    seqs = [np.array([3, 4, 5, 6]), np.array([7]), np.array([8, 9, 10, 11, 12, 13]), np.array([2, 2])]
    ids, lengths = batches._padded(seqs)
    packed = torch.nn.utils.rnn.pack_padded_sequence(enc.embedding(ids), lengths, batch_first=True,
                                                     enforce_sorted=False)
    _, (h, _) = packed_lstm(packed)
    np.testing.assert_allclose(enc(ids, lengths).detach().numpy(), torch.cat(list(h), 1).detach().numpy(), atol=1e-6)


def test_head_normalises_its_input_as_the_original(clip_model, splits):
    """compexp's MLP: BatchNorm1d over the 4·d features, then Dropout, before the first Linear."""
    norm, drop = clip_model.input_norm
    assert isinstance(norm, torch.nn.BatchNorm1d) and norm.num_features == 4 * clip_model.dim
    assert isinstance(drop, torch.nn.Dropout) and drop.p == clip_model.config.dropout
    assert HeadConfig().input_norm is True
    model = copy.deepcopy(clip_model).eval()  # a train-mode pass moves the running statistics
    torch.manual_seed(0)
    u, v = torch.randn(16, model.dim) * 3 + 1, torch.randn(16, model.dim)
    evaluated = model.features(u, v)
    torch.testing.assert_close(model.features(u, v), evaluated)  # eval: running statistics, no dropout
    before = norm.running_mean.clone()
    batch = model.train().features(u, v)  # train: this batch's statistics, and dropout
    assert not torch.allclose(evaluated, batch)
    assert not torch.equal(model.input_norm[0].running_mean, before) and torch.equal(norm.running_mean, before)
    plain = NLIModelFor(clip_model, input_norm=False)
    assert isinstance(plain.input_norm, torch.nn.Identity)


def NLIModelFor(model, **changes):
    return heads.NLIModel(model.encoder_name, model.config.replace(**changes), model.dim,
                          encoder_spec=model.encoder_spec, encoder_identity=model.encoder_identity)


def test_models_saved_before_input_norm_load_as_they_were(clip_model, tmp_path):
    old = NLIModelFor(clip_model, input_norm=False)
    old.load_state_dict({k: v for k, v in clip_model.state_dict().items() if not k.startswith("input_norm")})
    save_model(old, tmp_path / "old")
    meta_path = tmp_path / "old" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 1
    del meta["config"]["input_norm"]  # as format 1 wrote it
    artifacts.write_json(meta_path, meta)
    loaded = load_model(tmp_path / "old")
    assert loaded.config.input_norm is False and isinstance(loaded.input_norm, torch.nn.Identity)
    u, v = torch.ones(2, old.dim), torch.zeros(2, old.dim)
    torch.testing.assert_close(loaded(u, v), old.eval()(u, v))
    meta["format"] = heads.FORMAT + 1
    artifacts.write_json(meta_path, meta)
    with pytest.raises(artifacts.CorruptArtifactError, match=r"model format 3, newer than this version's \(2\)"):
        load_model(tmp_path / "old")


def test_a_single_pair_batch_is_folded_into_another(splits):
    """BatchNorm cannot train on a batch of one: 129 pairs at batch size 128 must still train."""
    model = train("lstm", splits[0].iloc[:143], TINY_LSTM.replace(max_epochs=1, batch_size=128), progress=False,
                  verbose=False)  # 143 pairs − 10 % held out = 129 trained
    assert model.history.epoch.tolist() == [1]
    batches = _no_single_pair([np.arange(3), np.arange(3, 4), np.arange(4, 6)])
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
