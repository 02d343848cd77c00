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
# # Heuristics or artifacts?
#
# At sparse thresholds the best-explained units are lexical, and the words they name are often the ones the
# NLI literature knows as SNLI's **annotation artifacts**: hypothesis words that predict the label without
# the premise ({cite}`gururangan2018annotation`; {cite}`poliak2018hypothesis`). The paper reads its unit 870
# as one that "learns a simple heuristic that can effectively predict contradictions" (§5.3). This chapter
# asks how many explained units are artifact detectors, and whether what they carry is the premise–hypothesis
# relation or the hypothesis alone.
#
# 1. **Artifact words, from the data.** Each class's hypothesis words ranked by PMI with the class on the
#    training pairs, with add-k smoothing as Gururangan et al. define it.
# 2. **Hypothesis-only baselines.** For each frozen encoder, a head of the same design as
#    {doc}`03_head_training`'s trained with the premise slot holding the empty sentence: it sees the
#    hypothesis alone. The probe pairs it gets right are the *easy* pairs; the others are the *hard* pairs,
#    as Gururangan et al. split SNLI's test set.
# 3. **Two tests**, per trained model (the replicate) and pooled over seeds, judged by {doc}`10_causal`'s rule
#    (a minimum effect, a positive control that must be detected, the MDE, and random networks):
#    - **H1**: a unit is an *artifact detector* when its formula names, un-negated on the hypothesis side,
#      an artifact word of the class it pushes to (its largest output weight). Is their share above what the
#      formulas' own words give when the units' classes are shuffled among them?
#    - **H2**: held at their mean, do the detectors cost the model's gold margin more on the easy pairs than
#      on the hard ones, against random explained units of the same classes?

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
wordnet_mode: str = "exact"  # WordNet synonyms, as in chapters 04_concepts–05_search (the formulas read here use the standard concepts)
pmi_smoothing: float = 100.0  # k of the add-k smoothed PMI (Gururangan et al.'s 100)
pmi_min_count: int = 10  # a hypothesis word in fewer training pairs is not ranked
artifact_top: int = 10  # artifact words per class
baseline_seeds: int = 3  # hypothesis-only heads per frozen encoder (training seeds seed, seed + 1, …; 0: as many as the encoder's models)
artifact_alphas: list = [0.05]  # firing regimes of the sweep tested besides > 0 (each unit firing on its top α of probe pairs)
permutation_draws: int = 200  # class shuffles per model and regime (H1's control)
random_sets: int = 20  # random unit sets of the detectors' classes per model and regime (H2's baseline)
n_cards: int = 3  # artifact-detector units shown as cards

# %% [markdown]
# The set-up: the pairs, the latest search and its sweep, the models, checked by `run.open_book`; the regimes
# tested; the artifact words.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import run
from clipneuron_utils.explain import regime
from clipneuron_utils.models.heads import label_ids
from clipneuron_utils.render import artifact_plots, cards, provenance, tables
from clipneuron_utils.run import artifact_tests, hypothesis_only, parameters, regimes
from clipneuron_utils.stats import annotation_artifacts, artifact_effects, claims, reported

book = run.open_book(profile, data_source, train_splits, probe_split, data_dir, n_synthetic_train, n_synthetic_probe,
                     seed=seed, seeds=seeds, lstm_seeds=lstm_seeds, control_seeds=control_seeds,
                     lstm_shuffled_seeds=lstm_shuffled_seeds, vocab_size=vocab_size, wordnet_mode=wordnet_mode,
                     need_sweep=bool(artifact_alphas))
pairs, everything, swept, registry = book.pairs, book.search, book.sweep, book.registry
models, encoders = book.models, book.encoders
tested_alphas = parameters.check_artifact_alphas(artifact_alphas, book.sweep_params.get("activation_alphas", []))
top = int((book.sweep_params if artifact_alphas else book.search_params)["max_length"])  # one formula length for every regime
pmi = annotation_artifacts.hypothesis_pmi(pairs.train, k=pmi_smoothing, min_count=pmi_min_count)
artifacts = annotation_artifacts.artifact_words(pmi, artifact_top)

# %% [markdown]
# The hypothesis-only baselines of the frozen encoders (trained once, cached under `runs/`), the easy and hard
# probe pairs they give, and the check against the official hard split where the data folder has it.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
frozen = [e for e in encoders if e != "lstm"]
baselines = {e: hypothesis_only.baseline_predictions(profile, e, pairs, book.seeds(e)[:baseline_seeds or None])
             for e in frozen}
