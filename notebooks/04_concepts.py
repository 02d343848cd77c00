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
# # Concepts: what a neuron can be explained by
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
# holds where a synonym of *W* occurs. Names and vocabulary stay the same; only token masks grow. Which
# synonyms count is the parameter `wordnet_mode`:
#
# - `exact` (the default): the other lemmas of the synsets that have *W* itself as a lemma; stop words
#   (scikit-learn's English stop list plus the skipped tokens) are never expanded and never synonyms;
# - `all_senses`: every synset NLTK's `synsets(W)` returns, the naive encoding, shown below for comparison.

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
wordnet_mode: str = "exact"  # WordNet synonyms: "exact" (the word is a lemma of the synset; stop words never expanded) or "all_senses" (NLTK's lookup with morphy, the naive encoding)
wordnet_words: list = []  # words whose WordNet expansion to show; empty: those that grew most

# %% [markdown]
# The set-up: the probe pairs whose concepts are built.

# %% tags=["hide-input"]
import altair as alt
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, provenance, tables
from clipneuron_utils import run
from clipneuron_utils.explain import concepts, wordnet
from clipneuron_utils.data import corpus
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
probe = pairs.probe

# %% [markdown]
# The standard and WordNet concept masks (cached under `runs/`), in every WordNet mode.

# %% tags=["nbval-ignore-output", "remove-output"]
standard = run.probe_concepts(profile, probe, vocab_size, "standard", wordnet_mode)
wordnet_sets = {mode: run.probe_concepts(profile, probe, vocab_size, "wordnet", mode)
                for mode in dict.fromkeys([wordnet_mode, "exact", "all_senses"])}
wordnet_concepts = wordnet_sets[wordnet_mode]

# %% [markdown]
# ## The concept vocabulary

# %% tags=["hide-input"]
kinds = standard.kinds
by_kind = kinds.groupby(["side", "kind"]).agg(concepts=("name", "size"), median_pairs=("n_pairs", "median")).reset_index()
display(Markdown(
    f"{standard.n_concepts:,} concepts over {standard.n_pairs:,} probe pairs: "
    f"{len(standard.vocab):,} vocabulary words (each a `pre:` and a `hyp:` concept), "
    f"{(kinds.kind == 'tag').sum()} tag concepts and {(kinds.kind == 'overlap').sum()} overlap concepts."
))
tables.compact(by_kind.rename(columns={"median_pairs": "median pairs"}))

# %% [markdown]
# The most frequent concepts of each kind.

# %% tags=["hide-input"]
top = kinds.sort_values(["n_pairs", "name"], ascending=[False, True]).groupby(["side", "kind"]).head(8)
alt.Chart(top, title="Most frequent concepts of each kind").mark_bar().encode(
    x=alt.X("n_pairs:Q", title="probe pairs where the concept holds"),
    y=alt.Y("name:N", sort="-x", title=None),
    color=alt.Color("kind:N", title="kind"),
    tooltip=["name", "side", "kind", "n_pairs"],
).properties(width=420)

# %% [markdown]
# ## What the WordNet encoding changes

# %% tags=["hide-input"]
comparison = concepts.compare_encodings(standard, wordnet_concepts)
summary = comparison.attrs["summary"]
stop_words = wordnet.stop_words()
display(Markdown(
    f"WordNet source: {wordnet.wordnet_source()}. Stop words ({len(stop_words)}): {wordnet.STOP_WORDS_SOURCE}.\n\n"
    f"The WordNet encoding (`{wordnet_mode}`) changes **{summary['n_changed']:,} of {summary['n_concepts']:,} masks** "
    f"({summary['share_changed']:.1%}), adding {summary['pairs_added_total']:,} (concept, pair) matches in all: "
    f"{summary['mean_added_if_changed']:.1f} pairs per changed mask on average (median growth "
    f"{summary['median_relative_growth_if_changed']:.0%}); the largest gain is `{summary['max_added_concept']}` "
    f"(+{summary['max_added']:,} pairs)."
))

# %% [markdown]
# ### The concepts that gain the most
#
# Each with the synonyms responsible: those found in the newly matching pairs, with how many of those
# pairs each occurs in.

# %% tags=["hide-input"]
examples = concepts.wordnet_examples(probe, standard, wordnet_concepts, words=wordnet_words, n=10,
                                     sides=("pre", "hyp"))
tables.compact(examples[["concept", "pairs (standard)", "pairs (wordnet)", "added", "responsible",
                         "example that newly matches"]], wrap=True)

# %% [markdown]
# ## The two modes compared
#
# Both modes are built on the same pairs; `exact`'s synonyms are a subset of `all_senses`', so each
# `exact` mask lies between the standard one and the `all_senses` one.

