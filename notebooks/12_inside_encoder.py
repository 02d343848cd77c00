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
# # Inside the encoder
#
# The book so far explains the units of a head trained on top of a frozen encoder. Goh et al.'s multimodal
# neurons ({cite}`goh2021multimodal`) are CLIP's *own* neurons, and the paper's conclusion speaks of the neurons
# of "multi-modal language models". This chapter explains the frozen encoders' own neurons with the same
# compositional search, the same matched null and the same kind of controls.
#
# - **The neurons**: every MLP neuron after its nonlinearity, in every transformer block: MiniLM's 6 × 1,536
#   and CLIP's text tower's 12 × 2,048. They are read with forward hooks that are removed afterwards.
# - **The unit of observation is a sentence**: each distinct premise and hypothesis of the probe pairs (or a
#   seeded sample of `neuron_sentences` of them, where the build's time needs it). A
#   neuron's value on a sentence is its maximum over the sentence's own token positions: no padding and no
#   special token (for MiniLM the word pieces between `[CLS]` and `[SEP]`; for CLIP every position after the
#   start token up to and including the end-of-text token, the one CLIP pools).
# - **The concepts** are the sentence's words (`tok:W`) and part-of-speech tags (`tag:T`), built by the book's
#   concept code with its vocabulary rules.
# - **The whole activation range**: each neuron fires on its top α of sentences (α = 0.5 %, as NetDissect and
#   Mu & Andreas' vision code, and 5 %), and its activations are also split into K clusters by 1-D k-means,
#   each cluster a mask with its own explanation ({cite}`larosa2023clustered`).
# - **Controls**: every mask gets the matched null (random masks with its count), and excess IoU is the
#   headline; MiniLM's architecture with random weights is the random-network control (and CLIP, where its
#   checkpoint is not available, is untrained: its row is itself a control); planted neurons (a word's
#   indicator plus a real neuron's values) must be recovered.
# - **Does the head use them?** Sets of neurons are held at their mean inside the encoder, the probe pairs are
#   encoded again, and the trained heads' gold margin is read.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random; the primary models' training seed
seeds: int = 3  # models per encoder (training seeds seed, seed + 1, …), as chapter 03_head_training trained them
lstm_seeds: int = 0  # models for the LSTM (0: seeds), as chapter 03_head_training trained them
control_seeds: int = 0  # models per random-network control (0: as many as its encoder), as chapter 03_head_training trained them
lstm_shuffled_seeds: int = 1  # models of the shuffled-label LSTM control, which trains end to end (0: as control_seeds gives), as chapter 03_head_training trained them
vocab_size: int = 2000  # token concepts (as in chapters 04_concepts–05_search), here over sentences
neuron_sentences: int = 0  # distinct probe sentences the neurons are read on (a seeded sample; 0: all)
neuron_alphas: list = [0.005, 0.05]  # top-α regimes: each neuron fires on its top α of sentences
n_clusters: int = 5  # 1-D k-means clusters per neuron (0: none)
neurons_per_layer: int = 0  # neurons explained per layer of a trained encoder (0: all)
control_neurons_per_layer: int = 256  # neurons explained per layer of a random-weight encoder (a sample; 0: all)
neuron_max_length: int = 3  # atoms per formula at most
neuron_beam_size: int = 5  # beam width of the search
neuron_min_acts: int = 10  # a mask on fewer sentences is not explained
neuron_null_draws: int = 10  # random masks per firing count (the matched null)
neuron_null_bin_width: float = 0.05  # firing counts within this relative width share their null draws
planted_neurons: int = 6  # planted neurons per α and model
encoder_ablation_k: int = 64  # neurons held per layer group and ranking
encoder_ablation_pairs: int = 500  # probe pairs encoded again per ablation
encoder_ablation_draws: int = 3  # random sets per layer group
browser_per_layer: int = 25  # neurons per model, layer, regime and cluster in the browser table
n_jobs: int = 0  # processes for the search (0: one per usable core), as in chapter 05_search
device: str = "auto"  # torch device for the encoders: auto (CUDA when available, else CPU), cpu, cuda or cuda:N

# %% [markdown]
# The set-up: the pairs and the trained heads (checked by `run.open_book`), the distinct probe sentences and
# their concepts, and the models whose neurons are explained.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain.sentence_concepts import distinct_sentences, sentence_concepts
from clipneuron_utils.render import encoder_plots, tables, unit_plots
from clipneuron_utils.run import encoder_ablation, encoder_units, parameters
from clipneuron_utils.stats import encoder_explanations as X
from clipneuron_utils.stats import single_neurons

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, seeds=seeds, lstm_seeds=lstm_seeds, control_seeds=control_seeds,
                     lstm_shuffled_seeds=lstm_shuffled_seeds)
