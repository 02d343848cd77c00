# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: differences from the original code
#
# This book reimplements Mu & Andreas' NLI code (compexp, `nli/code/`) rather than running it. Where the
# two differ, the table at the end says what the original does (and in which file), what this book does,
# why, and — where this run can measure it — how much the difference changes: every number is computed
# below from this run's models, concepts and searches, by rerunning the step the original's way.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random
vocab_size: int = 2000  # token concepts per side (as in chapters 04_concepts–05_search)
wordnet_mode: str = "exact"  # WordNet synonyms of this run (as in chapters 04_concepts–05_search); compared with "all_senses" here
measure_input_norm: bool = True  # retrain every head without (or with) the input normalisation to measure it
penalty: float = 0.9  # complexity penalty at which the two ways of counting a formula's length are compared
compare_length: int = 2  # longest formulas in the input-norm and penalty comparisons

# %% [markdown]
# The set-up: the search's primary models and settings, checked by `run.open_book`.

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import display

from clipneuron_utils import run
from clipneuron_utils.artifacts import cache_key
from clipneuron_utils.data import snli
from clipneuron_utils.explain.concepts import build_concepts
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations
from clipneuron_utils.models import heads
from clipneuron_utils.models.outputs import activations
from clipneuron_utils.render import differences as diff, tables

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, vocab_size=vocab_size, wordnet_mode=wordnet_mode)
pairs, latest, registry = book.pairs, book.primary, book.registry  # the search's primary models
saved = book.search_params
top = int(saved["max_length"])
encoders = list(dict.fromkeys(latest["encoder"]))
gold = heads.label_ids(pairs.probe)
ours = latest[latest["encoding"] == "standard"] if (latest["encoding"] == "standard").any() else None

# %% [markdown]
# The concepts in each encoding, and each primary model's firing masks.

# %% tags=["nbval-ignore-output", "remove-output"]
standard = book.concepts(vocab_size, "standard")
modes = {m: book.concepts(vocab_size, "wordnet", m) for m in ("exact", "all_senses")}
outputs = {name: run.probe_outputs(profile, name, pairs.probe) for name in encoders}
masks = {name: threshold_activations(out["activations"], saved.get("activation_alpha") or None, what=f"{name} model")
         for name, out in outputs.items()}


def search(name, concepts, masks_of=None, **changes):
    """This run's search for one encoder with some parameters changed (cached like chapter 05_search's)."""
    neuron_masks = masks[name] if masks_of is None else masks_of
    return run.search_results(profile, name, concepts.encoding, neuron_masks, concepts,
                                     activations_key=cache_key(neuron_masks), **diff.search_params(saved, **changes))


if ours is None:
    ours = pd.concat([search(name, standard) for name in encoders], ignore_index=True)
effects = {}

# %% [markdown]
# ## The head's input normalisation
#
# Mu & Andreas' MLP batch-normalises and drops out the feature vector before its first layer. This book
# does the same by default (`input_norm`); here every head is trained again the other way, on the same
# data and with every other setting equal, to see what the layers change.

# %% tags=["nbval-ignore-output", "remove-output"]
norm_rows = []
if measure_input_norm:
    for name in encoders:
        used = registry[name]["config"]["input_norm"]
        _, other = run.train_variant(profile, name, pairs, input_norm=not used)
        other_masks = threshold_activations(other["activations"], saved.get("activation_alpha") or None)
        theirs = search(name, standard, other_masks, max_length=compare_length)
        mine = ours[ours.encoder == name]
        row = {"encoder": name, "input_norm (this run)": used,
               "probe accuracy": diff.accuracy(outputs[name], gold),
               "probe accuracy, other way": diff.accuracy(other, gold)}
        for length in sorted({1, compare_length}):
            row[f"mean IoU, length {length}"] = diff.explained_summary(mine, length)["mean_iou"]
            row[f"mean IoU, length {length}, other way"] = diff.explained_summary(theirs, length)["mean_iou"]
        norm_rows.append(row)

# %% [markdown]
# The head's input normalisation, measured.

# %% tags=["hide-input"]
norm_table = pd.DataFrame(norm_rows)
if measure_input_norm:
    display(tables.compact(norm_table, digits=4))
    effects["input_norm"] = "; ".join(
        f"{r['encoder']}: probe accuracy {r['probe accuracy']:.1%} with, {r['probe accuracy, other way']:.1%} without"
        if r["input_norm (this run)"] else
        f"{r['encoder']}: probe accuracy {r['probe accuracy, other way']:.1%} with, {r['probe accuracy']:.1%} without"
        for r in norm_rows) + " (mean IoUs in the table above)"
else:
    effects["input_norm"] = "not measured in this run (measure_input_norm=False)"

# %% [markdown]
# ## WordNet: synonyms of the word itself, or of every form NLTK's lookup reaches
#
# The paper's encoding as first built here took every synset NLTK's `synsets(word)` returns; that lookup
# runs morphological normalisation first, so *as* is also looked up as *a*. The default mode `exact` keeps
# only synsets of which the word itself is a lemma, and never expands stop words ({doc}`04_concepts`).

