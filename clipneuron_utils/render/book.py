"""Build the HTML book (Jupyter Book 1) from executed notebooks, with no network needed to view it.

``python -m clipneuron_utils.render.book`` builds ``book/`` (the committed executed notebooks) into
``_build/html``; ``--notebooks tests/nbval --output _build/smoke`` builds the same table of contents from
the smoke notebooks instead (what ``make test`` checks). Both write the Vega bundle into ``_static``
through the
``clipneuron_utils.render.sphinx_ext`` extension, so charts draw offline.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ..artifacts import repo_root

BOOK_FILES = ("_toc.yml", "intro.md", "references.bib")


def stage(notebooks: Path, target: Path) -> Path:
    """A book source folder: the book's own files plus the executed notebooks of ``notebooks``."""
    book = repo_root() / "book"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in BOOK_FILES:
        shutil.copy2(book / name, target / name)
    for item in list(notebooks.glob("*.ipynb")) + list(notebooks.glob("_provenance.md")) + list(notebooks.glob("_scorecard.md")):
        shutil.copy2(item, target / item.name)
    return target


def build(source: Path, output: Path, *, strict: bool = True) -> Path:
    """Run ``jupyter-book build`` on ``source``; returns the folder holding ``index.html``."""
    for name in ("_provenance.md", "_scorecard.md"):
        if not (source / name).is_file():
            raise FileNotFoundError(
                f"{source / name} is missing: run the notebooks first "
                f"(python -m clipneuron_utils.run.pipeline --profile ...), which writes it"
            )
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--config", str(repo_root() / "_config.yml"),
               "--path-output", str(output)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    return output / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipneuron_utils.render.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default=None, help="folder of executed notebooks (default: book/ itself)")
    parser.add_argument("--output", default=None, help="output folder (default: the repository root → _build/html)")
    parser.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    args = parser.parse_args(argv)
    root = repo_root()
    if args.notebooks is None:
        source, output = root / "book", Path(args.output or root)
    else:
        output = Path(args.output or root / "_build" / "smoke")
        source = stage(Path(args.notebooks), output / "source")
    try:
        html = build(source, output, strict=not args.no_strict)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"book: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
