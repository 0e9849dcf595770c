"""The docs say only what is true of the repository: links and paths exist, the README's quick starts load as DAG
files, no example needs a logical date, and each capability's IAM policy lists exactly the AWS actions its code
calls."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "airflow_provider_ecsops"
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
CAPABILITIES = ("fargate", "heartbeat", "scalein", "replication")

# Backticked text that names a file or folder of the repository: a top-level folder or file of it, or a
# capability / testing path relative to the package (``testing/race/``).
REPO_PREFIXES = ("src/", "docs/", "scripts/", "bench/", "example_dags/", "tests/", "constraints/", ".ci/")
PACKAGE_PREFIXES = tuple(f"{name}/" for name in (*CAPABILITIES, "testing"))
PATH_TOKEN = re.compile(r"^[\w./-]+$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (commands and code are not references to check)."""
    return FENCE.sub("", text)


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_relative_link_in_the_docs_exists(doc):
    missing = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if not (doc.parent / path).exists():
            missing.append(target)
    assert not missing, f"{doc.name} links to files that do not exist: {missing}"


def _backticked_paths(doc: Path) -> list[str]:
    tokens = re.findall(r"`([^`\n]+)`", _prose(doc.read_text()))
    return [t for t in tokens if PATH_TOKEN.match(t) and t.startswith(REPO_PREFIXES + PACKAGE_PREFIXES)]


def test_the_path_check_sees_the_paths_the_docs_name():
    # Guards the check below against a pattern that silently matches nothing.
    assert "src/airflow_provider_ecsops/testing/race/" in _backticked_paths(ROOT / "docs" / "race-lab.md")
    assert "example_dags/fargate_offload.py" in _backticked_paths(README)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_backticked_repository_path_in_the_docs_exists(doc):
    missing = []
    for token in _backticked_paths(doc):
        base = PACKAGE if token.startswith(PACKAGE_PREFIXES) else ROOT
        if not (base / token).exists():
            missing.append(token)
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


# -- quick starts ------------------------------------------------------------------------------------------------

QUICK_START_DAG_IDS = [
    {"etl_on_fargate"},
    {"heartbeat"},
    {f"scaledown_race_{suffix}" for suffix in ("a1", "a2", "a3", "a4", "b2", "b3", "b4", "b5")},
]


def _quick_starts(language: str) -> list[str]:
    section = README.read_text().split("## Quick starts", 1)[1].split("\n## ", 1)[0]
    return [body for lang, body in FENCE.findall(section) if lang == language]


def test_the_readme_has_one_python_quick_start_per_dag_capability():
    assert len(_quick_starts("python")) == len(QUICK_START_DAG_IDS)


def _dag_bag(folder: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2 and 3.0
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))


@pytest.mark.parametrize("index", range(len(QUICK_START_DAG_IDS)))
def test_each_readme_quick_start_loads_as_a_dag_file(index, tmp_path):
    (tmp_path / "quick_start.py").write_text(_quick_starts("python")[index])
    bag = _dag_bag(tmp_path)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == QUICK_START_DAG_IDS[index]


def test_the_scalein_quick_start_names_the_guard_config():
    from airflow_provider_ecsops.scalein.celery_config import SCALEIN_CELERY_CONFIG

    (ini,) = _quick_starts("ini")
    value = re.search(r"^celery_config_options\s*=\s*(\S+)$", ini, re.M).group(1)
    module, _, name = value.rpartition(".")
    assert getattr(importlib.import_module(module), name) is SCALEIN_CELERY_CONFIG


# Templates that are undefined (Airflow 3: missing from the context) for a run without a logical date.
LOGICAL_DATE_TEMPLATE = re.compile(
    r"{{[^}]*\b(ds|ds_nodash|ts|ts_nodash|ts_nodash_with_tz|logical_date|execution_date|data_interval_start|"
    r"data_interval_end|prev_ds|next_ds|prev_execution_date|next_execution_date|yesterday_ds|tomorrow_ds)\b"
)
EXAMPLES = sorted((ROOT / "example_dags").glob("*.py"))


@pytest.mark.parametrize(
    "name, source",
    [(f"quick start {i}", s) for i, s in enumerate(_quick_starts("python"))]
    + [(p.name, p.read_text()) for p in EXAMPLES],
)
def test_no_quick_start_or_example_dag_templates_the_logical_date(name, source):
    assert LOGICAL_DATE_TEMPLATE.search(source) is None, f"{name}: a manual Airflow 3 run has no logical date"


def test_the_logical_date_check_catches_ds():
    assert LOGICAL_DATE_TEMPLATE.search('command=["run", "--date", "{{ ds }}"]')
    assert LOGICAL_DATE_TEMPLATE.search("{{ dag_run.logical_date | ds }}")
    assert LOGICAL_DATE_TEMPLATE.search('"{{ run_id }}"') is None
