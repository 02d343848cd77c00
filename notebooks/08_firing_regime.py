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
# # The firing regime
#
# The paper, like {cite}`mu2020compositional` in NLI, says a unit *fires* on a pair when its activation is
# positive. What that threshold means depends on the model: a unit that fires on half of the probe pairs
# can only be matched by a concept that holds on about half of them, and near-constant concepts (a
# part-of-speech tag that almost every premise has) then explain everything, as well as they explain a
# random mask. The paper's figures (mean length-1 IoU 0.19 for CLIP) and its examples (units that name
# one word) belong to a sparser regime.
#
# So {doc}`05_search` searched every model again with each unit firing on exactly its top ⌈α·N⌉ probe pairs, for
# each α of its `activation_alphas` (ties broken by probe order; a pair at ≤ 0 never fires), each against
# its own matched null. This chapter shows, per threshold, what fires, what the formulas name, how far they
# beat the null, and the verdicts of the paper's claims ({doc}`06_results`'s rules, run again per threshold).
#
# The paper says its units fire "past some threshold (0 in this example)" (its Figure 3): the threshold is
# not given, so no single one is the paper's. A claim is **robust** when its verdict is the same at every
# threshold; otherwise the book says at which thresholds it holds. The first page shows that reading.
#
# *Top of the range against bulk* ({cite}`goh2021multimodal`): a unit's strongest activations may encode
# something other than its bulk. The last section compares each unit's formula at the sparsest α with its
# formula at > 0.

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
vocab_size: int = 2000  # token concepts per side (as in chapters 04_concepts–05_search)
wordnet_mode: str = "exact"  # WordNet synonyms: "exact" (the word is a lemma of the synset; stop words never expanded) or "all_senses" (NLTK's lookup with morphy, the naive encoding)
adversarial_pair: list = ["The boys said hello to the girls.", "The girls said hello."]  # the paper's adversarial [premise, hypothesis] (claim A11)
description: str = "(pre:tok:man AND NOT hyp:tok:man)"  # the unit-870 description chapter 07_qualitative_neurons looks for, looked for here at each regime (and scored by claim A11)
alpha: float = 0.05  # significance level of the correlation tests (on Holm-adjusted p-values)
bootstrap_resamples: int = 2000  # resamples of the 95 % bootstrap intervals
n_examples: int = 4  # units per model shown where their top and bulk formulas differ

# %% [markdown]
# The set-up: the pairs, the latest search, its firing-regime sweep and the models they explained, each checked
# against this chapter's parameters by `run.open_book`.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import formulas, probe, regime
from clipneuron_utils.explain.search import threshold_activations
from clipneuron_utils.render import provenance, regime_plots, scorecard as headline, tables
from clipneuron_utils.render.numbers import format_estimate
from clipneuron_utils.run import regimes
from clipneuron_utils.stats import annotation_artifacts, claims, contribution, effects, reported, scorecard, verdicts

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, seeds=seeds, lstm_seeds=lstm_seeds, control_seeds=control_seeds, lstm_shuffled_seeds=lstm_shuffled_seeds,
                     vocab_size=vocab_size, wordnet_mode=wordnet_mode, need_sweep=True)
pairs, everything, swept, registry = book.pairs, book.search, book.sweep, book.registry
search_params, sweep_params = book.search_params, book.sweep_params
alphas = regime.check_alphas(sweep_params["activation_alphas"])
models, encoders = book.models, book.encoders
sweep_top = int(sweep_params["max_length"])
boot = dict(n_resamples=bootstrap_resamples, seed=seed)
n_pairs = len(pairs.probe)
labels = {0.0: regime.label(0.0), **{a: regime.label(a) for a in alphas}}
order = list(labels.values())

# %% [markdown]
# Every regime's results with accuracy when firing at that regime, the firing rates of every model, and the
# claims' scorecard at each regime (the > 0 rows are the search's own, cut to the sweep's lengths).

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
# every regime's rows, with accuracy when firing at that regime; the > 0 rows are chapter 05_search's, cut to the sweep's lengths
by_regime = {0.0: everything[everything["max_length"] <= sweep_top].assign(alpha=0.0)}
by_regime.update({a: regimes.at(swept, a) for a in alphas})
scored = {a: contribution.attach_accuracy(rows, book.firing_accuracy(a))
          for a, rows in by_regime.items()}
outputs = {(m, s): run.probe_outputs(profile, m, pairs.probe, seed=s)["activations"]
           for m in encoders for s in book.seeds(m)}
