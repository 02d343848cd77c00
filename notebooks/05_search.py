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
# # Compositional search: a formula for every neuron
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
# is vectorised across candidates and neurons (`clipneuron_utils.explain.search`) and equals a brute-force oracle
# in the tests.
#
# **The matched null.** A unit's best IoU depends strongly on how many probe pairs it fires on, whatever
# it encodes. So every unit is also scored against random masks with its firing count
# (`clipneuron_utils.explain.controls.matched_null`): `null_draws` random sets of exactly that many probe pairs,
# searched by the same beam search with the same concepts and settings, at every length. A unit's
# `excess_iou = iou − null_mean_iou` is what its formula explains beyond its firing rate, and its
# `p_value` the share of draws at least as good, `(1 + hits) / (null_draws + 1)`. The null depends on a
# unit only through its firing count, so units whose counts lie within `null_bin_width` of each other
# (log-spaced bins; 1 % by default, the draw's count never more than that away from the unit's) share one
# set of draws, and every model searched with the same concepts (all encoders and seeds) reuses them: the
# draws are kept under `runs/<profile>/search/null/`.
#
# Every encoder's model is searched once per training seed ({doc}`03_head_training`), so the later chapters can show
# how much each number moves between replicates.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random (the null's draws too); the primary models' training seed
seeds: int = 3  # models per encoder (training seeds seed, seed + 1, …), as chapter 03_head_training trained them
lstm_seeds: int = 0  # models for the LSTM (0: seeds), as chapter 03_head_training trained them
encoders: list = ["clip", "lstm", "minilm"]  # trained models (chapter 03_head_training) whose neurons are explained
controls: list = ["clip-untrained", "lstm-untrained", "clip-shuffled", "lstm-shuffled", "minilm-shuffled"]  # random-network controls (chapter 03_head_training) explained the same way: <encoder>-untrained (random weights, frozen) and <encoder>-shuffled (shuffled training labels)
control_seeds: int = 0  # models per control, as chapter 03_head_training trained them (0: as many as its encoder)
lstm_shuffled_seeds: int = 1  # models of the shuffled-label LSTM control, which trains end to end (0: as control_seeds gives), as chapter 03_head_training trained them
encodings: list = ["standard", "wordnet"]  # concept encodings: "standard" and/or "wordnet"
vocab_size: int = 2000  # token concepts per side: the most frequent probe tokens
wordnet_mode: str = "exact"  # WordNet synonyms: "exact" (the word is a lemma of the synset; stop words never expanded) or "all_senses" (NLTK's lookup with morphy, the naive encoding)
max_length: int = 5  # atoms per formula at most (the answer is reported for every length 1..max_length)
beam_size: int = 10  # formulas kept per round
min_acts: int = 500  # units firing on fewer probe pairs are not explained
activation_alpha: float = 0.0  # 0: a unit fires when its activation is > 0; else on its top-alpha share of pairs
activation_alphas: list = [0.2, 0.1, 0.05, 0.02]  # the firing-regime sweep (chapter 08_firing_regime): every model searched again firing on its top-alpha share of pairs; []: none
regime_max_length: int = 2  # atoms per formula at most in the sweep: the paper's two lengths, all the claims need (3 costs about 30 % more)
complexity_penalty: float = 1.0  # formula score: IoU × penalty^(length − 1); 1.0: none (the paper)
or_not: bool = False  # also try F OR NOT C (not in the paper)
expand_all: bool = False  # expand with every concept, not only those with IoU > 0 (not in the paper)
compare_expand_all: bool = True  # also search the first encoder expanding with every concept, to show what it changes
null_draws: int = 20  # random masks per firing count in the matched null
null_bin_width: float = 0.01  # units whose firing counts are within this relative width share the null's draws (0: exact counts)
n_jobs: int = 0  # processes for the beam search (0: every core)

# %% [markdown]
# The set-up: the pairs, and the encoders, controls and concept encodings to search.

# %% tags=["hide-input"]
import time

import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, tables
from clipneuron_utils.render import plots
from clipneuron_utils import run
from clipneuron_utils.run import regimes
from clipneuron_utils.data import corpus
from clipneuron_utils.artifacts import cache_key
from clipneuron_utils.explain.search import threshold_activations
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
encoders = run.check_encoders(encoders)
controls = run.check_controls(controls, encoders)
encodings = run.check_encodings(encodings)
search_params = dict(max_length=max_length, beam_size=beam_size, min_acts=min_acts,
                     complexity_penalty=complexity_penalty, or_not=or_not, expand_all=expand_all)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)

