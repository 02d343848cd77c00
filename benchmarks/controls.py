"""What the controls cost: the matched null for every registered model × encoding of a profile, from scratch.

Reads what chapters 3–5 left under ``runs/<profile>/`` (registered models of every seed and their probe
activations, the probe concepts) and, with a fresh store of draws, times

* the real search of each model × encoding (as chapter 5 runs it),
* the matched null as chapter 5 builds it (``null_draws`` per firing-count bin of ``null_bin_width``,
  bins shared by every model searched with the same concepts), and, for comparison,
* the null with one set of draws per distinct firing count (``--exact``; slow: many more searches),

and prints the seconds of each and the null's share of the search. Needs a finished run of chapter 5.

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/controls.py --profile offline [--draws 20] [--width 0.01] [--exact]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from clipneuron_utils.explain import controls
from clipneuron_utils import run
from clipneuron_utils.run import profiles
from clipneuron_utils.data import corpus
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--width", type=float, default=0.01)
    parser.add_argument("--exact", action="store_true", help="also time one set of draws per distinct count")
    args = parser.parse_args()

    values = profiles.load_profile(args.profile)
    latest = run.latest_search(args.profile)
    params = latest.attrs["params"]
    search = {k: params[k] for k in ("max_length", "beam_size", "min_acts", "complexity_penalty", "or_not", "expand_all")}
    pairs = corpus.load_pairs(values["data_source"], values.get("train_splits", ["train"]), values.get("probe_split", "dev"),
                              values.get("data_dir") or None, n_synthetic_train=values.get("n_synthetic_train", 600),
                              n_synthetic_probe=values.get("n_synthetic_probe", 300), seed=values.get("seed", 0))
    registry = run.registry(args.profile)
    encoders = list(dict.fromkeys(latest["encoder"]))
    encodings = list(dict.fromkeys(latest["encoding"]))
    masks = {(name, s): threshold_activations(run.probe_outputs(args.profile, name, pairs.probe, seed=s)["activations"])
             for name in encoders for s in run.seeds_of(registry[name])}
    concepts = {e: run.probe_concepts(args.profile, pairs.probe, params["vocab_size"], e, params["wordnet_mode"])
                for e in encodings}
    print(f"{len(masks)} models × {len(encodings)} encodings, {pairs.probe.shape[0]:,} probe pairs, search {search}")

    started = time.perf_counter()
    real = {(key, e): beam_search_by_length(mask, concepts[e], progress=False, **search)
            for key, mask in masks.items() for e in encodings}
    search_s = time.perf_counter() - started
    print(f"real search, all models × encodings: {search_s:.1f} s")

    for label, width in [(f"shared {args.width:.0%} bins", args.width)] + ([("exact counts", 0.0)] if args.exact else []):
        started = time.perf_counter()
        n_counts = 0
        for e in encodings:
            needed = np.unique(np.concatenate([
                controls.firing_bins(real[(key, e)].query("explained")["n_fires"].to_numpy(), width) for key in masks]))
            n_counts += len(needed)
            controls.search_null(needed, concepts[e], n_pairs=pairs.probe.shape[0], n_draws=args.draws, seed=0, **search)
        null_s = time.perf_counter() - started
        print(f"matched null, {label}: {n_counts} counts × {args.draws} draws = {n_counts * args.draws:,} searches, "
              f"{null_s:.1f} s ({null_s / search_s:.0%} of the real search)")


if __name__ == "__main__":
    main()