rates = regime.firing_rates({key: threshold_activations(acts) for key, acts in outputs.items()})
concepts = book.concepts(vocab_size, "standard", wordnet_mode)
described = formulas.evaluate(description, concepts)
weights, probe_accuracy = book.weights, book.probe_accuracy
summaries, cards, patterns = {}, {}, {}
artifact_words = annotation_artifacts.default_artifact_words(pairs.train)  # A10's note: chapter 11_artifacts
pushes = book.pushes(adversarial_pair, described, list(scored))  # claim A11 at every threshold, each model read once
for a, frame in scored.items():
    trained_rows = run.without_controls(frame)
    summaries[a] = effects.iou_summary(trained_rows, **boot).assign(regime=labels[a])
    patterns[a] = claims.unit_patterns(frame, weights)
    cards[a] = scorecard.scorecard(frame, registry=registry, encoders=encoders, accuracy=probe_accuracy,
                                   units=patterns[a], pushes=pushes[pushes["alpha"] == a], alpha=alpha,
                                   seed=seed, artifacts=artifact_words)
matched = regimes.paper_matched(swept)  # the α whose mean IoU is nearest the paper's: nearly the α nearest 0.19
summary = pd.concat(summaries.values(), ignore_index=True)

# %% [markdown]
# The verdicts at every threshold for the first page: the computed box, the matrix of claim × encoder, and the
# reason raw IoU at a top-α threshold says little by itself.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
def l1(a, measure="iou", encoding="standard"):
    """Mean length-1 figure of each encoder at regime ``a`` (a dict)."""
    s = summaries[a]
    rows = s[(s.measure == measure) & (s.max_length == 1) & (s.encoding == encoding)]
    return dict(zip(rows["encoder"], rows["mean"]))


base = regime.concept_base_rates(concepts)
universal = regime.near_universal_iou(base, alphas)
shares = pd.concat([regime.kind_shares(run.without_controls(frame)[lambda f: (f.max_length == 1)
                                                                    & (f.encoding == "standard")], by=("encoder",))
                    .assign(regime=labels[a]) for a, frame in by_regime.items()], ignore_index=True)
untrained_clip = claims.untrained_clip(registry)
rested_on = {e: len(book.seeds(e)) for e in encoders}
by_label = {labels[a]: cards[a] for a in labels}
iou_note = headline.iou_alpha_note(universal, labels, reported.PAPER_MEAN_IOU_CLIP[1])
provenance.record_regimes(profile, headline.markdown(
    by_label, encoders, untrained_clip=untrained_clip, seeds=rested_on,
    notes=[headline.control_seeds_note({m: len(book.seeds(m)) for m in models}, encoders), iou_note, "The full tables: {doc}`06_results` (at > 0, with every figure, control and minimum "
           "detectable effect) and {doc}`08_firing_regime` (every threshold)."]))

# %% [markdown]
# What the chapter shows, computed: the verdicts in brief, and how far raw IoU is from the null at each threshold.

# %% tags=["hide-input"]
l1_zero, l1_matched = l1(0.0), l1(matched)
null_zero, null_matched = l1(0.0, "null_mean_iou"), l1(matched, "null_mean_iou")
lines = headline.box(by_label, encoders, untrained_clip, rested_on) + [
    "Random masks with the same firing counts reach "
    + ", ".join(f"{e} {null_zero[e] / l1_zero[e]:.0%}" for e in l1_zero if l1_zero[e] > 0)
    + " of the real mean length-1 IoU at > 0, and "
    + ", ".join(f"{e} {null_matched[e] / l1_matched[e]:.0%}" for e in l1_matched if l1_matched[e] > 0)
    + f" at {labels[matched]}, the threshold whose mean IoU is nearest the paper's {reported.PAPER_MEAN_IOU_CLIP[1]}.",
    iou_note]
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(f"- {x}" for x in lines if x) + "\n:::"))

# %% [markdown]
# ## Raw IoU at a top-α threshold is mostly α
#
# A concept that holds on nearly every pair (the full stop that ends almost every hypothesis) overlaps any
# mask that fires on a share α of the pairs on about α of its pairs, so its IoU with that mask is about α,
# whatever the mask encodes. Below, per α: the trained units' mean length-1 IoU, the matched null's (random
# masks, searched the same way) and that commonest concept's IoU with any mask of that share, with the
# paper's mean IoU as a grey rule.

# %% tags=["hide-input"]
against_alpha = pd.concat([
    pd.DataFrame([{"alpha": a, "encoder": e, "what": what, "iou": l1(a, measure).get(e)} for a in alphas for e in encoders
                  for what, measure in (("the units' formulas", "iou"), ("the matched null", "null_mean_iou"))]),
    universal.assign(encoder="any mask", what=lambda f: "the commonest concept")[["alpha", "encoder", "what", "iou"]]],
    ignore_index=True).dropna()
regime_plots.iou_against_alpha(against_alpha, reported.PAPER_MEAN_IOU_CLIP[1])

