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
# # Qualitative neurons
#
# Numbers summarise; single units show what the numbers mean. Each **neuron card** gives a unit's best
# formula and IoU, its output weights to the three classes (what it votes for when it fires), its
# top-activating probe pairs with gold label and prediction (the paper's Figure 6), and two views from
# *Multimodal Neurons* {cite}`goh2021multimodal`: the **conditional probability** that each concept of the
# formula holds at each activation level (in standard deviations of the unit's activation), and the unit's
# **full activation spectrum**, not only its top.
#
# The last section probes the models with pairs written by hand — the paper's adversarial example for a
# unit keyed to "*man* in the premise, not in the hypothesis" — and looks for the units of this run that
# match that description.
#
# The cards show each encoder's primary model (its first training seed, {doc}`03_head_training`).

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
wordnet_mode: str = "exact"  # WordNet synonyms: "exact" (the word is a lemma of the synset; stop words never expanded) or "all_senses" (NLTK's lookup with morphy, the naive encoding)
card_encoding: str = "standard"  # concept encoding of the cards: "standard" or "wordnet"
n_extremes: int = 1  # cards per model for its most and for its least explainable units
top_k: int = 8  # top-activating pairs per card
description: str = "(pre:tok:man AND NOT hyp:tok:man)"  # the unit to look for, as a formula over concepts
probe_pairs: list = [["The boys said hello to the girls.", "The girls said hello."], ["A man is sleeping.", "A woman is sleeping."], ["A man is sleeping.", "A man is sleeping."]]  # [premise, hypothesis] pairs to score

# %% [markdown]
# The set-up: the search's primary models and their results, checked by `run.open_book`.

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import formulas, probe
from clipneuron_utils.explain.search import threshold_activations
from clipneuron_utils.models.heads import output_weights
from clipneuron_utils.render import cards, tables
from clipneuron_utils.run import regimes

run.check_encodings([card_encoding])
book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, vocab_size=vocab_size, wordnet_mode=wordnet_mode)
pairs, results = book.pairs, book.primary  # each encoder's primary model
encoders = list(dict.fromkeys(results["encoder"]))
alpha = book.search_params.get("activation_alpha", 0.0)

# %% [markdown]
# The cards' concepts, each encoder's primary model and its probe outputs, the regime nearest the paper's IoU's rows, and
# the description formula's units.

# %% tags=["nbval-ignore-output", "remove-output"]
concepts = book.concepts(vocab_size, card_encoding, wordnet_mode)
models = {name: run.load_trained(profile, name) for name in encoders}
outputs = {name: run.probe_outputs(profile, name, pairs.probe, models[name]) for name in encoders}
matched, matched_label = regimes.matched_primary(profile, book.search)  # None: no sweep
try:
    signs = probe.polarity(description)
    described = formulas.evaluate(description, concepts)
except (ValueError, KeyError) as exc:
    raise ValueError(f"description {description!r} is not a formula over this run's concepts: {exc}") from None
positive = [a for a, s in signs.items() if True in s]
negative = [a for a, s in signs.items() if False in s]
final = results[(results["encoding"] == card_encoding) & (results["max_length"] == results["max_length"].max())]
by_formula = probe.units_matching(final, positive, negative)
closest = pd.concat([
    probe.description_iou(description, concepts,
                          threshold_activations(outputs[name]["activations"], alpha or None, what=f"{name} model"))
         .head(3).assign(encoder=name)
    for name in encoders
], ignore_index=True)
closest = closest.merge(final[["encoder", "neuron", "formula", "iou"]], on=["encoder", "neuron"], how="left")
written = [tuple(p) for p in probe_pairs]
scored_pairs = {name: probe.probe(models[name], written,
                                  neurons=closest.loc[closest.encoder == name, "neuron"].astype(int).tolist())
                for name in encoders}

# %% [markdown]
# What the chapter shows: the most explainable unit of each model and the unit nearest the description.

