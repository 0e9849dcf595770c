"""The MWAA-to-Fargate pattern: Airflow only orchestrates; the heavy steps run as ECS Fargate tasks.

Resource names come from environment variables (the demo sets them against local AWS); on MWAA put your
cluster, task definition, subnets and security groups here or in the environment's configuration.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

from airflow_provider_ecsops.fargate import FargateOffloadOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

CLUSTER = os.environ.get("ECSOPS_DEMO_CLUSTER", "etl-cluster")
TASK_DEFINITION = os.environ.get("ECSOPS_DEMO_TASK_DEFINITION", "etl-job")
SUBNETS = os.environ.get("ECSOPS_DEMO_SUBNETS", "subnet-0123456789abcdef0").split(",")
SECURITY_GROUPS = os.environ.get("ECSOPS_DEMO_SECURITY_GROUPS", "sg-0123456789abcdef0").split(",")

with DAG(
    dag_id="fargate_offload",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ecsops", "example"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        # Shared by every Fargate step: where and how to run.
        "cluster": CLUSTER,
        "task_definition": TASK_DEFINITION,
        "subnets": SUBNETS,
        "security_groups": SECURITY_GROUPS,
        "region_name": os.environ.get("ECSOPS_DEMO_REGION"),
    },
) as dag:
    extract = FargateOffloadOperator(
        task_id="extract",
        command=["python", "-m", "etl.extract", "--run-id", "{{ run_id }}"],
        environment={"STAGE": "demo"},
        execution_timeout=timedelta(hours=1),
    )
    # Heavy step: a bigger Fargate size, waited on in the triggerer so no worker slot is held.
    transform = FargateOffloadOperator(
        task_id="transform",
        command=["python", "-m", "etl.transform", "--run-id", "{{ run_id }}"],
        cpu=1024,
        memory=4096,
        deferrable=True,
        execution_timeout=timedelta(hours=2),
    )
    # Interruptible backfill on Fargate Spot: an interruption is reported as retryable and retried.
    load = FargateOffloadOperator(
        task_id="load",
        command=["python", "-m", "etl.load", "--run-id", "{{ run_id }}"],
        capacity_provider_strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        deferrable=True,
        skip_on_exit_code=99,  # the job exits 99 when there is nothing to load
    )
    extract >> transform >> load
