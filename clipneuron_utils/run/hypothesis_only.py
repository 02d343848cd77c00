"""Hypothesis-only baselines (Poliak et al., 2018; Gururangan et al., 2018): a head of the same design as chapter
03_head_training's, trained on the hypothesis alone.

The premise slot of every pair holds the empty sentence (:data:`PREMISE`), so the head's input carries nothing
of the premise: the same constant for every pair. A frozen encoder's head trains on the features chapter 03_head_training
cached (about 20 s on 2 cores for the offline build); the LSTM trains end to end (12–16 minutes per model on 2 cores for the offline build) and is
not trained here. The *hard* pairs are those the baseline gets wrong, as Gururangan et al. split SNLI's test
set (with a fastText hypothesis-only classifier); :func:`split_check` says how far this rule, with a head
of this design, is from their ``test_hard`` file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import trained

PREMISE = ""
TAG = "hypothesis only: empty premise"


class SentenceCache:
    """Features of any sentences that chapter 03_head_training's cached sentence lists hold (the feature cache is
    keyed by the exact list, and a hypothesis-only pair list is a new one): the lists of ``frames`` (each as
    the head's data preparation builds it: premises, then hypotheses, without repeats) are read from ``cache``,
    and only sentences outside them (the empty premise; SNLI's test split where the heads did not train on it)
    are encoded, as one more list of the cache."""

    def __init__(self, cache, *frames: pd.DataFrame):
        self.cache, self.frames = cache, frames
        self.known: dict = {}
        self.encoded = 0

    def encode(self, encoder, sentences, progress: bool = True, batch_size=None) -> np.ndarray:
        known = self.known.setdefault(encoder.name, {})
        if not known:
            for frame in self.frames:
                listed = list(dict.fromkeys(list(frame["premise"]) + list(frame["hypothesis"])))
                known.update(zip(listed, self.cache.encode(encoder, listed, progress=progress)))
        missing = [s for s in dict.fromkeys(sentences) if s not in known]
        if missing:  # through the feature cache, keyed by this list: a rerun reads them (e.g. SNLI's test split)
            known.update(zip(missing, self.cache.encode(encoder, missing, progress=progress)))
            self.encoded += len(missing)
        return np.stack([known[s] for s in sentences])


def hypothesis_only(pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` with the premise slot emptied (text, tokens and tags): what a hypothesis-only head sees."""
    n = len(pairs)
    return pairs.assign(premise=[PREMISE] * n, premise_tokens=[[] for _ in range(n)], premise_tags=[[] for _ in range(n)])


def baseline_predictions(profile: str, encoder: str, pairs, seeds, *, device: str = "auto") -> pd.DataFrame:
    """Per seed, the hypothesis-only head's predictions on the probe pairs: one row per pair and seed with
    ``pair_id``, ``gold`` and ``predicted`` (label indices), ``seed`` and ``encoder``; and its probe accuracy
    in ``attrs["accuracy"]`` (seed → accuracy)."""
    from ..models.heads import label_ids

    train, probe = hypothesis_only(pairs.train), hypothesis_only(pairs.probe)
    cache = SentenceCache(trained.feature_cache(), pairs.train, pairs.probe)
    frames = []
    for seed in seeds:
        _, outputs = trained.train_on(profile, encoder, pairs, train, probe, tag=TAG, seed=seed, device=device,
                                      cache=cache)
        frames.append(pd.DataFrame({"pair_id": pairs.probe["pair_id"].astype(str).to_numpy(), "gold": label_ids(probe),
                                    "predicted": np.asarray(outputs["predictions"]), "seed": int(seed)}))
    return pd.concat(frames, ignore_index=True).assign(encoder=encoder)


def easy_pairs(predictions: pd.DataFrame, n_pairs: int) -> np.ndarray:
    """Per probe pair (in probe order), whether the hypothesis-only baselines in ``predictions`` (any encoders
    and seeds, each ``n_pairs`` rows in probe order) get it right in the majority of their models; the others
    are the *hard* pairs (a tie is hard)."""
    right = (predictions["predicted"].to_numpy() == predictions["gold"].to_numpy()).reshape(-1, n_pairs)
    return right.mean(axis=0) > 0.5


def split_check(profile: str, encoder: str, pairs, test: pd.DataFrame, hard_ids, *, seed: int,
                device: str = "auto") -> dict:
    """How far this chapter's hard-pair rule is from the official ``test_hard`` split: a hypothesis-only head of
    ``encoder`` trained on the training pairs less SNLI's ``test`` split (held out, as Gururangan et al.'s
    classifier held it out), its wrong predictions on ``test`` against ``hard_ids``
    (:func:`hard_split_agreement`), with the head's ``accuracy`` on test and the training pairs it saw."""
    from ..models.heads import label_ids
    from ..models.outputs import predict

    held = set(test["pair_id"].astype(str))
    train = hypothesis_only(pairs.train[~pairs.train["pair_id"].astype(str).isin(held)].reset_index(drop=True))
    if not len(train):
        raise ValueError("every training pair is a test pair: the hard-split check needs training pairs outside "
                         "SNLI's test split")
    probe = hypothesis_only(pairs.probe)
    cache = SentenceCache(trained.feature_cache(), pairs.train, pairs.probe)
    model, _ = trained.train_on(profile, encoder, pairs, train, probe, tag=TAG + ", test held out", seed=seed,
                                device=device, cache=cache)
    on_test = hypothesis_only(test)
    predicted = predict(model, on_test, cache=cache)[0]
    frame = pd.DataFrame({"pair_id": test["pair_id"].astype(str).to_numpy(), "gold": label_ids(on_test),
                          "predicted": predicted})
    return {"encoder": encoder, "training pairs": len(train), "accuracy": float((frame["predicted"] == frame["gold"]).mean()),
            **hard_split_agreement(frame, hard_ids)}


def official_split_check(profile: str, pairs, encoders, data_source: str, data_dir: str = "", *,
                         seed: int) -> tuple[pd.DataFrame | None, str]:
    """:func:`split_check` for each of ``encoders`` against SNLI's ``test_hard`` file: ``(table, "")``, or
    ``(None, why not)`` where the data has no official hard split (synthetic data, or no ``test_hard`` file)."""
    from ..data import snli

    if data_source != "snli":
        return None, "the synthetic data has no official hard split"
    if not encoders:
        return None, "no frozen encoder has a hypothesis-only head"
    try:
        # never a download: the official archive has no test_hard file
        test = snli.load_snli("test", data_dir or None, download=False)
        hard = snli.load_snli("test_hard", data_dir or None, download=False)
    except FileNotFoundError as missing:
        return None, f"the hard-split check needs SNLI's test and test_hard files ({missing})"
    test = test[test["label"].isin(snli.LABELS)].reset_index(drop=True)
    return pd.DataFrame([split_check(profile, e, pairs, test, hard["pair_id"], seed=seed) for e in encoders]), ""


def hard_split_agreement(predictions: pd.DataFrame, hard_ids) -> dict:
    """How this rule's hard pairs (``predictions``: ``pair_id, gold, predicted``, pooled over any rows of a pair:
    not right for a majority) compare with the official hard split's pair ids: sizes, their overlap, and the
    share of this rule's hard pairs that are official hard pairs (precision) and of official ones found
    (recall)."""
    # as easy_pairs: a pair is hard unless a majority of the rows get it right (a tie is hard)
    wrong = (predictions["predicted"] != predictions["gold"]).groupby(predictions["pair_id"].astype(str)).mean() >= 0.5
    ours = set(wrong[wrong].index)
    official = {str(i) for i in hard_ids} & set(predictions["pair_id"].astype(str))
    both = ours & official
    return {"pairs": int(predictions["pair_id"].nunique()), "hard here": len(ours), "hard officially": len(official),
            "both": len(both), "precision": len(both) / len(ours) if ours else float("nan"),
            "recall": len(both) / len(official) if official else float("nan")}


def accuracy_table(book, baselines: dict, easy: np.ndarray | None) -> pd.DataFrame:
    """Per encoder: the full models' probe accuracy, the hypothesis-only heads' (``baselines``: encoder →
    :func:`baseline_predictions`), their difference, and the full models' accuracy on the easy and on the hard
    pairs; each pooled over seeds (:func:`~..stats.replicates.proportion`, 95 % intervals)."""
    from ..models.heads import label_ids
    from ..stats import replicates

    def shown(pooled, signed=False):
        if not np.isfinite(pooled.get("estimate", np.nan)):
            return "n/a"
        f = "{:+.1f}" if signed else "{:.1f}"
        text = " [".join([f.format(pooled["estimate"] * 100), f.format(pooled["ci_low"] * 100)])
        return f"{text}, {f.format(pooled['ci_high'] * 100)}] {'points' if signed else '%'}, {pooled['k']} seeds"

    gold = label_ids(book.pairs.probe)
    rows = []
    for e in book.encoders:
        full = book.probe_accuracy[book.probe_accuracy["encoder"] == e]
        pooled_full = replicates.proportion(full["correct"], full["n"], seeds=full["seed"])
        row = {"encoder": book.registry[e]["label"], "full model": shown(pooled_full),
               "hypothesis only": "not trained (the LSTM trains end to end)", "full − hypothesis only": "n/a"}
        if e in baselines:
            b = baselines[e]
            right = (b["predicted"] == b["gold"]).groupby(b["seed"]).agg(["sum", "count"])
            pooled_b = replicates.proportion(right["sum"], right["count"], seeds=right.index)
            row["hypothesis only"] = shown(pooled_b)
            row["full − hypothesis only"] = shown(replicates.mover_difference(pooled_full, pooled_b), signed=True)
        if easy is not None:
            right = [trained.probe_outputs(book.profile, e, book.pairs.probe, seed=s)["predictions"] == gold
                     for s in book.seeds(e)]  # each seed's outputs read once, for both splits
            for name, sel in (("on easy pairs", easy), ("on hard pairs", ~easy)):
                correct = [int(r[sel].sum()) for r in right]
                row[f"full model {name}"] = shown(replicates.proportion(correct, [int(sel.sum())] * len(correct),
                                                                         seeds=book.seeds(e)))
        rows.append(row)
    return pd.DataFrame(rows)
