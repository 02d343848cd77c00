"""Benchmark the vectorized beam search on masks shaped like SNLI dev, against a per-candidate loop.

Synthetic, SNLI-dev-like problem: 10,000 pairs; ~4,000 concepts (Zipf-ish token concepts for premise
and hypothesis at ~0.01-48% density, ~80 tag concepts from near-always to rare, 3 nested overlap
concepts; ~300,000 nonzeros like the real 4,083 × 9,842 SNLI dev matrix); 1,024 neurons with varied
firing rates, most built from a few concepts plus noise.
Prints wall time and peak memory of ``beam_search`` (max_length=5, beam_size=10), and the time per
neuron of a straightforward implementation that computes one dense numpy IoU per candidate formula,
as the original code does, on ``--naive-neurons`` neurons, with the ratio; it also checks that both
give the same formulas.

``--n-jobs N`` searches with N processes (``beam_search(..., n_jobs=N)``; 0: every core).
``--compare-jobs`` times ``n_jobs=1`` and ``n_jobs=N`` on the same problem in one run (``n_jobs=N``
twice: the first call starts the worker processes, the second finds them up, as later searches of a
notebook do), checks that the frames are identical and prints the speed-ups, with the CPU seconds
of the process and its workers and the load average (other programs on the machine skew timings).
``--real`` searches real masks instead of the synthetic problem: the first ``--neurons`` units of a
model chapter 3 trained for ``--profile`` (default ``offline``; ``--encoder``: default the first one
its last chapter-5 search explained) on the SNLI probe pairs (train splits train_0.01 and test, probe
split dev: the offline profile's), against the probe concepts (``--encoding``), with the vocabulary,
WordNet mode and activation threshold of that search's ``.attrs["params"]``. It needs the SNLI files
(``$CLIPNEURON_DATA``) and the profile's runs/ artifacts (registry, cached activations and concepts).

    python benchmarks/search.py [--neurons 1024] [--pairs 10000] [--concepts 4000] [--naive-neurons 2]
    CLIPNEURON_DATA=/path/to/snli python benchmarks/search.py --real --compare-jobs --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
import scipy.sparse as sp

from clipneuron_utils.explain.formulas import And, Leaf, Not, Or
from clipneuron_utils.explain.search import beam_search
from clipneuron_utils.explain.parallel import resolve_jobs


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


def real_problem(profile: str, neurons: int, encoder: str | None = None, encoding: str = "standard",
                 train_splits=("train_0.01", "test"), probe_split: str = "dev"):
    """(neuron masks, Concepts, description): real probe masks of a model chapter 3 trained for ``profile``.

    The search parameters of the profile's last chapter-5 run (``latest_search(...).attrs["params"]``) give
    the vocabulary size, WordNet mode and activation threshold; the models come from its registry."""
    from clipneuron_utils.data import corpus
    from clipneuron_utils import run
    from clipneuron_utils.explain.search import threshold_activations

    latest = run.latest_search(profile)
    params = latest.attrs["params"]
    encoder = encoder or list(dict.fromkeys(latest["encoder"]))[0]
    entry = run.registry(profile)[encoder]
    pairs = corpus.load_pairs("snli", list(train_splits), probe_split, None)
    concepts = run.probe_concepts(profile, pairs.probe, params["vocab_size"], encoding,
                                         params.get("wordnet_mode", "exact"), progress=False)
    acts = run.probe_outputs(profile, encoder, pairs.probe)["activations"]
    masks = threshold_activations(acts, params.get("activation_alpha") or None, what=f"{encoder} model")
    if neurons > masks.shape[1]:
        raise SystemExit(f"--neurons {neurons}: the {encoder} model has {masks.shape[1]} units")
    what = f"{encoder} model {entry['key']} ({entry.get('label', '')}) × {encoding} concepts, profile {profile}"
    return masks[:, :neurons], concepts, what


def _cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of this process and of its live children (the worker processes)."""
    try:
        import psutil
    except ImportError:
        return {os.getpid(): time.process_time()}
    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def _timed(neuron, masks, n_jobs, kw):
    """(frame, wall seconds, CPU seconds of this process and its workers, load averages before / after)."""
    load, cpu = os.getloadavg()[0], _cpu_seconds()
    t0 = time.perf_counter()
    result = beam_search(neuron, masks, progress=False, n_jobs=n_jobs, **kw)
    wall = time.perf_counter() - t0
    after = _cpu_seconds()
    used = sum(t - cpu.get(pid, 0.0) for pid, t in after.items())
    return result, wall, used, (load, os.getloadavg()[0])


