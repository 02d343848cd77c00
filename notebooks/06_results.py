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
# # Results: the paper's claims against their controls
#
# {cite}`acquaviva2022exploring` ask two questions of the neurons of an NLI classifier built on CLIP's
# text encoder, following {cite}`mu2020compositional`:
#
# 1. **Do neurons learn compositional concepts?** If they do, the best formula's IoU should grow with the
#    formula length allowed.
# 2. **Do interpretable neurons contribute to accuracy?** The *accuracy when firing* of a unit is the
#    model's accuracy on the probe pairs where it fires; its correlation with the unit's best IoU says
#    whether better-explained units go with better or worse predictions.
#
# Each claim is stated as the paper states it and faces its controls here:
#
# - **The matched null** ({doc}`05_search`): a unit's IoU is compared with the IoU of random masks with its
#   firing count, searched the same way. IoU grows with how often a unit fires, whatever it encodes, and
#   the beam keeps its old formulas, so IoU can never fall with length: only the **excess IoU** over the
#   null says what a formula explains.
# - **The firing-rate confound**: accuracy when firing also depends on how often a unit fires, so the
#   IoU ↔ accuracy correlation is recomputed with log firing count held fixed (partial correlation).
# - **Random-network controls** ({doc}`03_head_training`): the untrained CLIP, a frozen untrained LSTM, and each
#   encoder's head trained on shuffled labels, explained the same way. An effect that they show too
#   needs no learned weights.
# - **Seeds, not units, are the replicates**: each figure of the scorecard is computed per trained model
#   and pooled over seeds by random-effects meta-analysis, so its interval carries the between-model
#   variance; a minimum effect size separates "holds" from "too small to matter", and a claim of no
#   effect needs an equivalence test.
# - **Tests that could have come out otherwise**: each test reports the smallest effect it could detect (its
#   minimum detectable effect at 80 % power), a comparison that changed almost nothing is *not testable*,
#   and a verdict that leaving out one or two seeds changes is marked *fragile*. {doc}`08_firing_regime`
#   runs the same scorecard at every firing threshold; the first page gives each claim's reading across them.
#
# The verdicts are computed from these numbers (`clipneuron_utils.stats.claims`); the same scorecard opens the
# book.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random (the bootstrap too); the primary models' training seed
seeds: int = 3  # models per encoder (training seeds seed, seed + 1, …), as chapter 03_head_training trained them
lstm_seeds: int = 0  # models for the LSTM (0: seeds), as chapter 03_head_training trained them
control_seeds: int = 0  # models per random-network control (0: as many as its encoder), as chapter 03_head_training trained them
lstm_shuffled_seeds: int = 1  # models of the shuffled-label LSTM control, which trains end to end (0: as control_seeds gives), as chapter 03_head_training trained them
adversarial_pair: list = ["The boys said hello to the girls.", "The girls said hello."]  # the paper's adversarial [premise, hypothesis] (claim A11)
description: str = "(pre:tok:man AND NOT hyp:tok:man)"  # the paper's description of unit 870: claim A11 scores the unit that best matches it
plot_lengths: list = [1, 2]  # formula lengths shown in the accuracy-vs-IoU figure (the paper's: 1 and 2)
alpha: float = 0.05  # significance level of the correlation tests (on Holm-adjusted p-values)
bootstrap_resamples: int = 2000  # resamples of the 95 % bootstrap intervals

# %% [markdown]
# The set-up: the pairs, the latest search (with its random-network controls) and the models it explained,
# each checked against this chapter's parameters by `run.open_book`.

# %% tags=["hide-input", "remove-output"]
import functools

import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import formulas
from clipneuron_utils.render import null_plots, plots, provenance, scorecard as headline, tables
from clipneuron_utils.render.numbers import format_ci, format_estimate, format_p
from clipneuron_utils.stats import annotation_artifacts, claims, compositionality, contribution, effects, reported, scorecard

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, seeds=seeds, lstm_seeds=lstm_seeds, control_seeds=control_seeds,
                     lstm_shuffled_seeds=lstm_shuffled_seeds)