# %% [markdown]
# The search: every unit of every model and seed, at every formula length, with its matched null; then the
# firing-regime sweep.

# %% tags=["nbval-ignore-output", "remove-output"]
seed_lists = {name: run.training_seeds(seed, seeds, lstm_seeds, name, control_seeds, lstm_shuffled_seeds) for name in encoders + controls}
models = run.check_models(profile, pairs, encoders + controls, seeds=seed_lists)  # trained by chapter 03_head_training on these very pairs
concept_sets = {e: run.probe_concepts(profile, pairs.probe, vocab_size, e, wordnet_mode) for e in encodings}
masks = {(name, s): threshold_activations(run.probe_outputs(profile, name, pairs.probe, seed=s)["activations"],
                                          activation_alpha or None, what=f"{name} model (seed {s})")
         for name in encoders + controls for s in seed_lists[name]}
frames, timings = [], []
for (name, s), mask in masks.items():
    for encoding in encodings:
        started = time.perf_counter()
        found = run.search_results(profile, name, encoding, mask, concept_sets[encoding],
                                          activations_key=cache_key(mask), n_jobs=n_jobs, **search_params)
        searched = time.perf_counter()
        found = run.matched_null(profile, mask, concept_sets[encoding], found, n_draws=null_draws, seed=seed,
                                        bin_width=null_bin_width, n_jobs=n_jobs, **search_params)
        frames.append(found.assign(seed=s))
        timings.append({"encoder": name, "seed": s, "encoding": encoding, "search (s)": round(searched - started, 2),
                        "matched null (s)": round(time.perf_counter() - searched, 2)})
results = pd.concat(frames, ignore_index=True)
saved_to = run.save_latest_search(profile, results, {**search_params, "activation_alpha": activation_alpha,
                                                             "vocab_size": vocab_size, "wordnet_mode": wordnet_mode,
                                                             "null_draws": null_draws, "null_bin_width": null_bin_width,
                                                             "null_seed": seed, "activation_alphas": activation_alphas,
                                                             "regime_max_length": regime_max_length}, models)

# %% [markdown]
# What the chapter shows, per model, at the longest formulas.

# %% tags=["hide-input"]
last = results[(results["max_length"] == max_length) & (results["encoding"] == encodings[0])]
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(
    f"- `{name}`: {sub['explained'].mean():.0%} of its units explained; their best formulas of up to {max_length} concepts "
    f"reach a mean IoU of {sub['iou'].mean():.3f} ({encodings[0]} concepts), and random masks with the same firing "
    f"counts {sub['null_mean_iou'].mean():.3f}." for name, sub in last.groupby("encoder", sort=False))
    + "\n\nChapter 06_results puts these numbers, with intervals, against the paper's claims.\n:::"))

# %% [markdown]
# Seconds per model × encoding on this machine (0.0x s: read from the cache of an earlier run).

# %% tags=["hide-input", "nbval-ignore-output"]
tables.compact(pd.DataFrame(timings).pivot_table(index=["encoder", "seed"], columns="encoding",
                                                 values=["search (s)", "matched null (s)"], sort=False),
               keep_index=True)

# %% [markdown]
# ## How many units can be explained
#
# A unit is explained when it fires on at least `min_acts` probe pairs. Counted per model (encoder ×
# seed), then averaged over its seeds; the matched null is the mean IoU of random masks with the same
# units' firing counts. Rows named `<encoder>-untrained` or `<encoder>-shuffled` are the random-network
# controls of {doc}`03_head_training`.

# %% tags=["hide-input"]
final = results[results["max_length"] == max_length]
per_model = (final.groupby(["encoder", "encoding", "seed"], sort=False)
             .agg(units=("neuron", "size"), explained=("explained", "sum"), mean_iou=("iou", "mean"),
                  mean_null_iou=("null_mean_iou", "mean"), best_iou=("iou", "max"))
             .groupby(["encoder", "encoding"], sort=False))
