"""The compat table: every name resolves on the running Airflow, at the first candidate module that has it."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from airflow_provider_ecsops import compat


@pytest.mark.parametrize("name", sorted(compat._PATHS))
def test_every_compat_name_resolves_on_this_airflow(name):
    module, value = compat.resolve(name)
    assert getattr(compat, name) is value
    assert getattr(importlib.import_module(module), name) is value


def test_a_name_resolves_at_the_first_candidate_that_has_it(monkeypatch, tmp_path):
    (tmp_path / "ecsops_home_a.py").write_text("")
    (tmp_path / "ecsops_home_b.py").write_text("Whatever = 'b'\n")
    (tmp_path / "ecsops_home_c.py").write_text("Whatever = 'c'\n")
    monkeypatch.syspath_prepend(tmp_path)
    candidates = ("ecsops_no_such_module", "ecsops_home_a", "ecsops_home_b", "ecsops_home_c")
    monkeypatch.setitem(compat._PATHS, "Whatever", candidates)
    assert compat.resolve("Whatever") == ("ecsops_home_b", "b")


def test_a_name_found_nowhere_says_where_it_looked(monkeypatch):
    monkeypatch.setitem(compat._PATHS, "Whatever", ("ecsops_no_such_module", "airflow"))
    with pytest.raises(ImportError, match=r"Whatever: not found in any of .*no_such_module, airflow .*Fix: "):
        compat.resolve("Whatever")


def test_a_candidate_that_fails_to_import_for_another_reason_is_not_skipped(monkeypatch, tmp_path):
    (tmp_path / "ecsops_broken_home.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(tmp_path)
    monkeypatch.setitem(compat._PATHS, "Whatever", ("ecsops_broken_home", "airflow"))
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        compat.resolve("Whatever")


def test_the_typed_names_and_all_match_the_table():
    tree = ast.parse(inspect.getsource(compat))
    (block,) = [
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    typed = {alias.asname or alias.name for node in block.body for alias in node.names}
    assert typed == set(compat._PATHS)
    assert set(compat.__all__) == {"AIRFLOW_V_3", *compat._PATHS}
