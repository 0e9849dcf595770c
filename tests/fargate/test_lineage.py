"""The container gets its task's OpenLineage parent run when apache-airflow-providers-openlineage is enabled."""

from __future__ import annotations

import re
from importlib.metadata import version

from airflow_provider_ecsops.testing.dag_runs import run_dag
from tests.fargate.builders import offload_operator

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _environment(aws) -> dict[str, str]:
    (request,) = aws.fargate.requests_of("RunTask")
    return {
        v["name"]: v["value"] for v in request["overrides"]["containerOverrides"][0].get("environment", [])
    }


def test_the_provider_is_installed_so_the_lineage_tests_can_fail():
    assert version("apache-airflow-providers-openlineage")  # MWAA installs it on every line; so do our venvs


def test_container_gets_the_parent_run_of_its_try_and_the_users_variables_win(aws, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")  # enables OpenLineage (conf.is_disabled)
    dag = offload_operator(aws, "fargate_lineage", environment={"OPENLINEAGE_PARENT_RUN_ID": "mine"}).dag
    run_dag(dag)
    env = _environment(aws)
    assert re.fullmatch(rf"default/fargate_lineage\.offload/{UUID}", env["OPENLINEAGE_PARENT_ID"]), env
    assert env["OPENLINEAGE_PARENT_JOB_NAMESPACE"] == "default"
    assert env["OPENLINEAGE_PARENT_JOB_NAME"] == "fargate_lineage.offload"
    assert env["OPENLINEAGE_PARENT_RUN_ID"] == "mine"
    if "OPENLINEAGE_ROOT_PARENT_ID" in env:  # providers with root macros (2.x)
        assert re.fullmatch(rf"default/fargate_lineage/{UUID}", env["OPENLINEAGE_ROOT_PARENT_ID"]), env


def test_no_lineage_variables_while_openlineage_is_disabled(aws, monkeypatch):
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "true")
    run_dag(offload_operator(aws, "fargate_no_lineage").dag)
    assert not [name for name in _environment(aws) if name.startswith("OPENLINEAGE")]
