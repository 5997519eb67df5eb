"""The layer rule: engine imports no web or form code; forms import no views; the demo drives
the engine only. The tests mirror it: tests/engine imports nothing above the engine, and no test module imports another."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "platform"
TESTS = Path(__file__).resolve().parent
FORBIDDEN = {
    "engine": ("flask", "werkzeug", "jinja2", "marshmallow", "flask_wtf", "flowdeck.forms", "flowdeck.views", "flowdeck.app"),
    "forms": ("flask", "flowdeck.views", "flowdeck.app"),
    "demo": ("flask", "werkzeug", "jinja2", "flowdeck.forms", "flowdeck.views", "flowdeck.app", "flowdeck.cli"),
    # Storage (tables, DDL, value conversion) sits below records and approvals: the migration
    # planner that moves records and withdraws approval requests is engine/migrate/.
    "engine/storage": (
        "flowdeck.engine.records",
        "flowdeck.engine.workflow",
        "flowdeck.engine.approvals",
        "flowdeck.engine.approval_core",
        "flowdeck.engine.history",
        "flowdeck.engine.migrate",
    ),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer):
    """Does any module of the engine (or forms) import a layer above it?"""
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_platform_is_not_a_package():
    """Does platform/ stay without an __init__.py, so it cannot shadow the stdlib module?"""
    assert not (ROOT / "__init__.py").exists()
    import platform

    assert callable(platform.system)


ABOVE_THE_ENGINE = (
    "flask",
    "werkzeug",
    "jinja2",
    "marshmallow",
    "flask_wtf",
    "flowdeck.forms",
    "flowdeck.views",
    "flowdeck.app",
    "flowdeck.cli",
)


def test_engine_tests_import_nothing_above_the_engine():
    """Does any module of tests/engine import Flask, the views, the forms, the app or the CLI?"""
    offenders = []
    for path in sorted((TESTS / "engine").rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in ABOVE_THE_ENGINE):
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []


def test_no_test_module_imports_another():
    """Do test modules share helpers through tests/support only (never `from tests.x.test_y import ...`)?"""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for name in _imports(path):
            last = name.rsplit(".", 1)[-1]
            if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []
