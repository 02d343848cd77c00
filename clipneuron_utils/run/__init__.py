"""Running the book: the profiles, the chapters' parameters and prerequisites (checked before any kernel
starts), the papermill pipeline, what chapters hand each other, and the wall-time estimate.

The top floor: it may import everything; nothing imports it. Chapters take what they hand each other from
here, ``from clipneuron_utils import run`` then ``run.latest_search(...)``, whichever module it lives in:
the trained models and their registry (:mod:`.trained`), the caches of concepts, searches and the null
(:mod:`.caches`), the rerun commands and use notes (:mod:`.reruns`), and the set-up of the chapters after the search
(:mod:`.prologue`: ``book = run.open_book(...)``). The names load on first use, so
``python -m clipneuron_utils.run.pipeline`` starts without importing the science.
"""

from __future__ import annotations

import importlib

#: the public names of the modules chapters read, re-exported here (``tests/test_layout.py`` checks the list)
EXPORTS = {
    "reruns": (
        "StaleArtifactError", "rerun_command", "USES_ENV", "note_use",
    ),
    "trained": (
        "ModelHealthError", "data_identity", "feature_cache", "encoder_params", "check_encoders",
        "check_controls", "is_control", "without_controls", "model_dir", "registry_path", "registry",
        "register_model", "training_seeds", "seeds_of", "seed_entry", "models_note", "check_models",
        "load_trained", "probe_outputs", "DIVERGED_LOSS", "check_health", "train_model", "train_variant", "train_on",
        "firing_accuracy", "primary_rows",
    ),
    "prologue": (
        "Book", "open_book",
    ),
    "caches": (
        "ENCODINGS", "tokens_key", "probe_concepts", "cached_frame", "search_results", "null_draws", "matched_null",
        "save_latest_search", "latest_search", "check_encodings", "check_search_vocab",
    ),
}
_WHERE = {name: module for module, names in EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    else:
        try:  # a submodule: run.regimes, run.pipeline, …
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":  # the submodule exists but something it imports is missing
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
