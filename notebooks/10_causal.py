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
# inputs, with three tests, each per trained model (the replicate) and pooled over seeds:
#
# 1. **Ablation.** Hold k units at their mean activation over the probe pairs (the book's choice: a unit
#    held at its mean carries no information and shifts the output layer's input least; holding it at zero
#    is shown too) and measure the probe accuracy, overall and per class. The units: the top k by IoU, the
#    top k by excess IoU over the matched null, the bottom k by IoU, and random k (many draws). If
#    well-explained units are dataset heuristics that matter little, ablating them costs less than
#    ablating random units.
# 2. **Faithfulness.** A unit whose formula names a word should respond to that word. Each tested unit's
#    word is swapped in or out of probe pairs by a stated rule, so that only the formula's truth changes
#    (checked on the concept masks), and the unit's activation is measured before and after; the same edits
#    of a word of the same frequency and tag, and of the word of the matched null's formula, are the
#    controls.
# 3. **Adversarial pairs.** For units that push to one class and whose formula names a premise noun, pairs
#    are built from probe pairs of another class so that the formula holds, and the model's errors on them
#    are set against matched controls.
#
# Each runs at the paper's threshold (> 0) and in the firing regime nearest the paper's IoU of {doc}`08_firing_regime`.

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
faithfulness_edits: int = 6  # removals and as many insertions per unit and kind of edit
adversarial_units: int = 4  # units per model and regime that get adversarial pairs (best IoU first)
adversarial_pairs: int = 50  # adversarial pairs per unit
causal_examples: int = 6  # edited and adversarial pairs shown

# %% [markdown]
# The set-up: the pairs, the latest search, its sweep and the models, checked by `run.open_book`; the regimes
# the tests run in; then every intervention on every model and seed (cached under `runs/`).

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import edits, regime
from clipneuron_utils.render import causal_plots, provenance, tables
from clipneuron_utils.render.numbers import format_percent, format_sd_shift
from clipneuron_utils.run import interventions, parameters, regimes
from clipneuron_utils.stats import causal, claims
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
editor = edits.Editor(pairs.probe, book.concepts(vocab_size, "standard", wordnet_mode))
settings = dict(ks=ks, draws=ablation_draws, units=faithfulness_units, edits=faithfulness_edits, length=causal_length,
                adversarial_units=adversarial_units, adversarial_pairs=adversarial_pairs)
found = interventions.run(profile, editor, {m: book.seeds(m) for m in models}, rows, params=settings,
                          search_params=search_params, trained=encoders)

# %% [markdown]
# The interventions pooled over seeds: the ablation curves, each unit's response to its formula's edits, the
# adversarial pairs' rates, and the causal verdicts under their rules.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
def named(frame):
    """The frame with its regime values as the book's labels."""
    return frame.assign(regime=frame["regime"].map({v: k for k, v in labels.items()}))


ablation = causal.pool_rows(named(found["ablation"]), ["encoder", "regime", "mode", "ranking", "k", "class"])
units = causal.unit_faithfulness(named(found["edits"])) if len(found["edits"]) else pd.DataFrame()
shares = causal.faithful_shares(units) if len(units) else causal.figure_frame([], "units")
adv_pairs = interventions.adversarial_pairs(named(found["adversarial"]) if len(found["adversarial"]) else found["adversarial"])
adversarial = causal.adversarial_rates(adv_pairs) if len(adv_pairs) else causal.figure_frame([], "pairs")
effects = causal.shift_effects(units) if len(units) else causal.figure_frame([], "units")
k_main = 64 if 64 in ks else ks[len(ks) // 2]
controls = {e: [c for c in claims.random_networks(e, models, registry).values() if c] for e in encoders}
untestable = {"clip": "CLIP is untrained here: an architecture-only control"} if claims.untrained_clip(registry) else {}
verdicts = causal.card(ablation, effects, adversarial, encoders, {r: r for r in order}, controls, k=k_main,
                             untestable=untestable)


provenance.record_causal(profile, causal.markdown(verdicts, sentences=[
    f"Chapter 10_causal intervenes: it ablates units, edits the words their formulas name, and builds pairs that satisfy "
    f"their formulas (figures pooled over training seeds, 95 % intervals with between-seed variance; k = {k_main})."]))

# %% [markdown]
# What the chapter shows, per encoder and regime, in sentences.

# %% tags=["hide-input"]
lines = []
for encoder in encoders:
    bits = []
    for regime_label in order:
        at = dict(encoder=encoder, regime=regime_label)
        ablated = first_row(ablation, **at, mode="mean", ranking="top excess − random", k=k_main, **{"class": "all"})
        faithful = first_row(shares, **at, measure="faithful")
        null_faithful = first_row(shares, **at, measure="null formula")
        shift = first_row(effects, **at, measure="formula − frequency")
        formula_errors = first_row(adversarial, **at, measure="formula pairs")
        control_errors = first_row(adversarial, **at, measure="control pairs")
        bits.append(f"at {regime_label}: top {k_main} by excess IoU − random {k_main}, accuracy change "
                    f"{format_percent(ablated)}; formula edits move units {format_sd_shift(shift)} further than the "
                    f"frequency control's, faithful units {format_percent(faithful, False)} (null formula "
                    f"{format_percent(null_faithful, False)}); errors on formula pairs {format_percent(formula_errors, False)} "
                    f"against {format_percent(control_errors, False)} on controls")
    lines.append(f"**{encoder}** " + "; ".join(bits) + ".")
tally = claims.counts(verdicts)
lines.append(f"Of {len(verdicts)} causal claim × encoder × regime rows: "
             + ", ".join(f"{count} {verdict}" for verdict, count in tally.items() if count) + ".")
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(f"- {line}" for line in lines) + "\n:::"))

