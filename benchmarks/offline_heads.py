"""Offline profile, chapters 2–3: encode, train and score the three classifiers; print a table.

Trains on SNLI ``train_0.01`` + ``test`` (the labelled pairs that exist offline), scores on ``dev`` (the probe
set), and times encoding and training separately (wall and CPU seconds). By default features go to a fresh
temporary cache so the encoding cost is measured; pass ``--cache-dir`` to reuse features between runs.

    python benchmarks/offline_heads.py --data-dir ../shared/data/snli
    python benchmarks/offline_heads.py --data-dir ../shared/data/snli --encoders lstm --lstm-unidirectional
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clipneuron_utils.data.snli import LABELS, load_snli  # noqa: E402
from clipneuron_utils.models.features import FeatureCache
from clipneuron_utils.models.encoders import make_encoder  # noqa: E402
from clipneuron_utils.models.heads import HeadConfig
from clipneuron_utils.models.outputs import accuracy
from clipneuron_utils.models.training import train  # noqa: E402


class Clock:
    """Wall and CPU seconds of a block (CPU: this process, all threads)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def sentences(pairs: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(list(pairs.premise) + list(pairs.hypothesis)))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="SNLI folder (default: $CLIPNEURON_DATA, else ./data/snli)")
    parser.add_argument("--encoders", default="clip,lstm,minilm")
    parser.add_argument("--train-splits", default="train_0.01,test")
    parser.add_argument("--probe-split", default="dev")
    parser.add_argument("--n-train", type=int, default=None, help="use only the first N training pairs (quick tries)")
    parser.add_argument("--clip-model", default="ViT-B-32")
    parser.add_argument("--clip-weights", default="untrained")
    parser.add_argument("--clip-sha256", default=None)
    parser.add_argument("--cache-dir", default=None, help="feature cache (default: a fresh temporary folder)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-epochs", type=int, default=20, help="frozen heads")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--lstm-max-epochs", type=int, default=4, help="recommended offline value")
    parser.add_argument("--lstm-patience", type=int, default=2)
    parser.add_argument("--lstm-unidirectional", action="store_true", help="the original code's LSTM")
    parser.add_argument("--lstm-hidden-dim", type=int, default=512)
    parser.add_argument("--lstm-no-bucket", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train_pairs = pd.concat([load_snli(s, args.data_dir, download=False) for s in args.train_splits.split(",")],
                            ignore_index=True)
    if args.n_train:
        train_pairs = train_pairs.iloc[: args.n_train]
    probe = load_snli(args.probe_split, args.data_dir, download=False)
    majority = probe.label.value_counts(normalize=True).max()
    print(f"train: {len(train_pairs)} pairs ({args.train_splits}); probe: {len(probe)} pairs ({args.probe_split}); "
          f"majority class {majority:.3f}; {torch.get_num_threads()} torch threads", flush=True)
    cache_root = args.cache_dir or tempfile.mkdtemp(prefix="clipneuron-features-")
    cache = FeatureCache(cache_root)
    frozen = HeadConfig(batch_size=args.batch_size, max_epochs=args.max_epochs, patience=args.patience, seed=args.seed)
    lstm = frozen.replace(lstm_max_epochs=args.lstm_max_epochs, patience=args.lstm_patience,
                          lstm_bidirectional=not args.lstm_unidirectional, lstm_hidden_dim=args.lstm_hidden_dim,
                          lstm_bucket=not args.lstm_no_bucket)
    rows = []
    for name in args.encoders.split(","):
        print(f"\n=== {name} ===", flush=True)
        with Clock() as enc_clock:
            encoder = None
            if name != "lstm":
                params = dict(model_name=args.clip_model, weights=args.clip_weights, sha256=args.clip_sha256) \
                    if name == "clip" else {}
                encoder = make_encoder(name, **params)
                n_sent = 0
                for pairs in (train_pairs, probe):
                    cache.encode(encoder, sentences(pairs))
                    n_sent += len(sentences(pairs))
        config = lstm if name == "lstm" else frozen
        with Clock() as train_clock:
            model = train(name, train_pairs, config, encoder=encoder, cache=cache)
        with Clock() as score_clock:
            acc = accuracy(model, probe, cache=cache)
        rows.append({
            "encoder": name,
            "model": encoder.name if encoder else
            f"LSTM {config.lstm_embedding_dim}→{config.lstm_hidden_dim} "
            f"{'bidirectional' if config.lstm_bidirectional else 'unidirectional'}",
            "dev_acc": acc,
            "epochs": len(model.history), "best_epoch": model.best_epoch,
            "sentences_encoded": n_sent if encoder else 0,
            "encode_s": enc_clock.wall, "train_s": train_clock.wall, "score_s": score_clock.wall,
            "total_s": enc_clock.wall + train_clock.wall + score_clock.wall,
            "cpu_s": enc_clock.cpu + train_clock.cpu + score_clock.cpu,
            "sec_per_epoch": train_clock.wall / len(model.history),
        })
        print(f"{name}: dev accuracy {acc:.4f} (majority {majority:.3f}); encode {enc_clock.wall:.0f}s, "
              f"train {train_clock.wall:.0f}s, score {score_clock.wall:.0f}s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print("\n" + table.to_string(index=False))
    print(f"\ntotal wall time: {table.total_s.sum():.0f}s ({table.total_s.sum() / 60:.1f} min); "
          f"labels {', '.join(LABELS)}; feature cache {cache_root}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return table


if __name__ == "__main__":
    main()
