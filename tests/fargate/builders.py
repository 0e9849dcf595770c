"""One way to build the operator under test, on the resources of a local AWS."""

from __future__ import annotations

from datetime import UTC, datetime


def offload_operator(env, dag_id: str = "etl", **kwargs):
    """A FargateOffloadOperator in a new DAG ``dag_id`` on ``env``'s demo resources; keyword arguments override."""
    from airflow_provider_ecsops.compat import DAG
    from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator

    dag = DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), catchup=False)
    args = {
        "task_id": "offload",
        "cluster": env.cluster,
        "task_definition": env.task_definition,
        "subnets": env.subnets,
        "security_groups": env.security_groups,
        "command": ["python", "job.py"],
        "poll_interval": 0.05,
        "region_name": env.region,
        "dag": dag,
        **kwargs,
    }
    return FargateOffloadOperator(**args)
