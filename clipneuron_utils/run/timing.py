"""Measuring the estimate's rates: each stage of the chapters timed on a small sample on this machine, on
the device the chapters would use (encoding on batches of the encoder's own length-sorted plan, training
and scoring as whole passes, the search on masks of the probe split's shape). Nothing is kept: the
measurements run in a temporary ``$CLIPNEURON_RUNS`` with Hugging Face offline.

The models' stages (encoders, frozen heads, the LSTM) are timed here; the explanation's (search, WordNet,
loading) in :mod:`.timing_explain`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from .timing_explain import time_loading, time_search, time_wordnet
from .workload import DataCounts


#: soft limit of one timing (s): on a loaded machine fewer repeats are timed, so ``--estimate`` stays short
BUDGET_S = 10.0


_WORDNET_FALLBACK_S = {"load": 4.0, "build": 1.5}


@dataclass
class Measurements:
    """Rates measured on this machine (what :func:`project` multiplies by the work)."""

    device: str
    load_lines_per_s: float  # SNLI file lines read and parsed per second
    tokenize_per_s: float | None = None  # CLIP BPE token counts per second (chapter 02_encoders's truncation table)
    encoder_load_s: dict[str, float] = field(default_factory=dict)  # building each frozen encoder
    encode_per_s: dict[str, float] = field(default_factory=dict)  # distinct sentences per second, our encoding
    reference_per_s: dict[str, float] = field(default_factory=dict)  # CLIP's encode_text at 77 tokens
    train_pairs_per_s: dict[str, float] = field(default_factory=dict)  # training pairs per second (per model)
    eval_pairs_per_s: dict[str, float] = field(default_factory=dict)  # scoring pairs per second (eval mode)
    search_atoms_s: float = 0.0  # s per neuron of a length-1 search (scoring every atom)
    search_round_s: float = 0.0  # s per neuron of each further round (beam × expansion atoms)
    concepts_s: dict[str, float] = field(default_factory=dict)  # 'standard', 'wordnet' (one build), 'wordnet_load'
    labels: dict[str, str] = field(default_factory=dict)  # what was timed, e.g. the CLIP model actually built
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # time the measurements took


@contextlib.contextmanager
def sandbox():
    """While measuring: runs/ in a temporary folder, Hugging Face offline (no download), progress bars off."""
    from ..artifacts import RUNS_ENV, environment

    with tempfile.TemporaryDirectory(prefix="clipneuron-estimate-") as tmp, \
            environment(**{RUNS_ENV: tmp}, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1"):
        yield tmp


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _sentences(frame, n: int, seed: int = 0) -> list[str]:
    unique = list(dict.fromkeys([*frame["premise"], *frame["hypothesis"]]))
    rng = np.random.default_rng(seed)
    return [unique[i] for i in rng.choice(len(unique), size=min(n, len(unique)), replace=False)]


def strata(n: int, k: int) -> list[int]:
    """Indices of ``k`` items spread over ``n`` ordered ones, one at the middle of each of ``k`` equal strata.

    Middles, not ends: the first and last batch of a length order hold the extreme sentences, and with a
    few strata each would weigh ``1/k`` instead of ``1/n`` (end points projected MiniLM's encoding 1.4×
    too slow)."""
    k = max(min(k, n), 1)
    return sorted({min(int((i + 0.5) * n / k), n - 1) for i in range(k)})


def _plan_batches(encoder, pool: list[str], n_batches: int):
    """``(batches, run)``: ``n_batches`` full batches of the encoder's own batch plan over ``pool``, evenly
    spaced along its length order, or None for an encoder without a plan.

    A run encodes its distinct sentences sorted by length, each batch cut to its longest sentence, so a
    batch costs what its length costs. Random sentences in one batch pad to the longest of them and ran
    about 2× slower than the offline run (170 vs 460 sentences/s for MiniLM); batches taken at evenly spaced
    quantiles of the plan's length order cost, on average, what the run's batches cost."""
    plan = encoder._batch_plan(pool, encoder.default_batch_size) if hasattr(encoder, "_batch_plan") else None
    if plan is None:
        return None
    batches, run = plan
    full = [idx for idx in batches if len(idx) == encoder.default_batch_size] or batches
    chosen = [full[i] for i in strata(len(full), n_batches)]
    run(chosen[0])  # warm-up at this batch size
    return chosen, run


def time_encoder(name: str, values: dict, sentences: list[str], device: str, *, n_encode: int, n_reference: int,
                 n_tokenize: int, pool: list[str] | None = None) -> dict:
    """Build one frozen encoder (the profile's weights if they load here, else the same architecture
    untrained) and time its encoding; returns the figures and a note. ``n_encode``: batches of the
    encoder's plan over ``pool`` (the distinct sentences of the sample) that are timed."""
    from ..models.clip import ClipWeightsError
    from ..models.encoders import make_encoder
    from .trained import encoder_params

    out: dict = {"note": None}
    params = encoder_params(name, values.get("clip_model", "ViT-B-32"), values.get("clip_weights", "openai"),
                            values.get("clip_sha256", ""))
    started = time.perf_counter()
    try:
        encoder = make_encoder(name, **params, device=device)
    except ClipWeightsError as exc:
        first = str(exc).splitlines()[0]
        params = {**params, "weights": "untrained", "sha256": None}
        started = time.perf_counter()
        encoder = make_encoder(name, **params, device=device)
        out["note"] = (f"CLIP {params['model_name']} weights {values.get('clip_weights')!r} cannot be loaded here "
                       f"({first}); timed the same architecture UNTRAINED: the speed does not depend on the weights")
    out["load_s"] = time.perf_counter() - started
    out["label"] = encoder.name
    out["dim"] = encoder.dim
    encoder.encode(sentences[:8], progress=False)  # warm-up
    _sync(device)
    planned = _plan_batches(encoder, pool or sentences, n_encode)
    if planned is not None:  # batches of the encoder's own plan, spread over its length order (see _plan_batches)
        batches, run = planned
        seconds = _median_seconds(lambda: [run(idx) for idx in batches], device)
        out["encode_per_s"] = sum(len(idx) for idx in batches) / seconds
    else:
        chunk = sentences[8 : 8 + n_encode] if len(sentences) > 8 + n_encode // 2 else sentences[:n_encode]
        out["encode_per_s"] = len(chunk) / _median_seconds(lambda: encoder.encode(chunk, progress=False), device)
    reference = getattr(encoder, "encode_reference", None)
    if reference is not None and n_reference:
        reference(sentences[:4])
        few = sentences[:n_reference]
        out["reference_per_s"] = len(few) / _median_seconds(lambda: reference(few), device)
    if hasattr(encoder, "token_lengths") and n_tokenize:
        try:
            started = time.perf_counter()
            encoder.token_lengths(sentences[:n_tokenize])
            out["tokenize_per_s"] = min(n_tokenize, len(sentences)) / max(time.perf_counter() - started, 1e-9)
        except NotImplementedError:
            pass
    return out


