"""Hypothesis-only baselines (Poliak et al., 2018; Gururangan et al., 2018): a head of the same design as chapter
03_head_training's, trained on the hypothesis alone.

The premise slot of every pair holds the empty sentence (:data:`PREMISE`), so the head's input carries nothing
of the premise: the same constant for every pair. The frozen encoders' heads train on cached features in about
a minute each; the LSTM trains end to end (12–16 minutes per model on 2 cores for the offline build) and is
not trained here. The *hard* pairs are those the baseline gets wrong, as Gururangan et al. split SNLI's test
set (with a fastText hypothesis-only classifier); :func:`hard_split_agreement` says how far this rule, with
this build's baseline, is from their ``test_hard`` file.
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
    and only sentences outside them (the empty premise) are encoded."""

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
        if missing:
            known.update(zip(missing, encoder.encode(missing, progress=False)))
            self.encoded += len(missing)
        return np.stack([known[s] for s in sentences])


def hypothesis_only(pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` with the premise slot emptied (text, tokens and tags): what a hypothesis-only head sees."""
    n = len(pairs)
    return pairs.assign(premise=[PREMISE] * n, premise_tokens=[[] for _ in range(n)], premise_tags=[[] for _ in range(n)])


def baseline_predictions(profile: str, encoder: str, pairs, seeds, *, extra: pd.DataFrame | None = None,
                         device: str = "auto") -> pd.DataFrame:
    """Per seed, the hypothesis-only head's predictions on the probe pairs (``split`` probe) and on ``extra``
    pairs (``split`` extra, e.g. SNLI's test split for the hard-split check): one row per pair and seed with
    ``pair_id``, ``gold`` and ``predicted`` (label indices)."""
    from ..models.heads import label_ids
    from ..models.outputs import predict

    train, probe = hypothesis_only(pairs.train), hypothesis_only(pairs.probe)
    cache = SentenceCache(trained.feature_cache(), pairs.train, pairs.probe)
    frames = []
    for seed in seeds:
        model, outputs = trained.train_on(profile, encoder, pairs, train, probe, tag=TAG, seed=seed, device=device,
                                          cache=cache)
        frames.append(pd.DataFrame({"pair_id": pairs.probe["pair_id"].astype(str).to_numpy(), "gold": label_ids(probe),
                                    "predicted": np.asarray(outputs["predictions"]), "split": "probe", "seed": int(seed)}))
        if extra is not None and len(extra):
            more = hypothesis_only(extra)
            frames.append(pd.DataFrame({"pair_id": extra["pair_id"].astype(str).to_numpy(), "gold": label_ids(more),
                                        "predicted": predict(model, more, cache=cache)[0],
                                        "split": "extra", "seed": int(seed)}))
    return pd.concat(frames, ignore_index=True).assign(encoder=encoder)


def hard_split_agreement(predictions: pd.DataFrame, hard_ids) -> dict:
    """How this build's hard pairs (``predictions`` on the extra split, pooled: wrong for the majority of seeds)
    compare with the official hard split's pair ids: sizes, their overlap, and the share of this build's hard
    pairs that are official hard pairs (precision) and of official ones found (recall)."""
    extra = predictions[predictions["split"] == "extra"]
    wrong = (extra["predicted"] != extra["gold"]).groupby(extra["pair_id"]).mean() > 0.5
    ours = set(wrong[wrong].index.astype(str))
    official = {str(i) for i in hard_ids} & set(extra["pair_id"].astype(str))
    both = ours & official
    return {"pairs": int(extra["pair_id"].nunique()), "hard here": len(ours), "hard officially": len(official),
            "both": len(both), "precision": len(both) / len(ours) if ours else float("nan"),
            "recall": len(both) / len(official) if official else float("nan")}
