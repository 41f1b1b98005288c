"""The web tier's layout: feature packages that do not import each other in circles,
and route modules that never import another route module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def import_graph(package: Path = WEB) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports when it runs (at any depth)."""
    modules = {_module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _is_routes(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return leaf == "routes" or leaf.endswith("_routes")


def test_no_import_cycle_between_web_modules() -> None:
    graph = {m: d for m, d in import_graph().items() if not m.endswith("__init__")}
    # a package's __init__ re-exporting is not a dependency of its parts
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    assert _cycle(graph) is None


def test_no_import_cycle_between_web_feature_packages() -> None:
    """Packages (web.robots, web.feeds, ...) as nodes: dependencies point one way."""

    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])

    graph: dict[str, set[str]] = {}
    for module, deps in import_graph().items():
        graph.setdefault(package(module), set()).update(
            package(d) for d in deps if package(d) != package(module)
        )
    for deps in graph.values():
        deps.intersection_update(graph)
    assert _cycle(graph) is None


@pytest.mark.parametrize(
    "module", sorted(m for m in import_graph() if _is_routes(m)), ids=lambda m: m
)
def test_a_route_module_imports_no_other_route_module(module: str) -> None:
    assert not {d for d in import_graph()[module] if _is_routes(d)}