def _median_seconds(work: Callable[[], object], device: str, repeats: int = 3) -> float:
    """Median wall seconds of ``repeats`` runs of ``work`` (one burst of other work on a shared machine
    does not decide the rate; fewer runs once :data:`BUDGET_S` is spent)."""
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        work()
        _sync(device)
        times.append(time.perf_counter() - started)
        if sum(times) > BUDGET_S:
            break
    return max(float(np.median(times)), 1e-9)


def head_config(values: dict):
    """Chapter 03_head_training's HeadConfig from the parameter values."""
    from ..models.heads import HeadConfig

    return HeadConfig(hidden=values.get("hidden", 1024), dropout=values.get("dropout", 0.1),
                      input_norm=values.get("input_norm", True), lr=values.get("lr", 1e-3),
                      batch_size=values.get("batch_size", 128), max_epochs=values.get("max_epochs", 20),
                      lstm_max_epochs=values.get("lstm_max_epochs") or None, patience=values.get("patience", 3),
                      val_fraction=values.get("val_fraction", 0.1), seed=values.get("seed", 0),
                      lstm_embedding_dim=values.get("lstm_embedding_dim", 300),
                      lstm_hidden_dim=values.get("lstm_hidden_dim", 512),
                      lstm_bidirectional=values.get("lstm_bidirectional", True),
                      lstm_max_vocab=values.get("lstm_max_vocab") or None)


