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
                         values.get("probe_split", "dev"), values.get("data_dir", ""))
    params = book.search_params
    scored = contribution.attach_accuracy(book.search, book.firing_accuracy(0.0))
    units = claims.unit_patterns(scored, book.weights)
    timings = {}
    started = time.perf_counter()
    described = formulas.evaluate(DESCRIPTION, book.concepts(params["vocab_size"], "standard",
                                                             params.get("wordnet_mode", "exact")))
    pushes = book.pushes(PAIR, described)
    timings["A11 pushes"] = time.perf_counter() - started
    for stability in (False, True):
        started = time.perf_counter()
        scorecard.scorecard(scored, registry=book.registry, encoders=book.encoders, accuracy=book.probe_accuracy,
                            units=units, pushes=pushes, stability=stability)
        timings[f"card, stability {'on' if stability else 'off'}"] = time.perf_counter() - started
    for what, seconds in timings.items():
        print(f"{what:<28} {seconds:7.1f} s")
    per_threshold = timings["A11 pushes"] + timings["card, stability on"]
    print(f"{'per threshold (card + A11)':<28} {per_threshold:7.1f} s; the stability check alone "
          f"{timings['card, stability on'] - timings['card, stability off']:.1f} s; budget {BUDGET_S:.0f} s over "
          "chapters 06 and 08")


if __name__ == "__main__":
    main()
