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

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, differences as diff, tables
from clipneuron_utils import run
from clipneuron_utils.models import heads
from clipneuron_utils.models.outputs import activations
from clipneuron_utils.data import corpus, snli
from clipneuron_utils.artifacts import cache_key
from clipneuron_utils.explain.concepts import build_concepts
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
latest = run.primary_rows(run.without_controls(run.latest_search(profile, pairs)))  # chapter 05_search's, checked; primary models
run.check_search_vocab(latest, vocab_size, wordnet_mode)
saved = latest.attrs["params"]
top = int(saved["max_length"])
encoders = list(dict.fromkeys(latest["encoder"]))
registry = run.registry(profile)
gold = heads.label_ids(pairs.probe)
ours = latest[latest["encoding"] == "standard"] if (latest["encoding"] == "standard").any() else None

# %% tags=["nbval-ignore-output", "remove-output"]
standard = run.probe_concepts(profile, pairs.probe, vocab_size, "standard")
modes = {m: run.probe_concepts(profile, pairs.probe, vocab_size, "wordnet", m) for m in ("exact", "all_senses")}
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
NOT_HERE = "not measurable here"
table = pd.DataFrame([
    ("Head input", "BatchNorm1d + Dropout(0.1) on [u; v; u−v; u∗v] (models.py)",
     "the same by default (input_norm)", "the paper uses Mu & Andreas' architecture", effects["input_norm"]),
    ("WordNet synonyms", "— (the paper's contribution: NLTK synsets(word), which runs morphy)",
     f"{wordnet_mode} (default exact: the word is a lemma of the synset; stop words never expanded)",
     "morphy turns 'as' into 'a' and drags in angstrom, vitamin A, adenine…", effects["wordnet"]),
    ("POS tags", "spaCy en_core_web_lg tags, lower-cased (annotate.py)", "the SNLI parse's Penn tags",
     "no spaCy model without internet; the official parses are SNLI's own", f"{NOT_HERE} (no spaCy tagger)"),
    ("Tokens", "spaCy tokens limited to the LSTM's vocabulary (annotate.py)", "lower-cased leaves of the parses",
     "the same tokens for every encoder", f"{NOT_HERE} (no spaCy tokenizer)"),
    ("Overlap concepts", "token sets of the padded batch: the padding token counts (annotate.py)",
     "token sets of the sentences", "padding is not a word",
     f"{NOT_HERE}: it depends on how the original batched the pairs"),
    ("Vocabulary ties", "np.argsort(counts)[::-1] over the LSTM vocabulary's ids (annotate.py)",
     "alphabetical among equal counts", "reproducible without the original's vocabulary", effects["ties"]),
    ("Complexity penalty length", "NOT counts as a unit: len(A AND NOT B) = 3 (formula.py)",
     "atoms: 2 (option penalty_counts_not)", "max_length counts atoms in both; one notion of length",
     effects["penalty"]),
    ("Beam duplicates", "NEIGHBORS gives every atom a same-mask twin; no formula equality (analyze.py)",
     "distinct formulas (option duplicate_beam)", "duplicates crowd the beam out", effects["duplicate"]),
    ("Probe pairs", "all dev pairs; unlabelled ones scored as wrong (analyze.py)", "the labelled dev pairs",
     "an unlabelled pair has no right answer", effects["labelled"]),
    ("LSTM direction", "unidirectional (models.py)", "bidirectional (option lstm_bidirectional)",
     "the paper says bidirectional", f"{NOT_HERE} in this run (it takes a second LSTM training)"),
], columns=["difference", "original (compexp nli/code/)", "this book", "why", "effect measured in this run"])
tables.compact(table, wrap=True)