alphas = parameters.check_neuron_alphas(neuron_alphas)
every_sentence = distinct_sentences(book.pairs.probe)
sentences = encoder_units.sample_sentences(every_sentence, neuron_sentences, seed=seed)
concepts = sentence_concepts(sentences, vocab_size)
names = encoder_units.check_models(book.registry)
is_trained = encoder_units.attach_trained(book.registry)
params = dict(max_length=neuron_max_length, beam_size=neuron_beam_size, min_acts=neuron_min_acts,
              null_draws=neuron_null_draws, bin_width=neuron_null_bin_width)

# %% [markdown]
# Every model's neuron activations (cached), then every layer's masks searched with their matched null, planted
# neurons included (cached).

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
sources, layers, frames = {}, {}, []
for name in names:
    sources[name] = encoder_units.neuron_source(book.registry, name, seed=seed, device=device)
    layers[name] = encoder_units.activations(profile, sources[name], list(sentences["sentence"]))
    frames.append(encoder_units.explain_model(
        profile, name, layers[name], concepts, alphas=alphas, k=n_clusters,
        per_layer=neurons_per_layer if is_trained[name] else control_neurons_per_layer,
        planted_per_alpha=planted_neurons, seed=seed, params=params, n_jobs=n_jobs))
rows = pd.concat(frames, ignore_index=True)
top_regimes = [encoder_units.regime_label(a) for a in alphas]
cluster_regimes = [encoder_units.regime_label((c, n_clusters)) for c in range(n_clusters)]
summary = X.layer_summary(rows)
kinds = X.kind_shares(rows, neuron_max_length)
recovery = X.planted_recovery(rows, neuron_max_length, cluster_regimes[-1] if cluster_regimes else None)
coverage = X.cluster_coverage(rows, neuron_max_length)

# %% [markdown]
# The ablation inside each trained encoder (cached): per layer group, the top neurons by excess IoU at the
# sparsest regime, random neurons, and the top neurons by attribution.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
sparsest = top_regimes[0]
explained = X.real(rows)[lambda f: (f["max_length"] == neuron_max_length) & f["explained"].astype(bool)]
ablated = [n for n in names if is_trained[n] and n in book.models]
found = pd.concat([encoder_ablation.run(
    profile, book, n, explained[(explained["model"] == n) & (explained["regime"] == sparsest)],
    k=encoder_ablation_k, n_pairs=encoder_ablation_pairs, draws=encoder_ablation_draws, groups=3, seed=seed,
    device=device)
    for n in ablated] or [pd.DataFrame()], ignore_index=True)
ablation = encoder_ablation.effects(found) if len(found) else pd.DataFrame()

# %% [markdown]
# ## What this chapter shows

# %% tags=["hide-input"]
control = encoder_units.RANDOM_MINILM
n_all = len(every_sentence)
lines = [f"{len(sentences):,} of the {n_all:,} distinct probe sentences" + (" (a seeded sample)" if len(sentences) < n_all else "")
         + f"; {concepts.n_concepts:,} concepts (words and tags)."]
for name in names:
    s = summary[(summary["model"] == name) & (summary["regime"] == sparsest) & (summary["max_length"] == neuron_max_length)]
    what = "trained" if is_trained[name] else ("random weights" if name == control else "untrained") + ": a random-weight control"
    searched = X.real(rows)[lambda f, name=name: (f["model"] == name)].groupby("layer")["neuron"].nunique().sum()
    lines.append(f"**{name}** ({what}; {len(layers[name])} layers × {sources[name].width:,} neurons, {searched:,} "
                 f"searched, {int(s['neurons'].sum()):,} explained at {sparsest}): mean excess IoU by layer "
                 + ", ".join(f"{v:+.3f}" for v in s.sort_values("layer")["excess_iou"]) + ".")
if "minilm" in names and control in names:
    lines += X.against_control_lines(summary, kinds, "minilm", control, sparsest, neuron_max_length)
lines += X.recovery_lines(recovery) + encoder_ablation.effect_lines(ablation)
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(f"- {x}" for x in lines) + "\n:::"))

# %% [markdown]
# ## Excess IoU by layer, against the random-weight control
#
# Per layer, the mean excess IoU over the matched null of the explained neurons (a 95 % interval over neurons:
# one pretrained encoder is one model, so its neurons are the observations), for each formula length.

# %% tags=["hide-input"]
encoder_plots.excess_by_layer(summary, top_regimes)

# %% [markdown]
# The same at the sparsest regime and the longest formulas, beside the random-weight control's.

# %% tags=["hide-input"]
if "minilm" in names:
    display(tables.compact(X.against_control(summary, "minilm", control, sparsest, neuron_max_length), digits=3))

# %% [markdown]
# ## What the best formulas name
#
# Per layer, regime and cluster (cluster 1 holds a neuron's lowest activations), the share of explained
# neurons that are *compositional* (their longest formula beats their best single atom's excess IoU by 0.05 or
# more: without a complexity penalty, as in the paper, a longer formula never scores less, so its length alone
# says nothing), and of the others, those whose best single atom is a word or a tag.

