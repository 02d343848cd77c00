"""How a chapter says what to rerun and what it used: the rerun command of a stale artifact, and the notes
the pipeline reads to refuse a book that mixes two runs.

Shared by :mod:`.trained` and :mod:`.caches` (both stop on a stale artifact with the command that remakes it).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path


class StaleArtifactError(RuntimeError):
    """An artifact made from other inputs than this chapter's parameters; the message says what to rerun."""


def rerun_command(profile: str, chapters: list[str] | tuple[str, ...] = (), **params) -> str:
    """The pipeline command that remakes ``chapters`` (all when empty) with ``params``.

    Only parameters that differ from the profile's values (or the chapters' defaults) are spelled out.
    """
    from . import parameters
    from .profiles import load_profile, notebook_sources

    base, defaults = {}, {}
    try:  # a command without -p is still a useful hint, so failures here only make it longer
        defaults = {k: p.default for k, p in parameters.declared(notebook_sources(None)).items()}
        base = load_profile(profile)
    except Exception:  # noqa: BLE001
        pass
    parts = ["python -m clipneuron_utils.run.pipeline", f"--profile {profile}"]
    parts += [f"--only {c}" for c in chapters]
    for key, value in params.items():
        if base.get(key, defaults.get(key)) != value:
            text = f"[{', '.join(map(str, value))}]" if isinstance(value, (list, tuple)) else str(value)
            parts.append(f"-p {shlex.quote(f'{key}={text}')}")
    return " ".join(parts)


#: the pipeline names a file per chapter here; chapters note in it the artifacts they made or read
USES_ENV = "CLIPNEURON_USES"


def note_use(kind: str, value) -> None:
    """Note that this chapter made or read ``value`` (``models``: encoder → key; ``search``: a key).

    The pipeline stores the notes in the executed notebook and refuses an output folder whose chapters
    used different models or search results (a book that mixes two runs). Outside the pipeline: no-op.
    """
    target = os.environ.get(USES_ENV)
    if not target:
        return
    path = Path(target)
    uses = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if isinstance(value, dict):
        uses[kind] = {**uses.get(kind, {}), **value}
    else:
        uses[kind] = value
    path.write_text(json.dumps(uses, sort_keys=True), encoding="utf-8")
