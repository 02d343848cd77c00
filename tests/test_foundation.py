"""Synthetic smoke data, corpus loading, artifacts, provenance, charts and the book builder."""

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

from clipneuron_utils import artifacts
from clipneuron_utils.render import book, charts, provenance
from clipneuron_utils.data import corpus, snli, synthetic
from clipneuron_utils.seeding import seed_everything


def test_synthetic_pairs_have_the_snli_shape_and_balanced_labels():
    frame = synthetic.make_pairs(300, seed=4)
    assert list(frame.columns) == snli.COLUMNS
    assert frame["label"].value_counts().to_dict() == {label: 100 for label in snli.LABELS}
    assert frame["pair_id"].is_unique
    for tokens, tags in zip(frame.hypothesis_tokens, frame.hypothesis_tags):
        assert len(tokens) == len(tags) and tokens == [t.lower() for t in tokens]
    assert synthetic.make_pairs(300, seed=4).equals(frame)
    assert not synthetic.make_pairs(300, seed=5).equals(frame)


def test_synthetic_labels_follow_lexical_rules():
    frame = synthetic.make_pairs(600, seed=0)
    hyp_adds_jj = frame.apply(lambda r: "JJ" in r.hypothesis_tags, axis=1)
    sleeping = frame.hypothesis_tokens.map(lambda t: "sleeping" in t)
    assert frame.loc[hyp_adds_jj, "label"].eq("neutral").all()
    assert frame.loc[sleeping & ~frame.premise_tokens.map(lambda t: "sleeping" in t), "label"].eq("contradiction").all()
    with pytest.raises(ValueError, match="n_pairs must be an int >= 3"):
        synthetic.make_pairs(2)


def test_corpus_synthetic_and_snli(shared_snli):
    pairs = corpus.load_pairs("synthetic", n_synthetic_train=60, n_synthetic_probe=30)
    assert (len(pairs.train), len(pairs.probe)) == (60, 30)
    assert "synthetic" in pairs.summary
    snli = corpus.load_pairs("snli", ["train_0.01", "test"], "dev", str(shared_snli))
    assert len(snli.probe) == 9842
    assert snli.summary.startswith("trained on SNLI 1% train sample + test")
    assert snli.provenance["official"].all()
    stats = corpus.vocabulary_stats(snli)
    assert set(stats["set"]) == {"train", "probe"}
    labels = corpus.label_distribution(snli)
    assert labels.groupby("set")["share"].sum().round(6).eq(1).all()


def test_corpus_refuses_bad_parameters():
    with pytest.raises(ValueError, match="data_source must be one of snli, synthetic; got 'glove'"):
        corpus.load_pairs("glove")
    with pytest.raises(ValueError, match="probe_split 'dev' is also in train_splits"):
        corpus.load_pairs("snli", ["dev"], "dev")


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "a.npy"
    artifacts.save_array(target, np.arange(3))
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert np.array_equal(artifacts.load_array(target), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "a.npy.sha256"]


def test_cache_key_depends_on_every_input():
    assert artifacts.cache_key("clip", ["a", "b"]) == artifacts.cache_key("clip", ["a", "b"])
    assert artifacts.cache_key("clip", ["a", "b"]) != artifacts.cache_key("clip", ["b", "a"])
    assert artifacts.cache_key(np.zeros(2)) != artifacts.cache_key(np.zeros(2, dtype=np.float32))


def test_frames_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": [["x"], ["y", "z"]]})
    artifacts.save_frame(tmp_path / "f.pkl", frame)
    assert artifacts.load_frame(tmp_path / "f.pkl").equals(frame)


def test_seed_everything_is_repeatable():
    a = seed_everything(1).random(3)
    assert np.array_equal(a, seed_everything(1).random(3))
    with pytest.raises(TypeError):
        seed_everything("1")


def test_provenance_records_and_warns(runs_tmp):
    provenance.record("p", "data", {"text": "SNLI dev", "warning": "1% sample"})
    provenance.record("p", "clip", {"text": "untrained"})
    text = provenance.render_markdown("p", provenance.load("p"))
    assert ":::{warning}" in text and "- 1% sample" in text and "**clip**: untrained" in text
    assert json.loads((runs_tmp / "p" / "provenance.json").read_text())["data"]["text"] == "SNLI dev"
    assert provenance.data_warning("synthetic", []).startswith("Embedded synthetic data")
    assert "1% SNLI train sample" in provenance.data_warning("snli", ["train_0.01", "test"])
    assert provenance.data_warning("snli", ["train"]) is None
    assert "UNTRAINED" in provenance.encoder_warning("CLIP x", "untrained")
    assert provenance.encoder_warning("CLIP x", "openai") is None
    with pytest.raises(ValueError):
        provenance.record("p", "x", {"no": "text"})


def test_scorecard_is_kept_apart_from_the_provenance_list(runs_tmp):
    provenance.record("p", "data", {"text": "SNLI dev"})
    assert provenance.render_scorecard(provenance.load("p")) == provenance.NO_SCORECARD
    provenance.record_scorecard("p", "## The paper's claims\n\n| a | b |\n")
    entries = provenance.load("p")
    assert provenance.render_scorecard(entries).startswith("## The paper's claims")
    listed = provenance.render_markdown("p", entries)
    assert "_scorecard" not in listed and "| a | b |" not in listed and "**data**: SNLI dev" in listed


def test_chart_renderer_gives_offline_html_and_a_stable_fingerprint():
    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]}), title="T").mark_point().encode(x="x:Q", y="y:Q")
    bundle = charts.renderer(chart.to_dict())
    assert bundle["text/plain"] == "<Chart 'T': point(x=x, y=y); 2 data rows>"
    assert "vegaEmbed" in bundle["text/html"] and "cdn" not in bundle["text/html"].lower()
    assert bundle == charts.renderer(chart.to_dict()), "same spec, same element id"
    assert charts.VEGALITE_MIME in bundle


def test_vega_bundle_is_self_contained(tmp_path):
    path = charts.write_bundle(tmp_path)
    text = path.read_text()
    assert "window.vegaEmbed" in text and "https://cdn" not in text
    assert text.startswith("(function () {")


def test_book_build_requires_provenance(tmp_path):
    with pytest.raises(FileNotFoundError, match="_provenance.md is missing"):
        book.build(tmp_path, tmp_path / "out")


def test_sphinx_ext_drops_twin_inline_scripts():
    from sphinx.builders.html._assets import _JavaScript

    from clipneuron_utils.render import sphinx_ext

    scripts = [_JavaScript("", body="const A = 1"), _JavaScript("x.js"), _JavaScript(None, body="const A = 1"),
               _JavaScript("x.js", **{"async": "async"})]
    context = {"script_files": scripts}
    sphinx_ext._dedupe_scripts(None, "page", "page.html", context, None)
    assert [(s.filename, s.attributes) for s in context["script_files"]] == [
        ("", {"body": "const A = 1"}), ("x.js", {}), ("x.js", {"async": "async"})]


def test_shown_paths_hide_the_build_machine(runs_tmp, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert artifacts.shown(runs_tmp / "p" / "models" / "x") == "runs/p/models/x"
    assert artifacts.shown(tmp_path / "home" / ".cache" / "w") == "~/.cache/w"
    assert artifacts.shown("/usr/share/wordnet") == "/usr/share/wordnet"
