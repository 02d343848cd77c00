"""The NLI classifiers whose neurons are explained: the sentence encoders (CLIP's text tower, the LSTM,
MiniLM), the head on ``[u; v; u−v; u∗v]``, its training with checkpoints, saving and loading, and the
probe outputs (hidden activations, predictions) that the explanations read.

Imports :mod:`..data` and the floor (:mod:`..artifacts`, :mod:`..seeding`); never ``explain``, ``stats``,
``render`` or ``run``.
"""
