"""What the firing-regime sweep costs: every registered model × encoding searched at each top-alpha, with
its matched null, from scratch (no cache), as chapter 5 runs it.

Reads what chapters 3–5 left under ``runs/<profile>/`` (the registered models of every seed and their probe
activations, the probe concepts, chapter 5's parameters) and times, per alpha, the thresholding, the search
of every model × encoding up to ``regime_max_length`` and the null (``null_draws`` random masks of the one
firing count every unit has at that alpha). Prints the seconds per alpha and in all, beside the issue's
budget of 10 minutes added to the offline book. ``--models lstm`` times one encoder's models only.

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/regime.py --profile offline [--alphas 0.2 0.1 0.05 0.02]
"""

from __future__ import annotations

import argparse
import time

from clipneuron_utils.data import corpus
from clipneuron_utils.explain import controls, regime
from clipneuron_utils.explain.search import beam_search_by_length, threshold_activations
from clipneuron_utils import run
from clipneuron_utils.run import profiles

BUDGET_S = 600.0  # issue 19: the sweep adds at most 10 minutes to make book PROFILE=offline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--alphas", type=float, nargs="*", default=None, help="default: chapter 5's activation_alphas")
    parser.add_argument("--max-length", type=int, default=None, help="default: chapter 5's regime_max_length")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model chapter 5 searched")
    parser.add_argument("--n-jobs", type=int, default=0, help="processes (0: every core, as the chapters)")
    args = parser.parse_args()

    values = profiles.load_profile(args.profile)
    latest = run.latest_search(args.profile)
    params = latest.attrs["params"]
    alphas = regime.check_alphas(args.alphas if args.alphas is not None else params.get("activation_alphas") or regime.DEFAULT_ALPHAS)
    length = args.max_length or params.get("regime_max_length", 2)
    search = {k: params[k] for k in ("beam_size", "complexity_penalty", "or_not", "expand_all")}
    pairs = corpus.load_pairs(values["data_source"], values.get("train_splits", ["train"]), values.get("probe_split", "dev"),
                              values.get("data_dir") or None, n_synthetic_train=values.get("n_synthetic_train", 600),
                              n_synthetic_probe=values.get("n_synthetic_probe", 300), seed=values.get("seed", 0))
    registry = run.registry(args.profile)
    models = args.models or list(dict.fromkeys(latest["encoder"]))
    encodings = list(dict.fromkeys(latest["encoding"]))
    acts = {(name, s): run.probe_outputs(args.profile, name, pairs.probe, seed=s)["activations"]
            for name in models for s in run.seeds_of(registry[name])}
    concepts = {e: run.probe_concepts(args.profile, pairs.probe, params["vocab_size"], e, params["wordnet_mode"])
                for e in encodings}
    n = len(pairs.probe)
    draws = params.get("null_draws", 20)
    print(f"{len(acts)} models × {len(encodings)} encodings × {len(alphas)} regimes, {n:,} probe pairs, "
          f"formulas ≤ {length}, {draws} null draws, n_jobs {args.n_jobs}")
    total = 0.0
    for alpha in alphas:
        min_acts = regime.regime_min_acts(params["min_acts"], alpha, n)
        started = time.perf_counter()
        for mask in (threshold_activations(a, alpha) for a in acts.values()):
            for e in encodings:
                real = beam_search_by_length(mask, concepts[e], progress=False, n_jobs=args.n_jobs, max_length=length,
                                             min_acts=min_acts, **search)
                controls.matched_null(mask, concepts[e], n_draws=draws, real=real, n_jobs=args.n_jobs,
                                      max_length=length, min_acts=min_acts, **search)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"  {regime.label(alpha):>9}: {seconds:6.1f} s (units fire on {min_acts:,} pairs)")
    print(f"sweep: {total:.1f} s = {total / 60:.1f} min ({total / BUDGET_S:.0%} of the 10-minute budget)")


if __name__ == "__main__":
    main()
