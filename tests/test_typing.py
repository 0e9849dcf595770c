"""Type checkers see what the package exports: ``py.typed`` ships, and every lazy re-export table matches its
``TYPE_CHECKING`` imports (the names type checkers read, since ``__getattr__`` is opaque to them)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import airflow_provider_ecsops

PACKAGE = Path(airflow_provider_ecsops.__file__).parent
LAZY_PACKAGES = sorted(
    p.parent for p in PACKAGE.rglob("__init__.py") if "lazy_getattr(__name__" in p.read_text()
)


def _exports_and_typed_imports(init: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``_EXPORTS`` (name -> module relative to the package) and the TYPE_CHECKING block's imports (same)."""
    package = ".".join(init.parent.relative_to(PACKAGE.parent).parts)
    tree = ast.parse(init.read_text())
    exports: dict[str, str] = {}
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            exports = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.dump(imp)
                for alias in imp.names:
                    typed[alias.asname or alias.name] = imp.module.removeprefix(package + ".")
    return exports, typed


def test_the_package_ships_py_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_lazy_packages_are_found():
    assert PACKAGE in LAZY_PACKAGES and PACKAGE / "fargate" in LAZY_PACKAGES


@pytest.mark.parametrize("package", LAZY_PACKAGES, ids=lambda p: p.name)
def test_type_checkers_see_every_lazy_export_where_it_is_imported_from(package):
    exports, typed = _exports_and_typed_imports(package / "__init__.py")
    assert exports, f"{package}/__init__.py has no _EXPORTS table"
    assert typed == exports


@pytest.mark.parametrize("package", LAZY_PACKAGES, ids=lambda p: p.name)
def test_every_lazy_export_resolves(package):
    module = importlib.import_module(".".join(package.relative_to(PACKAGE.parent).parts))
    for name in module.__all__:
        assert getattr(module, name) is not None, name
