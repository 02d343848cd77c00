"""Chapter 12_inside_encoder's work on the frozen encoders' own neurons: their per-sentence activations (cached),
the masks of every regime (top α, and each of K clusters), the search and its matched null per mask, and
planted neurons as the positive control.

Models: the registered frozen encoders (MiniLM, CLIP: untrained where no checkpoint was given, then it is an
architecture-only control) and ``minilm-random``, MiniLM's architecture with random weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, discard, load_array, run_dir, save_array, save_frame
from ..explain import clusters as C
from ..explain.search import beam_search_by_length, threshold_activations, top_count
from . import caches

RANDOM_MINILM = "minilm-random"
PLANTED_SCALE = 3.0  # a planted neuron: its word's indicator × this + its real neuron's standardised values,
NOISE_CUT = 1.5  # cut at ± this many SDs
VERSION = 3  # of the explanations' cache: 2, planted noise from real neurons only; 3, the top cluster always numbered K


def regime_label(regime) -> str:
    """``top 0.5 %`` for an α, ``cluster c of K`` for a cluster (1: lowest activations)."""
    if isinstance(regime, tuple):
        return f"cluster {regime[0] + 1} of {regime[1]}"
    return f"top {float(regime) * 100:g} %"


def model_names(registry: dict) -> list[str]:
    """The encoders whose neurons are explained, with MiniLM's random-weight control after MiniLM."""
    names = []
    for name in ("minilm", "clip"):
        if name in registry:
            names += [name, RANDOM_MINILM] if name == "minilm" else [name]
    return names


def neuron_source(registry: dict, name: str, *, seed: int, device: str = "cpu"):
    """The :class:`~clipneuron_utils.models.encoder_neurons.NeuronSource` of ``name``."""
    from ..models import encoder_neurons as N
    from ..models.encoders import make_encoder

    base = "minilm" if name == RANDOM_MINILM else name
    encoder = make_encoder(base, **(registry[base].get("encoder_params") or {}), device=device)
    identity = {**encoder.identity, "neurons": "mlp, max over own tokens"}
    if base == "clip":
        return N.clip_source(encoder, name, identity)
    model = encoder.model
    if name == RANDOM_MINILM:
        model = N.random_minilm(model, seed)
        identity = {**identity, "random weights": int(seed), "random init": "BertModel(config), swapped in"}
    return N.minilm_source(model, name, identity)


def activations(profile: str, source, sentences, *, batch_size: int = 128) -> list[np.ndarray]:
    """Per layer, (sentences × width) float16 maxima (:func:`~clipneuron_utils.models.encoder_neurons.sentence_maxima`),
    cached under ``runs/<profile>/encoder_neurons/`` by the encoder's identity, the sentences and the layer."""
    from ..models.encoder_neurons import sentence_maxima

    key = cache_key(source.identity, list(sentences))
    paths = [run_dir(profile, "encoder_neurons", "activations") / f"{source.name}-{key}-layer{i}.npy"
             for i in range(source.n_layers)]
    try:
        if all(p.is_file() for p in paths):
            print(f"cache hit: {source.name} neuron activations ({len(paths)} layers)")
            return [load_array(p) for p in paths]
    except CorruptArtifactError as exc:
        print(exc.notice())
        for p in paths:
            discard(p)
    out = sentence_maxima(source, sentences, batch_size=batch_size)
    for p, layer in zip(paths, out):
        save_array(p, layer)
    return out


def sample_sentences(sentences: pd.DataFrame, n: int, *, seed: int) -> pd.DataFrame:
    """``n`` of the ``sentences`` (a seeded sample, in their order; every sentence when ``n`` is 0 or at least
    their number): the encoders' neurons are read on these."""
    if not n or n >= len(sentences):
        return sentences.reset_index(drop=True)
    keep = np.sort(np.random.default_rng(seed).choice(len(sentences), n, replace=False))
    return sentences.iloc[keep].reset_index(drop=True)


def sample_neurons(width: int, n: int, *, seed: int, layer: int) -> np.ndarray:
    """``n`` neurons of a layer of ``width`` (sorted; every neuron when ``n`` is 0 or at least the width)."""
    if not n or n >= width:
        return np.arange(width)
    return np.sort(np.random.default_rng([seed, layer]).choice(width, n, replace=False))


