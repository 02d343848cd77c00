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
# # Do explained neurons matter?
#
# The paper reads the negative correlation between a unit's IoU and its accuracy when it fires as
# *better-explained neurons are less accurate*; {doc}`06_results` shows that most of that correlation is the
# firing rate. Both are correlations across units. This chapter intervenes, on the units and on the
# inputs, with three tests, each per trained model (the replicate) and pooled over seeds. A test is worth
# its page only if it could have found an effect, so each has a **positive control** (an effect known to be
# there, on this build's own models and data) and prints its **minimum detectable effect** (MDE: what it
# finds with 80 % power); a test whose MDE exceeds the claim's minimum is *inconclusive*, never *does not
# hold*.
#
# 1. **Ablation (C1).** Hold k units at their mean activation over the probe pairs and measure the change
#    in the **gold margin** (the gold class's logit less the mean of the other two, in probe SDs: continuous,
#    so it sees what accuracy hides), overall and per class, beside the accuracy change. The output layer is
#    linear in the units, so each unit's exact contribution to each pair's margin is known: ablating the top
#    k by contribution is the positive control: no k explained units held at their mean cost the mean margin
#    more. The paper's reading is then
#    tested with every unit: does a unit's contribution fall as its excess IoU rises?
# 2. **Faithfulness (C2).** A unit whose formula names a word should respond to that word. The tested units'
#    formulas are searched again on one half of the probe pairs; their words are swapped in or out of pairs
#    of the other half, and each edit is set against a **sham edit of the same pair** (another word of the
#    same tag swapped, the formula unchanged). Another unit's formula is the null; **planted units** (a
#    word's indicator plus this model's noise) must pass, and their **shuffled twins** must not.
# 3. **Adversarial pairs (C3).** For units whose formula a premise noun carries, the noun is appended to
#    pairs of another class, and the model's response is read in the order the claim runs: the unit's
#    activation, the push toward the unit's class, then the predictions.
#
# Each runs at the paper's threshold (> 0) and in the firing regime nearest the paper's IoU of {doc}`08_firing_regime`.
# Where CLIP is untrained (a build without its checkpoint), its own verdicts are not testable: its models
# get the ablation and the edits as a random-network control of the other encoders, and its shuffled-label
# control the ablation only.

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
vocab_size: int = 2000  # token concepts per side (as in chapters 04_concepts–05_search)
wordnet_mode: str = "exact"  # WordNet synonyms, as in chapters 04_concepts–05_search (the edits use the standard concepts)
causal_length: int = 2  # formulas of this many atoms at most are the ones tested (chapter 05_search's, and the sweep's)
ablation_ks: list = [16, 64, 256]  # how many units are ablated at once
ablation_draws: int = 30  # random sets of k units per model
faithfulness_units: int = 20  # units tested per model and regime (sampled among those whose formula names a word)
faithfulness_edits: int = 6  # removals and as many insertions per unit and formula, each with its sham edit
planted_units: int = 6  # planted units (a word's indicator plus this model's noise) and as many shuffled twins, per model and regime
adversarial_units: int = 8  # units per model and regime that get adversarial pairs (best IoU first, their noun carrying the formula)
adversarial_pairs: int = 50  # adversarial pairs per unit
causal_examples: int = 6  # edited and adversarial pairs shown

# %% [markdown]
# The set-up: the pairs, the latest search, its sweep and the models, checked by `run.open_book`; the regimes
# the tests run in; then every intervention on every model and seed (cached under `runs/`).

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
import functools

import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import edits, regime
from clipneuron_utils.render import causal_plots, provenance, tables
from clipneuron_utils.render.numbers import format_percent, format_sd_shift
from clipneuron_utils.run import interventions, parameters, regimes
from clipneuron_utils.stats import ablation_effects, adversarial_effects, causal, claims, edit_effects
from clipneuron_utils.stats.tidy import first_row

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, seeds=seeds, lstm_seeds=lstm_seeds, control_seeds=control_seeds, lstm_shuffled_seeds=lstm_shuffled_seeds,
                     vocab_size=vocab_size, wordnet_mode=wordnet_mode)
