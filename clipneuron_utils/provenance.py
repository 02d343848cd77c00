"""What this build used — data files, encoder weights — recorded by the chapters, shown on the first page.

Chapters call :func:`record` (e.g. chapter 1 records the data summary, chapter 2 the weights of each
encoder); after a successful run the pipeline writes :func:`render_markdown` to ``_provenance.md`` next to
the executed notebooks, which ``intro.md`` includes. Warnings (an untrained CLIP, the 1% train sample,
synthetic data) become a visible box.
"""

from __future__ import annotations

import json
from pathlib import Path

from .artifacts import read_json, run_dir, write_json

FILE = "provenance.json"


def path(profile: str) -> Path:
    return run_dir(profile) / FILE


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


def warnings(profile: str, entries: dict | None = None) -> list[str]:
    """The recorded warnings (untrained CLIP, 1% train sample, synthetic data), in key order."""
    entries = load(profile) if entries is None else entries
    return [e["warning"] for _, e in sorted(entries.items()) if e.get("warning")]


def render_markdown(profile: str) -> str:
    """The provenance section of the introduction: a list of what was used, warnings in a box."""
    entries = load(profile)
    lines = [f"## What this build used (profile `{profile}`)", ""]
    if not entries:
        return "\n".join(lines + ["No provenance was recorded by this run.", ""])
    notes = warnings(profile, entries)
    if notes:
        lines += [":::{warning} Read the results with this in mind", *[f"- {w}" for w in notes], ":::", ""]
    lines += [f"- **{key}**: {entry['text']}" for key, entry in sorted(entries.items())]
    return "\n".join(lines) + "\n"
