"""Random-network controls: models that have no reason to encode anything, explained the same way.

An effect that a model with random weights or random labels also shows needs no learned weights, so it
says nothing about what training taught the units. Each control is named ``<encoder>-<kind>``:

* ``clip-untrained``: CLIP's architecture with random weights, frozen (the head still trains on SNLI).
  When the real CLIP weights are given it is their control; without them the ``clip`` model itself is
  untrained, and this control would repeat it.
* ``lstm-untrained``: the BiLSTM with its random initial weights, frozen; only the head trains.
* ``<encoder>-shuffled`` (any encoder): the same model trained on a fixed random permutation of the
  training labels, so its units can learn nothing about entailment.

A control is an ordinary model in the registry, under its own name, with ``control`` (its kind) and
``base`` (its encoder) recorded; the head settings are those of its encoder's model, with the change
below (``HeadConfig.shuffle_labels`` / ``freeze_lstm``), so its folder key differs from the model's.
"""

from __future__ import annotations

from .heads import ENCODERS

KINDS = {
    "untrained": "random weights, frozen",
    "shuffled": "trained on shuffled labels",
}
UNTRAINED = ("clip", "lstm")  # encoders whose untrained form is a control (MiniLM's is not built)


def controls_of(names) -> list[str]:
    """``names`` validated as control names (a list; may be empty), in order, without repeats."""
    if isinstance(names, str) or names is None:
        raise ValueError(f"controls must be a list of <encoder>-<kind> names such as 'lstm-untrained'; got {names!r}")
    allowed = [f"{e}-untrained" for e in UNTRAINED] + [f"{e}-shuffled" for e in ENCODERS]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"unknown control(s) {', '.join(map(repr, bad))}; controls are drawn from {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def is_control(name: str) -> bool:
    """Whether a registry name is a control (``<encoder>-<kind>``) rather than an encoder's model."""
    base, _, kind = str(name).partition("-")
    return base in ENCODERS and kind in KINDS


def split(name: str) -> tuple[str, str]:
    """``"lstm-untrained"`` → ``("lstm", "untrained")``."""
    controls_of([name])
    base, _, kind = name.partition("-")
    return base, kind


def head_changes(name: str) -> dict:
    """The head settings a control changes from its encoder's model."""
    base, kind = split(name)
    if kind == "shuffled":
        return {"shuffle_labels": True}
    return {"freeze_lstm": True} if base == "lstm" else {}


def encoder_weights(name: str, weights: str) -> str:
    """The CLIP weights a control uses (``untrained`` for ``clip-untrained``; the model's otherwise)."""
    return "untrained" if name == "clip-untrained" else weights


def describe(name: str) -> str:
    """``"LSTM control: random weights, frozen"`` — for tables and the provenance."""
    base, kind = split(name)
    return f"{base} control: {KINDS[kind]}"
