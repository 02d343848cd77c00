"""The profiles (``params/<name>.yaml``) and the chapter sources (``notebooks/NN_*.py``) of this checkout.

The lower floor of ``run``: the pipeline, the parameter checks, the caches and the estimate all read
profiles and chapters, so this module imports none of them (it was part of the pipeline, which made the
estimate and the pipeline import each other).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..artifacts import repo_root


class PipelineError(RuntimeError):
    """A profile, parameter or notebook problem, with a message that says what to do."""


def params_dir() -> Path:
    return repo_root() / "params"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def load_profile(profile: str) -> dict:
    """The parameters of ``params/<profile>.yaml`` (a flat mapping)."""
    path = params_dir() / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in params_dir().glob("*.yaml"))) or "none"
        raise PipelineError(f"profile {profile!r}: {path} does not exist (profiles: {known})")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(values, dict):
        raise PipelineError(f"{path}: expected a mapping of parameter: value")
    if values.setdefault("profile", profile) != profile:
        raise PipelineError(f"{path}: profile is {values['profile']!r}, but the file is for profile {profile!r}; "
                            f"set `profile: {profile}` (artifacts go under runs/<profile>/)")
    return values


def parse_override(text: str) -> tuple[str, str]:
    """``key=value`` → (key, raw value text); the value is typed later by the parameter's declared type,
    so ``-p max_length=3`` gives an int and ``-p clip_sha256=000…`` stays a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"override {text!r}: expected key=value, e.g. -p max_length=3")
    return key.strip(), raw


def notebook_sources(only: list[str] | None = None) -> list[Path]:
    """The chapter sources in order; ``only`` picks chapters by prefix (``03``) or stem."""
    sources = sorted(notebooks_dir().glob("[0-9][0-9]_*.py"))
    if not only:
        return sources
    chosen = [p for p in sources if any(p.stem == o or p.stem.startswith(f"{o}_") for o in only)]
    missing = [o for o in only if not any(p.stem == o or p.stem.startswith(f"{o}_") for p in sources)]
    if missing:
        raise PipelineError(f"--only {', '.join(missing)}: no such chapter in {notebooks_dir()}")
    return chosen