overview = per_model.mean().join(per_model.size().rename("seeds")).reset_index()
tables.compact(pd.DataFrame({
    "model": overview["encoder"], "concepts": overview["encoding"], "seeds": overview["seeds"],
    "units explained": [f"{e:,.0f} of {u:,.0f}" for e, u in zip(overview["explained"], overview["units"])],
    f"mean IoU (length {max_length})": overview["mean_iou"].map("{:.3f}".format),
    "matched null": overview["mean_null_iou"].map("{:.3f}".format),
    "best unit's IoU": overview["best_iou"].map("{:.3f}".format),
}))

# %% [markdown]
# ## The best-explained units of each model
#
# The primary model of each encoder (its first training seed).

# %% tags=["hide-input"]
primary = run.primary_rows(run.without_controls(final))
top = (primary[primary["explained"]].sort_values(["encoder", "encoding", "iou", "neuron"], ascending=[True, True, False, True])
       .groupby(["encoder", "encoding"]).head(5))
tables.interactive(top[["encoder", "encoding", "neuron", "formula", "iou", "excess_iou", "best_atom", "best_atom_iou",
                        "n_fires"]], caption="The five best-explained units of each primary model")

# %% [markdown]
# The distribution of the best IoU over the explained units.

# %% tags=["hide-input"]
plots.iou_histogram(primary[primary["explained"]])

# %% [markdown]
# ## What the expansion restriction costs
#
# The original search only combines beam formulas with concepts that overlap the unit (IoU > 0), so
# `F AND NOT C` never meets a concept *C* disjoint from the unit, although removing such a *C* from *F* can
# raise the IoU. Here the first encoder is searched again with every concept in the expansion set.

# %% tags=["nbval-ignore-output", "remove-output"]
if compare_expand_all and not expand_all:
    name, encoding = encoders[0], encodings[0]
    mask = masks[(name, seed_lists[name][0])]
    unrestricted = run.search_results(
        profile, name, encoding, mask, concept_sets[encoding],
        activations_key=cache_key(mask), n_jobs=n_jobs, **{**search_params, "expand_all": True})
    both = primary[(primary.encoder == name) & (primary.encoding == encoding)].merge(
        unrestricted[unrestricted.max_length == max_length], on="neuron", suffixes=("", "_all"))
    both = both[both["explained"]]
    gain = both["iou_all"] - both["iou"]

# %% [markdown]
# What expanding with every concept, not only those with IoU > 0, changes.

# %% tags=["hide-input"]
if compare_expand_all and not expand_all:
    display(Markdown(
        f"For `{name}` (primary model) × {encoding} at length {max_length}, expanding with every concept raises the mean IoU "
        f"from {both['iou'].mean():.4f} to {both['iou_all'].mean():.4f} (+{gain.mean():.4f}); "
        f"{int((gain > 1e-12).sum())} of {len(both)} explained units get a better formula, "
        f"the largest gain being {gain.max():.4f}."
    ))

# %% [markdown]
# ## The firing regime: the same search at sparser thresholds
#
# At > 0 a unit can fire on a large share of the probe pairs ({doc}`08_firing_regime` shows how large), where only
# near-constant concepts can match it. Each model is therefore searched again with each unit firing on
# exactly its top ⌈α·N⌉ probe pairs, for every α of `activation_alphas` (ties broken by probe order; a pair
# at ≤ 0 never fires), with formulas of up to `regime_max_length` concepts and its own matched null.
# `min_acts` becomes min(`min_acts`, ⌈α·N⌉), so every unit with its full top-α count is explained.
# {doc}`08_firing_regime` reads the results.

# %% tags=["nbval-ignore-output", "remove-output"]
regime_results, regime_timings = regimes.sweep(
    profile, pairs, seed_lists, concept_sets, activation_alphas,
    search_params={**search_params, "max_length": regime_max_length}, null_draws=null_draws, null_seed=seed,
    n_jobs=n_jobs)
if activation_alphas:
    regimes.save_regimes(profile, regime_results, {**search_params, "max_length": regime_max_length,
                                                   "activation_alphas": activation_alphas, "null_draws": null_draws})

# %% [markdown]
# Seconds per regime for every model and encoding with its null (0.x s: read from the cache of an earlier run).

# %% tags=["hide-input", "nbval-ignore-output"]
tables.compact(regime_timings) if activation_alphas else Markdown("No sweep: `activation_alphas` is empty.")
