"""Chapter 10_causal's interventions on every model: ablations, edits with their shams, and adversarial pairs.

Per model and training seed, and per firing regime (> 0 and the α nearest the paper's IoU), from chapter
05_search's formulas at ``length`` atoms (standard concepts):

* **C1**: ablation of k units (``ks``) by each ranking among the explained units (top by IoU, by excess IoU,
  bottom by IoU, top by exact contribution to the gold margin: the positive control; random sets drawn
  from them too), both fills (:mod:`..models.ablation`), from the saved probe activations: no encoder
  runs, so the random-network controls are ablated too; and every explained unit's contribution;
* **C2** (:mod:`.faithfulness`), on every model (random-network controls included): formulas searched on
  one half of the probe pairs, edits and their shams on the other, and another unit's formula; planted
  units and their shuffled twins on the encoders' models;
* **C3** (:mod:`.adversarial`), on the encoders' models: appended-clause pairs for units whose premise noun
  carries the formula, and the noun positive control.

Edited sentences go through the model; frozen encoders' features are kept in the feature cache, and each
model's results are stored under ``runs/<profile>/causal/``, keyed by the model, its formulas, the probe
pairs and every parameter, so a rerun of the chapter reads them back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, discard, load_frame, run_dir, save_frame
from ..data.snli import LABELS
from ..explain import edits as edit_rules
from ..models.ablation import MODES, Ablator, fill_values, gold_directions, gold_margins, logits, mean_contributions
from ..models.heads import label_ids, output_weights, pairs_key
from ..models.outputs import hidden_and_predictions
from ..stats import ablation_effects
from . import adversarial, faithfulness, trained

_FORMAT = 4  # 3: gold margins, half-split formulas, sham edits, planted units, C3 push; 4: the null formula names none of the unit's words


def rankings(rows: pd.DataFrame, hidden: int, k: int, draws: int, rng: np.random.Generator,
             contribution: np.ndarray | None = None) -> dict:
    """The unit sets of each ranking at ``k``: top by IoU, top by excess IoU and bottom by IoU among the
    explained units (ties by unit index), the top k by mean ``contribution`` to the gold margin (the
    positive control, when given), and ``draws`` random sets of k explained units (the same pool, so a dead
    unit, which costs nothing to ablate, is never a random pick that a ranking could not make). Empty when
    fewer than ``2k`` units are explained: the top and bottom k would overlap."""
    explained = rows[rows["explained"].astype(bool)]
    if len(explained) < 2 * k:
        return {}
    top = explained.sort_values(["iou", "neuron"], ascending=[False, True])["neuron"].to_numpy()
    excess = explained.sort_values(["excess_iou", "neuron"], ascending=[False, True])["neuron"].to_numpy()
    bottom = explained.sort_values(["iou", "neuron"], ascending=[True, True])["neuron"].to_numpy()
    pool = np.sort(explained["neuron"].to_numpy())
    out = {"top IoU": [top[:k]], "top excess IoU": [excess[:k]], "bottom IoU": [bottom[:k]]}
    if contribution is not None:
        order = pool[np.lexsort((pool, -np.asarray(contribution)[pool]))]
        out["top contribution"] = [order[:k]]
    out["random"] = [rng.choice(pool, size=k, replace=False) for _ in range(draws)]
    return out


def ablation(rows_by_regime: dict, activations: np.ndarray, weights: np.ndarray, bias: np.ndarray, gold: np.ndarray,
             *, ks, draws: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One model's ablations: :func:`ablation_effects.ablation_changes` for each regime and fill, and each
    explained unit's mean contribution to the gold margin beside its IoU and excess IoU (per regime)."""
    ablator = Ablator(activations, weights, bias)
    base = ablator.base.argmax(axis=1)
    margin_sd = float(np.std(gold_margins(ablator.base, gold)))
    mean_contrib = mean_contributions(activations, weights, gold, fill_values(activations, "mean")) / margin_sd
    sets = {value: {(name, k): unit_sets for k in ks  # drawn once per regime, ablated with each fill
                    for name, unit_sets in rankings(rows, activations.shape[1], k, draws,
                                                    np.random.default_rng([seed, k]), mean_contrib).items()}
            for value, rows in rows_by_regime.items()}
    frames, units = [], []
    for mode in MODES:
        fill = fill_values(activations, mode)
        for value, chosen in sets.items():
            if chosen:
                changes = {}
                for key, unit_sets in chosen.items():
                    delta = ablator.logit_changes(unit_sets, fill)
                    preds = (ablator.base[None] + delta).argmax(axis=2)
                    margin = np.stack([gold_margins(d, gold) for d in delta])  # the margin is linear in the logits
                    changes[key] = ablation_effects.per_pair_changes(gold, base, preds, margin, margin_sd)
                frames.append(ablation_effects.ablation_changes(gold, changes).assign(regime=value, mode=mode))
    for value, rows in rows_by_regime.items():
        explained = rows[rows["explained"].astype(bool)]
        units.append(pd.DataFrame({"regime": value, "neuron": explained["neuron"].to_numpy(dtype=np.int64),
                                   "iou": explained["iou"].to_numpy(dtype=float),
                                   "excess_iou": explained["excess_iou"].to_numpy(dtype=float),
                                   "contribution": mean_contrib[explained["neuron"].to_numpy(dtype=np.int64)]}))
    changes = (pd.concat(frames, ignore_index=True) if frames else
               pd.DataFrame(columns=["outcome", "ranking", "k", "class", "delta", "var", "regime", "mode"]))
    return changes, pd.concat(units, ignore_index=True) if units else pd.DataFrame()


