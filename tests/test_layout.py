"""The package's house rules: no import cycles, and the science never imports what renders or runs it.

Every import counts, also those inside functions (a lazy import is still a dependency, and a lazy cycle
is a cycle). The floors, bottom to top: the root modules (``artifacts``, ``seeding``), then ``data``,
``models``, ``explain``, ``stats`` (the science), then ``render``, then ``run``.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import clipneuron_utils

PACKAGE = Path(clipneuron_utils.__file__).parent
SCIENCE = ("data", "models", "explain", "stats")
#: what each floor may import besides itself and the root modules
ALLOWED = {
    "data": set(),
    "models": {"data"},
    "explain": {"data", "models"},
    "stats": {"data", "models", "explain"},
    "render": {"data", "models", "explain", "stats"},
    "run": {"data", "models", "explain", "stats", "render"},
}


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its file (``from . import x`` names x)."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        out |= {c for c in candidates if c in known and c != name}
    return out


def graph(root: Path, package: str) -> dict[str, set[str]]:
    """Import graph of the package's modules; ``__init__`` files hold docstrings only, so they are no nodes."""
    known = modules(root, package)
    inits = {n for n, p in known.items() if p.name == "__init__.py"}
    return {n: imports(n, p, known) - inits for n, p in known.items() if n not in inits}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def floor(name: str, package: str) -> str | None:
    """The subpackage a module lives in (None: a root module of the package)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else None


def layering_violations(edges: dict[str, set[str]], package: str) -> list[str]:
    out = []
    for source, targets in sorted(edges.items()):
        here = floor(source, package)
        for target in sorted(targets):
            there = floor(target, package)
            if there is None or there == here:
                continue
            if here is None:
                out.append(f"{source} (a root module: the floor everyone stands on) imports {target}")
            elif there not in ALLOWED.get(here, set()):
                out.append(f"{source} ({here}) imports {target} ({there})")
    return out


def test_the_package_has_no_import_cycle():
    assert cycles(graph(PACKAGE, "clipneuron_utils")) == []


def test_the_science_imports_neither_render_nor_run():
    edges = graph(PACKAGE, "clipneuron_utils")
    assert layering_violations(edges, "clipneuron_utils") == []
    science = {n for n in edges if floor(n, "clipneuron_utils") in SCIENCE}
    assert len(science) > 20  # the walk found the science's modules


def test_every_module_lives_on_a_known_floor():
    unknown = {floor(n, "clipneuron_utils") for n in graph(PACKAGE, "clipneuron_utils")} - set(ALLOWED) - {None}
    assert unknown == set()


def make_package(root: Path, files: dict[str, str]) -> Path:
    top = root / "pkg"
    for rel, text in files.items():
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for folder in [top, *[p for p in top.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return top


def test_a_planted_lazy_cycle_is_found(tmp_path):
    top = make_package(tmp_path, {
        "explain/concepts.py": "def build():\n    from .wordnet import synonyms\n    return synonyms\n",
        "explain/wordnet.py": "from .concepts import build\nsynonyms = build\n",
        "explain/formulas.py": "from . import concepts\n",
    })
    assert cycles(graph(top, "pkg")) == [["pkg.explain.concepts", "pkg.explain.wordnet"]]


def test_a_planted_upward_import_is_found(tmp_path):
    top = make_package(tmp_path, {
        "stats/claims.py": "def verdicts():\n    from ..render import tables\n    return tables\n",
        "render/tables.py": "from ..stats import claims\n",
        "run/pipeline.py": "from ..render import tables\n",
        "models/heads.py": "from clipneuron_utils_planted import x\nfrom pkg.run.pipeline import run\n",
    })
    assert layering_violations(graph(top, "pkg"), "pkg") == [
        "pkg.models.heads (models) imports pkg.run.pipeline (run)",
        "pkg.stats.claims (stats) imports pkg.render.tables (render)",
    ]


@pytest.mark.parametrize("module", ["clipneuron_utils.run.pipeline", "clipneuron_utils.explain.search"])
def test_the_walk_sees_what_a_module_imports(module):
    edges = graph(PACKAGE, "clipneuron_utils")
    expected = {"clipneuron_utils.run.pipeline": "clipneuron_utils.run.profiles",
                "clipneuron_utils.explain.search": "clipneuron_utils.explain.beam"}[module]
    assert expected in edges[module]


# ------------------------------------------------------------------------------------------ names and sizes


def private_imports(root: Path, package: str) -> list[str]:
    """``_name`` imported by one module of the package from another (``_`` means private to its module)."""
    found = []
    for name, path in modules(root, package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not (node.level or (node.module or "").startswith(package)):
                continue
            found += [f"{name} imports {a.name} from {'.' * node.level}{node.module or ''}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
    return sorted(found)


def test_no_module_imports_another_modules_private_name():
    assert private_imports(PACKAGE, "clipneuron_utils") == []


def test_a_planted_private_import_is_found(tmp_path):
    top = make_package(tmp_path, {"stats/tidy.py": "def _columns():\n    pass\n",
                                  "stats/effects.py": "from .tidy import _columns\n"})
    assert private_imports(top, "pkg") == ["pkg.stats.effects imports _columns from .tidy"]


#: the most lines a module of the package may have (one job each; the issue that split them set "about 500")
MAX_LINES = 500


def test_no_module_is_over_the_size_limit():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_run_re_exports_every_public_name_of_the_modules_chapters_read():
    """``from clipneuron_utils import run`` gives every public name of the modules listed in ``run.EXPORTS``,
    each from the module that defines it, and nothing the modules do not define."""
    import importlib

    from clipneuron_utils import run

    seen = []
    for module, names in run.EXPORTS.items():
        loaded = importlib.import_module(f"clipneuron_utils.run.{module}")
        tree = ast.parse(Path(loaded.__file__).read_text(encoding="utf-8"))
        public = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        public |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        public = {n for n in public if not n.startswith("_")}
        assert set(names) == public, module
        for name in names:
            assert getattr(run, name) is getattr(loaded, name)
        seen += names
    assert len(seen) == len(set(seen)), "a name re-exported from two modules"
    assert run.pipeline.__name__ == "clipneuron_utils.run.pipeline"  # submodules still load through run
    with pytest.raises(AttributeError):
        run.no_such_name  # noqa: B018


#: test files that name no one module, and why
CROSS_CUTTING = {
    "test_layout.py": "the package's floors and names as a whole",
    "test_foundation.py": "the ground floor together: synthetic data, corpus, artifacts, seeding, provenance, charts",
    "test_nbval_tolerance.py": "tests/nbval/conftest.py, the nbval comparison's rounding",
}


def test_every_test_file_names_a_module_or_chapter_that_exists():
    """``tests/test_<name>.py`` (or ``test_faults_<name>``): ``<name>``, or its first words, is a module or
    subpackage of the package or a chapter's name, so a reader finds what a test file tests by its name."""
    known = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    known |= {p.stem.split("_", 1)[1] for p in (PACKAGE.parent / "notebooks").glob("*_*.py")}
    orphans = []
    for path in sorted((PACKAGE.parent / "tests").glob("test_*.py")):
        if path.name in CROSS_CUTTING:
            continue
        words = path.stem.removeprefix("test_").removeprefix("faults_").split("_")
        if not any("_".join(words[:n]) in known for n in range(1, len(words) + 1)):
            orphans.append(path.name)
    assert orphans == []


