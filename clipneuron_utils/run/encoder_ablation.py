"""Does the NLI head use the encoder's explained neurons? Chapter 12_inside_encoder holds sets of a frozen encoder's
own neurons at their mean inside the encoder, encodes a sample of probe pairs again, and reads the change of
each trained head's gold margin (in SDs of its intact margin on the sample), per layer group: the top k neurons
by excess IoU, k random neurons, and the top k by attribution (the positive control: the first-order estimate of
what holding each neuron costs the margin). Cached under ``runs/<profile>/encoder_neurons/``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..artifacts import cache_key, run_dir, save_frame
from ..stats import replicates
from . import caches, encoder_units

RANKINGS = ("top excess IoU", "random", "top attribution")


def layer_groups(n_layers: int, groups: int = 3) -> list[list[int]]:
    """The layers cut into ``groups`` consecutive groups (early, middle, late)."""
    return [list(map(int, g)) for g in np.array_split(np.arange(n_layers), min(groups, n_layers)) if len(g)]


def _sets(rows: pd.DataFrame, layers: list[int], width: int, scores: list[np.ndarray], k: int, draws: int, rng):
    """The unit sets of one group: each a dict layer → neuron indices, with its ranking and draw."""
    pool = [(layer, n) for layer in layers for n in range(width)]
    explained = rows[rows["layer"].isin(layers)].sort_values("excess_iou", ascending=False, kind="stable")
    top = list(zip(explained["layer"].astype(int), explained["neuron"].astype(int)))[:k]
    attribution = sorted(pool, key=lambda ln: -scores[ln[0]][ln[1]])[:k]
    out = [("top excess IoU", 0, top), ("top attribution", 0, attribution)]
    for d in range(draws):
        chosen = rng.choice(len(pool), min(k, len(pool)), replace=False)
        out.append(("random", d, [pool[i] for i in chosen]))
    return [(ranking, d, {layer: np.array([n for ln, n in units if ln == layer], dtype=np.int64) for layer in layers})
            for ranking, d, units in out]


def run(profile: str, book, name: str, rows: pd.DataFrame, *, k: int, n_pairs: int, draws: int, groups: int,
        seed: int, device: str = "cpu") -> pd.DataFrame:
    """One row per layer group, ranking, draw and head seed: ``delta`` (mean gold-margin change over the sampled
    pairs, in SDs of the intact margin) and ``var`` (its within-seed variance). ``rows``: the model's real,
    explained neurons at one regime and length (``layer``, ``neuron``, ``excess_iou``); ``device``: where the
    encoder runs (the heads read its features on the CPU; not part of the cache key)."""
    from ..models import encoder_ablation as A
    from ..models.heads import label_ids

    probe = book.pairs.probe
    sample = probe.sample(min(n_pairs, len(probe)), random_state=seed).reset_index(drop=True)
    seeds = book.seeds(name)
    key = cache_key(name, book.registry[name].get("encoder_params"), [book.registry[name].get("seeds")],
                    list(sample["pair_id"]), rows[["layer", "neuron", "excess_iou"]].to_numpy().tolist(), k, draws,
                    groups, seed, seeds)
    path = run_dir(profile, "encoder_neurons", "ablation") / f"{name}-{key}.pkl"
    found = caches.cached_frame(path, f"{name} encoder ablation")
    if found is not None:
        return found
    from tqdm.auto import tqdm

    source = encoder_units.neuron_source(book.registry, name, seed=seed, device=device)
    premises, hypotheses = list(sample["premise"]), list(sample["hypothesis"])
    gold = label_ids(sample)
    heads = [book.trained[name, s] for s in seeds]
    fills = A.mean_fills(source, list(dict.fromkeys(premises + hypotheses)))
    u0, v0 = A.features(source, premises), A.features(source, hypotheses)
    intact = [A.head_margins(h, u0, v0, gold) for h in heads]
    scores = A.attributions(source, heads, premises, hypotheses, gold, fills, intact=(u0, v0))
    rng = np.random.default_rng(seed)
    out = []
    plan = [(g, s) for g, layers in enumerate(layer_groups(source.n_layers, groups))
            for s in _sets(rows, layers, source.width, scores, k, draws, rng)]
    for g, (ranking, draw, held) in tqdm(plan, desc=f"{name}: encoder ablations", unit="set", leave=False):
        u, v = A.features(source, premises, held, fills), A.features(source, hypotheses, held, fills)
        for s, head, base in zip(seeds, heads, intact):
            change = (A.head_margins(head, u, v, gold) - base) / (base.std() or 1.0)
            out.append({"model": name, "group": g, "layers": ", ".join(str(x) for x in sorted(held)),
                        "ranking": ranking, "draw": draw, "seed": int(s), "units": int(sum(map(len, held.values()))),
                        "delta": float(change.mean()),
                        "var": replicates.mean_variance(float(change.var(ddof=1)), len(change))})
    frame = pd.DataFrame(out)
    save_frame(path, frame)
    return frame


def effects(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model, layer group and comparison (each ranking's change, and top excess IoU − random, top
    attribution − random, per seed), pooled over the heads' seeds (:func:`~..stats.replicates.pool`)."""
    rows = []
    # a ranking with several draws (random sets): its per-seed figure is the mean over draws, whose variance adds
    # the spread between the draws (which neurons were drawn) to the pairs' own (the mean of their variances)
    per_seed = frame.groupby(["model", "group", "layers", "ranking", "seed"], sort=False).agg(
        delta=("delta", "mean"), var=("var", "mean"), spread=("delta", "var"), draws=("delta", "size")).reset_index()
    per_seed["var"] = per_seed["var"] + per_seed["spread"].fillna(0.0) / per_seed["draws"]
    for (model, group, layers), part in per_seed.groupby(["model", "group", "layers"], sort=False):
        wide = part.pivot(index="seed", columns="ranking", values=["delta", "var"])
        comparisons = {r: (wide["delta"][r], wide["var"][r]) for r in RANKINGS if r in wide["delta"]}
        for r in ("top excess IoU", "top attribution"):
            if r in wide["delta"] and "random" in wide["delta"]:
                comparisons[f"{r} − random"] = (wide["delta"][r] - wide["delta"]["random"],
                                                wide["var"][r] + wide["var"]["random"])
        for what, (delta, var) in comparisons.items():
            pooled = replicates.pool(delta.to_numpy(), var.to_numpy(), seeds=delta.index.to_numpy())
            rows.append({"model": model, "group": group, "layers": layers, "comparison": what,
                         "estimate": pooled["estimate"], "ci_low": pooled["ci_low"], "ci_high": pooled["ci_high"],
                         "seeds": pooled["k"]})
    return pd.DataFrame(rows)


def effect_lines(effects: pd.DataFrame) -> list[str]:
    """The summary box's sentence per model, layer group and comparison with random neurons."""
    if not len(effects):
        return []
    return [f"Ablation, {r['model']} layers {r['layers']}, {r['comparison']}: {r['estimate']:+.4f} SD "
            f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] ({r['seeds']} heads)."
            for _, r in effects[effects["comparison"].str.endswith("− random")].iterrows()]
