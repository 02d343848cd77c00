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
# # Neuron browser

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
card_encoding: str = "standard"  # concept encoding of chapter 07_qualitative_neurons's cards, and of this browser's formulas
n_extremes: int = 1  # cards per model chapter 07_qualitative_neurons shows for its most and for its least explainable units (the units linked to a card)

# %% [markdown]
# The set-up: the primary models' results, their output weights, the cards' units and the rows at the α nearest the paper's IoU, in
# one table per model.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.models.heads import output_weights
from clipneuron_utils.render import cards, tables
from clipneuron_utils.run import regimes
from clipneuron_utils.stats import contribution

run.check_encodings([card_encoding])
book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, vocab_size=vocab_size, wordnet_mode=wordnet_mode)
pairs, results, registry = book.pairs, book.primary, book.registry  # each encoder's primary model
search_params = book.search_params
encoders = list(dict.fromkeys(results["encoder"]))
accuracy = book.firing_accuracy(book.search_params.get("activation_alpha", 0.0), models=encoders)
scored = contribution.attach_accuracy(results, accuracy)
weights = {name: output_weights(run.load_trained(profile, name)) for name in encoders}
card_units = {name: sorted({u for units in cards.extremes(results, name, card_encoding, n_extremes).values() for u in units})
              for name in encoders}
matched, matched_label = regimes.matched_primary(profile, book.search)  # None: no sweep
rows = {name: tables.browser_rows(scored, name, weights[name], encoding=card_encoding, card_units=card_units[name],
                                  regime=matched, regime_label=matched_label)
        for name in encoders}

# %% [markdown]
# What the browser holds, and its best-explained unit.

# %% tags=["hide-input"]
top = int(results["max_length"].max())
final = results[(results["encoding"] == card_encoding) & (results["max_length"] == top)]
counts = [f"{registry[name]['label']}: {len(rows[name]):,} units, {int(final.loc[final.encoder == name, 'explained'].sum()):,} "
          "explained" for name in encoders]
best_name, best = max(((name, frame.loc[frame["IoU"].idxmax()]) for name, frame in rows.items() if frame["IoU"].notna().any()),
                      key=lambda item: item[1]["IoU"], default=(None, None))
lines = [f"{'; '.join(counts)} (a unit is explained when it fires on at least {search_params.get('min_acts')} probe "
         f"pairs). Formulas use the {card_encoding} concepts, up to {top} of them."]
linked = sum(len(units) for units in card_units.values())
if best is not None:
    lines.append(f"The best-explained unit is {best_name} unit {int(best['unit'])}, `{best[f'formula, length ≤ {top}']}`: "
                 f"IoU {best['IoU']:.3f}, {best['excess IoU']:+.3f} over its matched null ("
                 f"{best['excess (null SDs)']:.1f} null SDs); it fires on {int(best['fires on']):,} probe pairs and its "
                 f"largest output weight is to {best['largest output weight']}.")
lines.append(f"The {linked} units chapter 07_qualitative_neurons shows as neuron cards link to their card.")
display(Markdown(" ".join(lines)))

# %% [markdown]
# ## One table per model
#
# Every unit of each encoder's primary model (its first training seed, {doc}`03_head_training`), with the search results
# of {doc}`05_search`: the best formula of length 1 and of the longest length searched, that formula's IoU, its
# **excess IoU** over the firing-rate-matched null and that excess in **null SDs** (the spread of the
# IoU of random masks with the unit's firing count; a per-unit p-value is not shown: with the null's few
# draws per firing bin it cannot fall below 1/(draws + 1), where every unit sits), the model's accuracy
# on the probe pairs where the unit fires, and the class of its largest output weight ("(all < 0)":
# every weight is negative, so firing pushes against every class, least against this one). *fires on*
# counts the probe pairs on which the unit is active. The last formula, IoU and excess IoU are the unit's at the
# *firing regime nearest the paper's IoU* of {doc}`08_firing_regime`, where each unit fires on the same top share of probe pairs
# (named in the column). Numbers have 3 significant digits.
#
# The tables sort (click the arrows of a column header), page, and filter: the search box keeps the rows
# that contain what is typed, anywhere in the row, so typing a concept such as `hyp:tok:sleeping` lists
# every unit whose formula mentions it, and typing `card` the units with a card. Concepts are named as in
# {doc}`04_concepts`: `pre:` / `hyp:` for premise / hypothesis, `tok:` a word, `tag:` a part-of-speech tag, and
# `oth:overlap:N` a word overlap of the two sentences above a threshold.

# %% tags=["hide-input", "full-width"]
for name in encoders:
    display(Markdown(f"### {registry[name]['label']}"))
    display(tables.interactive(rows[name], caption=f"{name}: every unit of the primary model ({card_encoding} concepts)",
                               html_columns=["card"], wrap_width=("9em", "18em")))
