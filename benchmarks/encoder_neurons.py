"""What the encoders' own neurons (chapter 12_inside_encoder) cost from scratch, per stage: activations, concepts,
1-D k-means, the search and its matched null per regime and cluster, and the ablation inside the encoder, with
the chapter's default parameters (or the profile's).

Reads what chapters 3–5 left under ``runs/<profile>/`` (the registry, the trained heads); everything of this
chapter is computed again, into a temporary folder: activations, explanations and the null's draws. For the
first layer of MiniLM, the search and its null are also timed apart for each regime and cluster. Prints seconds per stage and in all, beside the issue's budget of 15 minutes added to
the offline book.

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/encoder_neurons.py --profile offline
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from clipneuron_utils import run
from clipneuron_utils.explain import clusters
from clipneuron_utils.explain.sentence_concepts import distinct_sentences, sentence_concepts
from clipneuron_utils.run import encoder_ablation, encoder_units, parameters
from clipneuron_utils.stats import encoder_explanations as X

from stages import Stages, chapter_values

BUDGET_S = 900.0  # issue 32: no more than 15 minutes added to make book PROFILE=offline
CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "12_inside_encoder.py"


def per_regime(name, acts, alphas, v, concepts, params, timed) -> None:
    """One layer's search and matched null, timed apart for each regime and cluster (draws searched anew)."""
    from clipneuron_utils.explain import controls
    from clipneuron_utils.explain.regime import regime_min_acts
    from clipneuron_utils.explain.search import beam_search_by_length

    search = {k: params[k] for k in ("max_length", "beam_size")}
    for regime, mask in encoder_units.regime_masks(acts, alphas, v["n_clusters"], seed=v["seed"]).items():
        label = encoder_units.regime_label(regime)
        least = regime_min_acts(params["min_acts"], regime if not isinstance(regime, tuple) else None, mask.shape[0])
        real = timed(f"{name} layer 0, {label}: search", lambda: beam_search_by_length(
            mask, concepts, progress=False, n_jobs=v["n_jobs"], min_acts=least, **search))
        timed(f"{name} layer 0, {label}: matched null", lambda: controls.matched_null(
            mask, concepts, n_draws=params["null_draws"], seed=v["seed"], bin_width=params["bin_width"], real=real,
            n_jobs=v["n_jobs"], min_acts=least, **search))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="offline")
    args = parser.parse_args()

    v = chapter_values(CHAPTER, args.profile)
    stages = Stages()
    timed = stages.timed

    book = run.open_book(args.profile, v["data_source"], v["train_splits"], v["probe_split"], v.get("data_dir", ""),
                         v["n_synthetic_train"], v["n_synthetic_probe"], seed=v["seed"])
    sentences = encoder_units.sample_sentences(distinct_sentences(book.pairs.probe), v["neuron_sentences"], seed=v["seed"])
    concepts = timed(f"sentence concepts ({len(sentences):,} sentences)", lambda: sentence_concepts(sentences, v["vocab_size"]))
    alphas = parameters.check_neuron_alphas(v["neuron_alphas"])
    trained = encoder_units.attach_trained(book.registry)
    params = dict(max_length=v["neuron_max_length"], beam_size=v["neuron_beam_size"], min_acts=v["neuron_min_acts"],
                  null_draws=v["neuron_null_draws"], bin_width=v["neuron_null_bin_width"])
    with tempfile.TemporaryDirectory() as tmp:
        encoder_units.run_dir = lambda profile, *parts: Path(tmp).joinpath(*parts)  # never the real store
        encoder_units.caches.run_dir = encoder_units.run_dir
        encoder_ablation.run_dir = encoder_units.run_dir
        names = encoder_units.check_models(book.registry)
        for name in names:
            source = encoder_units.neuron_source(book.registry, name, seed=v["seed"], device=v["device"])
            layers = timed(f"{name}: activations", lambda: encoder_units.activations(
                args.profile, source, list(sentences["sentence"])))
            per_layer = v["neurons_per_layer"] if trained[name] else v["control_neurons_per_layer"]
            sample = encoder_units.sample_neurons(layers[0].shape[1], per_layer, seed=v["seed"], layer=0)
            if v["n_clusters"]:
                timed(f"{name}: 1-D k-means of one layer ({len(sample)} neurons)",
                      lambda: clusters.cluster_masks(layers[0][:, sample].astype(np.float32), v["n_clusters"]))
            if name == names[0]:  # one layer, per regime: the search and its null apart
                per_regime(name, layers[0][:, sample].astype(np.float32), alphas, v, concepts, params, timed)
            rows = timed(f"{name}: masks, search and null, {len(layers)} layers × {len(sample)} neurons × "
                         f"{len(alphas) + v['n_clusters']} regimes", lambda: encoder_units.explain_model(
                             args.profile, name, layers, concepts, alphas=alphas, k=v["n_clusters"], per_layer=per_layer,
                             planted_per_alpha=v["planted_neurons"], seed=v["seed"], params=params, n_jobs=v["n_jobs"]))
            if trained[name] and name in book.models:
                explained = X.real(rows)[lambda f: (f["max_length"] == v["neuron_max_length"]) & f["explained"]
                                         & (f["regime"] == encoder_units.regime_label(alphas[0]))]
                timed(f"{name}: ablation inside the encoder", lambda: encoder_ablation.run(
                    args.profile, book, name, explained, k=v["encoder_ablation_k"], n_pairs=v["encoder_ablation_pairs"],
                    draws=v["encoder_ablation_draws"], groups=3, seed=v["seed"]))
    # the one-layer stages are measured again inside each model's whole search
    total = sum(s for label, s in stages.seconds if "k-means of one layer" not in label and " layer 0, " not in label)
    print(f"chapter 12_inside_encoder from scratch: {total:.1f} s = {total / 60:.1f} min ({total / BUDGET_S:.0%} of the "
          "15-minute budget; the kernel's start, the cards and the charts add about 30 s)")


if __name__ == "__main__":
    main()
