"""What this build used — data files, encoder weights — recorded by the chapters, shown on the first page.

Chapters call :func:`record` (e.g. chapter 01_data records the data summary, chapter 02_encoders the weights of each
encoder). Under the pipeline each chapter records into a file of its own run (``$CLIPNEURON_PROVENANCE``),
which the pipeline stores in that chapter's executed notebook; ``_provenance.md`` is rendered from the
notebooks that make up the output folder, so a one-chapter run never rewrites what the other chapters say.
Run outside the pipeline (papermill by hand), a chapter records into ``runs/<profile>/provenance.json``.
Warnings (an untrained CLIP, the 1% train sample, synthetic data) become a visible box.

Chapter 06_results records the scorecard of the paper's claims the same way (:func:`record_scorecard`, under the
reserved key ``_scorecard``); the pipeline renders it into ``_scorecard.md``, which the first page includes.
Chapter 08_firing_regime records the verdicts at every firing threshold (:func:`record_regimes`, key ``_regimes``);
they take the place of chapter 06_results's verdicts at > 0 in ``_scorecard.md``, and chapter 10_causal's causal
verdicts (:func:`record_causal`, key ``_causal``) follow them, then chapter 11_artifacts's (:func:`record_artifacts`,
key ``_artifacts``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..artifacts import read_json, run_dir, write_json

FILE = "provenance.json"
FILE_ENV = "CLIPNEURON_PROVENANCE"
SCORECARD = "_scorecard"  # reserved key: not a provenance line
REGIMES = "_regimes"  # reserved key: chapter 08_firing_regime's verdicts per regime, not a provenance line
CAUSAL = "_causal"  # reserved key: chapter 10_causal's causal verdicts
ARTIFACTS = "_artifacts"  # reserved key: chapter 11_artifacts's verdicts on the annotation artifacts
RESERVED = (SCORECARD, REGIMES, CAUSAL, ARTIFACTS)
NO_SCORECARD = ("## The paper's claims in this build\n\nChapter 06_results was not run in this build, so there is no "
                "scorecard of the paper's claims.\n")


def path(profile: str) -> Path:
    """Where :func:`record` writes: the pipeline's per-chapter file, else ``runs/<profile>/provenance.json``."""
    return Path(os.environ[FILE_ENV]) if os.environ.get(FILE_ENV) else run_dir(profile) / FILE


def load(profile: str) -> dict:
    p = path(profile)
    return read_json(p) if p.is_file() else {}


def record(profile: str, key: str, value: dict) -> None:
    """Store ``value`` under ``key`` (``{"text": ..., "warning": optional str}``), atomically."""
    if "text" not in value:
        raise ValueError("a provenance value needs a 'text' entry")
    entries = load(profile)
    entries[key] = json.loads(json.dumps(value, default=str))
    write_json(path(profile), entries)


def data_warning(data_source: str, train_splits) -> str | None:
    """The caveat of the data a run trains on (synthetic data, the 1% train sample), or None."""
    if data_source == "synthetic":
        return "Embedded synthetic data, not SNLI: the numbers test the code, not the science."
    if "train_0.01" in list(train_splits):
        return "Heads were trained on the 1% SNLI train sample (plus test), not the full train split the paper used."
    return None


def encoder_warning(name: str, kind: str) -> str | None:
    """The caveat of an encoder (an untrained CLIP is an architecture-only control), or None."""
    if kind == "untrained":
        return f"CLIP is UNTRAINED ({name}): an architecture-only control, not the paper's CLIP."
    return None


def record_scorecard(profile: str, markdown: str) -> None:
    """Chapter 06_results's scorecard of the paper's claims (Markdown), for the first page."""
    record(profile, SCORECARD, {"text": markdown})


def record_regimes(profile: str, markdown: str) -> None:
    """Chapter 08_firing_regime's verdicts at every firing threshold (Markdown), for the first page; they take the
    place of chapter 06_results's verdicts at > 0 there."""
    record(profile, REGIMES, {"text": markdown})


def record_causal(profile: str, markdown: str) -> None:
    """Chapter 10_causal's verdicts on the causal reading of the paper's claims (Markdown), for the first page."""
    record(profile, CAUSAL, {"text": markdown})


def record_artifacts(profile: str, markdown: str) -> None:
    """Chapter 11_artifacts's verdicts on the artifact detectors (Markdown), for the first page."""
    record(profile, ARTIFACTS, {"text": markdown})


def render_scorecard(entries: dict) -> str:
    """``_scorecard.md``: the verdicts at every firing threshold chapter 08_firing_regime recorded, or else the
    verdicts at > 0 chapter 06_results recorded (or a line saying neither ran), then the causal verdicts
    chapter 10_causal recorded and chapter 11_artifacts's, when they ran."""
    text = ((entries.get(REGIMES) or {}).get("text") or (entries.get(SCORECARD) or {}).get("text")
            or NO_SCORECARD)
    for key in (CAUSAL, ARTIFACTS):
        more = (entries.get(key) or {}).get("text")
        text += "\n" + more if more else ""
    return text


def warnings(entries: dict) -> list[str]:
    """The warnings among provenance ``entries``, in key order."""
    return [e["warning"] for k, e in sorted(entries.items()) if e.get("warning") and k not in RESERVED]


def render_markdown(profile: str, entries: dict) -> str:
    """The provenance section of the introduction: a list of what was used, warnings in a box."""
    lines = [f"## What this build used (profile `{profile}`)", ""]
    if not any(key not in RESERVED for key in entries):
        return "\n".join(lines + ["No provenance was recorded by this run.", ""])
    notes = warnings(entries)
    if notes:
        lines += [":::{warning} Read the results with this in mind", *[f"- {w}" for w in notes], ":::", ""]
    lines += [f"- **{key}**: {entry['text']}" for key, entry in sorted(entries.items()) if key not in RESERVED]
    return "\n".join(lines) + "\n"