pairs, everything, registry, search_params = book.pairs, book.search, book.registry, book.search_params
results = run.without_controls(everything)
models, encoders, controls = book.models, book.encoders, book.controls
encodings = list(dict.fromkeys(results["encoding"]))
top = int(results["max_length"].max())
boot = dict(n_resamples=bootstrap_resamples, seed=seed)

# %% [markdown]
# What the results come from, in one box: the data, each model's seeds and probe accuracy, the search's
# settings and the intervals'.

# %% tags=["hide-input"]
lines = [f"- {registry[name]['label']}: {len(run.seeds_of(registry[name]))} seed(s), probe accuracy "
         + ", ".join(f"{registry[name]['seeds'][str(s)]['probe_accuracy']:.1%}" for s in run.seeds_of(registry[name]))
         for name in encoders]
display(Markdown(
    ":::{important} What these results come from\n"
    f"{pairs.summary}. Models:\n\n" + "\n".join(lines) + "\n\n"
    f"Search: max length {search_params.get('max_length')}, beam {search_params.get('beam_size')}, "
    f"units explained when they fire on at least {search_params.get('min_acts')} probe pairs. Matched null: "
    f"{search_params.get('null_draws')} random masks per firing count, shared within "
    f"{search_params.get('null_bin_width', 0):.0%} firing-count bins. Intervals: {bootstrap_resamples:,} bootstrap "
    "resamples.\n"
    + "".join(f"\n**Note:** {w}\n" for w in [provenance.data_warning(data_source, train_splits),
                                             *(registry[name].get("warning") for name in encoders)] if w)
    + ":::"
))

# %% [markdown]
# The figures every section reads: accuracy when firing, IoU by length with its null, the WordNet and firing-
# count effects, and the scorecard of the paper's claims.

# %% tags=["hide-input", "remove-output"]
firing = book.firing_accuracy(search_params.get("activation_alpha", 0.0))
scored_all = contribution.attach_accuracy(everything, firing)
scored = run.without_controls(scored_all)
summary = effects.iou_summary(scored, **boot)
gains = effects.length_gain(scored, from_length=1, to_length=2, **boot) if top >= 2 else None
wordnet = effects.encoding_effect(scored, **boot) if {"standard", "wordnet"} <= set(encodings) else None
confound = effects.firing_confound(scored[scored["max_length"].isin([1, 2])], **boot)
units = claims.unit_patterns(scored_all, book.weights)
described = formulas.evaluate(description, book.concepts(search_params["vocab_size"], "standard",
                                                         search_params.get("wordnet_mode", "exact")))
card = scorecard.scorecard(scored_all, registry=registry, encoders=encoders, accuracy=book.probe_accuracy, units=units,
                           pushes=book.pushes(adversarial_pair, described), alpha=alpha, seed=seed,
                           artifacts=annotation_artifacts.default_artifact_words(pairs.train))  # A10's note: chapter 11_artifacts
untrained_clip = claims.untrained_clip(registry)
rested_on = {e: len(book.seeds(e)) for e in encoders}
found = headline.box({"> 0": card}, encoders, untrained_clip, rested_on) + [headline.null_reach(summary, encoders)]
provenance.record_scorecard(profile, headline.markdown(
    {"> 0": card}, encoders, untrained_clip=untrained_clip, seeds=rested_on,
    notes=[headline.control_seeds_note({m: len(book.seeds(m)) for m in models}, encoders)]))

# %% [markdown]
# What the chapter shows, in the scorecard's own sentences.

# %% tags=["hide-input"]
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(f"- {f}" for f in found) + "\n:::"))

