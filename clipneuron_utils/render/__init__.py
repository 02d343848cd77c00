"""What the reader sees: Altair charts and their offline bundle, interactive tables, neuron cards, the
provenance box, the appendix of differences, the Sphinx extension and the book build.

May import the science (``data``, ``models``, ``explain``, ``stats``); never ``run``.
"""
