"""
Heartbeat canary for an Airflow-on-ECS cluster.

Every minute one task probes, concurrently, what the cluster's DAGs depend on (libraries, AWS credentials, the
data bucket, the ECS cluster, name resolution); one trivial task per Celery queue proves each worker pool takes
work; the verdict publishes ``Heartbeat``, ``ProbeOk``, ``ProbeLatency``, ``ScheduleDelay`` and ``PickupDelay``
to CloudWatch and fails naming every broken probe. ``HEARTBEAT_ALARM`` holds the matching alarm's
``put_metric_alarm`` arguments (missing data is breaching).

Resource names come from environment variables (the demo's local AWS exports them); parsing makes no AWS call.
"""

from __future__ import annotations

import os

from airflow_provider_ecsops.heartbeat import (
    AwsIdentityProbe,
    DnsProbe,
    EcsClusterProbe,
    HeartbeatMetrics,
    PythonImportProbe,
    S3BucketProbe,
    heartbeat_alarm,
    heartbeat_dag,
)

REGION = os.environ.get("ECSOPS_DEMO_REGION", "us-east-1")
BUCKET = os.environ.get("ECSOPS_DEMO_BUCKET", "ecsops-demo-bucket")
CLUSTER = os.environ.get("ECSOPS_DEMO_CLUSTER", "ecsops-demo")
QUEUES = [q for q in os.environ.get("ECSOPS_HEARTBEAT_QUEUES", "default").split(",") if q]
SCHEDULE = "* * * * *"

METRICS = HeartbeatMetrics(
    namespace="Airflow/Heartbeat",
    environment=os.environ.get("ECSOPS_ENVIRONMENT", "demo"),
    region_name=REGION,
    emf=True,
)

dag = heartbeat_dag(
    "ecsops_heartbeat",
    SCHEDULE,
    [
        PythonImportProbe(requirements=["boto3>=1.35", "airflow.providers.amazon"], timeout=10),
        AwsIdentityProbe(region_name=REGION, timeout=5),
        S3BucketProbe(bucket=BUCKET, region_name=REGION, timeout=5),
        EcsClusterProbe(cluster=CLUSTER, region_name=REGION, timeout=5),
        DnsProbe(hostname="localhost", timeout=2),
    ],
    queues=QUEUES,
    metrics=METRICS,
)

HEARTBEAT_ALARM = heartbeat_alarm("ecsops_heartbeat", SCHEDULE, metrics=METRICS)
