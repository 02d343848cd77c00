"""Shared fixtures: the SNLI folder of ../shared when present, and an isolated runs/ folder."""

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