def _run_pairs(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cols = ["pair_id", "premise", "hypothesis", "premise_tokens", "hypothesis_tokens"]
    unique = frame.drop_duplicates(subset=["premise", "hypothesis"])[cols].reset_index(drop=True)
    acts, preds = hidden_and_predictions(model, unique, cache=trained.feature_cache())
    where = {k: i for i, k in enumerate(zip(unique["premise"], unique["hypothesis"]))}
    idx = np.array([where[k] for k in zip(frame["premise"], frame["hypothesis"])], dtype=np.int64)
    return acts[idx], preds[idx]


NAMES = ("ablation", "contributions", "edits", "tested", "adversarial", "candidates", "nouns")
ADVERSARIAL = ["unit", "formula", "word", "control", "pushed", "kind", "source", "premise", "hypothesis", "gold",
               "predicted", "activation", "activation_sd", "margin", "margin_sd", "unit_push"]


def class_margin_sds(probe_logits: np.ndarray) -> np.ndarray:
    """Per class, the SD over the probe pairs of the margin toward it (its logit less the mean of the others)."""
    return np.array([gold_margins(probe_logits, np.full(len(probe_logits), c)).std() for c in range(len(LABELS))])


def _adversarial_rows(model, frame: pd.DataFrame, weights: np.ndarray, bias: np.ndarray, gold: np.ndarray,
                      probe_acts: np.ndarray, margin_sd: np.ndarray) -> pd.DataFrame:
    """The adversarial pairs with the model's response, in the claim's order: the unit's ``activation`` (and
    its probe SD), the ``margin`` toward the pushed class (its logit less the mean of the others; and its
    probe SD, from ``margin_sd``: :func:`class_margin_sds`), the unit's own ``unit_push`` (activation × its
    weight toward that class less its mean weight toward the others), then the prediction."""
    acts, preds = _run_pairs(model, frame)
    pushed = np.array([LABELS.index(c) for c in frame["pushed"]], dtype=np.int64)
    units = frame["unit"].to_numpy(dtype=np.int64)
    margin = gold_margins(logits(acts, weights, bias), pushed)
    real = units >= 0
    activation = np.full(len(frame), np.nan)
    activation[real] = acts[np.flatnonzero(real), units[real]]
    act_sd = np.full(len(frame), np.nan)
    act_sd[real] = probe_acts.std(axis=0)[units[real]]
    direction = np.zeros(len(frame))
    direction[real] = gold_directions(weights, pushed[real])[np.arange(int(real.sum())), units[real]]
    src = frame["source"].to_numpy(dtype=np.int64)
    return frame.assign(gold=[LABELS[g] for g in gold[src]], predicted=[LABELS[p] for p in preds],
                        activation=activation, activation_sd=act_sd, margin=margin, margin_sd=margin_sd[pushed],
                        unit_push=activation * direction)


def model_results(profile: str, encoder: str, seed: int, rows_by_regime: dict, editor: edit_rules.Editor, *,
                  params: dict, search_params: dict, interventions: bool, edits: bool = True) -> dict[str, pd.DataFrame]:
    """One model's causal tests, cached: ablation and contributions (C1) always; the edits with their shams
    (C2) with ``edits``; adversarial pairs and the noun control (C3), and the planted units, for the
    ``interventions`` models (the encoders, not their random-network controls)."""
    entry = trained.seed_entry(trained.registry(profile)[encoder], seed)
    formulas_key = [(v, r[["neuron", "formula", "iou", "excess_iou", "n_fires", "explained"]].to_numpy().tolist())
                    for v, r in rows_by_regime.items()]
    key = cache_key(_FORMAT, entry.get("key"), entry.get("folder"), pairs_key(editor.probe), editor.key, formulas_key,
                    sorted(params.items()), sorted(search_params.items()), interventions, edits)
    paths = {n: run_dir(profile, "causal") / f"{encoder}-{seed}-{key}-{n}.pkl" for n in NAMES}
    if all(p.is_file() for p in paths.values()):
        try:
            saved = {n: load_frame(p) for n, p in paths.items()}
            print(f"cache hit: causal tests of {encoder} seed {seed}")
            return saved
        except CorruptArtifactError as exc:
            print(exc.notice())
            discard(exc.path)
    model = trained.load_trained(profile, encoder, seed)
    outputs = trained.probe_outputs(profile, encoder, editor.probe, model=model, seed=seed)
    acts = outputs["activations"]
    weights, bias = output_weights(model), model.mlp[3].bias.detach().cpu().numpy()
    gold = label_ids(editor.probe)
    margin_sd = class_margin_sds(logits(acts, weights, bias)) if interventions else None
    tag = dict(encoder=encoder, seed=seed)
    changes, contrib = ablation(rows_by_regime, acts, weights, bias, gold, ks=params["ks"], draws=params["draws"], seed=seed)
    frames: dict[str, list] = {n: [] for n in NAMES}
    frames["ablation"].append(changes.assign(**tag))
    frames["contributions"].append(contrib.assign(**tag))
    for value, rows in rows_by_regime.items() if edits else ():
        plans, tested = faithfulness.edit_plans(
            editor, rows, acts, alpha=value or None, units=params["units"], edits=params["edits"],
            length=params["length"], seed=seed, search_params=search_params,
            planted_units=params["planted_units"] if interventions else 0)
        if len(plans):
            new_acts, _ = _run_pairs(model, plans)
            frames["edits"].append(faithfulness.shifts(plans, tested, editor.probe, acts, new_acts)
                                   .assign(regime=value, **tag))
        if len(tested):
            frames["tested"].append(tested.drop(columns=["perm"], errors="ignore").assign(regime=value, **tag))
        if not interventions:
            continue
        adv, candidates = adversarial.plans(editor, rows, acts, weights, gold, alpha=value or None,
                                            units=params["adversarial_units"], pairs=params["adversarial_pairs"], seed=seed)
        if len(candidates):
            frames["candidates"].append(candidates.assign(regime=value, **tag))
        if len(adv):
            frames["adversarial"].append(_adversarial_rows(model, adv, weights, bias, gold, acts, margin_sd)[ADVERSARIAL]
                                         .assign(regime=value, **tag))
    if interventions and frames["adversarial"]:
        classes = sorted(set(pd.concat(frames["adversarial"])["pushed"]), key=LABELS.index)

        def push(frame, cls):
            h, _ = _run_pairs(model, frame)
            return gold_margins(logits(h, weights, bias), np.full(len(frame), LABELS.index(cls)))

        nouns = adversarial.noun_control(editor, gold, classes, push, pairs=params["adversarial_pairs"], seed=seed)
        if len(nouns):
            frames["nouns"].append(_adversarial_rows(model, nouns, weights, bias, gold, acts, margin_sd)[ADVERSARIAL]
                                   .assign(**tag))
    result = {n: pd.concat(f, ignore_index=True) if f else pd.DataFrame() for n, f in frames.items()}
    for n, p in paths.items():
        save_frame(p, result[n])
    return result


def run(profile: str, editor: edit_rules.Editor, models: dict, rows_by_regime: dict, *, params: dict,
        search_params: dict, trained: list[str], edited=None) -> dict[str, pd.DataFrame]:
    """Every model's results, concatenated: ``models`` maps name → seeds; ``rows_by_regime`` maps a regime
    value → search rows of all models (standard concepts, ``length`` atoms); only the ``edited`` models
    (all when None) get the edits, and only the ``trained`` encoders among them planted units, adversarial
    pairs and the noun control (an untrained CLIP, whose verdicts are not testable, and its controls need
    only the ablation)."""
    from tqdm.auto import tqdm

    out: dict[str, list] = {n: [] for n in NAMES}
    jobs = [(m, s) for m, seeds in models.items() for s in seeds]
    for m, s in tqdm(jobs, desc="causal tests", leave=False):
        rows = {v: r[(r["encoder"] == m) & (r["seed"] == s)] for v, r in rows_by_regime.items()}
        edits = edited is None or m in edited
        res = model_results(profile, m, s, rows, editor, params=params, search_params=search_params,
                            interventions=edits and m in trained, edits=edits)
        for name, frame in res.items():
            if len(frame):
                out[name].append(frame)
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


def tested_models(encoders, controls: dict, untestable) -> tuple[list[str], set[str]]:
    """(the encoders that get planted units, adversarial pairs and the noun control; the models that get the
    edits): every encoder whose claims are testable, and its random-network ``controls`` (encoder → their
    names) for the edits. An ``untestable`` encoder (an untrained CLIP) is edited only as another
    encoder's control, and its own controls get the ablation only."""
    trained = [e for e in encoders if e not in untestable]
    return trained, {m for e in trained for m in (e, *controls.get(e, ()))}


def labelled(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """``frame`` with its regime values as the book's labels (``labels``: label → value); a frame with no
    regime (the noun control's) as it is."""
    if frame.empty or "regime" not in frame.columns:
        return frame
    return frame.assign(regime=frame["regime"].map({v: k for k, v in labels.items()}))


def regime_rows(search: pd.DataFrame, swept: pd.DataFrame | None, matched: float | None, length: int) -> dict:
    """Chapter 05_search's rows at ``length`` atoms, standard concepts, at > 0 and (with a sweep) at ``matched``."""
    from .regimes import at

    def cut(frame):
        return frame[(frame["encoding"] == "standard") & (frame["max_length"] == length)].reset_index(drop=True)

    out = {0.0: cut(search)}
    if swept is not None and matched:
        out[float(matched)] = cut(at(swept, matched))
    return out

