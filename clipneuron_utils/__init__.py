"""clipneuron: compositional explanations of neurons in CLIP-, LSTM- and MiniLM-based NLI classifiers.

The notebooks in ``notebooks/`` orchestrate and explain; this package computes. Its folders follow the
pipeline, and each floor imports only the floors below it (``tests/test_layout.py`` fails on a cycle or
an upward import, lazy imports included):

``artifacts``, ``seeding``  the ground floor: atomic, input-keyed, checksummed files under ``runs/``;
                            one seeding helper.
``data/``     the pairs and the lexicon. ``snli`` (the official files, download), ``wordnet_files``
              (WordNet 3.0's files: found, copied from Debian's, or fetched with NLTK's downloader),
              ``synthetic`` (the smoke data), ``corpus`` (a run's train and probe pairs with their provenance).
``models/``   the classifiers whose neurons are explained. Encoders: ``base`` (the interface),
              ``clip``, ``minilm``, ``lstm``, ``encoders`` (by name), ``features`` (the feature cache),
              ``devices``; the head: ``heads`` (model and config), ``batches``, ``training``
              (with checkpoints), ``saving``, ``outputs`` (activations, predictions), ``ablation``
              (units held at zero or their mean: a hook, and the closed form on saved activations);
              ``encoder_neurons`` and ``encoder_ablation`` (the frozen encoders' own MLP neurons: read, held);
              ``random_controls`` (untrained and shuffled-label control models: names, switches).
``explain/``  the explanations. ``vocabulary``, ``concepts``, ``wordnet``, ``formulas``, ``search``
              (semantics and API) over ``beam`` (the vectorised rounds) and ``parallel`` (processes),
              ``controls`` (the matched null), ``regime`` (top-alpha firing and what it changes),
              ``probe`` (units against pairs a reader writes), ``edits`` (the stated edit rules of the
              causal tests, checked on the concept masks), ``sentence_concepts`` (concepts over single
              sentences), ``clusters`` (1-D k-means masks over a neuron's range).
``stats/``    from results to evidence, one module per question: ``compositionality`` (1: IoU by
              length), ``contribution`` (2: accuracy when firing), ``single_neurons`` (Goh et al.'s
              views), ``effects`` (the tables' numbers with unit-bootstrap intervals), over ``tidy``
              and ``uncertainty`` (the bootstrap), ``pvalues`` (combined over seeds, Holm); ``replicates`` (per-seed figures pooled with between-seed
              variance, equivalence tests); ``reported`` (the paper's figures) and ``claims`` (the
              claim list, its rules, the scorecard); ``causal`` (ablation, faithfulness and adversarial
              figures pooled over seeds, and the causal claims' verdicts); ``annotation_artifacts`` (SNLI's
              artifact words, artifact detectors) and ``artifact_effects`` (their tests, H1 and H2);
              ``encoder_explanations`` (the encoders' own neurons per layer).
``render/``   what the reader sees: ``plots``, ``unit_plots``, ``null_plots``, ``regime_plots``, ``causal_plots``, ``artifact_plots``, ``encoder_plots``, ``chart_parts``,
              ``charts`` (offline bundle), ``numbers`` (how figures print), ``tables``, ``cards``, ``provenance``, ``differences``,
              ``sphinx_ext`` and ``book`` (the build).
``run/``      running the book: ``profiles``, ``parameters`` and ``prerequisites`` (checked before any
              kernel starts),
              ``pipeline`` (papermill, all-or-nothing) and ``executed`` (what an executed chapter keeps);
              what chapters hand each other, re-exported by ``run/__init__``: ``trained`` (models, registry,
              seeds, health), ``caches`` (concepts, searches, the null), ``reruns`` (rerun commands);
              ``regimes`` (the firing-regime sweep), ``interventions`` (the causal tests on every model,
              cached), ``hypothesis_only`` (hypothesis-only baselines, easy and hard pairs), ``artifact_tests``
              (the artifact tests per model), ``encoder_units`` and ``encoder_ablation`` (the encoders' own
              neurons), and
              the wall-time estimate: ``workload`` (counting), ``timing``, ``timing_explain`` (measuring), ``runtime``
              (projecting), ``estimate`` (reporting).

Why these cuts: the science (``data`` → ``models`` → ``explain`` → ``stats``) can be read, tested and
reused without the book; ``render`` may draw anything the science makes; only ``run`` knows about
profiles, papermill and ``runs/``. ``models`` holds the LSTM, though it trains with its head, because it
is an encoder; ``probe`` sits in ``explain`` because it finds the units a description formula points to.
"""

__version__ = "0.1.0"

import warnings as _warnings

# Progress bars are plain text (stripped from executed notebooks by the pipeline); without ipywidgets
# tqdm.auto falls back to them, and its "IProgress not found" warning would only clutter the book.
_warnings.filterwarnings("ignore", message="IProgress not found")
