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
# # 6. Results: the paper's two questions
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
# Every number below was computed by this run (chapters 3 and 5); the paper's figures are quoted beside
# them.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random
plot_lengths: list = [1, 2]  # formula lengths shown in the accuracy-vs-IoU figure (the paper's: 1 and 2)
alpha: float = 0.05  # significance level of the correlation tests

# %%
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils import analysis, charts, corpus, experiment, plots, provenance, reported
from clipneuron_utils.seeding import seed_everything

charts.enable()
seed_everything(seed)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
results = experiment.latest_search(profile, pairs)  # checked: made from this data and these models
search_params = results.attrs.get("params", {})
encoders = list(dict.fromkeys(results["encoder"]))
registry = experiment.registry(profile)

# %%
lines = [f"- {registry[name]['label']}: probe accuracy {registry[name]['probe_accuracy']:.1%}" for name in encoders]
display(Markdown(
    ":::{important} What these results come from\n"
    f"{pairs.summary}. Models:\n\n" + "\n".join(lines) + "\n\n"
    f"Search: max length {search_params.get('max_length')}, beam {search_params.get('beam_size')}, "
    f"units explained when they fire on at least {search_params.get('min_acts')} probe pairs.\n"
    + "".join(f"\n**Note:** {w}\n" for w in [provenance.data_warning(data_source, train_splits),
                                             *(registry[name].get("warning") for name in encoders)] if w)
    + ":::"
))

# %% tags=["nbval-ignore-output"]
accuracy = experiment.firing_accuracy(profile, pairs.probe, encoders, search_params.get("activation_alpha", 0.0))
scored = analysis.attach_accuracy(results, accuracy)

# %% [markdown]
# ## 1. Do neurons learn compositional concepts?
#
# Mean best IoU over the explained units, by the maximum formula length allowed (1 = single concepts).

# %%
by_length = analysis.mean_iou_by_length(scored)
by_length.pivot_table(index=["encoder", "encoding"], columns="max_length", values="mean_iou").round(4)

# %%
plots.mean_iou_by_length(by_length)


# %%
def mean_iou(encoder, encoding, length):
    row = by_length[(by_length.encoder == encoder) & (by_length.encoding == encoding) & (by_length.max_length == length)]
    return float(row["mean_iou"].iloc[0]) if len(row) else float("nan")


sentences = []
top = int(by_length["max_length"].max())
for name in encoders:
    first, last = mean_iou(name, "standard", 1), mean_iou(name, "standard", top)
    sentences.append(f"- **{registry[name]['label']}**: mean IoU {first:.3f} at length 1, "
                     f"{mean_iou(name, 'standard', 2):.3f} at length 2 and {last:.3f} at length {top} "
                     f"({'+' if last >= first else ''}{last - first:.3f}).")
clip_note = ""
if "clip" in encoders:
    clip_note = (f"\n\nThe paper reported {reported.PAPER_MEAN_IOU_CLIP[1]} at length 1 and "
                 f"{reported.PAPER_MEAN_IOU_CLIP[2]} at length 2 for CLIP; this run's CLIP gives "
                 f"{mean_iou('clip', 'standard', 1):.3f} and {mean_iou('clip', 'standard', 2):.3f}.")
display(Markdown("With the standard concepts:\n\n" + "\n".join(sentences) + clip_note
                 + f"\n\nFor comparison, {reported.MU_ANDREAS_NLI}."))

# %% [markdown]
# ### What the best formulas are made of

# %%
kinds = analysis.formula_kinds(scored[scored["max_length"] == top])
kinds

# %% [markdown]
# ### The WordNet encoding
#
# Per unit, the best IoU with WordNet-expanded token concepts minus the best IoU with the standard ones,
# over units explained under both.

# %%
difference = analysis.encoding_difference(scored)
difference

# %%
if len(difference):
    at1 = difference[difference["max_length"] == 1]
    parts = [f"{row.encoder}: {row.mean_difference:+.4f} (n = {row.n})" for row in at1.itertuples()]
    display(Markdown(
        f"At length 1 the WordNet encoding changes the mean per-unit IoU by " + "; ".join(parts)
        + f". The paper reported a mean difference of {reported.PAPER_WORDNET_DIFFERENCE} for CLIP."))

# %% [markdown]
# ## 2. Do interpretable neurons contribute to accuracy?
#
# For each encoder × concept encoding × formula length: Pearson and Spearman correlation between a unit's
# best IoU and its accuracy when firing, over the explained units (the paper's Figures 4 and 5).

# %%
correlations = analysis.iou_accuracy_correlation(scored)
correlations.round(4)

# %%
shown = scored[scored["max_length"].isin(plot_lengths)]
plots.acc_vs_iou(shown, correlations[correlations["max_length"].isin(plot_lengths)])

# %%
lines = []
for row in correlations[(correlations.encoding == "standard") & correlations.max_length.isin([1, 2])].itertuples():
    lines.append(f"- {row.encoder}, length {row.max_length}: "
                 f"{reported.correlation_phrase(row.pearson_r, row.pearson_p, row.n, alpha)}")
display(Markdown(
    "Pearson correlation of best IoU with accuracy when firing (standard concepts):\n\n" + "\n".join(lines)
    + f"\n\nThe paper found the correlation {reported.PAPER_CORRELATION}."))
