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
# # Sentence encoders
#
# Every classifier of this book shares one head ({doc}`03_head_training`) and differs in its sentence encoder *E*:
#
# - **`clip`** — the text tower of CLIP {cite}`radford2021clip` (ViT-B/32 with OpenAI's weights in the
#   paper), frozen. With `clip_weights="untrained"` it is a randomly initialised tower of the same
#   architecture: an *architecture-only control*, not CLIP.
# - **`lstm`** — the sentence encoder of {cite}`bowman2016fast` that Mu & Andreas probed: word
#   embeddings (300) → LSTM (512, bidirectional as the paper says) → final state, trained end-to-end
#   with the head.
# - **`minilm`** — all-MiniLM-L6-v2 {cite}`reimers2019sbert`, frozen: a pretrained language model
#   beyond the paper (its future work asks for other pretrained models).
#
# Frozen encoders run once per sentence and their features are cached on disk, keyed by the encoder's
# identity and the exact sentences, so later reruns never re-encode.

# %% tags=["parameters"]
profile: str = "paper"  # parameter profile; artifacts go under runs/<profile>/
data_source: str = "snli"  # "snli" (official files) or "synthetic" (embedded smoke data)
data_dir: str = ""  # SNLI folder; empty: $CLIPNEURON_DATA, else ./data/snli
train_splits: list = ["train"]  # SNLI splits the classifier heads train on
probe_split: str = "dev"  # SNLI split whose labelled pairs the neurons are probed on
n_synthetic_train: int = 600  # synthetic train pairs (synthetic data source only)
n_synthetic_probe: int = 300  # synthetic probe pairs (synthetic data source only)
seed: int = 0  # seed of everything random
encoders: list = ["clip", "lstm", "minilm"]  # encoders to train heads for: clip, lstm, minilm
clip_model: str = "ViT-B-32"  # open_clip architecture of the CLIP text tower
clip_weights: str = "openai"  # "openai" (open_clip download), another open_clip tag, a checkpoint path, or "untrained"
clip_sha256: str = ""  # expected SHA-256 of a local checkpoint file (checked before loading)
benchmark_sentences: int = 512  # probe sentences for the throughput table
device: str = "auto"  # torch device for the encoders: auto (CUDA when available, else CPU), cpu, cuda or cuda:N

# %% [markdown]
# The set-up: the pairs, and each frozen encoder built as the chapters after this one use it.

# %% tags=["hide-input", "remove-output"]
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from clipneuron_utils.render import charts, provenance, tables
from clipneuron_utils import run
from clipneuron_utils.models import devices, encoders as enc
from clipneuron_utils.models.clip import clip_truncation
from clipneuron_utils.data import corpus
from clipneuron_utils.models.heads import HeadConfig
from clipneuron_utils.seeding import seed_everything

charts.enable()
pd.set_option("display.max_colwidth", 120)  # provenance strings are long and must not be cut
seed_everything(seed)
device = str(devices.resolve_device(device))  # fails here, naming the parameter, if CUDA is asked for and absent
encoders = run.check_encoders(encoders)
pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                          n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
frozen = {name: enc.make_encoder(name, device=device, **run.encoder_params(name, clip_model, clip_weights,
                                                                                  clip_sha256))
          for name in encoders if name != "lstm"}

# %% [markdown]
# ## What each encoder is

# %% tags=["hide-input"]
rows = [encoder.describe() for encoder in frozen.values()]
if "lstm" in encoders:
    lstm = HeadConfig()
    rows.append({"encoder": "lstm", "name": "LSTM sentence encoder (Bowman et al. 2016)",
                 "architecture": f"embeddings {lstm.lstm_embedding_dim} → LSTM {lstm.lstm_hidden_dim} "
                                 f"({'bi' if lstm.lstm_bidirectional else 'uni'}directional), final state",
                 "weights": "trained end-to-end with the head (chapter 03_head_training; its sizes are chapter 03_head_training's parameters)"})
description = pd.DataFrame(rows).set_index("encoder").T.fillna("").astype(str)
tables.compact(description.rename_axis(""), keep_index=True, wrap=True)

# %% [markdown]
# A warning where CLIP is the untrained, architecture-only control.

