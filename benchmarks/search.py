"""Benchmark the vectorized beam search on masks shaped like SNLI dev, against a per-candidate loop.

Synthetic, SNLI-dev-like problem: 10,000 pairs; ~4,000 concepts (Zipf-ish token concepts for premise
and hypothesis at ~0.01-48% density, ~80 tag concepts from near-always to rare, 3 nested overlap
concepts; ~300,000 nonzeros like the real 4,083 × 9,842 SNLI dev matrix); 1,024 neurons with varied
firing rates, most built from a few concepts plus noise.
Prints wall time and peak memory of ``beam_search`` (max_length=5, beam_size=10), and the time per
neuron of a straightforward implementation that computes one dense numpy IoU per candidate formula,
as the original code does, on ``--naive-neurons`` neurons, with the ratio; it also checks that both
give the same formulas.

    python benchmarks/search.py [--neurons 1024] [--pairs 10000] [--concepts 4000] [--naive-neurons 2]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from clipneuron_utils.formulas import And, Leaf, Not, Or
from clipneuron_utils.search import beam_search


def synthetic_problem(pairs: int, concepts: int, neurons: int, seed: int = 0):
    """(neuron masks bool pairs×neurons, concept masks CSC, names) with SNLI-like frequencies."""
    rng = np.random.default_rng(seed)
    n_tags = min(80, max(concepts // 50, 2))
    n_tok = max((concepts - n_tags - 3) // 2, 1)
    densities, names = [], []
    # Fitted to SNLI dev (premise tokens: 48% at rank 1, 1.6% at rank 100, 0.12% at rank 1000;
    # hypotheses about half as dense; tags from ~98% down to a few pairs; overlap 54/22/12%).
    tok_d = np.clip(1.4 * np.arange(1, n_tok + 1) ** -1.02, 1e-4, 0.48)
    tag_d = np.clip(0.98 * np.exp(-(np.arange(1, n_tags // 2 + 1) - 2) / 6), 2e-4, 0.98)
    for side, scale in (("pre", 1.0), ("hyp", 0.55)):
        densities += list(tok_d * scale)
        names += [f"{side}:tok:w{r}" for r in range(n_tok)]
    for side, scale in (("pre", 1.0), ("hyp", 0.9)):
        densities += list(tag_d * scale)
        names += [f"{side}:tag:T{r}" for r in range(len(tag_d))]
    rows, cols = [], []
    for j, d in enumerate(densities):
        k = max(rng.binomial(pairs, d), 1)
        rows.append(rng.choice(pairs, size=k, replace=False))
        cols.append(np.full(k, j))
    ratio = rng.random(pairs)
    for t, share in ((25, 0.54), (50, 0.22), (75, 0.12)):
        hit = np.flatnonzero(ratio < share)
        rows.append(hit)
        cols.append(np.full(len(hit), len(names)))
        names.append(f"oth:overlap:{t}")
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    masks = sp.csc_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(pairs, len(names)))
    dense_ok = np.flatnonzero(np.diff(masks.indptr) > pairs * 0.005)
    cmask = lambda j: masks[:, [j]].toarray().ravel()  # noqa: E731
    neuron = np.zeros((pairs, neurons), dtype=bool)
    for u in range(neurons):
        rate = rng.uniform(0.05, 0.6)
        if rng.random() < 0.8:  # a noisy compositional unit
            f = cmask(rng.choice(dense_ok))
            for _ in range(rng.integers(0, 3)):
                c = cmask(rng.choice(dense_ok))
                f = [f | c, f & c, f & ~c][rng.integers(3)]
            neuron[:, u] = (f & (rng.random(pairs) < 0.85)) | (rng.random(pairs) < rate * 0.3)
        else:
            neuron[:, u] = rng.random(pairs) < rate
    return neuron, masks, names


# --------------------------------------------------------------------------- the per-candidate loop


def _iou(a, b):
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def naive_search(neuron, dense, names, max_length=5, beam_size=10):
    """The original algorithm, one numpy IoU per candidate formula (same ties as beam_search)."""
    leaves = [Leaf(n) for n in names]
    ious = [_iou(neuron, dense[:, j]) for j in range(dense.shape[1])]
    nonzero = [j for j, v in enumerate(ious) if v > 0]
    pool = {leaves[j].text: (leaves[j], ious[j], dense[:, j]) for j in range(len(names))}

    def best(pool):
        items = sorted(pool.items(), key=lambda kv: (-kv[1][1], kv[1][0].length, kv[0]))
        return dict(items[:beam_size])

    beam = best(pool)
    for _ in range(max_length - 1):
        new = {}
        for f, _, fmask in beam.values():
            for j in nonzero:
                c = dense[:, j]
                for g, mask in ((Or(f, leaves[j]), fmask | c), (And(f, leaves[j]), fmask & c),
                                (And(f, Not(leaves[j])), fmask & ~c)):
                    new[g.text] = (g, _iou(neuron, mask), mask)
        beam = best({**beam, **new})
    text, (f, score, _) = next(iter(beam.items()))
    return text, score


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--concepts", type=int, default=4_000)
    ap.add_argument("--naive-neurons", type=int, default=2, help="0 skips the per-candidate loop")
    ap.add_argument("--max-length", type=int, default=5)
    ap.add_argument("--beam-size", type=int, default=10)
    ap.add_argument("--min-acts", type=int, default=500)
    ap.add_argument("--chunk-neurons", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracemalloc", action="store_true", help="also trace allocations (a second, slower run)")
    args = ap.parse_args(argv)

    neuron, masks, names = synthetic_problem(args.pairs, args.concepts, args.neurons, args.seed)
    print(f"problem: {args.pairs} pairs, {masks.shape[1]} concepts ({masks.nnz} nonzeros, "
          f"density {masks.nnz / np.prod(masks.shape):.4f}), {args.neurons} neurons "
          f"(firing {neuron.mean():.3f} on average)")
    kw = dict(max_length=args.max_length, beam_size=args.beam_size, min_acts=args.min_acts, names=names)
    if args.chunk_neurons:
        kw["chunk_neurons"] = args.chunk_neurons
    rss_before = _max_rss_mib()
    t0 = time.perf_counter()
    result = beam_search(neuron, masks, progress=False, **kw)
    wall = time.perf_counter() - t0
    rss = _max_rss_mib()
    explained = result[result["explained"]]
    print(f"beam_search: {wall:.2f} s wall for {len(result)} neurons ({len(explained)} explained), "
          f"{wall / max(len(explained), 1) * 1e3:.2f} ms/neuron; peak memory (max RSS of the process) "
          f"{rss:.0f} MiB ({rss_before:.0f} MiB before the search); mean IoU {explained['iou'].mean():.4f}")
    if args.tracemalloc:
        tracemalloc.start()
        beam_search(neuron, masks, progress=False, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"peak memory allocated by beam_search (tracemalloc, second run): {peak / 2**20:.0f} MiB")

    if args.naive_neurons > 0:
        dense = masks.toarray()
        picks = explained["neuron"].to_numpy()[: args.naive_neurons]
        t0 = time.perf_counter()
        naive = [naive_search(neuron[:, u], dense, names, args.max_length, args.beam_size) for u in picks]
        per = (time.perf_counter() - t0) / len(picks)
        fast_per = wall / max(len(explained), 1)
        same = all(t == result.loc[result["neuron"] == u, "formula"].item() for u, (t, _) in zip(picks, naive))
        print(f"per-candidate loop: {per:.2f} s/neuron on {len(picks)} neurons; ratio {per / fast_per:.0f}x; "
              f"same formulas: {same}")


if __name__ == "__main__":
    main()