untrained_clip = claims.untrained_clip(registry)
deciding = [e for e in frozen if not (e == "clip" and untrained_clip)] or frozen  # an untrained CLIP's head is a control
easy = hypothesis_only.easy_pairs(pd.concat([baselines[e] for e in deciding]), len(pairs.probe)) if deciding else None
check, check_note = hypothesis_only.official_split_check(profile, pairs, deciding, data_source, data_dir, seed=seed)
accuracy = hypothesis_only.accuracy_table(book, baselines, easy)
majority = float(pd.Series(label_ids(pairs.probe)).value_counts(normalize=True).max())

# %% [markdown]
# The two tests on every model, regime and seed (controls included), pooled over seeds and judged.

# %% tags=["hide-input", "remove-output", "nbval-ignore-output"]
labels = {regime.label(0.0): everything[everything["max_length"] <= top]}
labels.update({regime.label(a): regimes.at(swept, a) for a in tested_alphas})  # densest first: the last is the sparsest
order = list(labels)
rows = pd.concat([frame.assign(regime=label) for label, frame in labels.items()], ignore_index=True)
rows = rows[(rows["encoding"] == "standard") & (rows["max_length"] == top)]
units, shares, ablation = artifact_tests.run(book, artifact_tests.explained_units(rows, book.weights), artifacts, easy,
                                             draws=permutation_draws, sets=random_sets, seed=seed)
controls = {e: [c for c in claims.random_networks(e, models, registry).values() if c] for e in encoders}
untestable = {"clip": "CLIP is untrained here: an architecture-only control"} if untrained_clip else {}
figures = {"H1": artifact_effects.pooled(shares)}
if len(ablation):
    figures["H2"] = artifact_effects.pooled(ablation)
verdicts = artifact_effects.verdicts(figures, encoders, order, controls, untestable,
                                    reasons={"H2": "no hypothesis-only baseline: no frozen encoder"} if easy is None else {})



def verdict_of(key, encoder, label):
    sel = verdicts[(verdicts["id"] == key) & (verdicts["encoder"] == encoder) & (verdicts["regime"] == label)]
    return sel.iloc[0] if len(sel) else None


# %% [markdown]
# ## What this chapter shows

# %% tags=["hide-input"]
lines = ["- **Artifact words** (top by PMI, k = {:g}, in ≥ {} training pairs): ".format(pmi_smoothing, pmi_min_count)
         + "; ".join(f"{c}: *{', '.join(w[:5])}*" for c, w in artifacts.items()) + "."]
for e in frozen:
    b = baselines[e]
    acc = (b["predicted"] == b["gold"]).groupby(b["seed"]).mean()
    lines.append(f"- **{registry[e]['label']}, hypothesis only**: {acc.mean():.1%} of probe pairs right (mean of "
                 f"{len(acc)} seed{'s' if len(acc) != 1 else ''}; the majority class is {majority:.1%}).")
if easy is not None:
    lines.append(f"- **Hard pairs**: {int((~easy).sum()):,} of {len(easy):,} probe pairs ({(~easy).mean():.0%}), those the "
                 f"hypothesis-only heads of {', '.join(deciding)} do not get right in a majority of their models (a tie is hard).")
lines.append("- **H1** (share of explained units that are artifact detectors − the share with classes shuffled) and "
             "**H2** (margin loss on easy − on hard pairs with the detectors held, − with random units of their "
             "classes; probe SDs), pooled over seeds with 95 % intervals:")
for key in artifact_effects.CLAIMS:
    for e in encoders:
        if e in untestable:
            continue
        cells = [f"{label}: {v['this build']} (**{v['verdict']}**)" for label in order
                 if (v := verdict_of(key, e, label)) is not None]
        if cells:
            lines.append(f"  - **{key}, {e}**: " + "; ".join(cells) + ".")
if untestable:
    lines.append("- CLIP is untrained in this build: its figures are a random-network control of the other encoders.")
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(lines) + "\n:::"))

# %% [markdown]
# ## The artifact words
#
# For each class c and hypothesis word w of the training pairs (lowercased, once per hypothesis; a word in
# fewer than `pmi_min_count` pairs is not ranked):
# PMI(w, c) = log p(w | c) − log p(w), with p(w | c) = (n(w, c) + k) / (n(c) + k·|V|) and
# p(w) = (n(w) + k·|C|) / (N + k·|V|·|C|). The large k keeps a word seen in a handful of pairs from topping
# the list. *in class* counts the class's hypotheses holding the word, *in all* every class's.
# The last column is Gururangan et al.'s top 5 for the class (their Table 4, from the full training set).