# %% [markdown]
# ## The scorecard
#
# Each claim as the paper states it, this build's figure, the same figure against its controls and in
# the random-network controls, and the verdict (type an encoder, a claim or a verdict in the search box
# to filter). Figures are pooled over training seeds: the estimate, its 95 % interval (random-effects,
# between-seed variance included; "1 seed": the within-model interval only) and the number of seeds.
# "MDE (minimum)" is the smallest effect the test detects with 80 % power at its own standard error, beside
# the stated minimum effect. "(shows it)" marks a random-network control that passes the claim's own
# two-stage rule; † marks a fragile verdict, which leaving out one or two seeds changes.

# %% tags=["hide-input", "full-width"]
tables.interactive(headline.full_table(card), page_length=12, caption="The paper's claims against this build and its controls",
                   wrap_width=("6em", "14em"), min_widths={"claim": "14em"})

# %% [markdown]
# ### The rules
#
# Every verdict follows from these rules (`clipneuron_utils.stats.verdicts`):
#
# - *holds* needs the stated direction (the 95 % interval excludes 0), at least the minimum effect, and
#   the same of the controlled figure. A random-network control that passes the same two stages on the
#   same seeds turns it into *holds, as in a random network*. Claims of no effect (A3, A3e, A8) and
#   comparisons between encoders (A5a, A5b) have no such column: a random network that shows no effect
#   says nothing about learned weights.
# - A controlled figure whose interval holds both 0 and the minimum gives *holds; the controlled figure is
#   inconclusive*; *holds only before controls* needs the controlled interval to exclude the minimum.
# - Significant but below the minimum is *too small to matter*; an interval that holds both no effect and
#   the minimum effect is *inconclusive*, and *inconclusive: the test cannot detect the minimum effect*
#   where the test's minimum detectable effect (80 % power) exceeds the minimum. *Does not hold* needs the
#   interval to exclude the minimum with a test that could have detected it, or the opposite direction.
# - A claim of no effect passes when the 90 % interval lies inside ±margin (two one-sided tests at 5 %);
#   A3's literal reading (not significant) is shown beside its strict one.
# - A manipulation that changed fewer than 1 % of the units (the WordNet encoding where no formula names a
#   word) is *not testable*.
# - A verdict is *fragile* (†) when any subset of the seeds that leaves out one or two of them, keeping
#   two at least, gives another verdict, or when 2 or more of 20 new draws of the seeds do (each seed's
#   figure drawn around the pooled one with its own and the between-seed variance, as a rebuild on another
#   machine trains other models).

# %% tags=["hide-input", "full-width"]
tables.interactive(scorecard.rules_table(), page_length=13, caption="Minimum effects, margins and controls",
                   wrap_width=("8em", "24em"))

# %% [markdown]
# ## 1. Do neurons learn compositional concepts?
#
# Mean best IoU by maximum formula length, with the matched null beneath: the band is what random masks
# with the same firing counts reach.

# %% tags=["hide-input"]
null_plots.iou_against_null(summary[summary["encoding"] == "standard"])


# %% [markdown]
# Mean IoU by formula length for each encoder, beside the unexplained-as-0 convention, the null and the excess
# over it.

# %% tags=["hide-input"]
cell = functools.partial(effects.summary_row, summary)  # cell(measure, encoder, length): one row of the summary
lengths = sorted({1, min(2, top), top})
table = pd.DataFrame([
    {"encoder": name, "length": length,
     "mean IoU (explained)": format_estimate(cell("iou", name, length)),
     "mean IoU (unexplained = 0)": format_estimate(cell("iou_paper", name, length)),
     "null mean IoU": format_estimate(cell("null_mean_iou", name, length)),
     "excess IoU": format_estimate(cell("excess_iou", name, length)),
     "sd over seeds": f"{cell('iou', name, length)['seed_sd']:.2g}",
     "explained": f"{cell('iou', name, length)['n_explained']:,.0f} of {cell('iou', name, length)['n_units']:,.0f}",
     "seeds": int(cell("iou", name, length)["n_seeds"])}
    for name in encoders for length in lengths])
tables.compact(table)

