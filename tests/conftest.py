"""Shared fixtures: the SNLI folder of ../shared when present, and an isolated runs/ folder."""

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
