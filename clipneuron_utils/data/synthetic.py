"""Embedded smoke data: a small, seeded NLI set in exactly the shape of :func:`clipneuron_utils.data.snli.load_snli`.

``PROFILE=smoke`` and the tests use it, so ``make test`` needs no network and no files from outside the
repository. Pairs are built from templates whose labels follow lexical rules a small model can learn
(and a neuron can come to detect):

* **entailment** — the hypothesis restates the premise with a more general subject ("man" → "person")
  and drops the place;
* **contradiction** — the hypothesis swaps the activity for an incompatible one (running → sleeping) or
  the subject for its opposite (man → woman);
* **neutral** — the hypothesis adds an adjective or a purpose the premise does not support.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .snli import COLUMNS, LABELS

#: subject → (more general subject, opposite subject)
SUBJECTS = {
    "man": ("person", "woman"),
    "woman": ("person", "man"),
    "boy": ("child", "girl"),
    "girl": ("child", "boy"),
    "dog": ("animal", "cat"),
    "cat": ("animal", "dog"),
    "player": ("person", "fan"),
    "fan": ("person", "player"),
}
#: activity (VBG) → incompatible activity
ACTIVITIES = {
    "running": "sleeping",
    "jumping": "sitting",
    "eating": "swimming",
    "walking": "sleeping",
    "playing": "sitting",
    "swimming": "eating",
    "singing": "sleeping",
    "climbing": "sitting",
}
PLACES = ["park", "beach", "street", "field", "kitchen", "garden", "stage", "lake"]
ADJECTIVES = ["tall", "happy", "young", "tired", "old", "small"]
PURPOSES = ["friend", "prize", "crowd", "camera"]


def _sentence(words: list[tuple[str, str]]) -> tuple[str, list[str], list[str]]:
    """(word, tag) list → (text, lowercased tokens, tags)."""
    tokens = [w.lower() for w, _ in words]
    tags = [t for _, t in words]
    text = " ".join(w for w, _ in words[:-1]) + words[-1][0]
    return text[0].upper() + text[1:], tokens, tags


def _premise(subject: str, activity: str, place: str, rng: np.random.Generator):
    words = [("a", "DT"), (subject, "NN"), ("is", "VBZ"), (activity, "VBG"), ("in", "IN"), ("the", "DT"), (place, "NN")]
    if rng.random() < 0.3:
        words[1:1] = [(str(rng.choice(["little", "big"])), "JJ")]
    return words + [(".", ".")]


def _hypothesis(label: str, subject: str, activity: str, rng: np.random.Generator):
    general, opposite = SUBJECTS[subject]
    if label == "entailment":
        return [("a", "DT"), (str(rng.choice([subject, general])), "NN"), ("is", "VBZ"), (activity, "VBG"), (".", ".")]
    if label == "contradiction":
        if rng.random() < 0.5:
            return [("a", "DT"), (subject, "NN"), ("is", "VBZ"), (ACTIVITIES[activity], "VBG"), (".", ".")]
        return [("a", "DT"), (opposite, "NN"), ("is", "VBZ"), (activity, "VBG"), (".", ".")]
    if rng.random() < 0.5:
        adjective = str(rng.choice(ADJECTIVES))
        return [("a", "DT"), (adjective, "JJ"), (subject, "NN"), ("is", "VBZ"), (activity, "VBG"), (".", ".")]
    purpose = str(rng.choice(PURPOSES))
    return [("a", "DT"), (subject, "NN"), ("is", "VBZ"), (activity, "VBG"), ("for", "IN"), ("a", "DT"), (purpose, "NN"), (".", ".")]


def make_pairs(n_pairs: int = 300, seed: int = 0) -> pd.DataFrame:
    """A seeded synthetic NLI set with balanced labels, in the :func:`load_snli` DataFrame shape."""
    if not isinstance(n_pairs, (int, np.integer)) or n_pairs < 3:
        raise ValueError(f"n_pairs must be an int >= 3 (one pair per label at least), got {n_pairs!r}")
    rng = np.random.default_rng(seed)
    subjects, activities = list(SUBJECTS), list(ACTIVITIES)
    rows = []
    for i in range(int(n_pairs)):
        label = LABELS[i % len(LABELS)]
        subject, activity, place = rng.choice(subjects), rng.choice(activities), rng.choice(PLACES)
        premise, p_tokens, p_tags = _sentence(_premise(str(subject), str(activity), str(place), rng))
        hypothesis, h_tokens, h_tags = _sentence(_hypothesis(label, str(subject), str(activity), rng))
        rows.append((f"syn-{seed}-{i:05d}", premise, hypothesis, label, p_tokens, h_tokens, p_tags, h_tags))
    order = rng.permutation(len(rows))
    frame = pd.DataFrame([rows[j] for j in order], columns=COLUMNS)
    return frame.reset_index(drop=True)


def make_splits(n_train: int = 600, n_probe: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Disjoint synthetic train and probe sets (different seeds), as the smoke profile uses them."""
    return make_pairs(n_train, seed=seed), make_pairs(n_probe, seed=seed + 1)