# %% [markdown]
# ## The verdicts
#
# Each causal reading is stated as a claim with a minimum effect, tested with the scorecard's rules
# ({doc}`06_results`): the figure must clear the minimum with its 95 % interval on the stated side of zero.

# %% tags=["hide-input"]
tables.compact(causal.rules_table(), wrap=True)

# %% [markdown]
# The causal verdicts, one row per claim and encoder.

# %% tags=["hide-input"]
tables.compact(verdicts, wrap=True)

# %% [markdown]
# ## Ablation
#
# The change in probe accuracy when k units are held at their mean, per ranking (pooled over seeds, 95 %
# intervals). Random sets are drawn from all units; the rankings use the explained units' formulas of up to
# `causal_length` atoms in each regime (random draws are the same in both).

# %% tags=["hide-input"]
causal_plots.ablation_curves(ablation[(ablation["mode"] == "mean") & (ablation["class"] == "all")], encoders, order)

# %% [markdown]
# The accuracy change at the main k, held at the mean and at zero, for every ranking.

# %% tags=["hide-input"]
wide = ablation[(ablation["k"] == k_main) & (ablation["class"] == "all") & ablation["encoder"].isin(encoders)]
tables.compact(wide.assign(change=[format_percent(r) for _, r in wide.iterrows()])
               .pivot_table(index=["encoder", "regime", "ranking"], columns="mode", values="change", aggfunc="first")
               .reset_index().rename(columns={"mean": f"held at mean (k = {k_main})", "zero": f"held at zero (k = {k_main})"}))

# %% [markdown]
# Per class, held at the mean, at k = the middle of `ablation_ks`: which gold class loses most.

# %% tags=["hide-input"]
per_class = ablation[(ablation["k"] == k_main) & (ablation["mode"] == "mean") & (ablation["class"] != "all")
                     & ablation["encoder"].isin(encoders)]
tables.compact(per_class.assign(change=[format_percent(r) for _, r in per_class.iterrows()])
               .pivot_table(index=["encoder", "regime", "ranking"], columns="class", values="change", aggfunc="first")
               .reset_index())

# %% [markdown]
# The random-network controls (an untrained encoder, a head trained on shuffled labels) go through the same
# ablations; the difference top − random of the trained models is set against theirs in the verdicts (C1).

# %% tags=["hide-input"]
ctrl = ablation[(ablation["ranking"] == "top excess − random") & (ablation["mode"] == "mean") & (ablation["class"] == "all")
                & (ablation["k"] == k_main)]
tables.compact(ctrl.assign(**{f"top {k_main} by excess IoU − random {k_main}": [format_percent(r) for _, r in ctrl.iterrows()]})
               [["encoder", "regime", f"top {k_main} by excess IoU − random {k_main}"]])

# %% [markdown]
# ## Faithfulness: do a unit's formula's words move it?
#
# **The edit rule.** On the side the formula's word W is on, every occurrence of W becomes a vocabulary
# word of W's usual Penn tag that is in neither sentence (*removal*), or a word of that tag that occurs only
# on that side becomes W (*insertion*); text and tokens change together, tags stay. An edit that changes
# any concept other than the two words' (an overlap threshold, a synonym) is dropped, and only edits that
# change the formula's truth are kept. The unit should rise where the formula becomes true and fall where it
# becomes false: the *directed shift* is that change in units of the unit's probe SD.
#
# **The controls.** The same rule applied to a word of the same tag whose concept holds on the closest
# number of probe pairs, in the same formula (*frequency control*), and to the word of the matched null's
# formula (the best formula of a random mask with the unit's firing count). A unit is **faithful** when
# its formula's edits move it the predicted way by at least 0.1 SD more than the frequency control's (a
# one-sided Welch test at 5 %); the null formula's edits go through the same test, which gives the rate at
# which the criterion passes where nothing is there to find. The verdict (C2) uses every tested unit: the
# mean over units of how much further the formula's edits move a unit than the frequency control's, pooled
# over seeds, with the null formula's edits as its control.

