"""End to end through real Airflow (``dag.test()``) on local AWS."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path

from airflow_provider_ecsops.compat import AirflowTaskTimeout
from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator
from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from tests.capabilities import AIRFLOW_HAS_TASK_SDK
from tests.fargate.builders import offload_operator

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "fargate_offload.py"


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def _dag(aws, dag_id: str, **op_kwargs):
    return offload_operator(aws, dag_id, **op_kwargs).dag


def test_example_dag_runs_end_to_end(aws):
    dag = runpy.run_path(str(EXAMPLE))["dag"]
    for task in dag.tasks:
        task.poll_interval = 0.05
    dag_run = run_dag(dag)
    assert _states(dag_run) == {"extract": "success", "transform": "success", "load": "success"}
    assert aws.fargate.calls["RunTask"] == 3
    transform = next(r for r in aws.fargate.requests_of("RunTask") if r["overrides"].get("cpu") == "1024")
    assert transform["overrides"]["memory"] == "4096"
    assert transform["overrides"]["containerOverrides"][0]["command"][-2:] == ["--run-id", dag_run.run_id]
    load = next(r for r in aws.fargate.requests_of("RunTask") if "capacityProviderStrategy" in r)
    assert load["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]


def test_retry_after_a_lost_try_reattaches_instead_of_starting_again(aws):
    # The first try loses its way (a permanent AWS error while waiting) with the container still running;
    # Airflow retries, and the retry must wait for that same container.
    aws.fargate.script(TaskScript(running=0.8))
    aws.fargate.fail("DescribeTasks", "AccessDeniedException", times=1)
    dag = _dag(aws, "fargate_lost_try", retries=1, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert _states(dag_run) == {"offload": "success"}
    assert len(aws.fargate.task_arns()) == 1  # one container (a re-sent RunTask gets it back by clientToken)
    assert aws.fargate.calls["StopTask"] == 0


def _run_to_timeout(dag) -> None:
    try:
        assert _states(run_dag(dag)) == {"offload": "failed"}
    except AirflowTaskTimeout:
        assert not AIRFLOW_HAS_TASK_SDK  # Airflow 2's dag.test() lets this BaseException through


# Long enough for the clients and RunTask before it fires on a loaded machine (seen: 2 s ran out while the ECS
# client was still being built on the 2.10.1 line, so there was no container to stop).
TIMEOUT = timedelta(seconds=8)


def test_execution_timeout_stops_the_container(aws):
    aws.fargate.script(TaskScript(running=None))
    _run_to_timeout(_dag(aws, "fargate_timeout", execution_timeout=TIMEOUT))
    (stop,) = aws.fargate.requests_of("StopTask")
    assert stop["reason"] == "Airflow fargate_timeout.offload: execution_timeout reached"
    (arn,) = aws.fargate.task_arns()
    assert aws.fargate.status(arn)["stopCode"] == "UserInitiated"


def test_deferrable_execution_timeout_stops_the_container(aws):
    aws.fargate.script(TaskScript(running=None))
    _run_to_timeout(_dag(aws, "fargate_deferred_timeout", execution_timeout=TIMEOUT, deferrable=True))
    (arn,) = aws.fargate.task_arns()
    assert aws.fargate.status(arn)["lastStatus"] == "STOPPED"
    assert "execution_timeout reached" in aws.fargate.status(arn)["stoppedReason"]


def test_operator_and_links_survive_dag_serialization(aws):
    from airflow.serialization import serialized_objects

    # What the scheduler and API server work from: the DAG as serialized by the DAG processor.
    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    dag = _dag(aws, "fargate_serialized", deferrable=True)
    restored = serializer.from_dict(serializer.to_dict(dag))
    task = restored.get_task("offload")
    names = {getattr(link, "name", link) for link in task.operator_extra_links}
    if isinstance(task.operator_extra_links, dict):  # some Airflow 3 versions keep them by name
        names = set(task.operator_extra_links)
    assert {"ECS Task", "Container Logs"} <= names
    assert list(task.template_fields) == list(FargateOffloadOperator.template_fields)