# %% [markdown]
# "Explained" averages over units that fire on at least `min_acts` probe pairs (this book's convention);
# "unexplained = 0" counts the others as IoU 0, as the original code does (compexp `analyze.py`). The
# explained count is per seed; "sd over seeds" is the spread of the mean IoU between the models of an
# encoder (empty with one seed).
#
# **What these intervals mean.** Here and in the rest of this chapter's tables (not the scorecard), a 95 %
# interval is a bootstrap over units, resampled within each seed: it says how precisely these trained
# models' units pin the mean down, not how much another training run would move it. Units share the same
# probe pairs and the same model, so they are not independent replicates; "sd over seeds" shows the
# between-model spread, and the scorecard's intervals, which pool the seeds with their between-seed
# variance, are the ones the verdicts use.

# %% tags=["hide-input"]
sentences = []
for name in encoders:
    first, second = cell("iou", name, 1), cell("iou", name, min(2, top))
    null1, excess = cell("null_mean_iou", name, 1), cell("excess_iou", name, 1)
    sentences.append(
        f"- **{registry[name]['label']}**: mean IoU {first['mean']:.3f} at length 1 and {second['mean']:.3f} at length "
        f"{min(2, top)}; random masks with the same firing counts reach {null1['mean']:.3f} at length 1, "
        f"{null1['mean'] / first['mean']:.0%} of the real value (excess {format_ci(excess['mean'], excess['ci_low'], excess['ci_high'])}).")
if gains is not None:
    for row in gains[(gains.measure == "excess_iou") & (gains.encoding == "standard")].itertuples():
        sentences.append(f"- From length 1 to 2, {row.encoder}'s excess IoU changes by "
                         f"{format_ci(row.mean, row.ci_low, row.ci_high)} per unit.")
clip_note = ""
if "clip" in encoders:
    clip_note = (f"\n\nThe paper reported {reported.PAPER_MEAN_IOU_CLIP[1]} at length 1 and "
                 f"{reported.PAPER_MEAN_IOU_CLIP[2]} at length 2 for CLIP, with no null. "
                 f"{reported.MU_ANDREAS_NLI[0].upper()}{reported.MU_ANDREAS_NLI[1:]}.")
display(Markdown("With the standard concepts:\n\n" + "\n".join(sentences) + clip_note))

# %% [markdown]
# ### What the best formulas are made of
#
# Share of the primary models' explained units whose best formula (at the longest length, standard
# concepts) uses each operator mix and concept kind.

# %% tags=["hide-input"]
kinds = compositionality.formula_kinds(run.primary_rows(scored)[lambda f: (f.max_length == top) & (f.encoding == "standard")])
tables.compact(kinds.pivot_table(index=["aspect", "category"], columns="encoder", values="share", sort=False)
               .fillna(0).reset_index().rename_axis(columns=None))

# %% [markdown]
# ### The WordNet encoding
#
# Per unit (paired by seed and neuron, over units explained under both encodings), the best IoU with
# WordNet-expanded token concepts minus the best IoU with the standard ones; and the same difference of
# excess IoU, each encoding against its own null. The interval is a bootstrap over paired units within
# seeds (see above); the scorecard's A6–A8 pool the seeds instead.

# %% tags=["hide-input"]
if wordnet is not None:
    shown = wordnet[wordnet["max_length"].isin([1, 2])]
    display(tables.compact(pd.DataFrame([{"encoder": r.encoder, "length": r.max_length, "measure": r.measure.replace("_", " "),
                           "mean difference": format_ci(r.mean, r.ci_low, r.ci_high), "units": r.n}
                          for r in shown.itertuples()])))
    at1 = shown[(shown.max_length == 1) & (shown.measure == "iou")]
    display(Markdown(
        "At length 1 the WordNet encoding changes the mean per-unit IoU by "
        + "; ".join(f"{r.encoder}: {format_ci(r.mean, r.ci_low, r.ci_high)}" for r in at1.itertuples())
        + f". The paper reported a mean difference of +{reported.PAPER_WORDNET_DIFFERENCE} for CLIP."))
