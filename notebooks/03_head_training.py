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
# # Training the NLI classifiers
#
# One head for every encoder, as in the paper and its source: with *u* = E(premise) and
# *v* = E(hypothesis),
#
# ```text
# [u; v; u − v; u ∗ v]  →  BatchNorm1d  →  Dropout  →  Linear(4d → 1024)  →  ReLU  →  Dropout  →  Linear(1024 → 3)
# ```
#
# This is the layout of Mu & Andreas' MLP (compexp `nli/code/models.py`, shared by their encoders): the
# feature vector is batch-normalised and dropped out before the first linear layer. `input_norm=False`
# removes those two layers (the head this book used before, kept as an option); changing it retrains.
#
# The **1,024 post-ReLU hidden units** are the neurons this book explains. Each encoder's model is trained
# `seeds` times with training seeds `seed`, `seed + 1`, … (initialisation, minibatch order, dropout and
# the held-out slice change; the data and settings do not): the later chapters report every number as
# the mean over these replicates with its spread. The first seed's model is the *primary* one, whose
# neurons {doc}`07_qualitative_neurons`–{doc}`08_firing_regime` look into. Frozen encoders (`clip`,
# `minilm`) train only the head, on cached features; the `lstm` trains end-to-end. Training uses Adam and
# cross-entropy on minibatches and stops early on a held-out slice of the training pairs. Each trained
# model, with its activations and predictions on the probe pairs, is saved under `runs/<profile>/models/`
# and reused by the later chapters; rerunning this chapter with other head parameters retrains the heads
# but never re-encodes.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random; the primary model of each encoder trains with it
seeds: int = 3  # models trained per encoder, with training seeds seed, seed + 1, … (replicates for the error bars)
lstm_seeds: int = 0  # models trained for the LSTM (0: seeds); it trains end to end, the slow part of a run
encoders: list = ["clip", "lstm", "minilm"]  # encoders to train heads for: clip, lstm, minilm
controls: list = ["clip-untrained", "lstm-untrained", "clip-shuffled", "lstm-shuffled", "minilm-shuffled"]  # random-network controls: <encoder>-untrained (random weights, frozen) and <encoder>-shuffled (shuffled training labels)
control_seeds: int = 0  # models per control (0: as many as its encoder)
lstm_shuffled_seeds: int = 1  # models of the shuffled-label LSTM control, which trains end to end (0: as control_seeds gives)
clip_model: str = "ViT-B-32"  # open_clip architecture of the CLIP text tower
clip_weights: str = "openai"  # "openai" (open_clip download), another open_clip tag, a checkpoint path, or "untrained"
clip_sha256: str = ""  # expected SHA-256 of a local checkpoint file (checked before loading)
hidden: int = 1024  # hidden units of the head: the probed neurons
dropout: float = 0.1  # dropout on the head's input (with input_norm) and after the hidden layer
input_norm: bool = True  # BatchNorm1d + Dropout on [u; v; u-v; u*v] before the first Linear (the original's MLP)
lr: float = 0.001  # Adam learning rate
batch_size: int = 128  # pairs per minibatch
max_epochs: int = 20  # epochs at most
lstm_max_epochs: int = 0  # epochs at most for the LSTM, which overfits fast (0: max_epochs)
patience: int = 3  # epochs without a better held-out accuracy before stopping
val_fraction: float = 0.1  # share of the training pairs held out for early stopping
lstm_embedding_dim: int = 300  # LSTM word embedding size
lstm_hidden_dim: int = 512  # LSTM state size
lstm_bidirectional: bool = True  # bidirectional LSTM (the paper); False: the original code's unidirectional one
lstm_max_vocab: int = 0  # LSTM vocabulary: the most frequent training tokens (0: all)
device: str = "auto"  # torch device for encoding, training and probing: auto (CUDA when available, else CPU), cpu, cuda or cuda:N

# %% [markdown]
# The set-up: the pairs and the head's settings.