# %% tags=["hide-input"]
for name, encoder in frozen.items():
    if getattr(encoder, "kind", "") == "untrained":
        display(Markdown(
            f":::{{warning}} `{name}` is **untrained**\n{encoder.name}: the CLIP architecture with random "
            "weights. Its neurons say what the architecture and the head learn on their own, not what CLIP "
            "learned from images and captions. Pass `-p clip_weights=openai` (with internet, or a populated "
            "open_clip cache) or a checkpoint path with `-p clip_sha256=...` for the paper's model.\n:::"))
    provenance.record(profile, f"encoder {name}", {
        "text": f"{encoder.name}; weights: {encoder.describe()['weights']}",
        "warning": provenance.encoder_warning(encoder.name, getattr(encoder, "kind", "")),
    })
provenance.record(profile, "device (chapter 02_encoders)", {"text": f"the frozen encoders ran on {devices.describe_device(device)}"})

# %% [markdown]
# ## Encoding throughput
#
# CLIP's text tower is causal and pools at the end-of-text token, so a sentence's features do not depend on
# the padding after it. We therefore sort sentences by length and cut each batch to its longest real
# sequence instead of CLIP's 77-token context; the table compares that with
# `model.encode_text(tokenizer(texts))` on the same probe sentences.

# %% tags=["nbval-ignore-output", "hide-input"]
sentences = list(dict.fromkeys(list(pairs.probe.premise) + list(pairs.probe.hypothesis)))[:benchmark_sentences]
throughput = pd.DataFrame([enc.compare_with_encode_text(encoder, sentences) for encoder in frozen.values()])
tables.compact(throughput)

# %% [markdown]
# How closely the fast encoding agrees with open_clip's own `encode_text`.

# %% tags=["nbval-ignore-output", "hide-input"]
if "clip" in frozen:
    agree = throughput.loc[throughput.encoder == "clip", "max_abs_difference"].iloc[0]
    display(Markdown(f"Largest absolute difference between the two CLIP encodings: {agree:.1e} "
                     f"({'within' if agree <= 1e-5 else 'ABOVE'} the 1e-5 tolerance; the unit tests assert it)."))

# %% [markdown]
# ## Sentences longer than CLIP's context
#
# CLIP reads at most its context length of tokens (77, counting its start and end tokens) and cuts the
# rest: two premises that differ only after that point get the same features. The table counts the
# sentences of this run that CLIP cuts.

# %% tags=["hide-input"]
if "clip" in frozen:
    all_sentences = list(dict.fromkeys([*pairs.train.premise, *pairs.train.hypothesis,
                                        *pairs.probe.premise, *pairs.probe.hypothesis]))
    cut = clip_truncation(frozen["clip"], all_sentences)
    display(Markdown(
        f"CLIP's context holds {cut['context_length']} tokens; the longest of the {cut['n_sentences']:,} distinct "
        f"sentences of this run has {cut['longest_tokens']} tokens, and **{cut['n_truncated']:,}** "
        f"({100 * cut['n_truncated'] / max(cut['n_sentences'], 1):.2g} %) are cut."))
    if cut["examples"]:
        display(tables.compact(pd.DataFrame(cut["examples"]).rename(columns={"tokens": "CLIP tokens"}), wrap=True))

# %% [markdown]
# ## A sanity check: similar sentences, similar features
#
# Cosine similarity of a few sentence pairs. A trained encoder puts paraphrases closer than unrelated
# sentences; an untrained one need not.

# %% tags=["hide-input"]
probes = [
    ("A man is playing a guitar.", "A person plays an instrument."),
    ("A dog runs in the park.", "A puppy is running on the grass."),
    ("A man is playing a guitar.", "Two women are eating lunch."),
    ("A dog runs in the park.", "The stock market fell sharply."),
]
similarity = pd.DataFrame({"sentence A": [a for a, _ in probes], "sentence B": [b for _, b in probes],
                           "relation": ["related", "related", "unrelated", "unrelated"]})
for name, encoder in frozen.items():
    a = encoder.encode([a for a, _ in probes], progress=False)
    b = encoder.encode([b for _, b in probes], progress=False)
    similarity[name] = np.round((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1), 3)
tables.compact(similarity)
