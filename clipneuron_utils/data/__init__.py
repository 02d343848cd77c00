"""The pairs: SNLI read from the official files (:mod:`.snli`), WordNet 3.0's files (:mod:`.wordnet_files`), the embedded synthetic pairs of the smoke
profile (:mod:`.synthetic`), and the train/probe pairs a run uses with their provenance (:mod:`.corpus`).

The bottom floor of the science: it imports nothing from the rest of the package but :mod:`..artifacts`.
"""