def _report(label, result, wall, cpu=None, load=None, rss=None, rss_before=None):
    explained = result[result["explained"]]
    memory = (f"; peak memory (max RSS of the process) {rss:.0f} MiB ({rss_before:.0f} MiB before the search)"
              if rss is not None else "")
    cpu = f", {cpu:.2f} s CPU (with its workers)" if cpu is not None else ""
    # Other programs on the machine slow a timing down: the 1-minute load average says how busy it was.
    load = f"; load average {load[0]:.2f} before, {load[1]:.2f} after" if load is not None else ""
    print(f"{label}: {wall:.2f} s wall{cpu} for {len(result)} neurons ({len(explained)} explained), "
          f"{wall / max(len(explained), 1):.4f} s/unit{memory}; mean IoU {explained['iou'].mean():.4f}{load}")


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--concepts", type=int, default=4_000)
    ap.add_argument("--naive-neurons", type=int, default=None,
                    help="0 skips the per-candidate loop (default 2; 0 with --real)")
    ap.add_argument("--max-length", type=int, default=5)
    ap.add_argument("--beam-size", type=int, default=10)
    ap.add_argument("--min-acts", type=int, default=500)
    ap.add_argument("--chunk-neurons", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=1, help="processes for the search (0: every core)")
    ap.add_argument("--compare-jobs", action="store_true",
                    help="time n_jobs=1 and n_jobs=--n-jobs on the same problem and print the speed-up")
    ap.add_argument("--real", action="store_true", help="real masks of a trained model instead of synthetic ones")
    ap.add_argument("--profile", default="offline", help="--real: the profile whose runs/ artifacts are used")
    ap.add_argument("--encoder", default=None, help="--real: the model (default: the first one searched)")
    ap.add_argument("--encoding", default="standard", help="--real: the concept encoding")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace allocations (a second, slower run)")
    args = ap.parse_args(argv)
    jobs = resolve_jobs(args.n_jobs)

    if args.real:
        neuron, concepts, what = real_problem(args.profile, args.neurons, args.encoder, args.encoding)
        masks, names = concepts.masks, concepts.names
        print(f"problem: real masks, {what}")
    else:
        neuron, masks, names = synthetic_problem(args.pairs, args.concepts, args.neurons, args.seed)
        print("problem: synthetic")
    print(f"{neuron.shape[0]} pairs, {masks.shape[1]} concepts ({masks.nnz} nonzeros, "
          f"density {masks.nnz / np.prod(masks.shape):.4f}), {neuron.shape[1]} neurons "
          f"(firing {neuron.mean():.3f} on average); max_length {args.max_length}, beam {args.beam_size}, "
          f"min_acts {args.min_acts}")
    kw = dict(max_length=args.max_length, beam_size=args.beam_size, min_acts=args.min_acts, names=names)
    if args.chunk_neurons:
        kw["chunk_neurons"] = args.chunk_neurons
    if args.compare_jobs:
        serial, wall_1, cpu, load = _timed(neuron, masks, 1, kw)
        _report("beam_search n_jobs=1", serial, wall_1, cpu, load)
        cold, wall_cold, cpu, load = _timed(neuron, masks, jobs, kw)
        _report(f"beam_search n_jobs={jobs}, first call (starts the workers)", cold, wall_cold, cpu, load)
        result, wall, cpu, load = _timed(neuron, masks, jobs, kw)
        _report(f"beam_search n_jobs={jobs}, second call (workers already up)", result, wall, cpu, load)
        identical = True
        for other in (cold, result):
            try:
                pd.testing.assert_frame_equal(other, serial, check_exact=True)
            except AssertionError:
                identical = False
        print(f"speed-up n_jobs={jobs} vs 1: {wall_1 / wall_cold:.2f}x including starting the workers "
              f"({wall_1:.2f} s → {wall_cold:.2f} s), {wall_1 / wall:.2f}x with the workers up ({wall:.2f} s); "
              f"identical results: {identical}")
    else:
        rss_before = _max_rss_mib()
        result, wall, cpu, load = _timed(neuron, masks, jobs, kw)
        _report(f"beam_search n_jobs={jobs}", result, wall, cpu, load, _max_rss_mib(), rss_before)
    explained = result[result["explained"]]
    if args.tracemalloc:
        tracemalloc.start()
        beam_search(neuron, masks, progress=False, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"peak memory allocated by beam_search (tracemalloc, second run, n_jobs=1): {peak / 2**20:.0f} MiB")

    naive_neurons = args.naive_neurons if args.naive_neurons is not None else (0 if args.real else 2)
    if naive_neurons > 0:
        dense = masks.toarray()
        picks = explained["neuron"].to_numpy()[:naive_neurons]
        t0 = time.perf_counter()
        naive = [naive_search(neuron[:, u], dense, names, args.max_length, args.beam_size) for u in picks]
        per = (time.perf_counter() - t0) / len(picks)
        fast_per = wall / max(len(explained), 1)
        same = all(t == result.loc[result["neuron"] == u, "formula"].item() for u, (t, _) in zip(picks, naive))
        print(f"per-candidate loop: {per:.2f} s/neuron on {len(picks)} neurons; ratio {per / fast_per:.0f}x; "
              f"same formulas: {same}")


if __name__ == "__main__":
    main()
