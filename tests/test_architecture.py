"""The layout the architecture page promises, checked on the source (every import, also the ones
inside functions, since a lazy import only hides a circle).

- the science core imports nothing of Django or the web apps;
- care is the base of the web apps: it imports nothing from reports, feedback or api;
- no two modules of the package import each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "alliance"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # "from . import services" names a module, not an attribute.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    sources = {
        _module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in sources.items():
        graph[name] = {target for target in _imports(path) if target in sources and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_two_modules_import_each_other():
    graph = _graph()
    # A package's __init__ that re-exports its submodules is the package itself, not a circle.
    for name in list(graph):
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    assert _cycles(graph) == []


@pytest.mark.parametrize("app", ["reports", "feedback", "api"])
def test_care_imports_nothing_from_the_apps_built_on_it(app):
    graph = _graph()
    offenders = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("alliance.care")
        for target in targets
        if target.startswith(f"alliance.{app}")
    )
    assert offenders == []


def test_the_science_core_imports_no_web_code():
    offenders = sorted(
        f"{_module_name(path)} -> {target}"
        for path in (PACKAGE / "science").rglob("*.py")
        for target in _imports(path)
        if target.split(".")[0] == "django"
        or (target.startswith("alliance.") and not target.startswith("alliance.science"))
    )
    assert offenders == []