pairs, everything, swept, registry, search_params = book.pairs, book.search, book.sweep, book.registry, book.search_params
models, encoders = book.models, book.encoders
parameters.check_formula_length("causal_length", causal_length, search_params, book.sweep_params)
ks = parameters.check_ablation_ks(ablation_ks, hidden=int(everything["neuron"].max()) + 1)
matched = regimes.paper_matched(swept) if swept is not None else None
rows = interventions.regime_rows(everything, swept, matched, causal_length)
labels = {regime.label(v): v for v in rows}
order = list(labels)

# %% [markdown]
# Every intervention on every model and seed: ablations, the formulas' edits with their controls, and the
# adversarial pairs (cached under `runs/`).

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
controls = {e: [c for c in claims.random_networks(e, models, registry).values() if c] for e in encoders}
untestable = {"clip": "CLIP is untrained here: an architecture-only control"} if claims.untrained_clip(registry) else {}
tested_encoders, edited = interventions.tested_models(encoders, controls, untestable)  # an untrained CLIP: a control only
editor = edits.Editor(pairs.probe, book.concepts(vocab_size, "standard", wordnet_mode))
settings = dict(ks=ks, draws=ablation_draws, units=faithfulness_units, edits=faithfulness_edits, length=causal_length,
                planted_units=planted_units,
                adversarial_units=adversarial_units, adversarial_pairs=adversarial_pairs)
found = interventions.run(profile, editor, {m: book.seeds(m) for m in models}, rows, params=settings,
                          search_params=search_params, trained=tested_encoders, edited=edited)

# %% [markdown]
# The interventions pooled over seeds: the ablation curves and the contribution correlation, each unit's
# response to its formula's edits against their shams, the adversarial pairs' effects, and the causal
# verdicts under their rules.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
named = functools.partial(interventions.labelled, labels=labels)
ablation = causal.pool_rows(named(found["ablation"]), ["encoder", "regime", "mode", "outcome", "ranking", "k", "class"])
correlation = ablation_effects.contribution_correlation(named(found["contributions"]))
units = edit_effects.unit_faithfulness(named(found["edits"])) if len(found["edits"]) else pd.DataFrame()
shifts = edit_effects.shift_effects(units) if len(units) else causal.figure_frame([], "units")
adv_pairs = adversarial_effects.pair_effects(named(found["adversarial"])) if len(found["adversarial"]) else pd.DataFrame()
adversarial = adversarial_effects.effects(adv_pairs) if len(adv_pairs) else causal.figure_frame([], "pairs")
noun_pairs = adversarial_effects.pair_effects(found["nouns"]) if len(found["nouns"]) else pd.DataFrame()
nouns = adversarial_effects.effects(noun_pairs, by_unit=False) if len(noun_pairs) else causal.figure_frame([], "pairs")
k_main = 64 if 64 in ks else ks[len(ks) // 2]
verdicts = causal.card(dict(ablation=ablation, correlation=correlation, shifts=shifts, adversarial=adversarial,
                            nouns=nouns), encoders, {r: r for r in order}, controls, k=k_main, untestable=untestable)

provenance.record_causal(profile, causal.markdown(verdicts, sentences=[
    f"Chapter 10_causal intervenes: it ablates units, edits the words their formulas name against sham edits of the "
    f"same pairs, and appends the premise nouns that carry their formulas (figures pooled over training seeds, 95 % "
    f"intervals with between-seed variance; k = {k_main}). Each test shows its minimum detectable effect (MDE) and a "
    f"positive control: an effect known to be there, which it must detect."]))

# %% [markdown]
# What the chapter shows, per encoder and regime, in sentences.

# %% tags=["hide-input"]
def figure(frame, sd=True, **match):
    row = first_row(frame, **match)
    return "n/a" if row is None else format_sd_shift(row) if sd else claims.describe(row["_pooled"], "", digits=causal.R_DIGITS)


lines = []
for encoder in encoders:
    bits = []
    for regime_label in order:
        at, margin = dict(encoder=encoder, regime=regime_label), dict(mode="mean", outcome="margin", k=k_main, **{"class": "all"})
        bits.append(
            f"at {regime_label}: top {k_main} by excess IoU − random {k_main}, gold margin "
            f"{figure(ablation, **at, **margin, ranking='top excess − random')} (positive control, top {k_main} by "
            f"contribution − random: {figure(ablation, **at, **margin, ranking='contribution − random')}); "
            f"r(excess IoU, contribution) {figure(correlation, False, **at, measure=ablation_effects.CORRELATION)}; "
            f"formula edits move units {figure(shifts, **at, measure='formula − sham')} beyond their shams (planted "
            f"units {figure(shifts, **at, measure='planted: formula − sham')}, their twins "
            f"{figure(shifts, **at, measure='twin: formula − sham')}); adversarial nouns move the unit "
            f"{figure(adversarial, **at, measure='activation')} and the margin toward its class "
            f"{figure(adversarial, **at, measure='push')}")
    lines.append(f"**{encoder}** " + "; ".join(bits) + ".")
tally = claims.counts(verdicts)
lines.append(f"Of {len(verdicts)} causal claim × encoder × regime rows: "
             + ", ".join(f"{count} {verdict}" for verdict, count in tally.items() if count) + ".")
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(f"- {line}" for line in lines) + "\n:::"))