def planted(acts: np.ndarray, concepts, alpha: float, n: int, *, seed: int) -> tuple[np.ndarray, list[str]]:
    """``n`` planted neurons for the top-``alpha`` regime: each is a word concept W's indicator × :data:`PLANTED_SCALE`
    plus a real neuron's standardised activations (cut to ±1.5 SD, as chapter 10_causal's planted units), W drawn among the words that hold on
    between half and all of the top ⌈α·N⌉ sentences. Returns ``(activations (sentences × n), words)``; none
    where no word has such a count."""
    rng = np.random.default_rng(seed)
    k = top_count(acts.shape[0], alpha)
    counts = concepts.counts()
    words = [name for name, c in zip(concepts.names, counts) if name.startswith("tok:") and k // 2 <= c <= k]
    if not words or n <= 0:
        return np.zeros((acts.shape[0], 0), dtype=np.float32), []
    chosen = [words[i] for i in rng.choice(len(words), min(n, len(words)), replace=False)]
    noise = acts[:, rng.choice(acts.shape[1], len(chosen), replace=True)].astype(np.float64)
    noise = np.clip((noise - noise.mean(0)) / (noise.std(0) + 1e-9), -NOISE_CUT, NOISE_CUT)
    signal = np.stack([concepts.mask(w) for w in chosen], axis=1)
    return (PLANTED_SCALE * signal + noise).astype(np.float32), chosen


def regime_masks(acts: np.ndarray, alphas, k: int, *, seed: int) -> dict:
    """Every regime's masks of a layer's (sentences × neurons) activations: each α's top ⌈α·N⌉ sentences (ties by
    sentence order; :func:`~clipneuron_utils.explain.search.threshold_activations`), and each of the ``k``
    1-D k-means clusters (``(c, k)`` keys)."""
    out = {float(a): threshold_activations(acts, float(a)) for a in alphas}
    if k:
        cl = C.cluster_masks(acts, k, seed=seed)
        out.update({(c, k): cl[c] for c in range(k)})
    return out


def explain(profile: str, masks: dict, concepts, *, min_acts: int, null_draws: int, seed: int, bin_width: float,
            n_jobs: int = 1, **search_params) -> pd.DataFrame:
    """The search and its matched null for every regime's masks (``masks``: regime → (sentences × neurons)):
    one row per regime, neuron and formula length with ``regime``, the search's columns, the null's and
    ``excess_iou``. The null's draws are kept by :func:`~.caches.null_draws` (shared by every layer and model
    searched with these concepts)."""
    from ..explain import controls
    from ..explain.regime import regime_min_acts

    frames = []
    for regime, mask in masks.items():
        least = regime_min_acts(min_acts, regime if not isinstance(regime, tuple) else None, mask.shape[0])
        params = {**search_params, "min_acts": least}
        real = beam_search_by_length(mask, concepts, progress=False, n_jobs=n_jobs, **params)
        null = controls.matched_null(
            mask, concepts, n_draws=null_draws, seed=seed, bin_width=bin_width, real=real,
            draws_for=lambda counts, params=params: caches.null_draws(
                profile, concepts, counts, n_pairs=mask.shape[0], n_draws=null_draws, seed=seed, n_jobs=n_jobs,
                **params),
            n_jobs=n_jobs, **params)
        frames.append(controls.attach(real, null).assign(regime=regime_label(regime)))
    return pd.concat(frames, ignore_index=True)


def explain_model(profile: str, name: str, layers: list[np.ndarray], concepts, *, alphas, k: int, per_layer: int,
                  planted_per_alpha: int, seed: int, params: dict, n_jobs: int = 1) -> pd.DataFrame:
    """Every layer of one model (a sample of ``per_layer`` neurons each; 0: all), with ``planted_per_alpha``
    planted neurons per α appended to the first layer, cached by everything it depends on: one row per
    layer, regime, neuron and formula length (``planted``: the planted word, else None; ``planted_for``: the
    regime it was planted for; planted neurons have negative ids)."""
    key = cache_key(name, [cache_key(a) for a in layers], concepts.names, concepts.masks.indptr,
                    concepts.masks.indices, sorted(map(float, alphas)), k, per_layer, planted_per_alpha, seed,
                    sorted(params.items()), PLANTED_SCALE, NOISE_CUT, VERSION)
    path = run_dir(profile, "encoder_neurons", "explanations") / f"{name}-{key}.pkl"
    found = caches.cached_frame(path, f"{name} neuron explanations")
    if found is not None:
        return found
    from tqdm.auto import tqdm

    frames = []
    for layer, acts in enumerate(tqdm(layers, desc=f"{name} layers", unit="layer", leave=False)):
        chosen = sample_neurons(acts.shape[1], per_layer, seed=seed, layer=layer)
        values, words, meant = acts[:, chosen].astype(np.float32), [None] * len(chosen), [None] * len(chosen)
        if layer == 0:
            real = values  # every planted neuron's noise comes from a real neuron, never from another planted one
            for a in alphas:
                extra, found = planted(real, concepts, float(a), planted_per_alpha, seed=seed + int(a * 1e6))
                values, words = np.hstack([values, extra]), words + found
                meant += [regime_label(float(a))] * len(found)
        ids = np.concatenate([chosen, -1 - np.arange(values.shape[1] - len(chosen))])  # planted: negative ids
        rows = explain(profile, regime_masks(values, alphas, k, seed=seed), concepts, seed=seed, n_jobs=n_jobs,
                       **params)
        rows["planted"] = np.asarray(words, dtype=object)[rows["neuron"].to_numpy()]
        rows["planted_for"] = np.asarray(meant, dtype=object)[rows["neuron"].to_numpy()]
        rows["neuron"] = ids[rows["neuron"].to_numpy()]
        frames.append(rows.assign(layer=layer))
    out = pd.concat(frames, ignore_index=True).assign(model=name)
    save_frame(path, out)
    return out


def check_models(registry: dict) -> list[str]:
    """The models to explain, or a clear error when no frozen encoder was trained (chapter 03_head_training)."""
    names = model_names(registry)
    if not names:
        raise RuntimeError("no frozen encoder (minilm, clip) is registered: chapter 12_inside_encoder explains their "
                           f"neurons; train one in chapter 03_head_training (registered: {sorted(registry)})")
    return names


def attach_trained(registry: dict) -> dict:
    """Whether each model's weights are trained (a random MiniLM and an untrained CLIP are controls)."""
    out = {}
    for name in model_names(registry):
        weights = ((registry.get(name) or {}).get("encoder_params") or {}).get("weights")
        out[name] = name != RANDOM_MINILM and weights != "untrained"
    return out