# %% tags=["hide-input"]
import altair as alt
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, tables
from clipneuron_utils import run
from clipneuron_utils.data import corpus
from clipneuron_utils.data.snli import LABELS
from clipneuron_utils.models.devices import describe_device, resolve_device
from clipneuron_utils.models.heads import HeadConfig, label_ids
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
device = str(resolve_device(device))  # fails here, naming the parameter, if CUDA is asked for and absent
encoders = run.check_encoders(encoders)
controls = run.check_controls(controls, encoders)
config = HeadConfig(hidden=hidden, dropout=dropout, input_norm=input_norm, lr=lr, batch_size=batch_size, max_epochs=max_epochs,
                    lstm_max_epochs=lstm_max_epochs or None,
                    patience=patience, val_fraction=val_fraction, seed=seed,
                    lstm_embedding_dim=lstm_embedding_dim, lstm_hidden_dim=lstm_hidden_dim,
                    lstm_bidirectional=lstm_bidirectional, lstm_max_vocab=lstm_max_vocab or None)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
display(Markdown(f"Data: {pairs.summary}."))

# %% [markdown]
# Train (or reuse) every model of every seed, the random-network controls included.

# %% tags=["nbval-ignore-output", "remove-output"]
models, outputs = {}, {}
for name in encoders + controls:
    models[name], outputs[name] = run.train_model(
        profile, name, pairs.train, pairs.probe, config,
        seeds=run.training_seeds(seed, seeds, lstm_seeds, name, control_seeds, lstm_shuffled_seeds),
        clip_model=clip_model, clip_weights=clip_weights, clip_sha256=clip_sha256, device=device)

# %% [markdown]
# What the chapter shows, from the registry this chapter just wrote: each model's probe accuracy against the
# majority class.

# %% tags=["hide-input"]
summary_registry = run.registry(profile)
majority_share = pairs.probe["label"].value_counts(normalize=True).max()
display(Markdown(":::{admonition} What this chapter shows\n" + "\n".join(
    f"- {summary_registry[name]['label']}: probe accuracy "
    f"{pd.Series([r['probe_accuracy'] for r in summary_registry[name]['seeds'].values()]).mean():.1%} "
    f"(mean of {len(summary_registry[name]['seeds'])} seed(s)), against {majority_share:.1%} for always predicting the "
    "most frequent label." for name in encoders)
    + ("\n- Random-network controls (the same head on a random encoder, or trained on shuffled labels): "
       + "; ".join(f"{name} {pd.Series([r['probe_accuracy'] for r in summary_registry[name]['seeds'].values()]).mean():.1%}"
                   for name in controls) if controls else "") + "\n:::"))

# %% [markdown]
# Where the models were trained, for the provenance list.

# %% tags=["remove-cell"]
from pathlib import Path

from clipneuron_utils.render import provenance
from clipneuron_utils.artifacts import read_json

trained_on = {read_json(Path(record["folder"]) / "model.json").get("trained_on")  # None: made before it was recorded
              for name in encoders for record in run.registry(profile)[name]["seeds"].values()}
trained_elsewhere = sorted(t for t in trained_on if t and t.split(" ")[0].split(":")[0] != device.split(":")[0])
provenance.record(profile, "device (chapter 03_head_training)", {
    "text": f"features encoded, heads trained and probe activations computed on {describe_device(device)}"
            + (f"; models reused from an earlier run were trained on {', '.join(trained_elsewhere)}" if trained_elsewhere else "")})
if "lstm" in encoders:
    lstm = models["lstm"].config
    provenance.record(profile, "encoder lstm", {
        "text": f"LSTM trained end to end in chapter 03_head_training ({'bidirectional' if lstm.lstm_bidirectional else 'unidirectional'}, "
                f"{lstm.lstm_embedding_dim}-d embeddings, {lstm.lstm_hidden_dim}-d states, a {len(models['lstm'].vocab):,}-token "
                f"vocabulary, {len(run.registry(profile)['lstm']['seeds'])} seed(s)); weights: random init, trained here",
    })

# %% [markdown]
# ## Learning curves
#
# Accuracy on the training minibatches and on the held-out slice, per epoch; the kept epoch is the one
# with the best held-out accuracy. The controls (`<encoder>-untrained`, `<encoder>-shuffled`) are
# trained the same way: a head over a frozen random encoder, or on labels shuffled once before training.

# %% tags=["hide-input"]
history = pd.concat([m.history.assign(encoder=name) for name, m in models.items()], ignore_index=True)
curves = history.melt(id_vars=["encoder", "epoch"], value_vars=["train_acc", "val_acc"],
                      var_name="split", value_name="accuracy")
