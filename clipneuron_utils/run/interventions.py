"""Chapter 10_causal's interventions on every model: ablations, explanation-guided edits and adversarial pairs.

Per model and training seed, and per firing regime (> 0 and the α nearest the paper's IoU), from chapter 05_search's
formulas at ``length`` atoms (standard concepts):

* ablation of k units (``ks``) by four rankings among the explained units (random sets drawn from them
  too), both fills (:mod:`..models.ablation`), from the saved probe activations: no encoder runs, so the
  random-network controls are ablated too;
* for the trained encoders, ``units`` sampled units whose formula names a token get ``edits`` removals and
  insertions of that token, the same edits of a token of the same frequency and tag, and of the token of
  the matched null's formula (:mod:`..explain.edits`); and up to ``adversarial_units`` units with an
  un-negated premise noun get ``adversarial_pairs`` appended-clause pairs and their controls.

Edited sentences go through the model; frozen encoders' features are kept in the feature cache, and each
model's results are stored under ``runs/<profile>/causal/``, keyed by the model, its formulas, the probe
pairs and every parameter, so a rerun of the chapter reads them back.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, discard, load_frame, run_dir, save_frame
from ..data.snli import LABELS
from ..explain import edits as edit_rules
from ..explain import formulas
from ..explain.concepts import masks_like
from ..explain.controls import SEARCH_KEYS, random_masks
from ..explain.probe import polarity
from ..explain.search import beam_search_by_length
from ..models.ablation import MODES, Ablator, fill_values
from ..models.heads import label_ids, output_weights, pairs_key
from ..models.outputs import hidden_and_predictions
from ..stats import causal as causal_stats
from . import trained

_FORMAT = 2  # 2: random sets from the explained units; control edits avoid the formulas' words


def rankings(rows: pd.DataFrame, hidden: int, k: int, draws: int, rng: np.random.Generator) -> dict:
    """The unit sets of each ranking at ``k``: top by IoU, top by excess IoU and bottom by IoU among the
    explained units (ties by unit index), and ``draws`` random sets of k explained units (the same pool, so
    a dead unit, which costs nothing to ablate, is never a random pick that a ranking could not make).
    Empty when fewer than ``2k`` units are explained: the top and bottom k would overlap."""
    explained = rows[rows["explained"].astype(bool)]
    if len(explained) < 2 * k:
        return {}
    top = explained.sort_values(["iou", "neuron"], ascending=[False, True])["neuron"].to_numpy()
    excess = explained.sort_values(["excess_iou", "neuron"], ascending=[False, True])["neuron"].to_numpy()
    bottom = explained.sort_values(["iou", "neuron"], ascending=[True, True])["neuron"].to_numpy()
    pool = np.sort(explained["neuron"].to_numpy())
    return {"top IoU": [top[:k]], "top excess IoU": [excess[:k]], "bottom IoU": [bottom[:k]],
            "random": [rng.choice(pool, size=k, replace=False) for _ in range(draws)]}


def ablation(rows_by_regime: dict, activations: np.ndarray, weights: np.ndarray, bias: np.ndarray, gold: np.ndarray,
             *, ks, draws: int, seed: int) -> pd.DataFrame:
    """:func:`causal_stats.accuracy_changes` for each regime and fill of one model."""
    ablator = Ablator(activations, weights, bias)
    base = ablator.base.argmax(axis=1)
    sets = {value: {(name, k): unit_sets for k in ks  # drawn once per regime, ablated with each fill
                    for name, unit_sets in rankings(rows, activations.shape[1], k, draws,
                                                    np.random.default_rng([seed, k])).items()}
            for value, rows in rows_by_regime.items()}
    frames = []
    for mode in MODES:
        fill = fill_values(activations, mode)
        for value, chosen in sets.items():
            if chosen:
                preds = {key: ablator.predictions(unit_sets, fill) for key, unit_sets in chosen.items()}
                frames.append(causal_stats.accuracy_changes(gold, base, preds).assign(regime=value, mode=mode))
    if not frames:
        return pd.DataFrame(columns=["ranking", "k", "class", "delta", "var", "regime", "mode"])
    return pd.concat(frames, ignore_index=True)


def _swap_atom(formula: str, atom: str, other: str) -> str:
    return re.sub(r"(?<![^\s(])" + re.escape(atom) + r"(?![^\s)])", other, formula)


def null_formulas(counts, concepts, *, n_pairs: int, length: int, seed: int, search_params: dict,
                  tries: int = 8) -> list[str | None]:
    """The matched null's formula for each firing count: the best formula (at ``length``) of a random mask
    with that count, the first of ``tries`` draws whose formula names a token (None if none does)."""
    counts = [int(c) for c in counts]
    if not counts:
        return []
    masks = random_masks(counts, n_pairs, tries, seed)
    search = {k: v for k, v in search_params.items() if k in SEARCH_KEYS and k != "max_length"}  # as chapter 05_search searched
    found = beam_search_by_length(masks, concepts, max_length=length, min_acts=0, progress=False, **search)
    found = found[found["max_length"] == length].sort_values("neuron")["formula"].tolist()
    out = []
    for i in range(len(counts)):
        named = [f for f in found[i * tries:(i + 1) * tries] if isinstance(f, str) and edit_rules.token_atoms(f)]
        out.append(named[0] if named else None)
    return out


def edit_plans(editor: edit_rules.Editor, rows: pd.DataFrame, *, units: int, edits: int, length: int, seed: int,
               search_params: dict) -> pd.DataFrame:
    """The edits of up to ``units`` sampled units whose formula names a token: ``kind`` formula / frequency /
    null, each edited pair with its ``unit``, ``formula``, ``atom`` and predicted ``direction``."""
    rng = np.random.default_rng([seed, 7])
    named = rows[rows["explained"].astype(bool) & rows["formula"].map(
        lambda f: isinstance(f, str) and bool(edit_rules.token_atoms(f)))]
    chosen = named.iloc[np.sort(rng.permutation(len(named))[:units])] if len(named) else named
    nulls = null_formulas(chosen["n_fires"], editor.concepts, n_pairs=len(editor.probe), length=length,
                          seed=seed, search_params=search_params)
    plans = []
    for row, null in zip(chosen.itertuples(), nulls):
        atom = edit_rules.token_atoms(row.formula)[0]
        control = editor.frequency_match(atom, exclude=set(formulas.parse(row.formula).atoms()))
        jobs = [("formula", row.formula, atom)]
        if control is not None:
            jobs.append(("frequency", _swap_atom(row.formula, atom, control), control))
        if null is not None and edit_rules.token_atoms(null):
            jobs.append(("null", null, edit_rules.token_atoms(null)[0]))
        avoid = {a.split(":", 2)[2] for _, f, _ in jobs for a in edit_rules.token_atoms(f)}
        for kind, formula, target in jobs:
            plan = editor.plan(formula, target, edits, rng, avoid=avoid)
            if len(plan):
                plans.append(plan.assign(unit=int(row.neuron), kind=kind, formula=row.formula, edited_formula=formula,
                                         atom=target))
    return pd.concat(plans, ignore_index=True) if plans else pd.DataFrame()


def shifts(plans: pd.DataFrame, probe_acts: np.ndarray, edited_acts: np.ndarray) -> pd.DataFrame:
    """Each edit's unit activation ``before`` (on its source pair) and ``after``, and its directed ``shift``:
    the change times the predicted direction, in units of the unit's SD over the probe pairs (NaN for a
    unit that never varies)."""
    units = plans["unit"].to_numpy(dtype=np.int64)
    before = probe_acts[plans["source"].to_numpy(dtype=np.int64), units]
    after = edited_acts[np.arange(len(plans)), units]
    sd = probe_acts.std(axis=0)[units]
    shift = plans["direction"].to_numpy(dtype=float) * (after - before) / np.where(sd > 0, sd, np.nan)
    keep = ["unit", "kind", "formula", "edited_formula", "atom", "edit", "old", "new", "direction", "source",
            "premise", "hypothesis"]
    return plans[keep].assign(before=before, after=after, shift=shift)


def adversarial_plans(editor: edit_rules.Editor, rows: pd.DataFrame, weights: np.ndarray, gold: np.ndarray, *,
                      units: int, pairs: int, seed: int) -> pd.DataFrame:
    """Pairs with ``There is a W.`` appended to the premise, for the best-explained units whose formula has
    W un-negated (``pre:tok:W``, W a noun), on base pairs whose gold label (entailment or contradiction,
    which the clause keeps) is not the class the unit pushes to; each with its control noun's pair. Only
    base pairs where the formula holds with W and not with the control noun, and where the two pairs differ
    in no concept but the two nouns', are kept."""
    rng = np.random.default_rng([seed, 11])

    def noun_atom(formula):
        if not isinstance(formula, str):
            return None
        for atom, signs in polarity(formula).items():
            side, kind, word = atom.split(":", 2)
            if side == "pre" and kind == "tok" and True in signs and editor.tags.get(word) in edit_rules.NOUN_TAGS:
                return atom
        return None

    cand = rows[rows["explained"].astype(bool)].assign(atom=lambda f: f["formula"].map(noun_atom)).dropna(subset=["atom"])
    cand = cand.sort_values(["iou", "neuron"], ascending=[False, True]).head(units)
    out = []
    for row in cand.itertuples():
        word = row.atom.split(":", 2)[2]
        tag = editor.tags[word]
        control = editor.frequency_match(row.atom, exclude=set(formulas.parse(row.formula).atoms()))
        if control is None:
            continue
        pushed = int(np.argmax(weights[:, row.neuron]))
        keep_labels = [LABELS.index(x) for x in ("entailment", "contradiction") if LABELS.index(x) != pushed]
        base = np.flatnonzero(np.isin(gold, keep_labels))
        base = rng.permutation(base)[: 3 * pairs]
        with_w = edit_rules.append_clause(editor.probe, base, word, tag)
        with_c = edit_rules.append_clause(editor.probe, base, control.split(":", 2)[2], tag)
        masks_w, masks_c = masks_like(with_w, editor.concepts), masks_like(with_c, editor.concepts)
        holds_w = formulas.evaluate(row.formula, masks_w)
        holds_c = formulas.evaluate(row.formula, masks_c)
        only_nouns = edit_rules.check_edits(masks_c, masks_w, np.arange(len(with_w)),
                                            [{row.atom, control}] * len(with_w))  # no other concept differs
        ok = np.flatnonzero(holds_w & ~holds_c & only_nouns)[:pairs]
        if len(ok) == 0:
            continue
        meta = dict(unit=int(row.neuron), formula=row.formula, word=word, control=control.split(":", 2)[2],
                    pushed=LABELS[pushed])
        out.append(pd.concat([with_w.iloc[ok].assign(kind="formula", **meta),
                              with_c.iloc[ok].assign(kind="control", **meta)], ignore_index=True))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _run_pairs(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cols = ["pair_id", "premise", "hypothesis", "premise_tokens", "hypothesis_tokens"]
    unique = frame.drop_duplicates(subset=["premise", "hypothesis"])[cols].reset_index(drop=True)
    acts, preds = hidden_and_predictions(model, unique, cache=trained.feature_cache())
    where = {k: i for i, k in enumerate(zip(unique["premise"], unique["hypothesis"]))}
    idx = np.array([where[k] for k in zip(frame["premise"], frame["hypothesis"])], dtype=np.int64)
    return acts[idx], preds[idx]


def model_results(profile: str, encoder: str, seed: int, rows_by_regime: dict, editor: edit_rules.Editor, *,
                  params: dict, search_params: dict, interventions: bool) -> dict[str, pd.DataFrame]:
    """Ablation (always), and edits and adversarial pairs (``interventions``) of one model, cached."""
    entry = trained.seed_entry(trained.registry(profile)[encoder], seed)
    formulas_key = [(v, r[["neuron", "formula", "iou", "excess_iou", "n_fires", "explained"]].to_numpy().tolist())
                    for v, r in rows_by_regime.items()]
    key = cache_key(_FORMAT, entry.get("key"), entry.get("folder"), pairs_key(editor.probe), editor.key, formulas_key,
                    sorted(params.items()), sorted(search_params.items()), interventions)
    names = ("ablation", "edits", "adversarial") if interventions else ("ablation",)
    paths = {n: run_dir(profile, "causal") / f"{encoder}-{seed}-{key}-{n}.pkl" for n in names}
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
    tag = dict(encoder=encoder, seed=seed)
    result = {"ablation": ablation(rows_by_regime, acts, weights, bias, gold, ks=params["ks"], draws=params["draws"],
                                   seed=seed).assign(**tag)}
    if interventions:
        edit_frames, adv_frames = [], []
        for value, rows in rows_by_regime.items():
            plans = edit_plans(editor, rows, units=params["units"], edits=params["edits"], length=params["length"],
                               seed=seed, search_params=search_params)
            if len(plans):
                new_acts, _ = _run_pairs(model, plans)
                edit_frames.append(shifts(plans, acts, new_acts).assign(regime=value, **tag))
            adv = adversarial_plans(editor, rows, weights, gold, units=params["adversarial_units"],
                                    pairs=params["adversarial_pairs"], seed=seed)
            if len(adv):
                new_acts, preds = _run_pairs(model, adv)
                src = adv["source"].to_numpy(dtype=np.int64)
                adv = adv.assign(gold=[LABELS[g] for g in gold[src]], predicted=[LABELS[p] for p in preds],
                                 activation=new_acts[np.arange(len(adv)), adv["unit"].to_numpy()], regime=value, **tag)
                adv_frames.append(adv[["unit", "formula", "word", "control", "pushed", "kind", "source", "premise",
                                       "hypothesis", "gold", "predicted", "activation", "regime", "encoder", "seed"]])
        result["edits"] = pd.concat(edit_frames, ignore_index=True) if edit_frames else pd.DataFrame()
        result["adversarial"] = pd.concat(adv_frames, ignore_index=True) if adv_frames else pd.DataFrame()
    for n, p in paths.items():
        save_frame(p, result[n])
    return result


def adversarial_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per base pair and unit: whether the model erred on the formula pair and on its control."""
    if frame.empty:
        return pd.DataFrame(columns=["encoder", "seed", "regime", "unit", "source", "err_formula", "err_control"])
    wrong = frame.assign(err=frame["predicted"] != frame["gold"], pushed_to=frame["predicted"] == frame["pushed"])
    wide = wrong.pivot_table(index=["encoder", "seed", "regime", "unit", "source"], columns="kind",
                             values=["err", "pushed_to", "activation"], aggfunc="first")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    return wide.reset_index()


def run(profile: str, editor: edit_rules.Editor, models: dict, rows_by_regime: dict, *, params: dict,
        search_params: dict, trained: list[str]) -> dict[str, pd.DataFrame]:
    """Every model's results, concatenated: ``models`` maps name → seeds; ``rows_by_regime`` maps a regime
    value → search rows of all models (standard concepts, ``length`` atoms); only the ``trained`` encoders
    get edits and adversarial pairs."""
    from tqdm.auto import tqdm

    out: dict[str, list] = {"ablation": [], "edits": [], "adversarial": []}
    jobs = [(m, s) for m, seeds in models.items() for s in seeds]
    for m, s in tqdm(jobs, desc="causal tests", leave=False):
        rows = {v: r[(r["encoder"] == m) & (r["seed"] == s)] for v, r in rows_by_regime.items()}
        res = model_results(profile, m, s, rows, editor, params=params, search_params=search_params,
                            interventions=m in trained)
        for name, frame in res.items():
            if len(frame):
                out[name].append(frame)
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


def regime_rows(search: pd.DataFrame, swept: pd.DataFrame | None, matched: float | None, length: int) -> dict:
    """Chapter 05_search's rows at ``length`` atoms, standard concepts, at > 0 and (with a sweep) at ``matched``."""
    from .regimes import at

    def cut(frame):
        return frame[(frame["encoding"] == "standard") & (frame["max_length"] == length)].reset_index(drop=True)

    out = {0.0: cut(search)}
    if swept is not None and matched:
        out[float(matched)] = cut(at(swept, matched))
    return out