# %% [markdown]
# ## The verdicts
#
# Each causal reading is stated as a claim with a minimum effect and a positive control, and tested with the
# scorecard's rules ({doc}`06_results`): the figure must clear the minimum with its 95 % interval on the
# stated side of zero; a test whose MDE exceeds the minimum, or whose positive control it did not detect,
# can only be *inconclusive*.

# %% tags=["hide-input"]
tables.compact(causal.rules_table(), wrap=True)

# %% [markdown]
# The causal verdicts, one row per claim, encoder and regime, with each test's minimum, MDE and positive
# control.

# %% tags=["hide-input"]
tables.compact(verdicts, wrap=True)

# %% [markdown]
# ## Ablation
#
# The change in the gold margin (probe SDs) when k units are held at their mean, per ranking (pooled over
# seeds, 95 % intervals). Random sets are drawn from the explained units; the rankings use their formulas
# of up to `causal_length` atoms in each regime. The top k by exact contribution to the gold margin is the
# positive control: no k explained units held at their mean cost the mean margin more (held at zero, the same
# ranking is shown, no longer the maximum). At a top-α regime every unit fires on the same count and has
# the same matched null, so the top k by excess IoU are the top k by IoU.

# %% tags=["hide-input"]
causal_plots.ablation_curves(ablation[(ablation["mode"] == "mean") & (ablation["class"] == "all")], encoders, order)

# %% [markdown]
# The same in probe accuracy, which moves less: a set of units can weaken every right answer without
# flipping one.

# %% tags=["hide-input"]
causal_plots.ablation_curves(ablation[(ablation["mode"] == "mean") & (ablation["class"] == "all")], encoders, order,
                             outcome="accuracy")

# %% [markdown]
# Per gold class, held at the mean, at k = the middle of `ablation_ks`: the difference from random k of the
# top k by excess IoU and of the positive control, in gold-margin SDs and in accuracy.

# %% tags=["hide-input"]
per_class = ablation[(ablation["k"] == k_main) & (ablation["mode"] == "mean")
                     & ablation["ranking"].isin(["top excess − random", "contribution − random"])
                     & ablation["encoder"].isin(encoders)]
tables.compact(per_class.assign(change=[format_percent(r) if r["outcome"] == "accuracy" else format_sd_shift(r)
                                        for _, r in per_class.iterrows()])
               .pivot_table(index=["encoder", "regime", "outcome", "ranking"], columns="class", values="change",
                            aggfunc="first").reset_index())

# %% [markdown]
# Held at zero instead of the mean (the gold-margin change at k = the middle of `ablation_ks`), and the
# random-network controls (an untrained encoder, a head trained on shuffled labels), whose top − random
# difference the verdicts set against the trained models'.

# %% tags=["hide-input"]
ctrl = ablation[(ablation["ranking"].isin(["top excess − random", "contribution − random"])) & (ablation["class"] == "all")
                & (ablation["k"] == k_main) & (ablation["outcome"] == "margin")]
