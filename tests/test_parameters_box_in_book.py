"""The built book shows the run that made it: a value given on the command line appears, in bold, in the
chapter's "Parameters of this run" box, and a default does not.

End to end, as a reader would rerun a chapter: chapter 01_data of the smoke profile runs through the pipeline
with ``-p seed=7`` (not the smoke profile's seed), the smoke book is built from it and the other chapters'
reference copies, and the box is read from the built HTML (about 35 s).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "nbval"


def _box_rows(page: str) -> dict[str, str]:
    """parameter name -> the HTML of its value cell, from the page's parameters box."""
    start = page.find("Parameters of this run")
    assert start >= 0, "no 'Parameters of this run' box on the page"
    table = page[start: page.find("</table>", start)]
    rows = {}
    for row in re.findall(r"<tr.*?</tr>", table, re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        if len(cells) >= 2:
            name = html.unescape(re.sub(r"<[^>]+>", "", cells[0])).strip()
            rows[name] = cells[1]
    return rows


def _value(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


@pytest.mark.skipif(shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("jupyter-book") is None, reason="jupyter-book not installed")
def test_a_command_line_value_is_bold_in_the_built_parameters_box(tmp_path):
    env = {**os.environ, "CLIPNEURON_RUNS": str(tmp_path / "runs")}
    run = subprocess.run([sys.executable, "-m", "clipneuron_utils.run.pipeline", "--profile", "smoke", "--only", "01",
                          "-p", "seed=7", "--output-dir", str(tmp_path / "run")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    book = tmp_path / "notebooks"
    book.mkdir()
    for file in [*REFERENCES.glob("*.ipynb"), *REFERENCES.glob("_*.md")]:
        shutil.copy(file, book / file.name)
    shutil.copy(tmp_path / "run" / "01_data.ipynb", book / "01_data.ipynb")
    build = subprocess.run([sys.executable, "-m", "clipneuron_utils.render.book", "--notebooks", str(book),
                            "--output", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    rows = _box_rows((tmp_path / "site" / "_build" / "html" / "01_data.html").read_text())
    # given on the command line: this run's value, in bold
    assert _value(rows["seed"]) == "7" and "<strong>" in rows["seed"], rows["seed"]
    # set by the smoke profile: bold too; a chapter default: plain
    assert _value(rows["data_source"]) == "'synthetic'" and "<strong>" in rows["data_source"], rows["data_source"]
    assert _value(rows["data_dir"]) == "''" and "<strong>" not in rows["data_dir"], rows["data_dir"]
    # and the reference copy, run with the profile's seed, does not show 7
    reference = _box_rows((tmp_path / "site" / "_build" / "html" / "03_head_training.html").read_text())
    assert _value(reference["seed"]) == "0", reference["seed"]