else:
    display(Markdown("Only one concept encoding was searched in this run."))

# %% [markdown]
# ## 2. Do interpretable neurons contribute to accuracy?
#
# The paper's figure (Figures 4 and 5): accuracy when firing against best IoU, primary models, standard
# concepts.

# %% tags=["hide-input"]
primary = run.primary_rows(scored)
shown = primary[primary["max_length"].isin(plot_lengths) & (primary["encoding"] == "standard")]
plots.acc_vs_iou(shown, contribution.iou_accuracy_correlation(shown))

# %% [markdown]
# Both IoU and accuracy when firing move with how often a unit fires. Below, IoU against firing count
# with the matched null's IoU drawn through the same counts:

# %% tags=["hide-input"]
null_plots.iou_vs_firing(scored, max_length=1)

# %% [markdown]
# The correlations, per encoder and length (standard concepts; mean over seeds with a 95 % bootstrap
# interval over units within seeds, p from the seeds' units combined, Holm-adjusted across every test in
# this table and the WordNet rows). These p-values treat units as replicates and so overstate the
# evidence; the scorecard's A2–A7 test the same correlations with the seeds as replicates:

# %% tags=["hide-input"]
def correlations_table(frame):
    return pd.DataFrame([{"encoder": r.encoder, "encoding": r.encoding, "length": r.max_length, "test": r.test,
                          "method": r.method, "r": format_ci(r.r, r.ci_low, r.ci_high), "sd over seeds": f"{r.seed_sd:.2g}",
                          "p": format_p(r.p),
                          "Holm p": format_p(r.p_holm), "units": r.n}
                         for r in frame.itertuples()])


tables.interactive(correlations_table(confound[(confound.encoding == "standard") & (confound.method == "pearson")
                                              & (confound.test != "IoU ~ log firing count")]),
                   page_length=12, caption="IoU ↔ accuracy when firing, before and after the controls (Pearson)")

# %% [markdown]
# Accuracy when firing against excess IoU over the null, the figure with the firing count held fixed.

# %% tags=["hide-input"]
null_plots.acc_vs_excess_iou(scored, confound, max_length=1)

# %% [markdown]
# What survives the controls, encoder by encoder, in sentences.

# %% tags=["hide-input"]
lines = []
for name in encoders:
    get = lambda test, length=1: confound[(confound.encoder == name) & (confound.encoding == "standard")
                                          & (confound.max_length == length) & (confound.test == test)
                                          & (confound.method == "pearson")].iloc[0]
    plain, partial, firing = get(claims.CORRELATION), get(claims.PARTIAL), get("IoU ~ log firing count")
    excess, null = get("excess IoU ~ accuracy"), get("null IoU ~ accuracy")
    lines.append(
        f"- **{name}**: IoU tracks log firing count at r = {firing.r:+.2f}. IoU ↔ accuracy at length 1: "
        f"r = {format_ci(plain.r, plain.ci_low, plain.ci_high)} (Holm p = {format_p(plain.p_holm)}); with firing "
        f"count held fixed: r = {format_ci(partial.r, partial.ci_low, partial.ci_high)} (Holm p = {format_p(partial.p_holm)}); "
        f"with the excess IoU: r = {format_ci(excess.r, excess.ci_low, excess.ci_high)}. Random masks with the units' "
        f"firing counts, whose IoU carries nothing but firing rate, give r = {format_ci(null.r, null.ci_low, null.ci_high)}.")
display(Markdown("\n".join(lines) + f"\n\nThe paper found the correlation {reported.PAPER_CORRELATION}."))

# %% [markdown]
# The full table — every encoding, Pearson and Spearman, and the null's IoU in place of the real one —
# is kept in the executed notebook (`06_results.ipynb`), not on this page.

# %% tags=["remove-cell"]
confound