tables.compact(ctrl.assign(change=[format_sd_shift(r) for _, r in ctrl.iterrows()])
               .pivot_table(index=["encoder", "regime", "ranking"], columns="mode", values="change", aggfunc="first")
               .reset_index().rename(columns={"mean": f"held at mean (k = {k_main})", "zero": f"held at zero (k = {k_main})"}))

# %% [markdown]
# **Every unit.** Across the explained units of each model, the Spearman correlation between a unit's excess
# IoU and its mean contribution to the gold margin, pooled over seeds on the Fisher scale; *planted* is the
# same test on a quantity built to correlate negatively with the contribution whatever the real relation
# (the units' excess IoUs shuffled, less ½ × contribution, both standardised): it must be detected.

# %% tags=["hide-input"]
tables.compact(correlation.assign(r=[claims.describe(r["_pooled"], "", digits=causal.R_DIGITS) for _, r in correlation.iterrows()])
               [["encoder", "regime", "measure", "units", "r"]])

# %% [markdown]
# ## Faithfulness: do a unit's formula's words move it?
#
# **The split.** A fixed random half of the probe pairs (the same for every model) is the *search half*: the
# tested units' formulas are searched again on it alone, as chapter 05_search searches (its `min_acts`
# scaled to the half). Edits start only from the other half, so no edited pair helped choose the formula it
# tests. The candidates are chapter 05_search's explained units whose formula names a word (its formulas
# stay as they are); a candidate is tested when its search-half formula names a word too.
#
# **The edit rule.** On the side the formula's word W is on, every occurrence of W becomes a vocabulary
# word of W's usual Penn tag that is in neither sentence (*removal*), or a word of that tag that occurs only
# on that side becomes W (*insertion*); text and tokens change together, tags stay. An edit that changes
# any concept other than the two words' is dropped, and only edits that change the formula's truth are
# kept. The *directed shift* is the unit's change in units of its probe SD, signed so that the formula's
# prediction (up where it becomes true) is positive.
#
# **The sham.** Each edit has a sham on the same pair: for an insertion, the same word is replaced by
# another word of W's tag; for a removal, another word of W's tag in the same sentence is replaced by the
# same new word. Every concept the formula names keeps its value (checked on the masks). Both start from the
# same pair, so what any edit of an unusual pair does to a unit (drift back toward its typical value)
# cancels in **formula − sham**, the claim's figure: per unit, then the mean over units per seed, pooled.
#
# **The controls.** The same test with another tested unit's formula (its words have nothing to do with
# this unit: the *controlled* figure is the difference); the random networks' units, tested the same way;
# and `planted_units` planted units per model and regime, whose activation is 2·[W] − 1 + 0.5·z (z: a
# random unit of this model, standardised and cut to ±1.5 SD, measured on every pair the model sees, edited
# ones included), searched like the real ones and, where the search finds W, edited and shammed like them,
# beside their shuffled twins (the word's indicator of another pair: the same noise, no word effect), tested
# with the planted unit's formula.

# %% tags=["hide-input"]
if len(shifts):
    display(causal_plots.edit_shifts(shifts, encoders, order))
    display(tables.compact(shifts.assign(shift=[format_sd_shift(r) for _, r in shifts.iterrows()])
                           [["encoder", "regime", "measure", "units", "seeds", "shift"]]))
else:
    display(Markdown("No unit's formula names a word in this build, so no edit could be made."))

# %% [markdown]
# Per model and regime: how many tested units each unit's own test (its edit − sham differences above
# 0.1 SD, one-sided at 5 %) finds faithful, and how many planted units' searches found their word.

# %% tags=["hide-input"]
if len(units):
    faithful = edit_effects.faithful_counts(units)
    tested = named(found["tested"])
    planted = (tested[tested["role"] == "planted"].groupby(["encoder", "regime"], sort=False)["recovered"].agg(
        ["sum", "count"]).rename(columns={"sum": "planted words found", "count": "planted units"}).reset_index()
               if "recovered" in tested.columns else pd.DataFrame(columns=["encoder", "regime"]))
    wide = faithful.assign(cell=[f"{f} of {t}" for f, t in zip(faithful["faithful"], faithful["tested"])]).pivot_table(
        index=["encoder", "regime"], columns="role", values="cell", aggfunc="first").reset_index()
    display(tables.compact(wide.merge(planted, on=["encoder", "regime"], how="left")))

