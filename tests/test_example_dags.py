"""The example DAG files: they import through Airflow's own DAG bag with their defaults, as a deployment parses
them, and every one runs for a run with no logical date (an Airflow 3 run triggered by hand, or by the API with
``logical_date: null``), on local AWS."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.local_aws import local_aws

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def test_every_example_dag_file_parses_with_its_defaults():
    # A fresh process without the ECSOPS_RACE_* settings other tests use: scaledown_race.py at time_scale=1 builds
    # cron timetables, the mode a real deployment runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSOPS_RACE_")}
    code = (
        "from airflow_provider_ecsops.testing.dag_runs import dag_bag\n"
        f"bag = dag_bag({str(EXAMPLES)!r})\n"
        "print('IMPORT-ERRORS', dict(bag.import_errors))\n"
        "print('DAGS', sorted(bag.dag_ids))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines() if " " in line}
    assert lines["IMPORT-ERRORS"] == "{}"
    dag_ids = eval(lines["DAGS"])
    assert {"fargate_offload", "ecsops_heartbeat", "scaledown_race_a1", "scaledown_race_b5"} <= set(dag_ids)


def _runs_can_lack_a_logical_date() -> bool:
    """Airflow 3's ``dag_run.logical_date`` is nullable; Airflow 2's ``execution_date`` never is."""
    from airflow.models.dagrun import DagRun

    column = DagRun.__table__.columns.get("logical_date")
    return column is not None and column.nullable


needs_runs_without_logical_date = pytest.mark.skipif(
    not _runs_can_lack_a_logical_date(), reason="every DAG run of this Airflow has a logical date"
)


def _run_without_logical_date(dag):
    """``dag.test()`` for a run with no logical date (Airflow 3 passes an explicit ``None`` through).

    Should a ``dag.test()`` fill in a logical date all the same, the scenario did not happen: the test is skipped
    with that reason (named in the report), never passed.
    """
    dag_run = run_dag(dag, logical_date=None)
    if dag_run.logical_date is not None:
        pytest.skip("this Airflow's dag.test() set a logical date although given None")
    return dag_run


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


@needs_runs_without_logical_date
def test_the_heartbeat_example_runs_without_a_logical_date():
    with local_aws():
        dag = runpy.run_path(str(EXAMPLES / "heartbeat.py"))["dag"]
        dag_run = _run_without_logical_date(dag)
        assert set(_states(dag_run).values()) == {"success"}


@needs_runs_without_logical_date
def test_the_replication_example_runs_one_dag_of_the_set_without_a_logical_date(monkeypatch):
    # The file's defaults but the time scale (a tick lasts 0.2 s); set in the environment, not only here, since
    # Airflow 3's dag.test() parses the DAG folder again and must find the same DAG.
    monkeypatch.setenv("ECSOPS_RACE_PREFIX", "scaledown_race")
    monkeypatch.setenv("ECSOPS_RACE_TIME_SCALE", "0.02")
    monkeypatch.delenv("ECSOPS_RACE_START_DATE", raising=False)
    monkeypatch.delenv("ECSOPS_RACE_QUEUE", raising=False)
    dags = runpy.run_path(str(EXAMPLES / "scaledown_race.py"))
    dag_run = _run_without_logical_date(dags["scaledown_race_a1"])
    assert _states(dag_run) == {"log_ticks": "success"}


@needs_runs_without_logical_date
def test_the_fargate_example_runs_and_templates_its_commands_without_a_logical_date():
    with local_aws() as aws:
        dag = runpy.run_path(str(EXAMPLES / "fargate_offload.py"))["dag"]
        for task in dag.tasks:
            task.poll_interval = 0.05
        dag_run = _run_without_logical_date(dag)
        assert _states(dag_run) == {"extract": "success", "transform": "success", "load": "success"}
        commands = [
            r["overrides"]["containerOverrides"][0]["command"] for r in aws.fargate.requests_of("RunTask")
        ]
        assert [c[-2:] for c in commands] == [["--run-id", dag_run.run_id]] * 3
