"""Damaged caches: flipped bytes and truncated files are refused by name, and caches recompute them.

Each artifact kind (.npy, .npz concepts, .pkl frames, .json, weights.pt) is damaged two ways: 64 bytes
flipped in the middle (same size, other SHA-256) and cut to half its size. Readers must raise
``CorruptArtifactError`` naming the file; caches must report it, recompute the same values, rewrite the
file with a valid checksum and leave every other file of the folder as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils import artifacts
from clipneuron_utils.models import features
from clipneuron_utils.models import lstm
from clipneuron_utils.artifacts import CorruptArtifactError, run_dir
from clipneuron_utils.explain.concepts import Concepts, build_concepts
from clipneuron_utils.models.heads import HeadConfig, NLIModel
from clipneuron_utils.models.saving import fit_or_load, load_model, save_model
from clipneuron_utils.models.outputs import activations, probe_outputs
from clipneuron_utils.data.synthetic import make_pairs
from fixtures import CountingEncoder

TINY = HeadConfig(hidden=16, max_epochs=2, patience=1, batch_size=64, lstm_embedding_dim=8, lstm_hidden_dim=8, seed=0)


# --------------------------------------------------------------------------------------------- helpers


def flip(path: Path, n: int = 64) -> None:
    """Invert ``n`` bytes in the middle of the file (its size stays the same)."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) // 2 - n // 2)
    for i in range(start, min(len(data), start + n)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flip": (flip, "SHA-256 differs from the one recorded"), "truncate": (truncate, "truncated: ")}


def digests(folder: Path, skip: set[str] = frozenset()) -> dict[str, str]:
    """SHA-256 of every file in ``folder`` except ``skip`` (names) and their sidecars."""
    skip = set(skip) | {n + artifacts.SIDECAR_SUFFIX for n in skip}
    return {p.name: artifacts.file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name not in skip}


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def tiny_lstm(seed: int = 0) -> NLIModel:
    """An untrained, seeded LSTM classifier: enough for saving, loading and probe outputs."""
    torch.manual_seed(seed)
    vocab = lstm.build_vocab(make_pairs(30, seed=seed))
    return NLIModel("lstm", TINY, 0, vocab=vocab, encoder_identity=lstm.lstm_identity()).eval()


# one writer and one reader per artifact kind; each writer returns the written path
def _write_npy(folder: Path) -> Path:
    return artifacts.save_array(folder / "probe_activations.npy", np.linspace(0, 1, 4000, dtype=np.float32).reshape(40, 100))


def _write_npz(folder: Path) -> Path:
    return build_concepts(make_pairs(60, seed=1), 20, "standard", progress=False).save(folder / "concepts.npz")


def _write_pkl(folder: Path) -> Path:
    frame = pd.DataFrame({"unit": np.arange(200), "formula": [f"pre:tok:w{i} OR hyp:tag:NN" for i in range(200)]})
    return artifacts.save_frame(folder / "results.pkl", frame)


def _write_json(folder: Path) -> Path:
    return artifacts.write_json(folder / "probe.json", {"key": "0123456789abcdef", "n_pairs": 300, "hidden": 1024,
                                                        "names": [f"pre:tok:w{i}" for i in range(20)]})


def _write_weights(folder: Path) -> Path:
    return save_model(tiny_lstm(), folder) / "weights.pt"


KINDS = {
    "npy": (_write_npy, artifacts.load_array),
    "npz": (_write_npz, Concepts.load),
    "pkl": (_write_pkl, artifacts.load_frame),
    "json": (_write_json, artifacts.read_json),
    "weights.pt": (_write_weights, lambda path: load_model(path.parent)),
}


# --------------------------------------------------------------------------------------------- (a), (b): readers refuse


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_damaged_artifact_is_refused_by_name(kind, damage, runs_tmp):
    write, read = KINDS[kind]
    path = write(run_dir("t", kind))
    read(path)  # intact: reads fine
    hurt, reason = DAMAGE[damage]
    hurt(path)
    with pytest.raises(CorruptArtifactError) as info:
        read(path)
    assert info.value.path == path and str(path) in str(info.value)
    assert reason in info.value.reason and reason in str(info.value)
    assert "was not used" in str(info.value)


def test_missing_or_unreadable_checksum(tmp_path):
    path = artifacts.save_array(tmp_path / "a.npy", np.arange(5))
    sidecar = artifacts.sidecar_path(path)
    assert sidecar.name == "a.npy.sha256"
    assert artifacts.verify(path) == artifacts.file_sha256(path)
    sidecar.write_text("{not json")
    with pytest.raises(CorruptArtifactError, match="checksum file a.npy.sha256 is unreadable"):
        artifacts.load_array(path)
    sidecar.unlink()
    with pytest.raises(CorruptArtifactError, match=r"no checksum recorded \(written by an older version or interrupted\)"):
        artifacts.load_array(path)
    np.testing.assert_array_equal(artifacts.load_array(path, verify=False), np.arange(5))
    artifacts.record_checksum(path)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CorruptArtifactError, match=f"size differs: {size + 1:,} bytes, {size:,} recorded"):
        artifacts.verify(path)
    with pytest.raises(FileNotFoundError):
        artifacts.verify(tmp_path / "absent.npy")