# %% tags=["hide-input"]
encoder_plots.kinds_by_layer(kinds, top_regimes + cluster_regimes)

# %% [markdown]
# ## The clusters' coverage
#
# La Rosa et al. ask how much of a neuron's range its explanations cover. Per model and layer (means over
# neurons): how many of a neuron's clusters have an explanation that beats its matched null, and the share of
# sentences in those clusters. (The smoke test does not compare this table: with a few hundred sentences a
# cluster of about `neuron_min_acts` sentences gains or loses its explanation when a CPU's arithmetic moves one
# sentence across a k-means boundary.)

# %% tags=["hide-input", "nbval-ignore-output"]
tables.compact(coverage, digits=3)

# %% [markdown]
# ## Planted neurons
#
# A planted neuron is a word's indicator × 3 plus a real neuron's standardised activations (cut at ±1.5 SD); its
# word holds on half to all of the top ⌈α·N⌉ sentences of the regime it was planted for. It is recovered when
# its word is an atom of its best formula there, and in the top cluster.

# %% tags=["hide-input"]
tables.compact(recovery)

# %% [markdown]
# ## Does the NLI head use them?
#
# Per layer group, `encoder_ablation_k` neurons are held at their mean (over the sampled sentences' own
# positions) at every token position, the sampled probe pairs are encoded again, and each trained head's gold
# margin is read (its change in SDs of the intact margin, the heads' seeds pooled). The top neurons by
# attribution are the positive control: no set of that size is expected to cost the margin more.

# %% tags=["hide-input"]
if len(ablation):
    display(encoder_plots.ablation_effects(ablation))
    display(tables.compact(ablation, digits=4))
else:
    display(Markdown("No trained encoder has a head in this build."))

# %% [markdown]
# ## The best-explained neuron of each layer
#
# For each trained encoder (or each model, where none is trained): the best formula at the sparsest regime, its
# top sentences, the conditional probability of its concepts over its whole activation range, and each
# cluster's explanation.

# %% tags=["hide-input"]
shown = [n for n in names if is_trained[n]] or names[:1]
best = explained[explained["model"].isin(shown) & (explained["regime"] == sparsest)]
best = best.sort_values("excess_iou", ascending=False).groupby(["model", "layer"]).head(1).sort_values(["model", "layer"])
for _, unit in best.iterrows():
    acts = layers[unit["model"]][int(unit["layer"])][:, int(unit["neuron"])].astype(float)
    display(Markdown(f"### {unit['model']} layer {int(unit['layer'])}, neuron {int(unit['neuron'])}\n\n`{unit['formula']}`: "
                     f"IoU {unit['iou']:.3f}, {unit['excess_iou']:+.3f} over its matched null."))
    top = sentences.assign(activation=acts).nlargest(5, "activation")[["sentence", "activation"]]
    display(tables.compact(top.round(3), wrap=True, caption="top sentences"))
    masks = single_neurons.formula_concepts(unit["formula"], concepts)
    display(unit_plots.conditional_probability(single_neurons.conditional_probability(acts, masks, 0.5),
                                               title="conditional probability over the whole range"))
    mine = rows[(rows["model"] == unit["model"]) & (rows["layer"] == unit["layer"]) & (rows["neuron"] == unit["neuron"])
                & rows["regime"].isin(cluster_regimes) & (rows["max_length"] == neuron_max_length)]
    display(tables.compact(mine[["regime", "n_fires", "formula", "iou", "excess_iou"]].round(3)))

# %% [markdown]
# ## Browse the encoders' neurons
#
# The `browser_per_layer` best-explained neurons (by excess IoU) of each model, layer, regime and cluster, with
# their longest formula: filter by model, layer, regime or cluster, or a concept (type `tok:man`). Every neuron's
# results are in the chapter's cached explanations under `runs/`.

# %% tags=["hide-input", "full-width"]
browse = explained.sort_values("excess_iou", ascending=False).groupby(["model", "layer", "regime"]).head(browser_per_layer)
tables.interactive(browse.sort_values(["model", "layer", "regime", "excess_iou"], ascending=[True, True, True, False])
                   [["model", "layer", "neuron", "regime", "n_fires", "formula", "iou", "excess_iou"]]
                   .round(3).rename(columns={"n_fires": "sentences"}), caption="the encoders' best-explained neurons")

# %% [markdown]
# ## What survives
#
# A layer's neurons are more explainable than chance only where their excess IoU, which already discounts what
# random masks of the same size reach, also stands above the random-weight network's: the summary box lists
# those layers. A formula that names one word is a lexical detector; the cards show whether the top of a
# neuron's range and the rest of it say the same. The ablation asks whether the head needs the neurons that
# are best explained: the top neurons by attribution show how much any set of that size could cost.