# %% tags=["hide-input"]
best_units = {name: final[(final.encoder == name) & final.explained].sort_values("iou", ascending=False).head(1)
              for name in encoders}
lines = [f"- Most explainable unit of each model: " + "; ".join(
    f"{name} unit {int(b['neuron'].iloc[0])}, `{b['formula'].iloc[0]}` (IoU {b['iou'].iloc[0]:.3f})"
    for name, b in best_units.items() if len(b)) + "."]
n_desc = int(described.sum())
top_match = closest.sort_values("description_iou", ascending=False).iloc[0]
lines.append(
    f"- The paper's unit-870 description `{description}` holds on {n_desc:,} of {len(described):,} probe pairs. "
    + (f"{len(by_formula)} unit(s) got a formula with its concepts and polarity"
       + (f" (best: {by_formula['encoder'].iloc[0]} unit {int(by_formula['neuron'].iloc[0])}, "
          f"`{by_formula['formula'].iloc[0]}`)" if len(by_formula) else "")
       + f"; the unit whose firing matches it best is {top_match['encoder']} unit {int(top_match['neuron'])}, "
       f"description IoU {top_match['description_iou']:.3f} (it fires on {int(top_match['n_fires']):,} pairs)."))
if not len(by_formula):
    lines.append("- So this build has no analogue of the paper's unit 870: no unit's formula names the description, "
                 "and a description that holds on so few pairs cannot reach a high IoU with units that fire as "
                 "often as these do.")
first = written[0] if written else None
if first is not None:
    lines.append(f"- The pair \"{first[0]}\" / \"{first[1]}\" is predicted as "
                 + "; ".join(f"{scored_pairs[name]['prediction'].iloc[0]} by {name}" for name in encoders) + ".")
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(lines) + "\n:::"))

# %% [markdown]
# ## The most and least explainable units of each model

# %% tags=["hide-input"]
for name in encoders:
    chosen = cards.extremes(results, name, card_encoding, n_extremes)
    for kind, units in chosen.items():
        for unit in units:
            display(Markdown(f"**{kind} explainable {name} unit**"))
            cards.neuron_card(name, unit, results, outputs[name]["activations"], pairs.probe,
                              outputs[name]["predictions"], concepts, output_weights(models[name]),
                              encoding=card_encoding, top_k=top_k, regime=matched,
                              regime_label=matched_label).show()

# %% [markdown]
# ## Looking for a unit by its description
#
# Two ways to find the units that match a description such as `(pre:tok:man AND NOT hyp:tok:man)`: the
# units whose **formula** uses the description's concepts with the same polarity, and the units whose
# **firing mask** best matches the description's mask, whatever formula the search gave them.

# %% tags=["hide-input"]
display(Markdown(f"The description holds on {int(described.sum())} probe pairs. Units whose formula uses "
                 f"{', '.join(f'`{a}`' for a in positive)} and NOT {', '.join(f'`{a}`' for a in negative)}: "
                 f"{len(by_formula)}."))
tables.compact(by_formula[["encoder", "neuron", "formula", "iou", "n_fires"]].head(10)
               .rename(columns={"n_fires": "fires on", "iou": "IoU"}))

# %% [markdown]
# The units closest to the description, with their own best formulas.

# %% tags=["hide-input"]
tables.compact(closest[["encoder", "neuron", "description_iou", "n_fires", "formula", "iou"]]
               .rename(columns={"description_iou": "IoU with the description", "n_fires": "fires on",
                                "iou": "IoU of its formula"}), digits=3)

# %% [markdown]
# ## Probing with written pairs
#
# The paper's adversarial example: *the boys said hello to the girls* / *the girls said hello* is an
# entailment, but a unit that fires when a gendered word of the premise is missing from the hypothesis
# pushes towards contradiction. Each model scores the pairs below; the columns `unit …` are the
# activations of the units closest to the description (previous table).

# %% tags=["hide-input"]
for name in encoders:
    display(Markdown(f"**{run.registry(profile)[name]['label']}**"))
    display(tables.compact(scored_pairs[name], wrap=True))
