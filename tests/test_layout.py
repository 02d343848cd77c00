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