# %% [markdown]
# ## What fires at > 0
#
# The share of probe pairs each unit fires on, at the paper's threshold (every seed of each model).

# %% tags=["hide-input"]
regime_plots.firing_rates(rates, encoders)

# %% [markdown]
# The firing shares in numbers: quantiles over the units of each model.

# %% tags=["hide-input"]
tables.compact(rates.groupby("encoder", sort=False)["rate"].describe(percentiles=[0.05, 0.5, 0.95])
               [["count", "min", "5%", "50%", "95%", "max"]].rename(columns={"count": "units"}).reset_index())

# %% [markdown]
# ## What the concepts can match
#
# A concept that holds on most pairs matches a unit that fires on most pairs, whatever either means. The
# base rate of each concept (the share of probe pairs on which it holds), by kind, with the firing shares of
# the sweep as dashed lines:

# %% tags=["hide-input"]
regime_plots.base_rates(base, alphas)

# %% [markdown]
# The concepts' base rates in numbers, by kind.

# %% tags=["hide-input"]
tables.compact(base.groupby("kind")["base_rate"].describe(percentiles=[0.5])[["count", "50%", "max"]]
               .rename(columns={"count": "concepts", "50%": "median base rate", "max": "largest base rate"})
               .reset_index())

# %% [markdown]
# ## What the best formulas name, per regime
#
# The share of each model's explained units (every seed, standard concepts) whose best single concept is a
# word (`tok`), a part-of-speech tag (`tag`) or a word overlap (`overlap`).

# %% tags=["hide-input"]
regime_plots.kind_shares(shares, encoders, order)

# %% [markdown]
# ## Mean IoU against the null, per regime
#
# Mean best IoU by formula length (explained units, standard concepts, every seed) with the matched
# null of each regime dashed beneath it: random masks with each unit's firing count, searched the same
# way. At > 0 the lines nearly touch; the gap is what the formulas explain beyond firing rate.

# %% tags=["hide-input"]
regime_plots.iou_by_regime(summary[summary["encoding"] == "standard"], encoders, order)

# %% [markdown]
# IoU, null and excess at length 1 in every regime, with how many units each regime explains.

# %% tags=["hide-input"]
def explained(a, encoder):
    s = summaries[a]
    row = s[(s.measure == "iou") & (s.encoder == encoder) & (s.max_length == 1) & (s.encoding == "standard")]
    return f"{row['n_explained'].iloc[0]:,.0f} of {row['n_units'].iloc[0]:,.0f}" if len(row) else ""


tables.compact(pd.DataFrame([
    {"regime": labels[a], "encoder": e, "explained (mean per seed)": explained(a, e),
     "IoU, length 1": format_estimate(effects.summary_row(summaries[a], "iou", e, 1)), "null, length 1": format_estimate(effects.summary_row(summaries[a], "null_mean_iou", e, 1)),
     "excess, length 1": format_estimate(effects.summary_row(summaries[a], "excess_iou", e, 1)), f"excess, length ≤ {sweep_top}": format_estimate(effects.summary_row(summaries[a], "excess_iou", e, sweep_top))}
    for a in labels for e in encoders]))

# %% [markdown]
# Intervals are bootstraps over units within seeds (as in {doc}`06_results`'s tables); "explained" counts units per
# seed, averaged over seeds. `min_acts` at top-α is min(`min_acts`, ⌈α·N⌉): every unit fires on exactly ⌈α·N⌉ pairs there,
# so it is explained unless it is active (> 0) on fewer pairs.

# %% [markdown]
# ## The verdicts per regime
#
# {doc}`06_results`'s scorecard, computed again from each regime's search (same rules, minimum effects, controls
# and seeds). Each cell is the verdict; the columns go from the paper's threshold to the sparsest regime.

# %% tags=["hide-input", "full-width"]
wide = cards[0.0][["id", "claim", "encoder"]].copy()
for a in labels:
    wide[labels[a]] = [v + (f" {headline.FRAGILE}" if headline.fragile(st) else "") for v, st in zip(cards[a]["verdict"], cards[a]["stable"])]
wide["across thresholds"] = [verdicts.robustness({labels[a]: cards[a]["verdict"].iloc[i] for a in labels}) for i in range(len(wide))]
tables.interactive(wide, page_length=13, caption="Verdicts of the paper's claims per firing threshold († fragile)",
                   wrap_width=("6em", "14em"))

# %% [markdown]
# How many claims get each verdict in each regime.

# %% tags=["hide-input"]
tally = pd.DataFrame({labels[a]: verdicts.counts(card) for a, card in cards.items()})
tables.compact(tally[tally.sum(axis=1) > 0].rename_axis("verdict").reset_index())