# %% tags=["hide-input"]
mode_rows = []
for mode, wordnet_set in wordnet_sets.items():
    s = concepts.compare_encodings(standard, wordnet_set).attrs["summary"]
    mode_rows.append({"wordnet_mode": mode, "masks changed": s["n_changed"], "pairs added": s["pairs_added_total"],
                      "largest gain": f"{s['max_added_concept']} (+{s['max_added']:,})" if s["n_changed"] else "—"})
between = concepts.compare_encodings(wordnet_sets["exact"], wordnet_sets["all_senses"])
between_summary = between.attrs["summary"]
display(Markdown(
    "Against the standard encoding, per mode (below). "
    + (f"`all_senses` and `exact` differ on **{between_summary['n_changed']:,} masks**, where `all_senses` adds "
       f"{between_summary['pairs_added_total']:,} (concept, pair) matches."
       if between_summary["n_changed"] else "`all_senses` and `exact` give the same masks on these pairs.")
))
tables.compact(pd.DataFrame(mode_rows))

# %% [markdown]
# Concepts the naive lookup grows most, with the words responsible.

# %% tags=["hide-input"]
mode_examples = concepts.wordnet_examples(probe, wordnet_sets["exact"], wordnet_sets["all_senses"], n=8,
                                          sides=("pre", "hyp"))
if len(mode_examples):
    mode_examples = mode_examples.rename(columns={"pairs (standard)": "pairs (exact)", "pairs (wordnet)": "pairs (all_senses)"})
    display(tables.compact(mode_examples[["concept", "pairs (exact)", "pairs (all_senses)", "added", "responsible"]], wrap=True))

# %% [markdown]
# The concept the naive lookup grows most, traced to the synset that grows it.

# %% tags=["hide-input"]
if between_summary["n_changed"]:
    name = between_summary["max_added_concept"]
    word = concepts.split_name(name)[2]
    row = concepts.wordnet_examples(probe, wordnet_sets["exact"], wordnet_sets["all_senses"], words=[word]).set_index("concept").loc[name]
    via, found = row["responsible"].split(", ")[0].rsplit(" (", 1)
    counts = {label: int(c.counts()[c.index[name]]) for label, c in
              [("standard", standard), ("exact", wordnet_sets["exact"]), ("all_senses", wordnet_sets["all_senses"])]}
    lookup = wordnet.lookup_synsets(word)
    sources = lookup[lookup["lemmas"].str.split(", ").map(lambda names: via in names)]
    n_naming = int(sources["names_word"].sum())
    if word in stop_words:
        why_exact = f"*{word}* is a stop word, so `exact` does not expand it at all"
    elif via in stop_words:
        why_exact = f"*{via}* is a stop word, so `exact` never takes it as a synonym"
    else:
        why_exact = f"`exact` keeps only the synsets that have *{word}* as a lemma"

# %% [markdown]
# The same, in words.

# %% tags=["hide-input"]
if between_summary["n_changed"]:
    display(Markdown(
        f"The largest difference is `{name}`: {counts['standard']:,} pairs in the standard encoding, "
        f"{counts['exact']:,} with `exact`, {counts['all_senses']:,} with `all_senses`; the synonym *{via}* occurs in "
        f"{found[:-1]} of the {int(row['added']):,} pairs `all_senses` adds. NLTK's `synsets('{word}')` runs morphy "
        f"first and reads the entries {', '.join(f'*{f}*' for f in wordnet.lookup_forms(word))}; *{via}* is a lemma "
        f"of {len(sources)} of the {len(lookup)} synsets it returns, "
        + (f"none of which has *{word}* as a lemma" if n_naming == 0 else f"{n_naming} of which also have *{word}*")
        + " (" + "; ".join(f"{r.synset}: {r.lemmas}" for r in sources.head(6).itertuples())
        + ("; …" if len(sources) > 6 else "") + f"). {why_exact[0].upper()}{why_exact[1:]}."
    ))

# %% [markdown]
# Every token concept the WordNet encoding changes: its pairs before and after.

# %% tags=["hide-input"]
changed = comparison[comparison["added"] > 0].assign(kind=lambda f: f["name"].str.split(":").str[0])
alt.Chart(changed, title=f"Pairs per token concept: standard vs WordNet encoding ({wordnet_mode})").mark_circle(opacity=0.5).encode(
    x=alt.X("pairs_standard:Q", scale=alt.Scale(type="symlog"), title="pairs (standard)"),
    y=alt.Y("pairs_wordnet:Q", scale=alt.Scale(type="symlog"), title="pairs (WordNet)"),
    color=alt.Color("kind:N", title="side"),
    tooltip=["name", "pairs_standard", "pairs_wordnet", "added"],
).properties(width=420, height=320)

# %% [markdown]
# The WordNet files used, for the provenance list (source, version, checksum).

# %% tags=["remove-cell"]
provenance.record(profile, "wordnet", wordnet.wordnet_provenance())