# %% [markdown]
# Examples: formula edits of the primary models' tested units (the edited side shown), with the unit's
# activation before and after, and the sham of the same pair.

# %% tags=["hide-input"]
if len(units):
    primary = everything.attrs.get("primary_seeds", {})
    edits_named = named(found["edits"])
    own = edits_named[(edits_named["role"] == "unit") & edits_named["encoder"].isin(encoders)
                      & (edits_named["seed"] == edits_named["encoder"].map(primary))]
    pairs_shown = own[own["kind"] == "formula"].merge(
        own[own["kind"] == "formula sham"][["encoder", "regime", "unit", "link", "old", "new", "shift"]],
        on=["encoder", "regime", "unit", "link"], suffixes=("", " (sham)"))
    shown = (pairs_shown.assign(gap=pairs_shown["shift"] - pairs_shown["shift (sham)"]).sort_values("gap", ascending=False)
             .groupby("encoder", sort=False).head(max(1, causal_examples // 3)))
    display(tables.compact(shown[["encoder", "regime", "unit", "formula", "edit", "old", "new", "premise", "hypothesis",
                                  "shift", "old (sham)", "new (sham)", "shift (sham)"]], wrap=True))

# %% [markdown]
# ## Adversarial pairs
#
# **Which units.** The best-explained units whose formula names a premise noun W un-negated and whose
# explanation W carries: W alone scores at least 80 % of the formula's IoU, or the formula loses at least a
# quarter of its IoU without W. `(hyp:tag:. OR pre:tok:man)`, which the final full stop of almost any
# hypothesis satisfies, is not a test of *man*.
#
# **The generation rule.** `There is a W.` (`There are W.` for a plural) is appended to the premise of
# edit-half probe pairs whose gold label is entailment or contradiction but not the class the unit pushes
# to (its largest output weight). A premise with more information still entails, or still contradicts, the
# same hypothesis, so the gold label stands. The control pair appends a noun of the same tag and nearest
# frequency instead. Only pairs where the formula holds with W and not with the control noun are kept
# (checked on the concept masks).
#
# **What is read, in order:** the unit's activation change (formula pair − control pair, in its probe SDs);
# its own push (the activation change times its weight toward its class less its mean weight toward the
# others); the model's margin toward the unit's class; then the share of predictions of that class and of
# errors. The positive control is a noun chosen for its push toward a class on the search half (among the
# most frequent premise nouns) and measured on the edit half.

# %% tags=["hide-input"]
if len(adversarial):
    display(causal_plots.adversarial_effects(adversarial, encoders, order))
    everything_adv = pd.concat([adversarial, nouns.assign(measure="noun control: " + nouns["measure"])], ignore_index=True)
    display(tables.compact(everything_adv.assign(effect=[
        format_percent(r, True) if r["measure"].endswith(("class predictions", "errors")) else format_sd_shift(r)
        for _, r in everything_adv.iterrows()])[["encoder", "regime", "measure", "pairs", "seeds", "effect"]]))
else:
    display(Markdown("No unit's formula is carried by a premise noun in this build, so no pair was built."))

# %% [markdown]
# The candidate units, and what their premise noun carries (primary models): the formula's IoU, the noun's
# alone and the formula's without it.

# %% tags=["hide-input"]
if len(found["candidates"]):
    cand = named(found["candidates"])
    cand = cand[cand["seed"] == cand["encoder"].map(everything.attrs.get("primary_seeds", {}))]
    display(tables.compact(cand[["encoder", "regime", "unit", "formula", "atom", "formula_iou", "atom_iou", "without_iou",
                                 "carried", "tested"]].round(3), wrap=True))

# %% [markdown]
# ## What survives
#
# The verdicts above are the chapter's answer: a causal reading holds only where its figure clears the
# stated minimum with its interval, the test could have detected that minimum, and its positive control
# was seen. The ablation rankings are compared with random sets drawn from the same model, so a firing-rate
# effect common to all units cancels; formula edits are compared with sham edits of the same pairs, so
# whatever editing an unusual pair does cancels too.
