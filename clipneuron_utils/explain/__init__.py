"""Compositional explanations (Mu & Andreas, 2020): the concepts (token, tag and overlap masks, with the
WordNet-synonym encoding), the formulas over them, the vectorised beam search, the firing-rate-matched
null, and probing trained units with pairs a reader writes.

Imports :mod:`..data`, :mod:`..models` (probing only) and the floor; never ``stats``, ``render`` or ``run``.
"""
