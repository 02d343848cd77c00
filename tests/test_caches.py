"""Shared run artifacts: concepts are built once per (probe pairs, vocabulary size, encoding)."""

from clipneuron_utils import run
from clipneuron_utils.data import synthetic


def test_probe_concepts_are_cached_by_their_inputs(runs_tmp, capsys):
    probe = synthetic.make_pairs(60, seed=1)
    first = run.probe_concepts("t", probe, 20, "standard", progress=False)
    again = run.probe_concepts("t", probe, 20, "standard", progress=False)
    assert "cache hit" in capsys.readouterr().out
    assert again.names == first.names and (again.masks != first.masks).nnz == 0
    other = run.probe_concepts("t", probe, 10, "standard", progress=False)
    assert other.n_concepts < first.n_concepts
    changed = probe.copy()
    changed.at[0, "hypothesis_tokens"] = ["a", "zebra", "."]
    changed.at[0, "hypothesis_tags"] = ["DT", "NN", "."]
    assert "hyp:tok:zebra" not in first
    assert len(list((runs_tmp / "t" / "concepts").glob("*.npz"))) == 2
    run.probe_concepts("t", changed, 20, "standard", progress=False)
    assert len(list((runs_tmp / "t" / "concepts").glob("*.npz"))) == 3


def test_cached_frame_reads_a_saved_frame_and_remakes_a_damaged_one(tmp_path, capsys):
    """None when nothing is there; the frame with a cache-hit line when it is; a damaged file is discarded with its
    notice and gives None (so the caller computes it again), never a half-read frame."""
    import pandas as pd

    from clipneuron_utils.artifacts import save_frame
    from clipneuron_utils.run import caches

    path = tmp_path / "frame.pkl"
    assert caches.cached_frame(path, "a frame") is None
    save_frame(path, pd.DataFrame({"a": [1, 2]}))
    assert caches.cached_frame(path, "a frame")["a"].tolist() == [1, 2]
    assert "cache hit: a frame" in capsys.readouterr().out
    path.write_bytes(path.read_bytes()[:-3])
    assert caches.cached_frame(path, "a frame") is None
    assert not path.exists()