def test_plain_json_reads_without_checksum(tmp_path):
    user = tmp_path / "user.json"
    user.write_text('{"a": 1}')
    assert artifacts.read_json(user, verify=False) == {"a": 1}
    with pytest.raises(CorruptArtifactError, match="no checksum recorded"):
        artifacts.read_json(user)


def test_parse_error_after_a_good_checksum_names_the_file(tmp_path):
    path = tmp_path / "frame.pkl"
    with artifacts.atomic_path(path) as tmp:
        tmp.write_bytes(b"not a pickle at all")
    artifacts.record_checksum(path)
    with pytest.raises(CorruptArtifactError, match="cannot be parsed although its checksum matches") as info:
        artifacts.load_frame(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_discard_removes_file_and_checksum(tmp_path):
    path = artifacts.write_text(tmp_path / "a.txt", "x")
    assert artifacts.sidecar_path(path).is_file()
    artifacts.discard(path)
    assert list(tmp_path.iterdir()) == []
    artifacts.discard(path)  # nothing left: fine


# --------------------------------------------------------------------------------------------- (c), (e): caches recompute


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_feature_cache_recomputes(damage, runs_tmp, capsys):
    cache = features.FeatureCache(run_dir("t", "features"), verbose=False)
    enc = CountingEncoder()
    first = cache.encode(enc, ["a man sleeps", "a dog runs fast", "hi"], progress=False)
    cache.encode(enc, ["another entry"], progress=False)
    path = cache.path(enc, ["a man sleeps", "a dog runs fast", "hi"])
    others = digests(cache.root, skip={path.name})
    DAMAGE[damage][0](path)
    again = cache.encode(enc, ["a man sleeps", "a dog runs fast", "hi"], progress=False)
    assert f"cache {artifacts.shown(path)}: corrupt (" in capsys.readouterr().out
    assert np.array_equal(again, first) and enc.calls == 3
    artifacts.verify(path)
    assert digests(cache.root, skip={path.name}) == others


def test_feature_cache_refuses_non_finite_and_wrong_shape(runs_tmp, capsys):
    cache = features.FeatureCache(run_dir("t", "features"), verbose=False)
    enc = CountingEncoder()
    first = cache.encode(enc, ["a b", "c"], progress=False)
    path = cache.path(enc, ["a b", "c"])
    artifacts.save_array(path, np.where(first > 1, np.inf, first))  # a valid checksum over bad values
    np.testing.assert_array_equal(cache.encode(enc, ["a b", "c"], progress=False), first)
    assert "NaN or infinite values); recomputing" in capsys.readouterr().out
    artifacts.save_array(path, first[:1])
    np.testing.assert_array_equal(cache.encode(enc, ["a b", "c"], progress=False), first)
    assert "shape (1, 3), expected (2, 3)" in capsys.readouterr().out
    assert enc.calls == 3


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("target", ["activations", "predictions", "probabilities", "meta"])
def test_probe_outputs_recompute(target, damage, runs_tmp, capsys):
    model, probe, folder = tiny_lstm(), make_pairs(40, seed=2), run_dir("t", "models", "lstm")
    save_model(model, folder)
    first = probe_outputs(model, probe, folder, progress=False)
    path = folder / ("probe.json" if target == "meta" else f"probe_{target}.npy")
    others = digests(folder, skip={path.name})
    DAMAGE[damage][0](path)
    capsys.readouterr()
    again = probe_outputs(model, probe, folder, progress=False)
    out = capsys.readouterr().out
    assert f"cache {artifacts.shown(path)}: corrupt (" in out and "); recomputing" in out and "cache hit" not in out
    for k in first:
        assert np.array_equal(again[k], first[k])
    artifacts.verify(path)
    assert digests(folder, skip={path.name}) == others
    probe_outputs(model, probe, folder, progress=False)
    assert "cache hit" in capsys.readouterr().out


def test_probe_outputs_recompute_non_finite_activations(runs_tmp, capsys):
    model, probe, folder = tiny_lstm(), make_pairs(40, seed=2), run_dir("t", "models", "lstm")
    first = probe_outputs(model, probe, folder, progress=False)
    path = folder / "probe_activations.npy"
    bad = first["activations"].copy()
    bad[3, 5] = 2e24 * np.inf
    artifacts.save_array(path, bad)  # its checksum is valid: the values are what is wrong
    capsys.readouterr()
    again = probe_outputs(model, probe, folder, progress=False)
    assert f"cache {artifacts.shown(path)}: corrupt (1 NaN or infinite values" in capsys.readouterr().out
    assert np.array_equal(again["activations"], first["activations"])
    assert np.array_equal(artifacts.load_array(path), first["activations"])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("target", ["weights.pt", "model.json", "vocab.json", "history.csv"])
def test_fit_or_load_retrains_a_corrupt_model(target, damage, runs_tmp, capsys):
    train, probe = make_pairs(60, seed=0), make_pairs(20, seed=3)
    folder = run_dir("t", "models", "lstm")
    first = fit_or_load("lstm", train, folder, TINY, progress=False, verbose=False)
    outputs = probe_outputs(first, probe, folder, progress=False)
    before = digests(folder, skip={"history.csv"})  # its "seconds" column changes with every training
    path = folder / target
    DAMAGE[damage][0](path)
    with pytest.raises(CorruptArtifactError) as info:
        load_model(folder)
    assert info.value.path == path and str(path) in str(info.value)
    capsys.readouterr()
    again = fit_or_load("lstm", train, folder, TINY, progress=False, verbose=False)
    assert f"training the lstm model: the saved model is corrupt: {path}: " in capsys.readouterr().out
    for name in ("weights.pt", "model.json", "vocab.json", "history.csv"):
        artifacts.verify(folder / name)
    # seeded training gives the same weights, byte for byte: every other file, and the probe outputs
    # cached against those weights, stay valid
    assert digests(folder, skip={"history.csv"}) == before
    reloaded = probe_outputs(load_model(folder), probe, folder, progress=False)
    assert "cache hit" in capsys.readouterr().out
    for k in outputs:
        assert np.array_equal(reloaded[k], outputs[k])
    assert np.array_equal(activations(again, probe), outputs["activations"])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_concepts_rebuilt_after_corruption(damage, runs_tmp):
    """What a caller does on CorruptArtifactError: discard, rebuild, save; the rebuilt file checks out."""
    probe = make_pairs(60, seed=1)
    folder = run_dir("t", "concepts")
    first = build_concepts(probe, 20, "standard", progress=False)
    path = first.save(folder / "standard-20.npz")
    build_concepts(probe, 10, "standard", progress=False).save(folder / "standard-10.npz")
    others = digests(folder, skip={path.name})
    DAMAGE[damage][0](path)
    with pytest.raises(CorruptArtifactError) as info:
        Concepts.load(path)
    assert info.value.path == path
    artifacts.discard(path)
    build_concepts(probe, 20, "standard", progress=False).save(path)
    again = Concepts.load(path)
    assert again.names == first.names and np.array_equal(again.masks.toarray(), first.masks.toarray())
    artifacts.verify(path)
    assert digests(folder, skip={path.name}) == others


# --------------------------------------------------------------------------------------------- (d): file modes


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_follow_the_umask(mask, mode, runs_tmp):
    with umask(mask):
        folder = run_dir("t", "modes")
        for write, _ in KINDS.values():
            write(folder)
        artifacts.write_text(folder / "notes.md", "text")
        with artifacts.atomic_path(folder / "plain.bin") as tmp:
            tmp.write_bytes(b"\1\2")
    modes = _modes(folder)
    assert {"weights.pt", "weights.pt.sha256", "concepts.npz.sha256", "plain.bin", "notes.md"} <= set(modes)
    assert set(modes.values()) == {mode}, modes


def test_atomic_path_keeps_nothing_but_the_file_on_error(tmp_path):
    target = artifacts.save_array(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    np.testing.assert_array_equal(artifacts.load_array(target), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "a.npy.sha256"]
