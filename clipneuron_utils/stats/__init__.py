"""From search results to evidence: the tidy tables that answer the paper's questions (by question), the
bootstrap intervals and pooled tests, the paper's reported figures and the computed verdicts on its claims.

Imports :mod:`..data`, :mod:`..explain` and the floor; never ``render`` or ``run``.
"""
