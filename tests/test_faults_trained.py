"""Fault injection for the shared artifacts chapters hand to each other: models of other runs, stale
registry and search results, damaged pointers and caches, dead or diverged models."""

import hashlib

import numpy as np
import pytest

from clipneuron_utils.data import corpus
from clipneuron_utils import run
from clipneuron_utils.artifacts import CorruptArtifactError, shown
from clipneuron_utils.models.heads import HeadConfig
from clipneuron_utils.explain.search import threshold_activations

TINY = dict(max_epochs=1, patience=1, batch_size=64, lr=5e-3, lstm_embedding_dim=8, lstm_hidden_dim=8, seed=0)


@pytest.fixture(scope="module")
def pairs():
    return corpus.load_pairs("synthetic", n_synthetic_train=120, n_synthetic_probe=60, seed=0)


def snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def flip(path, n=64):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_models_of_other_parameters_train_beside_not_over(runs_tmp, pairs, capsys):
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    first = run.registry("t")["lstm"]
    before = snapshot(runs_tmp / "t" / "models" / "lstm" / first["key"])
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=6, **TINY))
    second = run.registry("t")["lstm"]
    assert second["key"] != first["key"] and second["hidden"] == 6
    assert snapshot(runs_tmp / "t" / "models" / "lstm" / first["key"]) == before, "the first run's model is intact"
    capsys.readouterr()
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    assert "reusing the trained lstm model" in capsys.readouterr().out
    assert run.registry("t")["lstm"]["key"] == first["key"]


def test_chapters_refuse_models_trained_on_other_data(runs_tmp, pairs):
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    other = corpus.load_pairs("synthetic", n_synthetic_train=120, n_synthetic_probe=90, seed=0)
    with pytest.raises(run.StaleArtifactError, match=r"the lstm model in .*registry.json was probed on other pairs .*"
                                                            r"python -m clipneuron_utils.run.pipeline --profile t .*-p n_synthetic_probe=90"):
        run.check_models("t", other, ["lstm"])
    with pytest.raises(run.StaleArtifactError, match=r"no trained clip model .*\(trained: lstm\)"):
        run.check_models("t", pairs, ["clip"])
    assert set(run.check_models("t", pairs, ["lstm"])) == {"lstm"}


def test_search_results_of_replaced_models_are_refused(runs_tmp, pairs):
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    models = run.check_models("t", pairs, ["lstm"])
    results = run.firing_accuracy("t", pairs.probe, ["lstm"]).assign(encoding="standard")
    run.save_latest_search("t", results, {"vocab_size": 50}, models)
    assert len(run.latest_search("t", pairs)) == len(results)
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=6, **TINY))  # a later run, other params
    with pytest.raises(run.StaleArtifactError, match=r"latest.pkl was searched on other lstm models .* rerun chapter 05_search: "
                                                            r"python -m clipneuron_utils.run.pipeline --profile t --only 05"):
        run.latest_search("t", pairs)
    with pytest.raises(run.StaleArtifactError, match="chapter 05_search searched with vocab_size=50, this chapter has vocab_size=100"):
        run.check_search_vocab(run.latest_search("t"), 100)


def test_damaged_pointers_are_refused_with_the_command_that_remakes_them(runs_tmp, pairs):
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    run.save_latest_search("t", run.firing_accuracy("t", pairs.probe, ["lstm"]), {}, {})
    registry = runs_tmp / "t" / "models" / "registry.json"
    registry.write_text(registry.read_text()[:40])
    with pytest.raises(CorruptArtifactError, match=r"registry.json: truncated.* running chapter 03_head_training again: .*--only 03"):
        run.registry("t")
    latest = runs_tmp / "t" / "search" / "latest.pkl"
    flip(latest)
    with pytest.raises(CorruptArtifactError, match=r"latest.pkl: SHA-256 differs.* running chapter 05_search again: .*--only 05"):
        run.latest_search("t")