# %% tags=["hide-input"]
if len(shares):
    display(causal_plots.faithful_shares(shares, encoders, order))
    display(tables.compact(shares.assign(share=[format_percent(r, r["measure"] == "faithful − null formula")
                                                for _, r in shares.iterrows()])
                           [["encoder", "regime", "measure", "units", "share"]]))
else:
    display(Markdown("No unit's formula names a word in this build, so no edit could be made."))

# %% [markdown]
# How many tested units have a null formula that names a word.

# %% tags=["hide-input"]
if len(units):
    counts = units.groupby(["encoder", "regime"], sort=False).agg(tested=("faithful", lambda x: int(x.notna().sum())),
                                                                 null=("null_faithful", lambda x: int(x.notna().sum())))
    display(Markdown("Units whose matched null's formula names a word (so that its edits can be made), of the units "
                     "tested: " + "; ".join(f"{e} at {r}: {c['null']} of {c['tested']}" for (e, r), c in counts.iterrows())
                     + f". Where a model has fewer than {causal.MIN_UNITS} per seed, the null's share, and C2 with "
                     "it, cannot be computed."))

# %% [markdown]
# The shifts per unit: the formula's edits, the frequency control's and the null formula's.

# %% tags=["hide-input"]
if len(units):
    summary = units.groupby(["encoder", "regime"], sort=False).agg(
        tested=("faithful", lambda x: int(x.notna().sum())), formula_shift=("formula_shift", "mean"),
        frequency_shift=("frequency_shift", "mean"), null_shift=("null_shift", "mean"),
        moved_predicted_way=("moved", "mean")).reset_index()
    display(tables.compact(effects.assign(shift=[format_sd_shift(r) for _, r in effects.iterrows()])
                           [["encoder", "regime", "measure", "units", "seeds", "shift"]]))
    display(tables.compact(summary.rename(columns={
        "formula_shift": "mean shift, formula (SD)", "frequency_shift": "mean shift, frequency control (SD)",
        "null_shift": "mean shift, null formula (SD)", "moved_predicted_way": "formula edits moving it the predicted way"})))

# %% [markdown]
# Examples: edited pairs of faithful units of the primary models (the edited side shown), with the unit's
# activation before and after.

# %% tags=["hide-input"]
if len(units):
    primary = everything.attrs.get("primary_seeds", {})
    edits_named = named(found["edits"])
    good = units[units["faithful"].eq(True) & (units["seed"] == units["encoder"].map(primary))]
    shown = (edits_named[edits_named["kind"].eq("formula")]
             .merge(good[["encoder", "seed", "regime", "unit"]], on=["encoder", "seed", "regime", "unit"])
             .sort_values("shift", ascending=False).groupby("encoder", sort=False).head(max(1, causal_examples // 3)))
    display(tables.compact(shown[["encoder", "regime", "unit", "formula", "edit", "old", "new", "premise", "hypothesis",
                                  "before", "after"]], wrap=True))

# %% [markdown]
# ## Adversarial pairs
#
# **The generation rule.** For the best-explained units whose formula names a premise noun W un-negated,
# `There is a W.` (`There are W.` for a plural) is appended to the premise of probe pairs whose gold label
# is entailment or contradiction but not the class the unit pushes to (its largest output weight). A
# premise with more information still entails, or still contradicts, the same hypothesis, so the gold label
# stands. The control pair appends a noun of the same tag and nearest frequency instead. Only pairs where
# the formula holds with W and not with the control noun are kept (checked on the concept masks).

# %% tags=["hide-input"]
if len(adversarial):
    display(causal_plots.adversarial_rates(adversarial, encoders, order))
    display(tables.compact(adversarial.assign(rate=[format_percent(r, r["measure"] == "formula − control")
                                                    for _, r in adversarial.iterrows()])
                           [["encoder", "regime", "measure", "pairs", "rate"]]))
else:
    display(Markdown("No unit's formula names a premise noun un-negated in this build, so no pair was built."))

# %% [markdown]
# Adversarial pairs the model got wrong, with the unit that was meant to push it.

# %% tags=["hide-input"]
if len(found["adversarial"]):
    adv = named(found["adversarial"])
    wrong = adv[(adv["kind"] == "formula") & (adv["predicted"] != adv["gold"])]
    display(tables.compact(wrong.groupby("encoder", sort=False).head(max(1, causal_examples // 3))
                           [["encoder", "unit", "formula", "pushed", "premise", "hypothesis", "gold", "predicted"]],
                           wrap=True))

# %% [markdown]
# ## What survives
#
# The verdicts above are the chapter's answer: a causal reading holds only where its figure clears the
# stated minimum with its interval. The faithfulness test is one-sided against a frequency-matched control,
# so a share near the null formula's is what a unit that ignores its formula's words would give; the
# ablation rankings are compared with random sets drawn from the same model, so a firing-rate effect common
# to all units cancels.
