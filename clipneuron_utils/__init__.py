"""clipneuron: compositional explanations of neurons in CLIP-, LSTM- and MiniLM-based NLI classifiers.

The notebooks in ``notebooks/`` orchestrate and explain; this package computes. Each module has one job:
``data`` (SNLI), ``synthetic`` (embedded smoke data), ``wordnet``, ``encoders``, ``heads``,
``concepts``, ``formulas``, ``search``, ``analysis``, ``plots``, ``probe``, ``pipeline``
(papermill → book), ``parameters`` (the chapters' parameters, checked before any kernel starts),
``experiment`` (what chapters hand to each other, checked against their parameters), ``provenance``,
``seeding`` and ``artifacts`` (atomic, input-keyed, checksummed files under ``runs/``).
"""

__version__ = "0.1.0"

import warnings as _warnings

# Progress bars are plain text (stripped from executed notebooks by the pipeline); without ipywidgets
# tqdm.auto falls back to them, and its "IProgress not found" warning would only clutter the book.
_warnings.filterwarnings("ignore", message="IProgress not found")
