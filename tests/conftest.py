"""Shared fixtures: the SNLI folder of ../shared when present, an isolated runs/ folder, and the causal tests'
synthetic probe pairs with their standard concepts and edit planner."""

import json
import os
from pathlib import Path

import pytest

SHARED_SNLI = Path(__file__).resolve().parents[2] / "shared" / "data" / "snli"


@pytest.fixture
def shared_snli() -> Path:
    folder = Path(os.environ.get("CLIPNEURON_DATA") or SHARED_SNLI)
    if not (folder / "snli_1.0_dev.jsonl.gz").is_file() and not (folder / "snli_1.0_dev.jsonl").is_file():
        pytest.skip(f"SNLI dev not found in {folder} (set CLIPNEURON_DATA)")
    return folder


@pytest.fixture
def runs_tmp(tmp_path, monkeypatch) -> Path:
    """Point runs/ at a temporary folder so tests never touch the checkout's artifacts."""
    monkeypatch.setenv("CLIPNEURON_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def probe():
    """300 synthetic probe pairs (the smoke data), as the causal tests edit them."""
    from clipneuron_utils.data import corpus

    return corpus.load_pairs("synthetic", [], "dev", None, n_synthetic_train=60, n_synthetic_probe=300, seed=0).probe


@pytest.fixture(scope="module")
def concepts(probe):
    from clipneuron_utils.explain.concepts import build_concepts

    return build_concepts(probe, 100, "standard", progress=False)


@pytest.fixture(scope="module")
def editor(probe, concepts):
    from clipneuron_utils.explain import edits

    return edits.Editor(probe, concepts)


def pytest_collection_modifyitems(config, items):
    """Under mutmut (``make mutation``) a mutant's tests run fastest first: mutmut stops at the first failure, so a
    mutant that a quick known-answer test kills no longer waits for the slow scorecard tests to run before it."""
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    try:
        durations = json.loads(Path("mutmut-stats.json").read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):  # the stats run that writes it: keep pytest's order
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny encoder batches: two threads on a busy two-core machine mostly wait
    (OMP_NUM_THREADS set keeps the encoders' ``use_all_cores`` from raising it again)."""
    import torch

    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minilm_encoder():
    """MiniLM with its bundled weights, on the CPU (loaded once per module)."""
    from clipneuron_utils.models.minilm import MiniLMEncoder

    return MiniLMEncoder(device="cpu")


@pytest.fixture(scope="module")
def tiny_clip():
    """The tiny, untrained CLIP text tower of the smoke profile, on the CPU (built once per module)."""
    from clipneuron_utils.models.clip import ClipTextEncoder, register_tiny_config

    return ClipTextEncoder(register_tiny_config(), "untrained", device="cpu")
