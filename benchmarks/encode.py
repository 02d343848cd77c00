"""Benchmark: our CLIP text encoding vs ``model.encode_text(tokenizer(texts))`` on the same SNLI sentences.

Ours de-duplicates, sorts by length and cuts each batch to its longest real sequence (the causal text
tower pools at the end-of-text token, so the features do not change). Both run batched the same way on
the same model; the table reports sentences/s, the speed-up and the largest absolute feature difference.
The row "ours, no de-dup" isolates the cut + sort from the de-duplication (SNLI premises repeat).

    python benchmarks/encode.py --n 512 --data-dir ../shared/data/snli
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clipneuron_utils.data.snli import load_snli  # noqa: E402
from clipneuron_utils.models.clip import ClipTextEncoder  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="sentences: premises and hypotheses of the first n/2 dev pairs")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture")
    parser.add_argument("--weights", default="untrained",
                        help="'untrained' (default: OpenAI weights cannot be downloaded here), a tag, or a checkpoint path")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of a checkpoint file")
    parser.add_argument("--data-dir", default=None, help="SNLI folder (default: $CLIPNEURON_DATA, else ./data/snli)")
    parser.add_argument("--batch-size", type=int, default=32, help="the same for both methods")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats; the best of each is reported")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    pairs = load_snli("dev", args.data_dir, download=False).iloc[: max(1, args.n // 2)]
    sentences = (list(pairs.premise) + list(pairs.hypothesis))[: args.n]
    unique = list(dict.fromkeys(sentences))
    encoder = ClipTextEncoder(args.model, args.weights, sha256=args.sha256)
    print(f"{encoder.name}: {len(sentences)} sentences ({len(unique)} unique), batch size {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, best of {args.repeat}", flush=True)
    lengths = (encoder.tokenizer(sentences) != 0).sum(1).float()
    print(f"tokens per sentence: mean {lengths.mean():.1f}, max {int(lengths.max())} (context {encoder.model.context_length})")

    warm = sentences[:8]
    encoder.encode(warm, batch_size=args.batch_size, progress=False)
    encoder.encode_reference(warm, batch_size=args.batch_size)

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start

    # this machine is shared: repeat, interleaved, and keep each method's best time
    t_ours = t_nodedup = t_ref = np.inf
    for _ in range(args.repeat):
        ours, t = timed(lambda: encoder.encode(sentences, batch_size=args.batch_size, progress=False))
        t_ours = min(t_ours, t)
        nodedup, t = timed(lambda: encoder._encode_unique(sentences, args.batch_size, False))
        t_nodedup = min(t_nodedup, t)
        reference, t = timed(lambda: encoder.encode_reference(sentences, batch_size=args.batch_size))
        t_ref = min(t_ref, t)
    n = len(sentences)
    result = {
        "encoder": encoder.name, "n_sentences": n, "n_unique": len(unique), "batch_size": args.batch_size, "repeat": args.repeat,
        "threads": torch.get_num_threads(),
        "encode_text_sent_per_s": n / t_ref, "ours_sent_per_s": n / t_ours, "ours_nodedup_sent_per_s": n / t_nodedup,
        "speedup": t_ref / t_ours, "speedup_nodedup": t_ref / t_nodedup,
        "max_abs_diff": float(np.abs(ours - reference).max()),
        "max_abs_diff_nodedup": float(np.abs(nodedup - reference).max()),
        "max_abs_feature": float(np.abs(reference).max()),
    }
    rows = [("model.encode_text(tokenizer(texts))", t_ref, 1.0, 0.0),
            ("ours (de-dup + sort + cut)", t_ours, result["speedup"], result["max_abs_diff"]),
            ("ours, no de-dup (sort + cut)", t_nodedup, result["speedup_nodedup"], result["max_abs_diff_nodedup"])]
    print(f"\n{'method':<38} {'seconds':>8} {'sent/s':>8} {'speed-up':>9} {'max |diff|':>11}")
    for name, secs, speedup, diff in rows:
        print(f"{name:<38} {secs:>8.2f} {n / secs:>8.1f} {speedup:>8.1f}x {diff:>11.2e}")
    print(f"(largest |feature| {result['max_abs_feature']:.3f}; target: speed-up >= 5x, max |diff| <= 1e-5)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
