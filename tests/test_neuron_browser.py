"""Chapter 09_neuron_browser, the neuron browser: its parameters follow chapter 07_qualitative_neurons's, its place in the book, its cell tags,
and the page budget of its executed notebooks (fast: reads the sources and the executed notebooks only)."""

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from clipneuron_utils.run import parameters

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "09_neuron_browser.py"
#: what a page of the book may weigh (its HTML); the tables are most of chapter 09_neuron_browser's
PAGE_BUDGET = 1_500_000


def test_parameters_are_chapter_7s():
    mine = parameters.read_parameters(SOURCE)
    cards = parameters.read_parameters(ROOT / "notebooks" / "07_qualitative_neurons.py")
    shared = ["profile", "data_source", "data_dir", "train_splits", "probe_split", "n_synthetic_train",
              "n_synthetic_probe", "seed", "vocab_size", "wordnet_mode", "card_encoding", "n_extremes"]
    assert list(mine) == shared
    for name in shared:
        assert (mine[name].type, mine[name].default) == (cards[name].type, cards[name].default), name
        assert mine[name].help, f"{name} has no comment"
        parameters.check_value(mine[name], mine[name].default, "09_neuron_browser")


def test_placed_after_the_qualitative_neurons_and_the_firing_regime():
    """The browser follows the qualitative neurons and the firing regime, and it runs after the search's sweep,
    whose paper-matched formulas it shows; the causal tests, the annotation artifacts and the encoders' own
    neurons close the part."""
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    chapters = next(p["chapters"] for p in toc["parts"] if p["caption"] == "Explaining neurons")
    files = [c["file"] for c in chapters]
    assert files[-6:] == ["07_qualitative_neurons", "08_firing_regime", "09_neuron_browser", "10_causal", "11_artifacts",
                          "12_inside_encoder"]


def test_cell_tags():
    notebook = jupytext.read(SOURCE)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    for cell in code:
        tags = cell.metadata.get("tags", [])
        if "tables.interactive" in cell.source or "display(Markdown" in cell.source:
            assert "hide-input" in tags, cell.source[:80]
        if "run.latest_search" in cell.source:
            assert "remove-output" in tags, "the loading cell logs cache hits"
    assert notebook.cells[0].source.startswith("# Neuron browser")


@pytest.mark.parametrize("folder", ["book", "tests/nbval"])
def test_executed_page_stays_within_budget_and_offline(folder):
    path = ROOT / folder / "09_neuron_browser.ipynb"
    if not path.is_file():
        pytest.skip(f"{path} not made yet (python -m clipneuron_utils.run.pipeline --only 09)")
    notebook = nbformat.read(path, as_version=4)
    html = [o["data"]["text/html"] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if "text/html" in o.get("data", {})]
    tables = [h for h in html if "dt_bundle.js" in h]
    assert tables, "no interactive table in the executed chapter"
    assert sum(map(len, html)) < PAGE_BUDGET - 200_000, "the tables leave no room for the page around them"
    for table in tables:
        assert "unpkg" not in table and "from './_static/itables/dt_bundle.js'" in table
        assert "Interactive table" in next(o["data"]["text/plain"] for c in notebook.cells if c.cell_type == "code"
                                           for o in c.outputs if o.get("data", {}).get("text/html") == table)
