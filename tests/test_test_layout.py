"""The tests' own layout: helpers shared between test modules live in tests/support/, so
no module imports a test module or a conftest (pytest imports those; a second import
under another name runs their module code twice and hides which fixtures a test uses),
and a conftest holds fixtures and hooks only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_test_module(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return leaf == "conftest" or leaf.startswith("test_")


def _imported(source: str) -> set[str]:
    """Every module ``source`` imports from tests (at any depth: lazy imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("tests.")}


SOURCES = sorted(p for p in TESTS.rglob("*.py") if "vda5050_lib" not in p.parts)
TEST_MODULES = {_module(p) for p in SOURCES if _is_test_module(_module(p))}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_module_imports_a_test_module_or_a_conftest(path: Path) -> None:
    assert not _imported(path.read_text()) & TEST_MODULES, "move what it needs into tests/support/"


def _fixture_or_hook(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith(("pytest_", "_")) or any(
            "fixture" in ast.unparse(d) for d in node.decorator_list
        )
    return False


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("conftest.py")), ids=lambda p: str(p.relative_to(TESTS))
)
def test_a_conftest_defines_fixtures_and_hooks_only(path: Path) -> None:
    """Private helpers and constants of its own fixtures may stay; classes and public
    functions (something a test would want to import) belong in tests/support/."""
    bad = [
        node.name
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not (isinstance(node, ast.ClassDef) and node.name.startswith("_"))
        and not _fixture_or_hook(node)
    ]
    assert not bad


def test_the_check_sees_planted_imports() -> None:
    planted = (
        "from tests.support.web import recv\n\ndef f():\n    from tests.web.conftest import PG\n"
    )
    assert _imported(planted) & TEST_MODULES == {"tests.web.conftest"}
    assert _imported("import tests.gateway.test_dispatcher") & TEST_MODULES


def test_a_test_is_marked_with_the_servers_its_fixtures_start(
    request: pytest.FixtureRequest, redis_client: object
) -> None:
    assert request.node.get_closest_marker("redis") is not None
    assert request.node.get_closest_marker("mqtt") is None
