"""The architecture contract of docs/architecture.md, checked on the source: no import cycle, small modules, no pins."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
# function-level imports of the package's own modules that are allowed, and why
LAZY_OK = {
    "manifold_lens.cli": "the CLI imports a command's library code when the command runs (no torch for --help)",
}


def _modules() -> dict[str, Path]:
    """Module name -> file, for the package and the bundled trainer (installed as manifold_lens.trainers)."""
    mods = {}
    for base, prefix in ((ROOT / "manifold_lens", ("manifold_lens",)), (ROOT / "trainers", ("manifold_lens", "trainers"))):
        for p in base.rglob("*.py"):
            parts = list(prefix) + list(p.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


def _lazy_exports(path: Path) -> dict[str, str]:
    """Public name -> submodule, from a package ``__init__`` that calls ``attach(__name__, {...})``."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "").lstrip("_") == "attach" and len(node.args) == 2:
            table = ast.literal_eval(node.args[1])
            out.update({name: module for module, names in table.items() for name in names})
    return out


def _targets(mods, cur: str, node) -> list[str]:
    """The modules an import statement loads; a lazily exported name counts as its defining module."""
    if isinstance(node, ast.Import):
        out = []
        for a in node.names:
            n = a.name
            while n and n not in mods:
                n = n.rpartition(".")[0]
            if n:
                out.append(n)
        return out
    here = cur.split(".") if mods[cur].name == "__init__.py" else cur.split(".")[:-1]
    if node.level:
        base = ".".join(here[: len(here) - (node.level - 1)] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base not in mods:
        return []
    lazy = _lazy_exports(mods[base]) if mods[base].name == "__init__.py" else {}
    out = []
    for a in node.names:
        sub = base + "." + a.name
        out.append(sub if sub in mods else f"{base}.{lazy[a.name]}" if a.name in lazy else base)
    return out


def _graph():
    mods = _modules()
    graph, lazy = nx.DiGraph(), []
    for name, path in mods.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text())
        for module in set(_lazy_exports(path).values()):  # a lazy package loads these when a name is used
            graph.add_edge(name, f"{name}.{module}")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph.add_edges_from((name, t) for t in _targets(mods, name, node) if t != name)
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        lazy += [(name, t) for t in _targets(mods, name, node) if t != name]
    return graph, sorted(set(lazy))


def test_no_import_cycle_counting_function_level_imports():
    graph, _ = _graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_function_level_imports_of_own_modules_only_where_allowed():
    _, lazy = _graph()
    bad = [(a, b) for a, b in lazy if not any(a == k or a.startswith(k + ".") for k in LAZY_OK)]
    assert bad == []


def test_trainers_never_imported_by_the_library():
    graph, _ = _graph()
    bad = [(a, b) for a, b in graph.edges if b.startswith("manifold_lens.trainers")
           and not a.startswith("manifold_lens.trainers")]
    assert bad == []


@pytest.mark.parametrize("path", sorted([*ROOT.glob("manifold_lens/**/*.py"), *ROOT.glob("trainers/**/*.py"),
                                         ROOT / "cli.py"]), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_under_400_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_no_dependency_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project.get("optional-dependencies", {}).values()
                                            for r in extra]
    assert [r for r in reqs if re.search(r"===?", r)] == []
    assert any(re.match(r"torch\s*>=", r) for r in project["dependencies"])


def test_nothing_installs_top_level_cli_or_trainers():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "cli" not in tool.get("py-modules", [])
    assert not [p for p in tool.get("packages", []) if p == "trainers" or p.startswith("trainers.")]


def test_docs_cite_the_repository_not_outside_files():
    hits = [str(p.relative_to(ROOT)) for p in [*ROOT.glob("manifold_lens/**/*.py"), *ROOT.glob("trainers/**/*.py"),
                                              ROOT / "cli.py", ROOT / "README.md"]
            if "SCIENCE.md" in p.read_text()]
    assert hits == []
    assert (ROOT / "docs" / "science.md").is_file() and (ROOT / "LICENSE").is_file()


def test_every_subpackage_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.glob("manifold_lens/**/__init__.py")}
    assert found - listed == set()