# %% tags=["hide-input"]
table = pmi.groupby("label", observed=True, sort=False).head(artifact_top).rename(
    columns={"label": "class", "count": "in class", "total": "in all", "pmi": "PMI"})
table = table.assign(rank=table.groupby("class", observed=True).cumcount() + 1)
wide = table.assign(cell=[f"{w} ({n:,}/{t:,})" for w, n, t in zip(table["word"], table["in class"], table["in all"])]).pivot(
    index="rank", columns="class", values="cell")
wide.columns = [str(c) for c in wide.columns]
display(tables.compact(wide.reset_index(), caption="each class's artifact words (in class / in all training pairs)"))
display(tables.compact(pd.DataFrame([{"class": c, "this build's top 5": ", ".join(artifacts[c][:5]),
                                      "Gururangan et al.'s top 5": ", ".join(w),
                                      "shared": ", ".join(sorted(set(artifacts[c]) & set(w))) or "none"}
                                     for c, w in reported.GURURANGAN_WORDS.items()])))

# %% [markdown]
# ## Hypothesis-only baselines
#
# Each frozen encoder's hypothesis-only head has the design and the training pairs of its full model, and the
# first `baseline_seeds` of its seeds, with the empty sentence in the premise slot of every pair, so the head's input holds nothing of the
# premise. The LSTM trains end to end (12–16 minutes per model on 2 cores for the offline build) and has no
# baseline here. Gururangan et al.'s fastText classifier, trained on the full training set, got "about 67%"
# of SNLI's test set right. Accuracies are pooled over seeds (95 % intervals); *easy* and *hard* pairs are
# defined by the heads named in the box above.

# %% tags=["hide-input"]
display(tables.compact(accuracy, wrap=True))

# %% [markdown]
# **How far the hard-pair rule is from the official split.** The official `test_hard` file holds the test pairs
# Gururangan et al.'s classifier got wrong. The same rule with a head of this design (seed `seed`), trained on
# the training pairs less SNLI's test split (held out, as theirs held it out), is applied to the test split:
# *precision* is the share of its hard pairs that are officially hard, *recall* the share of official hard
# pairs it finds. Its head learns from far fewer pairs than theirs where the build trains on a sample.

# %% tags=["hide-input"]
if check is not None:
    display(tables.compact(check.rename(columns={"encoder": "head", "accuracy": "accuracy on test"}), digits=3))
else:
    display(Markdown(f"Not checked: {check_note}."))

# %% [markdown]
# ## Which units are artifact detectors (H1)
#
# Per model, regime and seed, the share of explained units (at the sweep's longest formulas, standard
# concepts) whose formula names an artifact word of the class they push to, against the share when the units'
# classes are shuffled among them (the formulas and the count of each class kept: what the formulas' word
# frequencies give by chance). Random networks (an untrained encoder, a head trained on shuffled labels) run
# the same test. A unit pushes to the class of its largest output weight: the softmax reads only differences
# between logits, so firing raises that class's odds against the others even where every weight is negative.

# %% tags=["hide-input"]
artifact_plots.detector_shares(shares)

# %% [markdown]
# The same per model and regime: explained units, detectors, their share and the control's (means over seeds).

# %% tags=["hide-input"]
per_model = shares.groupby(["encoder", "regime"], sort=False).agg(
    seeds=("seed", "count"), units=("units", "mean"), detectors=("detectors", "mean"), share=("share", "mean"),
    control=("null", "mean")).reset_index()
display(tables.compact(per_model, digits=3, caption="mean over seeds: explained units, detectors, their share and the control's"))

# %% [markdown]
# ## Do they carry the easy pairs? (H2)
#
# The output layer is linear in the units, so holding a set of them at their mean over the probe pairs changes
# every pair's gold margin (the gold logit less the mean of the other two; in probe SDs) exactly. The figure is
# the loss on easy pairs less the loss on hard pairs when the detectors are held, less the same for random
# explained units with the detectors' classes (the mean of `random_sets` draws). The positive control holds as
# many explained units, those whose exact contribution to the margin is largest on easy pairs relative to
# hard ones: no set of that size can show more.

