"""The set-up every chapter after the search shares, in one checked call: ``book = run.open_book(...)``.

Why: the chapters that read the search (results, qualitative neurons, the firing regime, the browser, the
causal tests, the appendix) each loaded the pairs, the latest search, its sweep and the registry, checked them
against their own parameters, and rebuilt the same per-seed tables, in 20 to 40 copied lines. A
:class:`Book` carries that set-up (every check it had) and builds the shared tables once, when first asked;
a new chapter is one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..data import corpus
from ..seeding import seed_everything
from . import caches, regimes, trained
from .reruns import rerun_command


@dataclass
class Book:
    """What the search chapter left for the chapters after it, checked against a chapter's parameters.

    ``search``: the latest search results of every model (random-network controls included), made from this
    chapter's pairs and the registered models; ``registry``: those models' registry entries (their seeds
    checked when the chapter gives them). The firing-regime sweep (:attr:`sweep`) is read when first asked
    for, so a chapter that never reads it does not depend on it.
    """

    profile: str
    pairs: corpus.Pairs
    seed: int
    search: pd.DataFrame
    registry: dict
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def sweep(self) -> pd.DataFrame | None:
        """The firing-regime sweep of the same search results, checked (None: the search ran without one)."""
        if "sweep" not in self._cache:
            self._cache["sweep"] = regimes.latest_regimes(self.profile, self.search)
        return self._cache["sweep"]

    @property
    def search_params(self) -> dict:
        return self.search.attrs.get("params", {})

    @property
    def sweep_params(self) -> dict:
        return self.sweep.attrs.get("params", {}) if self.sweep is not None else {}

    @property
    def models(self) -> list[str]:
        """Every searched model: the encoders' and the random-network controls, in the search's order."""
        return list(dict.fromkeys(self.search["encoder"]))

    @property
    def encoders(self) -> list[str]:
        """The encoders' models only (no control)."""
        return list(dict.fromkeys(trained.without_controls(self.search)["encoder"]))

    @property
    def controls(self) -> list[str]:
        return [m for m in self.models if m not in self.encoders]

    def seeds(self, model: str) -> list[int]:
        """The training seeds of one model (the first is its primary model)."""
        return trained.seeds_of(self.registry[model])

    @property
    def primary(self) -> pd.DataFrame:
        """The search rows of each encoder's primary model (its first seed), controls left out."""
        return trained.primary_rows(trained.without_controls(self.search))

    @property
    def trained(self) -> dict:
        """Every model of every seed, loaded once: ``(model, seed) → NLIModel``."""
        if "trained" not in self._cache:
            self._cache["trained"] = {(m, s): trained.load_trained(self.profile, m, s)
                                      for m in self.models for s in self.seeds(m)}
        return self._cache["trained"]

    @property
    def weights(self) -> dict:
        """Each model's hidden-to-output weights: ``(model, seed) → (hidden, 3)`` array."""
        from ..models.heads import output_weights

        if "weights" not in self._cache:
            self._cache["weights"] = {key: output_weights(model) for key, model in self.trained.items()}
        return self._cache["weights"]

    @property
    def probe_accuracy(self) -> pd.DataFrame:
        """Each model's probe accuracy as counts (``encoder, seed, n, correct``), as the registry recorded it."""
        from ..models.heads import label_ids

        n = len(label_ids(self.pairs.probe))
        return pd.DataFrame([{"encoder": m, "seed": s, "n": n,
                              "correct": int(round(trained.seed_entry(self.registry[m], s)["probe_accuracy"] * n))}
                             for m in self.models for s in self.seeds(m)])

    def pushes(self, pair, described, alphas=(0.0,)) -> pd.DataFrame:
        """Claim A11 on every model and seed, at each threshold of ``alphas`` (0: > 0; else its top share of probe
        pairs): the unit whose firing best matches the ``described`` probe pairs (the paper's unit 870), its push
        towards contradiction on ``pair`` against its push on the probe pairs
        (:func:`~clipneuron_utils.stats.claims.description_push`), and the model's prediction on the pair. Each
        model's probe activations are read once for every threshold (column ``alpha``)."""
        from ..data.snli import LABELS
        from ..explain.search import threshold_activations
        from ..models.heads import as_pairs
        from ..models.outputs import hidden_and_predictions
        from ..stats.claims import description_push

        frame = as_pairs([tuple(pair)])
        rows = []
        for (m, s), model in self.trained.items():
            acts = trained.probe_outputs(self.profile, m, self.pairs.probe, seed=s)["activations"]
            hidden, label = hidden_and_predictions(model, frame)  # one forward pass for both
            on_pair, predicted = hidden[0], LABELS[int(label[0])]
            for alpha in alphas:
                found = description_push(acts, on_pair, self.weights[m, s], described,
                                         threshold_activations(acts, alpha or None, what=f"{m} model (seed {s})"))
                rows.append({"encoder": m, "seed": s, "alpha": float(alpha), **found, "predicted": predicted})
        return pd.DataFrame(rows)

    def firing_accuracy(self, alpha: float = 0.0, models=None) -> pd.DataFrame:
        """Accuracy when firing of every unit of every seed of ``models`` (default: every model), firing at > 0 or
        on its top ``alpha`` share of pairs."""
        return trained.firing_accuracy(self.profile, self.pairs.probe, self.models if models is None else models, alpha)

    def concepts(self, vocab_size: int, encoding: str = "standard", wordnet_mode: str = "exact"):
        """The probe pairs' concept masks (cached under ``runs/``)."""
        return caches.probe_concepts(self.profile, self.pairs.probe, vocab_size, encoding, wordnet_mode)


def open_book(profile: str, data_source: str, train_splits, probe_split: str, data_dir: str = "",
              n_synthetic_train: int = 600, n_synthetic_probe: int = 300, *, seed: int, seeds: int | None = None,
              lstm_seeds: int = 0, control_seeds: int = 0, lstm_shuffled_seeds: int = 0, vocab_size: int | None = None,
              wordnet_mode: str | None = None, need_sweep: bool = False) -> Book:
    """Seed everything, load the pairs, and the latest search with every check a chapter needs.

    The search must come from these pairs and the registered models (else the command that remakes it);
    with ``seeds`` the models' seeds must be the chapter's (``seed``, ``seeds``, ``lstm_seeds``,
    ``control_seeds``, ``lstm_shuffled_seeds``); with ``vocab_size`` (and ``wordnet_mode``) the search's concepts must be the
    chapter's; with ``need_sweep`` the search must have run the firing-regime sweep.
    """
    from ..render import charts

    charts.enable()
    seed_everything(seed)
    pairs = corpus.load_pairs(data_source, train_splits, probe_split, data_dir or None,
                              n_synthetic_train=n_synthetic_train, n_synthetic_probe=n_synthetic_probe, seed=seed)
    search = caches.latest_search(profile, pairs)  # checked: made from this data and the registered models
    if vocab_size is not None:
        caches.check_search_vocab(search, vocab_size, wordnet_mode)
    models = list(dict.fromkeys(search["encoder"]))
    wanted = None if seeds is None else {m: trained.training_seeds(seed, seeds, lstm_seeds, m, control_seeds,
                                                                   lstm_shuffled_seeds)
                                         for m in models}
    book = Book(profile, pairs, seed, search, trained.check_models(profile, pairs, models, seeds=wanted))
    if need_sweep and book.sweep is None:
        raise RuntimeError("chapter 05_search ran with activation_alphas: [] (no firing-regime sweep): rerun it with "
                           f"e.g. -p 'activation_alphas=[0.2, 0.1, 0.05, 0.02]': {rerun_command(profile, ('05', '08'))}")
    return book

