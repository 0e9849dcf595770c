"""The layout, read from the source with ``ast``: the four capabilities stand side by side over the core and
never import each other, production code never imports the test rigs (``testing/``) or the suite (``tests/``),
and scripts and benchmarks never reach into the suite.

Every import counts, also those inside functions, relative ones and ``importlib.import_module("...")`` with a
literal name; shell scripts are read for the Python they run (``-m tests...``, ``-c "from tests..."``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_ecsops"
CAPABILITIES = ("fargate", "heartbeat", "scalein", "replication")
TESTING = f"{PACKAGE}.testing"
_SHELL_IMPORT_OF_TESTS = re.compile(r"(?:\bfrom\s+|\bimport\s+|-m\s+)tests\b")


@dataclass(frozen=True)
class Import:
    """One import found in the source.

    :param path: the importing file, relative to the repository root.
    :param line: line of the import.
    :param target: absolute dotted name imported (``from a import b`` gives ``a.b``).
    :param statement: the statement as written, for the failure message.
    """

    path: str
    line: int
    target: str
    statement: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target} ({self.statement})"


def module_name(path: Path) -> str:
    """Dotted name of ``path``: under ``src/`` as installed, elsewhere relative to the repository root."""
    relative = path.relative_to(ROOT / "src" if path.is_relative_to(ROOT / "src") else ROOT)
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in ``path``, at any depth of the module."""
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    where = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(where, node.lineno, alias.name, ast.unparse(node))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                target = base if alias.name == "*" else f"{base}.{alias.name}"
                yield Import(where, node.lineno, target, ast.unparse(node))
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(where, node.lineno, node.args[0].value, ast.unparse(node))


def shell_imports_of_tests(path: Path) -> Iterator[Import]:
    """Lines of a shell script that make Python import ``tests``."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.lstrip().startswith("#") and _SHELL_IMPORT_OF_TESTS.search(text):
            yield Import(str(path.relative_to(ROOT)), number, "tests", text.strip())


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def capability_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE and parts[1] in CAPABILITIES else None


def is_within(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def production_files() -> list[Path]:
    """The package outside ``testing/``, and the example DAGs users copy."""
    testing = ROOT / "src" / PACKAGE / "testing"
    return [p for p in python_files(f"src/{PACKAGE}", "example_dags") if not p.is_relative_to(testing)]


def test_the_layout_scan_sees_every_kind_of_import(tmp_path, monkeypatch):
    # The rules below are only as good as the scan: a module using each form must yield each target.
    package = tmp_path / "src" / PACKAGE / "scalein"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = package / "guard.py"
    module.write_text(
        "import airflow_provider_ecsops.fargate.hook\n"
        "from . import settings\n"
        "from ..replication.rest import observations_from_api\n"
        "def later():\n"
        "    from airflow_provider_ecsops import heartbeat\n"
        "    import importlib\n"
        "    return importlib.import_module('tests.scalein.helpers')\n"
    )
    script = tmp_path / "race.sh"
    script.write_text('# python -m tests.race (a comment)\npython -c "from tests.x import y"\n')
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert [i.target for i in imports_of(module)] == [
        "airflow_provider_ecsops.fargate.hook",
        "airflow_provider_ecsops.scalein.settings",
        "airflow_provider_ecsops.replication.rest.observations_from_api",
        "airflow_provider_ecsops.heartbeat",
        "importlib",
        "tests.scalein.helpers",
    ]
    assert [i.line for i in shell_imports_of_tests(script)] == [2]


def test_no_capability_imports_another_capability():
    violations = [
        str(found)
        for path in python_files(f"src/{PACKAGE}")
        if (own := capability_of(module_name(path)))
        for found in imports_of(path)
        if (other := capability_of(found.target)) and other != own
    ]
    assert not violations, (
        "a capability imports another one; move the shared code into the core:\n" + "\n".join(violations)
    )


@pytest.mark.parametrize("forbidden", [TESTING, "tests"])
def test_production_code_never_imports_test_rigs_or_the_suite(forbidden):
    violations = [
        str(found)
        for path in production_files()
        for found in imports_of(path)
        if is_within(found.target, forbidden)
    ]
    assert not violations, f"production code imports {forbidden}:\n" + "\n".join(violations)


def test_scripts_and_benchmarks_never_import_the_suite():
    shell = sorted(p for folder in ("scripts", "bench") for p in (ROOT / folder).rglob("*.sh"))
    found = [
        *(i for p in python_files("scripts", "bench") for i in imports_of(p)),
        *(i for p in shell for i in shell_imports_of_tests(p)),
    ]
    violations = [str(i) for i in found if is_within(i.target, "tests")]
    assert not violations, (
        "scripts/ or bench/ import tests/; move what they need into the package:\n" + "\n".join(violations)
    )


def test_the_layout_rules_have_something_to_check():
    # A scan that finds no file passes every rule: make sure each rule reads real modules.
    assert {capability_of(module_name(p)) for p in python_files(f"src/{PACKAGE}")} >= set(CAPABILITIES)
    assert len(production_files()) > 30
    assert python_files("scripts") and python_files("bench")
