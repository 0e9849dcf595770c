"""Extra links are live from the moment the task is known, read the way the UI reads them, and stored once."""

from __future__ import annotations

import pytest

from airflow_provider_ecsops.fargate.links import FargateLogStreamLink, FargateTaskLink
from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from tests.fargate.builders import offload_operator

NAMES = (FargateTaskLink.name, FargateLogStreamLink.name)


def _ui_links(dag, run_id: str) -> dict[str, str | None]:
    """The links of the running try as Airflow's UI gets them: from the serialized DAG's task (Airflow 3's API
    server reads the ``_link_*`` records through XComOperatorLink; Airflow 2's webserver calls get_link)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization import serialized_objects
    from airflow.utils.session import create_session

    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    task = serializer.from_dict(serializer.to_dict(dag)).get_task("offload")
    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id)
            .one()
        )
        return {name: task.get_extra_links(ti, name) for name in NAMES}


def _xcom_keys(dag_id: str, run_id: str) -> list[str]:
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XComRow
    except ImportError:  # Airflow 2: the model is XCom itself
        from airflow.models.xcom import XCom as XComRow  # type: ignore[no-redef]
    with create_session() as session:
        return sorted(
            row.key
            for row in session.query(XComRow).filter(XComRow.dag_id == dag_id, XComRow.run_id == run_id)
        )


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_links_are_in_the_ui_while_the_container_runs_and_stored_once(aws, monkeypatch, deferrable):
    from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator

    aws.fargate.script(TaskScript(running=0.5))
    dag_id = f"fargate_live_links_{'deferrable' if deferrable else 'sync'}"
    dag = offload_operator(aws, dag_id, deferrable=deferrable).dag
    seen: list[dict[str, str | None]] = []
    # The first moment after RunTask at which the task waits: before the Task SDK writes links on its own.
    hook_name = "_defer" if deferrable else "_wait"
    original = getattr(FargateOffloadOperator, hook_name)

    def look_then_wait(self, context, *args, **kwargs):
        seen.append(_ui_links(dag, context["run_id"]))
        return original(self, context, *args, **kwargs)

    monkeypatch.setattr(FargateOffloadOperator, hook_name, look_then_wait)
    dag_run = run_dag(dag)
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {"offload": "success"}
    assert len(seen) == 1, "the operator never waited: the scenario did not happen"
    (arn,) = aws.fargate.task_arns()
    task_id = arn.rsplit("/", 1)[-1]
    assert seen[0][FargateTaskLink.name] == (
        f"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/{aws.cluster}/tasks/{task_id}/configuration"
        "?region=us-east-1"
    )
    assert (seen[0][FargateLogStreamLink.name] or "").endswith(f"$252F{task_id}")
    link_keys = [key for key in _xcom_keys(dag_id, dag_run.run_id) if "link" in key]
    assert link_keys == sorted(link().xcom_key for link in (FargateTaskLink, FargateLogStreamLink))