def test_damaged_caches_are_reported_and_recomputed(runs_tmp, pairs, capsys):
    first = run.probe_concepts("t", pairs.probe, 30, "standard", progress=False)
    [path] = (runs_tmp / "t" / "concepts").glob("*.npz")
    flip(path)
    again = run.probe_concepts("t", pairs.probe, 30, "standard", progress=False)
    assert f"cache {shown(path)}: corrupt (SHA-256 differs" in capsys.readouterr().out
    assert again.names == first.names and (again.masks != first.masks).nnz == 0

    model, outputs = run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    acts = runs_tmp / "t" / "models" / "lstm" / run.registry("t")["lstm"]["key"] / "probe_activations.npy"
    flip(acts)
    capsys.readouterr()
    redone = run.probe_outputs("t", "lstm", pairs.probe)
    assert "probe_activations.npy: corrupt" in capsys.readouterr().out
    assert np.array_equal(redone["activations"], outputs["activations"])

    masks = threshold_activations(outputs["activations"])
    concepts = run.probe_concepts("t", pairs.probe, 30, "standard", progress=False)
    params = dict(max_length=2, beam_size=3, min_acts=1)
    found = run.search_results("t", "lstm", "standard", masks, concepts, activations_key="k", **params)
    [cached] = (runs_tmp / "t" / "search" / "cache").glob("*.pkl")
    cached.write_bytes(cached.read_bytes()[:100])
    capsys.readouterr()
    redone = run.search_results("t", "lstm", "standard", masks, concepts, activations_key="k", **params)
    assert "truncated" in capsys.readouterr().out
    assert redone.equals(found)


def test_dead_or_diverged_models_stop_chapter_3(runs_tmp, pairs):
    config = HeadConfig(hidden=8, **TINY)
    with pytest.raises(run.ModelHealthError, match=r"all 8 hidden units of the lstm model are dead: none fires .* "
                                                          r"on any of the 60 probe pairs.*lower lr \(now 0.005\)"):
        run.check_health("lstm", np.zeros((60, 8), dtype=np.float32), config)
    acts = np.ones((60, 8), dtype=np.float32)
    acts[3, [2, 5]] = np.nan
    with pytest.raises(run.ModelHealthError, match=r"not finite \(NaN or inf\) for 2 of 8 units \(first: 2, 5\)"):
        run.check_health("lstm", acts, config)
    with pytest.raises(run.ModelHealthError, match=r"training of the lstm model diverged: its training loss reached "
                                                          r".*Lower lr \(now 1e\+12\)"):
        run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **{**TINY, "lr": 1e12}))


def test_training_seeds_are_replicates_checked_by_later_chapters(runs_tmp, pairs):
    assert run.training_seeds(3, 3, 1, "lstm") == [3]
    assert run.training_seeds(3, 3, 1, "clip") == [3, 4, 5]
    assert run.training_seeds(0, 2, 0, "lstm") == [0, 1]
    with pytest.raises(ValueError, match="seeds must be an int ≥ 1"):
        run.training_seeds(0, 0)
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY), seeds=[0, 1])
    entry = run.registry("t")["lstm"]
    assert run.seeds_of(entry) == [0, 1]
    assert entry["folder"] == entry["seeds"]["0"]["folder"] != entry["seeds"]["1"]["folder"]
    first, second = (run.probe_outputs("t", "lstm", pairs.probe, seed=s)["activations"] for s in (0, 1))
    assert not np.array_equal(first, second)  # another seed, another model
    assert np.array_equal(first, run.probe_outputs("t", "lstm", pairs.probe)["activations"])  # primary
    with pytest.raises(run.StaleArtifactError, match=r"trained the lstm model with seeds \[0, 1\], this chapter asks for \[0, 1, 2\]"):
        run.check_models("t", pairs, ["lstm"], seeds={"lstm": [0, 1, 2]})
    accuracy = run.firing_accuracy("t", pairs.probe, ["lstm"])
    assert sorted(accuracy["seed"].unique()) == [0, 1] and len(accuracy) == 16
    models = run.check_models("t", pairs, ["lstm"], seeds={"lstm": [0, 1]})
    run.save_latest_search("t", accuracy.assign(encoding="standard"), {}, models)
    results = run.latest_search("t", pairs)
    assert run.primary_rows(results)["seed"].unique().tolist() == [0]
    # a later chapter-3 run with one seed replaces the registry: the search of two seeds is stale
    run.train_model("t", "lstm", pairs.train, pairs.probe, HeadConfig(hidden=8, **TINY))
    with pytest.raises(run.StaleArtifactError, match="other lstm models"):
        run.latest_search("t", pairs)
