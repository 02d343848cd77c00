# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Compositional search: a formula for every neuron
#
# A unit *fires* on a probe pair when its post-ReLU activation is positive. For each unit, the beam search
# of {cite}`mu2020compositional` looks for the logical formula over concepts whose mask best matches the
# unit's firing mask, by intersection over union
# IoU(N, F) = |N ∩ F| / |N ∪ F|:
#
# 1. score every concept (a formula of length 1);
# 2. the beam holds the `beam_size` best formulas; each round combines every beam formula with every
#    concept of positive IoU by **OR**, **AND** and **AND NOT**, and keeps the best `beam_size` of the old
#    beam and the new candidates;
# 3. after `max_length − 1` rounds the best formula has at most `max_length` concepts.
#
# Because the beam after round *j* does not depend on `max_length`, one search gives the answer for every
# length 1 … `max_length`. Units that fire on fewer than `min_acts` probe pairs are left **unexplained**.
# Ties are broken by fewer concepts, then by the formula's text, so results are deterministic. The search
# is vectorised across candidates and neurons (`clipneuron_utils.search`) and equals a brute-force oracle
# in the tests.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random
encoders: list = ["clip", "lstm", "minilm"]  # trained models (chapter 3) whose neurons are explained
encodings: list = ["standard", "wordnet"]  # concept encodings: "standard" and/or "wordnet"
vocab_size: int = 2000  # token concepts per side: the most frequent probe tokens
wordnet_mode: str = "exact"  # WordNet synonyms: "exact" (the word is a lemma of the synset; stop words never expanded) or "all_senses" (NLTK's lookup with morphy, the naive encoding)
max_length: int = 5  # atoms per formula at most (the answer is reported for every length 1..max_length)
beam_size: int = 10  # formulas kept per round
min_acts: int = 500  # units firing on fewer probe pairs are not explained
activation_alpha: float = 0.0  # 0: a unit fires when its activation is > 0; else its top-alpha quantile
complexity_penalty: float = 1.0  # formula score: IoU × penalty^(length − 1); 1.0: none (the paper)
or_not: bool = False  # also try F OR NOT C (not in the paper)
expand_all: bool = False  # expand with every concept, not only those with IoU > 0 (not in the paper)
compare_expand_all: bool = True  # also search the first encoder expanding with every concept, to show what it changes

# %%
import time

import altair as alt
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import charts, corpus, experiment, plots
from clipneuron_utils.artifacts import cache_key
from clipneuron_utils.search import threshold_activations
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
encoders = experiment.check_encoders(encoders)
encodings = experiment.check_encodings(encodings)
search_params = dict(max_length=max_length, beam_size=beam_size, min_acts=min_acts,
                     complexity_penalty=complexity_penalty, or_not=or_not, expand_all=expand_all)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)

# %% tags=["nbval-ignore-output"]
models = experiment.check_models(profile, pairs, encoders)  # trained by chapter 3 on these very pairs
concept_sets = {e: experiment.probe_concepts(profile, pairs.probe, vocab_size, e, wordnet_mode) for e in encodings}
outputs = {name: experiment.probe_outputs(profile, name, pairs.probe) for name in encoders}
masks = {name: threshold_activations(out["activations"], activation_alpha or None, what=f"{name} model")
         for name, out in outputs.items()}
frames, timings = [], []
for name in encoders:
    for encoding in encodings:
        started = time.perf_counter()
        frames.append(experiment.search_results(
            profile, name, encoding, masks[name], concept_sets[encoding],
            activations_key=cache_key(masks[name]), **search_params))
        timings.append({"encoder": name, "encoding": encoding, "seconds": round(time.perf_counter() - started, 2)})
results = pd.concat(frames, ignore_index=True)
experiment.save_latest_search(profile, results, {**search_params, "activation_alpha": activation_alpha,
                                                  "vocab_size": vocab_size, "wordnet_mode": wordnet_mode}, models)
pd.DataFrame(timings)

# %% [markdown]
# ## How many units can be explained
#
# A unit is explained when it fires on at least `min_acts` probe pairs.

# %%
final = results[results["max_length"] == max_length]
overview = final.groupby(["encoder", "encoding"]).agg(
    units=("neuron", "size"), explained=("explained", "sum"),
    mean_iou=("iou", "mean"), best_iou=("iou", "max"), mean_best_atom_iou=("best_atom_iou", "mean"),
).reset_index()
overview

# %% [markdown]
# ## The best-explained units of each model

# %%
top = (final[final["explained"]].sort_values(["encoder", "encoding", "iou", "neuron"], ascending=[True, True, False, True])
       .groupby(["encoder", "encoding"]).head(5))
top[["encoder", "encoding", "neuron", "formula", "iou", "best_atom", "best_atom_iou", "n_fires"]].reset_index(drop=True)

# %%
plots.iou_histogram(final[final["explained"]])

# %% [markdown]
# ## What the expansion restriction costs
#
# The original search only combines beam formulas with concepts that overlap the unit (IoU > 0), so
# `F AND NOT C` never meets a concept *C* disjoint from the unit, although removing such a *C* from *F* can
# raise the IoU. Here the first encoder is searched again with every concept in the expansion set.

# %% tags=["nbval-ignore-output"]
if compare_expand_all and not expand_all:
    name, encoding = encoders[0], encodings[0]
    unrestricted = experiment.search_results(
        profile, name, encoding, masks[name], concept_sets[encoding],
        activations_key=cache_key(masks[name]), **{**search_params, "expand_all": True})
    both = final[(final.encoder == name) & (final.encoding == encoding)].merge(
        unrestricted[unrestricted.max_length == max_length], on="neuron", suffixes=("", "_all"))
    both = both[both["explained"]]
    gain = both["iou_all"] - both["iou"]

# %%
if compare_expand_all and not expand_all:
    display(Markdown(
        f"For `{name}` × {encoding} at length {max_length}, expanding with every concept raises the mean IoU "
        f"from {both['iou'].mean():.4f} to {both['iou_all'].mean():.4f} (+{gain.mean():.4f}); "
        f"{int((gain > 1e-12).sum())} of {len(both)} explained units get a better formula, "
        f"the largest gain being {gain.max():.4f}."
    ))
