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
# # Data: SNLI premise/hypothesis pairs
#
# The classifiers of this book read a *premise* and a *hypothesis* and decide whether the premise
# entails, is neutral to, or contradicts the hypothesis (SNLI 1.0, {cite}`bowman2015snli`). Their neurons
# are explained on the labelled **probe** pairs (SNLI dev, as in {cite}`mu2020compositional`), with
# concepts built from each sentence's tokens and Penn Treebank tags: the lowercased leaves of the
# official parse trees and their tags.
#
# This chapter loads the pairs the run uses and describes them. The parameters below are the ones
# papermill fills in (`python -m clipneuron_utils.run.pipeline --profile offline -p seed=1`).

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli (downloaded if missing)
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random

# %% [markdown]
# The set-up: seed everything and load the train and probe pairs this profile names.

# %% tags=["hide-input"]
import altair as alt
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, tables
from clipneuron_utils.data import corpus
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
pairs = corpus.load_pairs(
    data_source,
    train_splits,
    probe_split,
    data_dir or None,
    n_synthetic_train=n_synthetic_train,
    n_synthetic_probe=n_synthetic_probe,
    seed=seed,
)

# %% [markdown]
# ## Provenance
#
# Exactly which files this build read. "official" means the file's content is byte-identical to the
# published SNLI 1.0 `.jsonl` (checked by md5).

# %% tags=["hide-input"]
display(Markdown(f":::{{important}} Data used by this build\n{pairs.summary}.\n:::"))
# file names only: the folder is the data_dir parameter, and this machine's absolute path means nothing to a reader
files = pairs.provenance.assign(file=lambda f: f["file"].map(lambda p: p.rsplit("/", 1)[-1]))
tables.compact(files)

# %% [markdown]
# ## Split sizes and labels
#
# Pairs whose annotators reached no consensus (label `-`) are dropped: they are neither trained on nor
# probed.

# %% tags=["hide-input"]
labels = corpus.label_distribution(pairs)
tables.compact(labels.pivot(index="label", columns="set", values="pairs").loc[["entailment", "neutral", "contradiction"]],
               keep_index=True)

# %% [markdown]
# The labels' balance in each set, as a chart.

# %% tags=["hide-input"]
alt.Chart(labels, title="Pairs per label").mark_bar().encode(
    x=alt.X("pairs:Q", title="pairs"),
    y=alt.Y("label:N", sort=["entailment", "neutral", "contradiction"], title=None),
    color=alt.Color("label:N", legend=None),
    row=alt.Row("set:N", title=None),
    tooltip=["set", "label", "pairs", alt.Tooltip("share:Q", format=".1%")],
).properties(width=420, height=80)

# %% [markdown]
# ## Sentences and vocabulary
#
# Hypotheses are written by annotators and are shorter than the image-caption premises; the concepts of
# {doc}`04_concepts` are built from these tokens and tags.

# %% tags=["hide-input"]
tables.compact(corpus.vocabulary_stats(pairs))

# %% [markdown]
# How long the sentences are, in parse leaves, premises beside hypotheses.

# %% tags=["hide-input"]
lengths = corpus.sentence_lengths(pairs)
alt.Chart(lengths, title="Tokens per sentence").mark_bar(opacity=0.8).encode(
    x=alt.X("tokens:O", title="tokens (parse leaves, punctuation included)"),
    y=alt.Y("sentences:Q", title="sentences"),
    color=alt.Color("side:N", title="side"),
    xOffset="side:N",
    row=alt.Row("set:N", title=None),
    tooltip=["set", "side", "tokens", "sentences"],
).properties(width=520, height=140)

# %% [markdown]
# The probe pairs' most frequent tokens: the top of the concept vocabulary.

# %% tags=["hide-input"]
top = corpus.top_tokens(pairs.probe, n=25)
alt.Chart(top, title="Most frequent probe tokens").mark_bar().encode(
    x=alt.X("count:Q"),
    y=alt.Y("token:N", sort="-x", title=None),
    tooltip=["token", "count"],
).properties(width=420)

# %% [markdown]
# ## Example pairs with their tags

# %% tags=["hide-input"]
examples = pairs.probe.groupby("label", sort=False).head(2).sort_values("label")
tables.compact(pd.DataFrame(
    {
        "label": examples["label"],
        "premise": [corpus.tagged(t, g) for t, g in zip(examples.premise_tokens, examples.premise_tags)],
        "hypothesis": [corpus.tagged(t, g) for t, g in zip(examples.hypothesis_tokens, examples.hypothesis_tags)],
    }
), wrap=True)

# %% [markdown]
# What the first page's provenance list records about the data.

# %% tags=["remove-cell"]
from clipneuron_utils.render import provenance

provenance.record(
    profile,
    "data",
    {
        "text": pairs.summary,
        "files": files.to_dict("records"),  # names only (above): no machine's path in the notebook either
        "warning": provenance.data_warning(data_source, train_splits),
    },
)
