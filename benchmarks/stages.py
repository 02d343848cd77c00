"""What the chapter benchmarks share: a chapter's parameters as a run would give them, and a stopwatch per stage.

Imported by the scripts beside it (``python benchmarks/<name>.py`` puts this folder on the path).
"""

from __future__ import annotations

import time
from pathlib import Path

from clipneuron_utils.run import parameters, profiles


def chapter_values(chapter: Path, profile: str) -> dict:
    """The parameters ``chapter`` declares, at their defaults, with the profile's values where it gives them."""
    declared = {name: p.default for name, p in parameters.read_parameters(chapter).items()}
    return {**declared, **{k: v for k, v in profiles.load_profile(profile).items() if k in declared}}


class Stages:
    """Each stage's seconds, printed as it ends (``seconds``: ``(label, seconds)`` in order)."""

    def __init__(self) -> None:
        self.seconds: list[tuple[str, float]] = []

    def timed(self, label: str, work):
        """Run ``work()``, record and print its seconds under ``label``, and return what it returned."""
        t0 = time.perf_counter()
        out = work()
        self.seconds.append((label, time.perf_counter() - t0))
        print(f"  {label}: {self.seconds[-1][1]:.1f} s", flush=True)
        return out
