"""What the causal chapter's tests (10_causal) cost: ablations, edits and adversarial pairs of every registered model, from
scratch, as the chapter runs them.

Reads what chapters 3–5 left under ``runs/<profile>/`` (the registered models, their probe outputs, chapter
5's formulas and its firing-regime sweep) and runs :func:`clipneuron_utils.run.interventions.model_results` for
every model and seed with the chapter's default parameters (or the profile's), writing its results to a
temporary folder and encoding every edited sentence again: only the probe's own sentences are read from
the feature cache, as in a first run of the chapter. Prints seconds per model and in all, beside the
issue's budget of 8 minutes added to the offline book.

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/causal.py --profile offline [--models lstm]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from clipneuron_utils.data import corpus
from clipneuron_utils.explain import edits, regime
from clipneuron_utils import run
from clipneuron_utils.run import interventions, regimes
from clipneuron_utils.stats import claims

from stages import chapter_values

BUDGET_S = 480.0  # issues 20 and 31: chapter 10's causal tests stay within 8 minutes of make book PROFILE=offline
CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "10_causal.py"


class ProbeOnlyCache:
    """The feature cache for the probe's sentences only: every other sentence is encoded again, unsaved."""

    def __init__(self, probe):
        self.real = run.feature_cache()
        self.sentences = list(dict.fromkeys(list(probe["premise"]) + list(probe["hypothesis"])))
        self.known: dict = {}
        self.encoded = 0

    def encode(self, encoder, sentences, progress=True, batch_size=None):
        key = encoder.name
        if key not in self.known:
            feats = self.real.encode(encoder, self.sentences, progress=False)
            self.known[key] = {s: feats[i] for i, s in enumerate(self.sentences)}
        known = self.known[key]
        new = [s for s in dict.fromkeys(sentences) if s not in known]
        fresh = dict(zip(new, encoder.encode(new, progress=False))) if new else {}
        self.encoded += len(new)
        return np.stack([known[s] if s in known else fresh[s] for s in sentences])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model chapter 5 searched")
    args = parser.parse_args()

    values = chapter_values(CHAPTER, args.profile)
    pairs = corpus.load_pairs(values["data_source"], values["train_splits"], values["probe_split"],
                              values.get("data_dir") or None, n_synthetic_train=values["n_synthetic_train"],
                              n_synthetic_probe=values["n_synthetic_probe"], seed=values["seed"])
    latest = run.latest_search(args.profile, pairs)
    swept = regimes.latest_regimes(args.profile, latest)
    matched = regimes.paper_matched(swept) if swept is not None else None
    rows = interventions.regime_rows(latest, swept, matched, values["causal_length"])
    registry = run.registry(args.profile)
    models = args.models or list(dict.fromkeys(latest["encoder"]))
    trained = list(dict.fromkeys(run.without_controls(latest)["encoder"]))
    everyone = list(dict.fromkeys(latest["encoder"]))
    controls = {e: [c for c in claims.random_networks(e, everyone, registry).values() if c] for e in trained}
    untestable = {"clip"} if claims.untrained_clip(registry) else set()  # as the chapter: a control of the others only
    trained, edited = interventions.tested_models(trained, controls, untestable)
    hidden = int(latest["neuron"].max()) + 1
    params = dict(ks=[k for k in values["ablation_ks"] if k <= hidden // 2], draws=values["ablation_draws"],
                  units=values["faithfulness_units"], edits=values["faithfulness_edits"], length=values["causal_length"],
                  planted_units=values["planted_units"],
                  adversarial_units=values["adversarial_units"], adversarial_pairs=values["adversarial_pairs"])
    concepts = run.probe_concepts(args.profile, pairs.probe, values["vocab_size"], "standard", values["wordnet_mode"])
    started = time.perf_counter()
    editor = edits.Editor(pairs.probe, concepts)
    setup = time.perf_counter() - started
    cache = ProbeOnlyCache(pairs.probe)
    n_seeds = sum(len(run.seeds_of(registry[name])) for name in models)
    print(f"{len(models)} models ({n_seeds} with their seeds), regimes {[regime.label(v) for v in rows]}, {params}")
    total = setup
    with tempfile.TemporaryDirectory() as tmp:
        interventions.run_dir = lambda profile, *parts: Path(tmp).joinpath(*parts)  # results: never the real store
        interventions.trained.feature_cache = lambda: cache  # where interventions looks it up
        for name in models:
            for s in run.seeds_of(registry[name]):
                before, t0 = cache.encoded, time.perf_counter()
                sub = {v: r[(r["encoder"] == name) & (r["seed"] == s)] for v, r in rows.items()}
                interventions.model_results(args.profile, name, s, sub, editor, params=params,
                                     search_params=latest.attrs["params"], interventions=name in trained,
                                     edits=name in edited)
                seconds = time.perf_counter() - t0
                total += seconds
                print(f"  {name:>16} seed {s}: {seconds:6.1f} s ({cache.encoded - before:,} new sentences encoded)")
    print(f"causal tests: {total:.1f} s = {total / 60:.1f} min ({total / BUDGET_S:.0%} of the 8-minute budget; "
          f"the chapter's charts and tables add about 10 s)")


if __name__ == "__main__":
    main()