# ------------------------------------------------------------------------------------------ chapters


def test_file_prefixes_follow_the_table_of_contents():
    """The chapters' files sort as the book orders them (the appendix's prefix sorts last), every chapter file is
    in the table of contents, and Jupyter Book numbers the chapters (titles carry no typed number)."""
    import yaml

    root = PACKAGE.parent
    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text(encoding="utf-8"))
    listed = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    files = sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.py"))
    assert listed == files
    assert all(part.get("numbered") for part in toc["parts"] if part["caption"] != "Appendix")
    for stem in files:
        title = next(line for line in (root / "notebooks" / f"{stem}.py").read_text(encoding="utf-8").splitlines()
                     if line.startswith("# # "))
        assert not title[4:].split(" ", 1)[0].rstrip(".").isdigit(), title


def test_no_chapter_is_named_by_a_typed_number():
    """Text points at a chapter by its file stem (the package) or a {doc} link (the notebooks), never by a typed
    number that the next new chapter would make wrong."""
    import re

    typed = re.compile(r"(?:\b|(?<=\\n))[Cc]hapters? \d+(?![\d_])")
    root = PACKAGE.parent
    offenders = [f"{p.relative_to(root)}:{i}" for p in [*PACKAGE.rglob("*.py"), *(root / "notebooks").glob("*.py")]
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if typed.search(line)]
    assert offenders == []


#: the most lines a chapter's code cell may have; the parameters cell is exempt (one line per parameter, and
#: papermill reads exactly one cell tagged ``parameters``)
MAX_CELL_LINES = 25


def test_chapters_read_like_lectures():
    """Every code cell of every chapter follows a Markdown cell that says what it computes or shows, and no code
    cell but the parameters cell is over :data:`MAX_CELL_LINES` lines."""
    import jupytext

    silent, long_cells = [], []
    for path in sorted((PACKAGE.parent / "notebooks").glob("[0-9][0-9]_*.py")):
        cells = jupytext.read(path).cells
        for i, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            where = f"{path.name} cell {i}: {cell.source.splitlines()[0][:60] if cell.source else ''}"
            if i == 0 or cells[i - 1].cell_type != "markdown":
                silent.append(where)
            if len(cell.source.splitlines()) > MAX_CELL_LINES and "parameters" not in cell.metadata.get("tags", []):
                long_cells.append(where)
    assert silent == [] and long_cells == []