# %% [markdown]
# ## The paper's qualitative units per regime
#
# {doc}`07_qualitative_neurons` looks for analogues of the paper's units: a unit explained by one hypothesis word with a high
# IoU (unit 698, claim A9) and a unit firing when a premise word is missing from the hypothesis and voting
# for contradiction (unit 870, claim A10, the description below). Counted here at each regime, over every
# seed: units whose formula has the pattern (and of those, how many beat their null by the claims' margin),
# and the best IoU of any unit's firing mask with the description.

# %% tags=["hide-input"]
described = formulas.evaluate(description, concepts)
rows = []
for a in labels:
    found = patterns[a]
    for e in encoders:
        mine = found[found.encoder == e]
        best = max(probe.description_iou(description, concepts, threshold_activations(acts, a or None))["description_iou"].max()
                   for (m, s), acts in outputs.items() if m == e)
        rows.append({"regime": labels[a], "encoder": e,
                     "unit 698 pattern (A9)": int(mine["single_hyp_token"].sum()),
                     f"… excess IoU ≥ {claims.EXCESS_MARGIN}": int((mine["single_hyp_token"] & mine["beats_null"]).sum()),
                     "unit 870 pattern (A10)": int(mine["missing_word_contradiction"].sum()),
                     f"… excess IoU ≥ {claims.EXCESS_MARGIN} ": int((mine["missing_word_contradiction"] & mine["beats_null"]).sum()),
                     "best IoU with the description": best})
display(Markdown(f"The description `{description}` holds on {int(described.sum()):,} of {n_pairs:,} probe pairs "
                 f"({described.mean():.1%}); at top α a unit fires on ⌈α·{n_pairs:,}⌉ pairs."))
tables.compact(pd.DataFrame(rows))

# %% [markdown]
# ## The top of the range against the bulk
#
# {cite}`goh2021multimodal` show that a neuron's strongest activations can be more specific than its
# bulk. For each explained unit, its best formula at the sparsest regime (its strongest activations) is
# set against its best formula at > 0 (its bulk), both of up to the sweep's length, standard concepts:
# they *differ* when they share no concept.

# %% tags=["hide-input"]
sparsest = min(alphas)
compare = regime.top_vs_bulk(
    by_regime[0.0][(by_regime[0.0].max_length == sweep_top) & (by_regime[0.0].encoding == "standard")],
    by_regime[sparsest][(by_regime[sparsest].max_length == sweep_top) & (by_regime[sparsest].encoding == "standard")])
trained_compare = compare[compare.encoder.isin(encoders)]
tables.compact(trained_compare.groupby("encoder", sort=False).agg(
    units=("neuron", "size"), differ=("differ", "mean"),
    top_names_a_word=("kind_top", lambda k: (k == "token").mean()),
    bulk_names_a_word=("kind_bulk", lambda k: (k == "token").mean())).reset_index().rename(columns={
        "differ": "top and bulk share no concept", "top_names_a_word": f"first concept a word ({labels[sparsest]})",
        "bulk_names_a_word": "first concept a word (> 0)"}))

# %% [markdown]
# Examples: the primary model's units whose top formula names a word and differs from their bulk one,
# those that beat their null by the most at the top.

# %% tags=["hide-input"]
primary_seeds = everything.attrs.get("primary_seeds", {})
examples = (trained_compare[trained_compare.differ & (trained_compare.kind_top == "token")
                            & (trained_compare.seed == trained_compare.encoder.map(primary_seeds))]
            .sort_values(["encoder", "excess_iou_top", "neuron"], ascending=[True, False, True])
            .groupby("encoder", sort=False).head(n_examples))
tables.compact(examples[["encoder", "neuron", "formula_bulk", "iou_bulk", "formula_top", "iou_top", "excess_iou_top"]]
               .rename(columns={"formula_bulk": "formula (> 0)", "iou_bulk": "IoU (> 0)",
                                "formula_top": f"formula ({labels[sparsest]})", "iou_top": f"IoU ({labels[sparsest]})",
                                "excess_iou_top": "excess over null"}), wrap=True)

# %% [markdown]
# The strongest activations of the first example unit at the sparsest regime.

# %% tags=["hide-input"]
if len(examples):
    first = examples.iloc[0]
    acts = outputs[(first["encoder"], int(first["seed"]))][:, int(first["neuron"])]
    strongest = pd.Series(acts).nlargest(6).index
    display(Markdown(f"The strongest activations of {first['encoder']} unit {int(first['neuron'])} "
                     f"(`{first['formula_top']}` at {labels[sparsest]}):"))
    display(tables.compact(pairs.probe.iloc[strongest][["premise", "hypothesis", "label"]]
                           .assign(activation=acts[strongest]), wrap=True))
