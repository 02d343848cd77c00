"""The firing-regime sweep of chapter 05_search: every model searched again at each top-alpha threshold.

For each alpha of ``activation_alphas``, every model (encoder or control, every seed) is thresholded at
its top ⌈alpha·N⌉ probe pairs, searched with each concept encoding, and scored against its own matched
null (random masks with that firing count, searched the same way). Every piece is cached by what it
depends on (the mask, the concepts, the search parameters), so a rerun only searches what changed. The
frame of all alphas goes to ``runs/<profile>/search/regimes.pkl``, stamped with the key of chapter 05_search's
main results, so later chapters never read a sweep of other models (:func:`latest_regimes`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..artifacts import CorruptArtifactError, cache_key, load_frame, run_dir, save_frame
from ..explain import regime
from ..explain.search import threshold_activations
from . import caches, reruns, trained


def sweep(profile: str, pairs, seed_lists: dict, concept_sets: dict, alphas, *, search_params: dict,
          null_draws: int, null_seed: int, n_jobs: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Search every model × seed × encoding at each alpha, with its matched null. Returns the results
    (chapter 05_search's columns, plus ``seed`` and ``alpha``) and the seconds each alpha took (a frame).

    ``search_params``: as chapter 05_search's search (``max_length`` is the sweep's own); ``min_acts`` is scaled
    per alpha by :func:`~clipneuron_utils.explain.regime.regime_min_acts`. The null keeps exact firing
    counts (every unit fires on the same k, so it is one set of draws per alpha and encoding)."""
    alphas = regime.check_alphas(alphas)
    frames = {a: [] for a in alphas}
    seconds = dict.fromkeys(alphas, 0.0)
    n_pairs = len(pairs.probe)
    params = {a: {**search_params, "min_acts": regime.regime_min_acts(search_params["min_acts"], a, n_pairs)}
              for a in alphas}
    for alpha in alphas:
        print(f"firing regime {regime.label(alpha)}: every unit fires on its top {params[alpha]['min_acts']:,} of "
              f"{n_pairs:,} probe pairs at most")
    for name, seeds in seed_lists.items():
        for s in seeds:
            acts = trained.probe_outputs(profile, name, pairs.probe, seed=s)["activations"] if alphas else None  # read once
            for alpha in alphas:
                started = time.perf_counter()
                mask = threshold_activations(acts, alpha, what=f"{name} model (seed {s})")
                for encoding, concepts in concept_sets.items():
                    found = caches.search_results(profile, name, encoding, mask, concepts,
                                                 activations_key=cache_key(mask), n_jobs=n_jobs, **params[alpha])
                    found = caches.matched_null(profile, mask, concepts, found, n_draws=null_draws, seed=null_seed,
                                               bin_width=0.0, n_jobs=n_jobs, **params[alpha])
                    frames[alpha].append(found.assign(seed=s, alpha=alpha))
                seconds[alpha] += time.perf_counter() - started
    timings = [{"regime": regime.label(a), "seconds": round(seconds[a], 1)} for a in alphas]
    frames = [f for a in alphas for f in frames[a]]
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return results, pd.DataFrame(timings)


def save_regimes(profile: str, results: pd.DataFrame, params: dict) -> None:
    """The sweep's results, stamped with chapter 05_search's main results' key (``search_key``)."""
    main = caches.latest_search(profile)
    frame = results.copy()
    frame.attrs["params"] = dict(params)
    frame.attrs["search_key"] = main.attrs.get("key")
    frame.attrs["primary_seeds"] = dict(main.attrs.get("primary_seeds", {}))
    save_frame(run_dir(profile, "search") / "regimes.pkl", frame)


def latest_regimes(profile: str, search: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The sweep chapter 05_search made with the results ``search`` (:func:`caches.latest_search`), or None when
    chapter 05_search ran without a sweep (``activation_alphas: []``). A sweep of other results (chapter 05_search rerun
    since, or stopped before the sweep) stops with the command to rerun chapter 05_search."""
    path = run_dir(profile, "search") / "regimes.pkl"
    search = caches.latest_search(profile) if search is None else search
    swept = search.attrs.get("params", {}).get("activation_alphas")
    if not swept:
        return None
    remake = reruns.rerun_command(profile, ("05",))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: chapter 05_search stopped before its firing-regime sweep; rerun it ({remake})")
    try:
        frame = load_frame(path)
    except CorruptArtifactError as exc:
        raise CorruptArtifactError(exc.path, exc.reason, f"Remake it by running chapter 05_search again: {remake}") from None
    if frame.attrs.get("search_key") != search.attrs.get("key"):
        raise reruns.StaleArtifactError(
            f"{path} was made with other search results than chapter 05_search's latest ones; rerun chapter 05_search: {remake}")
    return frame


def at(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The sweep's rows at one alpha (compared as floats)."""
    out = frame[np.isclose(frame["alpha"].astype(float), float(alpha))].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


def paper_matched(frame: pd.DataFrame) -> float:
    """The paper-matched alpha of a sweep: :func:`regime.paper_matched_alpha` over the trained encoders'
    units (controls left out), standard concepts, against the paper's mean length-1 IoU."""
    from ..stats.reported import PAPER_MEAN_IOU_CLIP

    rows = trained.without_controls(frame)
    return regime.paper_matched_alpha(rows[rows["encoding"] == "standard"], frame.attrs["params"]["activation_alphas"],
                                      target=PAPER_MEAN_IOU_CLIP[1])


def matched_primary(profile: str, search: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The primary models' rows at the paper-matched alpha and its label (``top 5 %``), for the cards and
    the browser; ``(None, "")`` when chapter 05_search ran without a sweep."""
    frame = latest_regimes(profile, search)
    if frame is None:
        return None, ""
    alpha = paper_matched(frame)
    return trained.primary_rows(at(frame, alpha)), regime.label(alpha)
