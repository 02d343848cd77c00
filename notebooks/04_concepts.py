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
# # 4. Concepts: what a neuron can be explained by
#
# A neuron is explained by a logical formula over **concepts**, each a boolean mask over the probe pairs
# ({cite}`mu2020compositional`, NLI setting):
#
# - `pre:tok:W` / `hyp:tok:W` — token *W* occurs in the premise / hypothesis, for the most frequent
#   tokens of the probe set (articles, *of* and punctuation skipped);
# - `pre:tag:T` / `hyp:tag:T` — Penn Treebank tag *T* occurs;
# - `oth:overlap:25|50|75` — lexical overlap |P ∩ H| / (|P ∖ H| + |H ∖ P|) of the
#   two token sets exceeds 0.25 / 0.5 / 0.75.
#
# The paper's contribution is a **WordNet encoding** {cite}`miller1995wordnet`: a token concept *W* also
# holds where a synonym of *W* (a lemma of any synset of *W*) occurs. Names and vocabulary stay the same;
# only token masks grow.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random
vocab_size: int = 2000  # token concepts per side: the most frequent probe tokens
wordnet_words: list = []  # words whose WordNet expansion to show; empty: those that grew most

# %%
import altair as alt
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import charts, concepts, corpus, experiment, provenance, wordnet
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
probe = pairs.probe

# %% tags=["nbval-ignore-output"]
standard = experiment.probe_concepts(profile, probe, vocab_size, "standard")
wordnet_concepts = experiment.probe_concepts(profile, probe, vocab_size, "wordnet")

# %% [markdown]
# ## The concept vocabulary

# %%
kinds = standard.kinds
by_kind = kinds.groupby(["side", "kind"]).agg(concepts=("name", "size"), median_pairs=("n_pairs", "median")).reset_index()
display(Markdown(
    f"{standard.n_concepts:,} concepts over {standard.n_pairs:,} probe pairs: "
    f"{len(standard.vocab):,} vocabulary words (each a `pre:` and a `hyp:` concept), "
    f"{(kinds.kind == 'tag').sum()} tag concepts and {(kinds.kind == 'overlap').sum()} overlap concepts."
))
by_kind

# %%
top = kinds.sort_values(["n_pairs", "name"], ascending=[False, True]).groupby(["side", "kind"]).head(8)
alt.Chart(top, title="Most frequent concepts of each kind").mark_bar().encode(
    x=alt.X("n_pairs:Q", title="probe pairs where the concept holds"),
    y=alt.Y("name:N", sort="-x", title=None),
    color=alt.Color("kind:N", title="kind"),
    tooltip=["name", "side", "kind", "n_pairs"],
).properties(width=420)

# %% [markdown]
# ## What the WordNet encoding changes

# %%
comparison = concepts.compare_encodings(standard, wordnet_concepts)
summary = comparison.attrs["summary"]
display(Markdown(
    f"WordNet source: {wordnet.wordnet_source()}.\n\n"
    f"The WordNet encoding changes **{summary['n_changed']:,} of {summary['n_concepts']:,} masks** "
    f"({summary['share_changed']:.1%}), adding {summary['pairs_added_total']:,} (concept, pair) matches in all: "
    f"{summary['mean_added_if_changed']:.1f} pairs per changed mask on average (median growth "
    f"{summary['median_relative_growth_if_changed']:.0%}); the largest gain is `{summary['max_added_concept']}` "
    f"(+{summary['max_added']:,} pairs)."
))

# %% [markdown]
# Every synset of a word counts, rare senses included, so a few function words grow a lot (e.g. *as* has
# the synonym *a* through "arsenic" and "ampere"). This is the encoding as the paper defines it.

# %%
examples = concepts.wordnet_examples(probe, standard, wordnet_concepts, words=wordnet_words, n=6)
examples

# %%
changed = comparison[comparison["added"] > 0].assign(kind=lambda f: f["name"].str.split(":").str[0])
alt.Chart(changed, title="Pairs per token concept: standard vs WordNet encoding").mark_circle(opacity=0.5).encode(
    x=alt.X("pairs_standard:Q", scale=alt.Scale(type="symlog"), title="pairs (standard)"),
    y=alt.Y("pairs_wordnet:Q", scale=alt.Scale(type="symlog"), title="pairs (WordNet)"),
    color=alt.Color("kind:N", title="side"),
    tooltip=["name", "pairs_standard", "pairs_wordnet", "added"],
).properties(width=420, height=320)

# %% tags=["remove-cell"]
provenance.record(profile, "wordnet", {"text": wordnet.wordnet_source()})