# %% tags=["nbval-ignore-output", "remove-output"]
wordnet_rows = []
for mode, concepts in modes.items():
    changed = diff.mask_changes(standard, concepts)
    for name in encoders:
        base = search(name, standard, max_length=1)
        expanded = search(name, concepts, max_length=1)
        wordnet_rows.append({"mode": mode, "encoder": name, "masks changed": changed["masks_changed"],
                             "pairs added": changed["pairs_added"],
                             "IoU difference": diff.mean_difference(base, expanded, 1)})

# %% [markdown]
# The WordNet modes, measured.

# %% tags=["hide-input"]
wordnet_table = pd.DataFrame(wordnet_rows)
display(tables.compact(wordnet_table.rename(columns={"IoU difference": "mean IoU difference (WordNet − standard), length 1"}),
                       digits=3))
effects["wordnet"] = "; ".join(
    f"{mode}: {g['masks changed'].iloc[0]:,} masks changed, mean IoU difference (WordNet − standard) at length 1 "
    + ", ".join(f"{e} {d:+.4f}" for e, d in zip(g["encoder"], g["IoU difference"]))
    for mode, g in wordnet_table.groupby("mode", sort=False))

# %% [markdown]
# ## Searching the original's way
#
# Two compatibility options of the search reproduce the original's code: `penalty_counts_not` counts
# NOT as a unit of length in the complexity penalty (its `formula.py`), and `duplicate_beam` keeps the
# same-mask twins its NEIGHBORS operator creates, so its beam holds duplicates (its `analyze.py`).

# %% tags=["nbval-ignore-output", "remove-output"]
search_rows = []
for name in encoders:
    atoms = search(name, standard, max_length=compare_length, complexity_penalty=penalty)
    original = search(name, standard, max_length=compare_length, complexity_penalty=penalty, penalty_counts_not=True)
    twins = search(name, standard, duplicate_beam=True)
    search_rows.append({"encoder": name, "comparison": f"penalty {penalty}: NOT counted as length",
                        **diff.formula_changes(atoms, original, compare_length)})
    search_rows.append({"encoder": name, "comparison": f"duplicate-holding beam, length {top}",
                        **diff.formula_changes(ours[ours.encoder == name], twins, top)})

# %% [markdown]
# The original's penalty length and duplicate-holding beam, measured.

# %% tags=["hide-input"]
search_table = pd.DataFrame(search_rows)
display(tables.compact(search_table, digits=3))
for kind, key in (("penalty", "penalty"), ("duplicate", "duplicate")):
    rows = search_table[search_table.comparison.str.startswith(kind)]
    effects[key] = "; ".join(f"{r.encoder}: {r.formula_changed} of {r.units} units get another formula, "
                             f"{r.iou_lower} a lower IoU (by up to {r.largest_drop:.4f}; mean change "
                             f"{r.iou_change:+.4f})" for r in rows.itertuples())

# %% [markdown]
# ## Probing on every dev pair, or only the labelled ones
#
# The original probes all dev pairs, the unlabelled ones (gold label `-`) included, and scores those as
# wrong; this book probes the labelled pairs only.

# %% tags=["nbval-ignore-output", "remove-output"]
effects["labelled"] = "not measurable here: the synthetic probe pairs are all labelled"
if data_source == "snli":
    everything = snli.load_snli(probe_split, data_dir or None, keep_unlabelled=True)
    extra = int((everything["label"] == snli.UNLABELLED).sum())
    concepts_all = build_concepts(everything, vocab_size, "standard", progress=False)
    parts = []
    for name in encoders:
        model = run.load_trained(profile, name)
        acts = activations(model, everything, cache=run.feature_cache())
        found = beam_search_by_length(threshold_activations(acts, saved.get("activation_alpha") or None),
                                      concepts_all, **diff.search_params(saved, max_length=1), progress=False)
        a, b = diff.explained_summary(ours[ours.encoder == name], 1), diff.explained_summary(found, 1)
        parts.append(f"{name}: {a['explained']} → {b['explained']} units explained, mean IoU {a['mean_iou']:.4f} → "
                     f"{b['mean_iou']:.4f}")
    effects["labelled"] = f"with the {extra} unlabelled pairs, at length 1: " + "; ".join(parts)

# %% [markdown]
# Vocabulary ties at the cut-off, counted.

# %% tags=["hide-input"]
ties = diff.vocabulary_ties(pairs.probe, vocab_size)
effects["ties"] = (f"{ties['n_tied']} words tie at the cut-off count of {ties['cutoff_count']}; the cut keeps "
                   f"{ties['n_kept']} of them, so up to {ties['concepts_at_stake']} token concepts can differ; which "
                   "ones is not measurable here (it needs the original's LSTM vocabulary ids)"
                   if ties["cutoff_count"] is not None else
                   f"no cut: the probe pairs have at most {vocab_size} distinct tokens")

# %% [markdown]
# ## Every difference

# %% tags=["hide-input"]
tables.compact(diff.differences_table(effects, wordnet_mode), wrap=True)