def _stepper(model, device: str) -> Callable:
    """Chapter 03_head_training's training step (forward, cross-entropy, backward, Adam) for ``model`` on ``device``."""
    import torch
    from torch import nn

    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=model.config.lr)
    loss_fn = nn.CrossEntropyLoss()

    def step(inputs, target):
        logits = model(*_encode_inputs(model, inputs, device))
        loss = loss_fn(logits, target.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach().item() + int((logits.argmax(1) == target.to(device)).sum())  # training.train syncs too

    return step


def _train_steps(model, batches: list, device: str, warmup: int = 2) -> float:
    """Seconds per pair of chapter 03_head_training's training step over ``batches`` (each ``(inputs, targets)``), after
    ``warmup`` untimed steps (:func:`_per_pair`)."""
    step = _stepper(model, device)
    for inputs, target in batches[:warmup]:
        step(inputs, target)
    _sync(device)
    timed = batches[warmup:] or batches
    return _per_pair(timed, lambda batch: step(*batch), device)


def _per_pair(batches: list, work: Callable, device: str, repeats: int = 3) -> float:
    """Seconds per pair of ``work`` over every batch of ``batches`` (each ``(inputs, targets)``): the median
    of up to ``repeats`` passes over all of them (fewer once :data:`BUDGET_S` is spent).

    Every pass covers every batch, so no batch is left out of a rate (the frozen heads and scoring; the
    LSTM's training, whose batches differ in length, is timed batch by batch: :func:`lstm_epoch_seconds`)."""
    pairs = sum(len(target) for _, target in batches)
    per_pair, begun = [], time.perf_counter()
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        for batch in batches:
            work(batch)
        _sync(device)
        per_pair.append((time.perf_counter() - started) / pairs)
        if time.perf_counter() - begun > BUDGET_S:
            break
    return float(np.median(per_pair))


def _eval_steps(model, batches: list, device: str) -> float:
    """Seconds per pair of scoring in eval mode (hidden units and logits), as ``heads`` does for the held-out
    slice and the probe pairs."""
    import torch

    model.to(device).eval()
    with torch.inference_mode():
        model.hidden_units(*_encode_inputs(model, batches[0][0], device))

        def score(batch):
            h = model.hidden_units(*_encode_inputs(model, batch[0], device))
            model.mlp[3](model.mlp[2](h)).cpu()

        return _per_pair(batches, score, device)


def _encode_inputs(model, inputs, device: str):
    """(u, v) of a batch: frozen features as they are, LSTM token ids through the model's encoder."""
    if model.lstm is None:
        u, v = inputs
        return u.to(device, non_blocking=True), v.to(device, non_blocking=True)
    (p_ids, p_len), (h_ids, h_len) = inputs
    return model.lstm(p_ids.to(device), p_len.to(device)), model.lstm(h_ids.to(device), h_len.to(device))


def time_frozen_head(name: str, dim: int, values: dict, device: str, *, n_batches: int, n_eval: int) -> dict:
    """Training and scoring pairs/s of a frozen encoder's head on random features of its dimension."""
    import torch

    from ..models.heads import NLIModel

    config = head_config(values)
    torch.manual_seed(0)
    model = NLIModel(name, config, dim)
    size = config.batch_size

    def batches(n, size):
        return [((torch.randn(size, dim), torch.randn(size, dim)), torch.randint(0, 3, (size,))) for _ in range(n)]

    train_s = _train_steps(model, batches(n_batches + 2, size), device)
    eval_s = _eval_steps(model, batches(max(n_eval // 1024, 1), 1024), device)
    return {"train_per_s": 1 / train_s, "eval_per_s": 1 / eval_s}


def _padded(seqs: list[np.ndarray]):
    import torch

    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for row, s in enumerate(seqs):
        out[row, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)


def time_lstm(frame, vocab_size: int, values: dict, device: str, *, n_batches: int, n_eval: int) -> dict:
    """Training and scoring pairs/s of the LSTM model on real sentences, batched as ``training.train`` does
    (pools of 50 batches sorted by length), with an embedding of the projected vocabulary size."""
    import torch

    from ..models.heads import NLIModel

    config = head_config(values)
    seen = list(dict.fromkeys(t for col in ("premise_tokens", "hypothesis_tokens") for toks in frame[col] for t in toks))
    vocab = ["<pad>", "<unk>", *seen[: max(vocab_size - 2, 1)]]
    vocab += [f"<fill{i}>" for i in range(max(vocab_size - len(vocab), 0))]
    index = {w: i for i, w in enumerate(vocab)}
    ids = lambda toks: np.array([index.get(t, 1) for t in toks] or [1], dtype=np.int64)  # noqa: E731
    torch.manual_seed(0)
    model = NLIModel("lstm", config, 0, vocab=vocab)
    rng = np.random.default_rng(0)
    size = config.batch_size
    pool = rng.choice(len(frame), size=min(50 * size, len(frame)), replace=False)
    lengths = np.array([len(frame["premise_tokens"].iat[i]) * 1000 + len(frame["hypothesis_tokens"].iat[i]) for i in pool])
    pool = pool[np.argsort(lengths, kind="stable")]
    cut = [pool[i : i + size] for i in range(0, len(pool), size)]
    full = [c for c in cut if len(c) == size] or cut
    spread = np.array(strata(len(full), n_batches))
    # one batch of the middle length warms up (untimed); then every stratum of the length order, shuffled
    chosen = [full[len(full) // 2]] + [full[i] for i in rng.permutation(spread)]

    def batch(rows):
        rows = np.asarray(rows, dtype=np.int64)
        p = _padded([ids(frame["premise_tokens"].iat[i]) for i in rows])
        h = _padded([ids(frame["hypothesis_tokens"].iat[i]) for i in rows])
        return (p, h), torch.randint(0, 3, (len(rows),))

    built = [batch(r) for r in chosen]
    times = _train_batch_seconds(model, built, device, warmup=1)
    slots = [_token_slots(inputs) for inputs, _ in built[1:]]
    train_s = lstm_epoch_seconds(frame, config, slots, times) / split_fit_val(len(frame), config.val_fraction)[0]
    order = np.argsort([len(frame["premise_tokens"].iat[i]) * 1000 + len(frame["hypothesis_tokens"].iat[i])
                        for i in range(len(frame))], kind="stable")
    n_eval = min(n_eval, len(frame))
    pick = order[np.linspace(0, len(order) - 1, n_eval).astype(int)]
    eval_s = _eval_steps(model, [batch(pick[i : i + 256]) for i in range(0, n_eval, 256)], device)
    return {"train_per_s": 1 / train_s, "eval_per_s": 1 / eval_s}


def _token_slots(inputs) -> int:
    """Padded token positions of an LSTM batch: rows × (longest premise + longest hypothesis)."""
    (p_ids, _), (h_ids, _) = inputs
    return int(p_ids.shape[0] * (p_ids.shape[1] + h_ids.shape[1]))


def _train_batch_seconds(model, batches: list, device: str, warmup: int = 1, repeats: int = 3) -> np.ndarray:
    """Seconds of one training step on each of ``batches[warmup:]``: the median over up to ``repeats`` passes
    (fewer once :data:`BUDGET_S` is spent), after ``warmup`` untimed steps."""
    step = _stepper(model, device)
    for inputs, target in batches[:warmup]:
        step(inputs, target)
    timed, passes, begun = batches[warmup:] or batches, [], time.perf_counter()
    for _ in range(repeats):
        seconds = []
        for inputs, target in timed:
            _sync(device)
            started = time.perf_counter()
            step(inputs, target)
            _sync(device)
            seconds.append(time.perf_counter() - started)
        passes.append(seconds)
        if time.perf_counter() - begun > BUDGET_S:
            break
    return np.median(np.array(passes), axis=0)


def lstm_epoch_seconds(frame, config, slots: Sequence[int], seconds: Sequence[float]) -> float:
    """Seconds of one LSTM training epoch over ``frame``'s fitted pairs, from timed batches.

    A batch's step costs about ``a + b × token slots`` (rows × its longest premise + longest hypothesis),
    fitted on the timed batches; the sum runs over every batch of the epoch's own plan
    (:func:`clipneuron_utils.models.batches.minibatches`: pools of 50 batches sorted by length). Long sentences are
    rare but cost several short batches each: a mean over a few timed batches projected the offline LSTM's
    epochs 18-29 % too short, this sum within a few percent of the same pairs' real epoch."""
    from types import SimpleNamespace

    from ..models.batches import minibatches

    slots, seconds = np.asarray(slots, dtype=float), np.asarray(seconds, dtype=float)
    if len(slots) >= 2 and np.ptp(slots) > 0:
        b, a = np.polyfit(slots, seconds, 1)
        if b <= 0 or a < 0:  # a noisy fit: proportional to the slots through the timed total
            a, b = 0.0, seconds.sum() / slots.sum()
    else:
        a, b = 0.0, seconds.sum() / max(slots.sum(), 1.0)
    n_fit = split_fit_val(len(frame), config.val_fraction)[0]
    rng = np.random.default_rng(config.seed)
    p = [range(max(len(t), 1)) for t in frame["premise_tokens"]]  # lengths are all minibatches reads
    h = [range(max(len(t), 1)) for t in frame["hypothesis_tokens"]]
    plan = minibatches(rng.permutation(len(frame))[:n_fit], config, rng,
                    SimpleNamespace(p_ids=p, h_ids=h) if config.lstm_bucket else None)
    total = sum(a + b * len(idx) * (max(len(p[i]) for i in idx) + max(len(h[i]) for i in idx)) for idx in plan)
    return float(total)


def measure(values: dict, counts: DataCounts, device: str = "cpu") -> Measurements:
    """Time every stage the profile runs, on small samples (well under a minute on 2 CPU cores)."""
    import torch

    started = time.perf_counter()
    encoders = list(dict.fromkeys(values.get("encoders", ["clip", "lstm", "minilm"])))
    m = Measurements(device=device, load_lines_per_s=time_loading(counts, values))
    sample = counts.sample
    sentences, pool = _sentences(sample, 408), _sentences(sample, 4096, seed=1)
    for name in [e for e in encoders if e != "lstm"]:
        figures = time_encoder(name, values, sentences, device, n_encode=6 if name == "clip" else 4, pool=pool,
                               n_reference=12 if name == "clip" else 0, n_tokenize=400 if name == "clip" else 0)
        m.encoder_load_s[name] = figures["load_s"]
        m.encode_per_s[name] = figures["encode_per_s"]
        m.labels[name] = figures["label"]
        if "reference_per_s" in figures:
            m.reference_per_s[name] = figures["reference_per_s"]
        if "tokenize_per_s" in figures:
            m.tokenize_per_s = figures["tokenize_per_s"]
        if figures["note"]:
            m.notes.append(figures["note"])
        head = time_frozen_head(name, figures["dim"], values, device, n_batches=18, n_eval=4096)
        m.train_pairs_per_s[name], m.eval_pairs_per_s[name] = head["train_per_s"], head["eval_per_s"]
    if "lstm" in encoders:
        lstm = time_lstm(sample, counts.lstm_vocab, values, device, n_batches=8, n_eval=768)
        m.train_pairs_per_s["lstm"], m.eval_pairs_per_s["lstm"] = lstm["train_per_s"], lstm["eval_per_s"]
        m.labels["lstm"] = (f"LSTM {values.get('lstm_embedding_dim', 300)}→{values.get('lstm_hidden_dim', 512)} "
                            f"{'bi' if values.get('lstm_bidirectional', True) else 'uni'}directional, "
                            f"vocabulary {counts.lstm_vocab:,}")
    probe = counts.probe_pairs
    search = time_search(probe, values, n_masks=24, n_pairs=counts.probe.labelled)
    m.search_atoms_s, m.search_round_s = search["atoms_s"], search["round_s"]
    m.concepts_s["standard"] = search["standard_s"]
    m.labels["search"] = (f"{counts.probe.labelled:,} pairs × {search['n_concepts']:,} concepts, beam "
                          f"{values.get('beam_size', 10)}, 1 process")
    if probe is None:
        m.notes.append(f"the probe split's file is absent: the search was timed on an SNLI-like synthetic concept matrix "
                       f"of {counts.probe.labelled:,} pairs, and the concept builds on the pairs read here")
    try:
        wn = time_wordnet(probe if probe is not None else sample, values)
        m.concepts_s["wordnet_load"], m.concepts_s["wordnet"] = wn["load_s"], wn["build_s"]
    except Exception as exc:  # noqa: BLE001 - no WordNet here: chapter 04_concepts would stop; estimate anyway
        m.concepts_s["wordnet_load"], m.concepts_s["wordnet"] = _WORDNET_FALLBACK_S["load"], _WORDNET_FALLBACK_S["build"]
        m.notes.append(f"WordNet could not be loaded here ({type(exc).__name__}); its concept builds are estimated "
                       f"({_WORDNET_FALLBACK_S['load']:.0f} s to load, {_WORDNET_FALLBACK_S['build']:.1f} s per mode)")
    m.labels["threads"] = f"{torch.get_num_threads()} torch threads"
    m.seconds = time.perf_counter() - started
    return m


def split_fit_val(n: int, val_fraction: float) -> tuple[int, int]:
    """(pairs fitted, pairs held out) per epoch, as ``training.train`` splits them."""
    n_val = min(n - 1, max(1, round(val_fraction * n))) if val_fraction > 0 and n > 1 else 0
    return n - n_val, n_val