alt.Chart(curves, title="Accuracy per epoch").mark_line(point=True).encode(
    x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
    y=alt.Y("accuracy:Q", scale=alt.Scale(zero=False)),
    color=alt.Color("split:N", title=None),
    facet=alt.Facet("encoder:N", title=None, columns=4),
    tooltip=["encoder", "epoch", "split", alt.Tooltip("accuracy:Q", format=".3f")],
).properties(width=170, height=160)

# %% [markdown]
# ## Accuracy on the probe pairs
#
# "probe accuracy" and "kept epoch" are the primary model's; the next columns are over all its seeds (the
# standard deviation is empty with one seed).

# %% tags=["hide-input"]
gold = label_ids(pairs.probe)
majority = pairs.probe["label"].value_counts(normalize=True).max()
registry = run.registry(profile)
accuracy = pd.DataFrame([
    {"encoder": name, "model": registry[name]["label"],
     "probe accuracy": round(float((outputs[name]["predictions"] == gold).mean()), 4),
     "seeds": len(registry[name]["seeds"]),
     "mean over seeds": round(pd.Series([r["probe_accuracy"] for r in registry[name]["seeds"].values()]).mean(), 4),
     "sd over seeds": round(pd.Series([r["probe_accuracy"] for r in registry[name]["seeds"].values()]).std(), 4),
     "majority class": round(float(majority), 4),
     "kept epoch": int(models[name].best_epoch), "train pairs": len(pairs.train)}
    for name in encoders + controls
])
tables.compact(accuracy.assign(**{c: accuracy[c].map("{:.1%}".format)
                                   for c in ("probe accuracy", "mean over seeds", "majority class")},
                                **{"sd over seeds": accuracy["sd over seeds"].map(lambda v: "—" if pd.isna(v) else f"{v:.3f}")}))

# %% [markdown]
# Why the LSTM may have fewer seeds than the frozen encoders' heads, with its measured cost.

# %% tags=["hide-input"]
counts = {name: len(registry[name]["seeds"]) for name in encoders}
if "lstm" in encoders and counts["lstm"] < max(counts.values()):
    epoch_s = float(models["lstm"].history["seconds"].mean()) if "seconds" in models["lstm"].history else float("nan")
    display(Markdown(
        f"The LSTM was trained with {counts['lstm']} seed(s) and the frozen encoders' heads with {max(counts.values())} "
        f"(`lstm_seeds` = {lstm_seeds}, `seeds` = {seeds}): the LSTM trains end to end, at {epoch_s / 60:.1f} min per "
        f"epoch on this machine over {len(models['lstm'].history)} epochs, so each more seed would add about "
        f"{epoch_s * len(models['lstm'].history) / 60:.0f} min, while a head on cached features takes seconds. "
        "Its numbers in chapter 06_results therefore have no spread over seeds; their intervals resample units only."))

# %% [markdown]
# Each primary model's confusion matrix on the probe pairs, as shares of each gold label.

# %% tags=["hide-input"]
confusion = pd.concat([
    pd.crosstab(pd.Categorical(gold, categories=range(3)), pd.Categorical(outputs[name]["predictions"], categories=range(3)),
                normalize="index", dropna=False)
      .rename(index=dict(enumerate(LABELS)), columns=dict(enumerate(LABELS)))
      .rename_axis(index="gold", columns="predicted").stack().rename("share").reset_index().assign(encoder=name)
    for name in encoders
], ignore_index=True)
base = alt.Chart(confusion, title="Confusion matrices (rows: gold label; shares of each gold label)").encode(
    x=alt.X("predicted:N", sort=list(LABELS)), y=alt.Y("gold:N", sort=list(LABELS)))
(base.mark_rect().encode(color=alt.Color("share:Q", scale=alt.Scale(domain=[0, 1]), title="share"),
                         tooltip=["encoder", "gold", "predicted", alt.Tooltip("share:Q", format=".1%")])
 + base.mark_text().encode(text=alt.Text("share:Q", format=".0%"))
).properties(width=160, height=160).facet(column=alt.Column("encoder:N", title=None))
