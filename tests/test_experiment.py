"""Shared run artifacts: concepts are built once per (probe pairs, vocabulary size, encoding)."""

from clipneuron_utils.explain import concepts
from clipneuron_utils.run import store
from clipneuron_utils.data import synthetic


def test_probe_concepts_are_cached_by_their_inputs(runs_tmp, capsys):
    probe = synthetic.make_pairs(60, seed=1)
    first = store.probe_concepts("t", probe, 20, "standard", progress=False)
    again = store.probe_concepts("t", probe, 20, "standard", progress=False)
    assert "cache hit" in capsys.readouterr().out
    assert again.names == first.names and (again.masks != first.masks).nnz == 0
    other = store.probe_concepts("t", probe, 10, "standard", progress=False)
    assert other.n_concepts < first.n_concepts
    changed = probe.copy()
    changed.at[0, "hypothesis_tokens"] = ["a", "zebra", "."]
    changed.at[0, "hypothesis_tags"] = ["DT", "NN", "."]
    assert "hyp:tok:zebra" not in first
    assert len(list((runs_tmp / "t" / "concepts").glob("*.npz"))) == 2
    store.probe_concepts("t", changed, 20, "standard", progress=False)
    assert len(list((runs_tmp / "t" / "concepts").glob("*.npz"))) == 3


def test_wordnet_examples_show_pairs_that_newly_match():
    probe = synthetic.make_pairs(90, seed=2)
    standard = concepts.build_concepts(probe, 50, "standard", progress=False)
    wordnet = concepts.build_concepts(probe, 50, "wordnet", progress=False)
    table = concepts.wordnet_examples(probe, standard, wordnet, words=["small"])
    row = table[table.concept == "pre:tok:small"].iloc[0]
    assert row["pairs (standard)"] == 0  # synthetic premises never say "small" ...
    assert row["pairs (wordnet)"] > 0  # ... but often "little", one of its WordNet synonyms
    assert row["via"] == "little"
    assert row["via"] and row["via"] in row["example that newly matches"].lower()
