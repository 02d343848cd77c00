"""What the verdicts cost: one scorecard of the paper's claims (chapter 06_results's, at > 0) built from what chapters
3–5 left under ``runs/<profile>/``, with and without the stability check (every leave-out seed subset pooled
again), and the unit-870 pushes of claim A11; chapter 08_firing_regime builds one card per threshold.

Prints seconds for each piece and their sum per threshold, beside the issue's budget of 3 minutes added to
the offline book (chapter 06 builds one card, chapter 08 one per threshold).

    CLIPNEURON_DATA=../shared/data/snli python benchmarks/scorecard.py --profile offline
"""

from __future__ import annotations

import argparse
import time

from clipneuron_utils import run
from clipneuron_utils.explain import formulas
from clipneuron_utils.run import profiles
from clipneuron_utils.stats import claims, contribution, scorecard

BUDGET_S = 180.0  # issue 30: the new verdict rules add at most 3 minutes to make book PROFILE=offline
PAIR = ["The boys said hello to the girls.", "The girls said hello."]
DESCRIPTION = "(pre:tok:man AND NOT hyp:tok:man)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="offline")
    args = parser.parse_args()
    values = profiles.load_profile(args.profile)
    book = run.open_book(args.profile, values.get("data_source", "snli"), values.get("train_splits", ["train"]),
                         values.get("probe_split", "dev"), values.get("data_dir", ""), seed=values.get("seed", 0))
    params = book.search_params
    scored = contribution.attach_accuracy(book.search, book.firing_accuracy(0.0))
    units = claims.unit_patterns(scored, book.weights)
    timings = {}
    started = time.perf_counter()
    described = formulas.evaluate(DESCRIPTION, book.concepts(params["vocab_size"], "standard",
                                                             params.get("wordnet_mode", "exact")))
    pushes = book.pushes(PAIR, described)
    timings["A11 pushes (> 0)"] = time.perf_counter() - started
    started = time.perf_counter()
    alphas = [0.0, *book.sweep_params.get("activation_alphas", [])]
    book.pushes(PAIR, described, alphas)
    timings[f"A11 pushes ({len(alphas)} thresholds)"] = time.perf_counter() - started
    for stability in (False, True):
        started = time.perf_counter()
        scorecard.scorecard(scored, registry=book.registry, encoders=book.encoders, accuracy=book.probe_accuracy,
                            units=units, pushes=pushes, stability=stability)
        timings[f"card, stability {'on' if stability else 'off'}"] = time.perf_counter() - started
    for what, seconds in timings.items():
        print(f"{what:<30} {seconds:7.1f} s")
    card = timings["card, stability on"]
    total = (timings["A11 pushes (> 0)"] + card) + (timings[f"A11 pushes ({len(alphas)} thresholds)"] + len(alphas) * card)
    print(f"{'chapters 06 + 08':<28} {total:7.1f} s for the new rules' pieces (one card in 06, {len(alphas)} in 08; the "
          f"stability check alone {timings['card, stability on'] - timings['card, stability off']:.1f} s a card); "
          f"budget {BUDGET_S:.0f} s")


if __name__ == "__main__":
    main()