# %% tags=["hide-input"]
if len(ablation):
    display(artifact_plots.easy_hard_losses(ablation))
    shown = ablation.groupby(["encoder", "regime"], sort=False)[
        ["detectors", "accuracy easy", "accuracy hard", "random accuracy easy", "random accuracy hard"]].mean().reset_index()
    display(tables.compact(shown, digits=3, caption="accuracy change (points) on easy and hard pairs, mean over seeds"))
else:
    display(Markdown("No model has an artifact detector and a hypothesis-only baseline in this build."))

# %% [markdown]
# ## The verdicts
#
# Each figure against its minimum (a tenth of its positive control's, as {doc}`10_causal`'s C1k), its MDE
# (80 % power), its positive control and the random networks' same figure. A random network that shows the
# effect makes the verdict *holds, as in a random network* unless the trained model's figure is significantly
# larger (the note gives the difference).

# %% tags=["hide-input"]
display(tables.compact(artifact_effects.rules_table(), wrap=True))
display(tables.compact(verdicts, wrap=True))

# %% [markdown]
# For the first page: these verdicts, and whether the units of the paper's unit-870 pattern (claim A10,
# `pre:tok:W AND NOT hyp:tok:W` pushing to contradiction) at each regime are artifact detectors.

# %% tags=["hide-input"]
a10 = []
for label, frame in labels.items():
    found = claims.unit_patterns(frame[frame["encoder"].isin(encoders)], book.weights)
    formulas_found = found.loc[found["missing_word_contradiction"].astype(bool), "formula"]
    a10.append(f"At {label}, unit-870 units: " + (annotation_artifacts.unit_870_note(formulas_found, artifacts) or "none") + ".")
section = artifact_effects.markdown(verdicts, sentences=[
    "H1: the share of explained units whose formula names an artifact word of their class, less its class-shuffle "
    "control; H2: the margin they carry on the pairs a hypothesis-only model gets right, less on the hard ones, "
    "against random units of their classes (probe SDs); from chapter 11_artifacts.", *a10])
provenance.record_artifacts(profile, section)
display(Markdown("\n".join(f"- {line}" for line in a10)))

# %% [markdown]
# ## Artifact detectors, up close
#
# The primary models' best-explained artifact detectors at the sparsest tested regime (one word each): the
# formula at that regime, what the unit votes for, its top-activating probe pairs and the conditional
# probability of its formula's concepts over its whole activation range.

# %% tags=["hide-input"]
sparse = order[-1]
primary = everything.attrs.get("primary_seeds", {})
shown_encoders = [e for e in encoders if e not in untestable]
per_encoder = -(-n_cards // max(1, len(shown_encoders)))  # the cards shared among the trained encoders
chosen = pd.concat([annotation_artifacts.unit_examples(
    units[(units["regime"] == sparse) & units["detector"] & (units["encoder"] == e) & (units["seed"] == primary.get(e))],
    artifacts, per_encoder) for e in shown_encoders] or [pd.DataFrame(columns=[*units.columns, "words"])],
    ignore_index=True).head(n_cards)
concepts = book.concepts(vocab_size, "standard", wordnet_mode)
for _, unit in chosen.iterrows():
    outputs = run.probe_outputs(profile, unit["encoder"], pairs.probe, seed=int(unit["seed"]))
    display(Markdown(f"**{unit['encoder']} unit {int(unit['neuron'])}**: an artifact detector of *{unit['pushed']}* "
                     f"({', '.join(sorted(unit['words']))}); excess IoU {unit['excess_iou']:+.3f} at {sparse}."))
    at = labels[sparse]
    cards.neuron_card(unit["encoder"], int(unit["neuron"]), at[at["seed"] == unit["seed"]], outputs["activations"], pairs.probe,
                      outputs["predictions"], concepts, book.weights[unit["encoder"], int(unit["seed"])],
                      max_length=top).show()
if not len(chosen):
    display(Markdown("No trained model's primary seed has an artifact detector at this regime."))

# %% [markdown]
# ## What survives
#
# H1 asks whether the units' formulas name their class's artifact words more often than chance; H2 whether the
# units that do carry what a hypothesis-only model can do. Where both hold, those units are heuristics over
# the hypothesis: their explanations are faithful to SNLI's artifacts rather than to the premise–hypothesis
# relation. The unit-870 pattern of the paper (claim A10, `pre:tok:W AND NOT hyp:tok:W`) names a word's
# *absence* from the hypothesis, not a hypothesis word, so by this definition its units are never artifact
# detectors; {doc}`06_results`' scorecard says so in A10's note.
