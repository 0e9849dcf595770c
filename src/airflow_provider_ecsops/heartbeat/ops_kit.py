"""What operators need around a heartbeat DAG, derived from the DAG itself: its IAM policy, its metrics and
their monthly cost, and a CloudWatch dashboard. Pure functions of the built DAG: no AWS call.

Invariant: every series the DAG publishes (:func:`metric_series`) is the set the dashboard draws and the cost
counts, and the policy lists exactly the actions the DAG's tasks call (``tests/heartbeat/test_ops_kit.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow_provider_ecsops.heartbeat.aws_probes import AwsIdentityProbe, EcsClusterProbe, S3BucketProbe
from airflow_provider_ecsops.heartbeat.guards import schedule_interval
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.heartbeat.operators import HeartbeatProbesOperator, HeartbeatQueueOperator
from airflow_provider_ecsops.heartbeat.probes import Probe

# CloudWatch pricing, us-east-1, standard tier (https://aws.amazon.com/cloudwatch/pricing/): a custom metric
# costs $0.30 a month for the first 10,000 (prorated by the hour), PutMetricData $0.01 per 1,000 requests.
USD_PER_METRIC_MONTH = 0.30
USD_PER_1000_REQUESTS = 0.01
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Series:
    """One CloudWatch series the heartbeat publishes: metric name, unit and its extra dimensions."""

    metric: str
    unit: str
    dimensions: tuple[tuple[str, str], ...] = ()


def _metrics(dag: Any) -> HeartbeatMetrics:
    for task in dag.tasks:
        if getattr(task, "metrics", None) is not None:
            return task.metrics
    raise ValueError(
        f"dag: {dag.dag_id} has no task publishing heartbeat metrics. Fix: pass a heartbeat_dag()."
    )


def _probes(dag: Any) -> list[Probe]:
    return [p for t in dag.tasks if isinstance(t, HeartbeatProbesOperator) for p in t.probes]


def _timed_tasks(dag: Any) -> Iterator[Any]:
    yield from (t for t in dag.tasks if isinstance(t, HeartbeatProbesOperator | HeartbeatQueueOperator))


def metric_series(dag: Any) -> list[Series]:
    """Every series a run of ``dag`` publishes (besides the base dimensions: ``Environment``, ``DAG``...)."""
    series = [Series("Heartbeat", "Count")]
    for probe in _probes(dag):
        probe_dims = (("Probe", probe.name),)
        series += [Series("ProbeOk", "Count", probe_dims), Series("ProbeLatency", "Milliseconds", probe_dims)]
    for task in _timed_tasks(dag):
        task_dims = (("Queue", str(task.queue)), ("Task", str(task.task_id)))
        series += [Series("ScheduleDelay", "Seconds", task_dims), Series("PickupDelay", "Seconds", task_dims)]
    return series


def monthly_cost(dag: Any, schedule: timedelta | str) -> dict[str, float]:
    """
    Custom metrics, ``PutMetricData`` requests and their cost per month at list price (us-east-1).

    :param dag: a DAG built by ``heartbeat_dag``.
    :param schedule: its schedule (the requests scale with the run count).
    """
    metrics = len(metric_series(dag))
    runs = HOURS_PER_MONTH * 3600 / schedule_interval(schedule).total_seconds()
    requests = runs if _metrics(dag).put_metric_data else 0.0  # one call per run up to 1,000 data
    usd = metrics * USD_PER_METRIC_MONTH + requests / 1000 * USD_PER_1000_REQUESTS
    return {"metrics": metrics, "put_metric_data_requests": round(requests), "usd": round(usd, 2)}


def iam_policy(dag: Any, *, region: str = "*", account: str = "*") -> dict[str, Any]:
    """
    The IAM policy the heartbeat's tasks need: ``PutMetricData`` to its namespace, and one statement per kind
    of AWS probe it holds, scoped to the probes' resources.

    :param dag: a DAG built by ``heartbeat_dag``.
    :param region: region in ECS cluster ARNs (where the probe gives a cluster name, not an ARN).
    :param account: account id in those ARNs.
    """
    metrics = _metrics(dag)
    statements: list[dict[str, Any]] = []
    if metrics.put_metric_data:
        statements.append(
            {
                "Sid": "PublishHeartbeatMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": metrics.namespace}},
            }
        )
    probes = _probes(dag)
    kinds = [
        (AwsIdentityProbe, "sts:GetCallerIdentity", lambda p: "*"),
        (S3BucketProbe, "s3:ListBucket", lambda p: f"arn:aws:s3:::{p.bucket}"),
        (EcsClusterProbe, "ecs:DescribeClusters", lambda p: _cluster_arn(p, region, account)),
    ]
    for kind, action, resource in kinds:
        resources = sorted({resource(p) for p in probes if isinstance(p, kind)})
        if resources:
            statements.append(
                {
                    "Sid": kind.__name__,
                    "Effect": "Allow",
                    "Action": action,
                    "Resource": resources[0] if len(resources) == 1 else resources,
                }
            )
    return {"Version": "2012-10-17", "Statement": statements}


def _cluster_arn(probe: EcsClusterProbe, region: str, account: str) -> str:
    if probe.cluster.startswith("arn:"):
        return probe.cluster
    return f"arn:aws:ecs:{probe.region_name or region}:{account}:cluster/{probe.cluster}"


def dashboard(dag: Any, *, region: str) -> str:
    """
    ``DashboardBody`` JSON for ``cloudwatch.put_dashboard``: the heartbeat, the delays per task and queue, and
    the probes' latencies and results.

    :param dag: a DAG built by ``heartbeat_dag``.
    :param region: region of the metrics.
    """
    metrics = _metrics(dag)
    base = [x for d in metrics.base_dimensions(dag.dag_id) for x in (d["Name"], d["Value"])]

    def lines(name: str, stat: str) -> list[list[Any]]:
        return [
            [metrics.namespace, s.metric, *base, *(x for pair in s.dimensions for x in pair), {"stat": stat}]
            for s in metric_series(dag)
            if s.metric == name
        ]

    def widget(title: str, rows: list[list[Any]], y: int, **props: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": 0,
            "y": y,
            "width": 24,
            "height": 6,
            "properties": {"title": title, "region": region, "metrics": rows, "view": "timeSeries", **props},
        }

    widgets = [
        widget(
            f"{dag.dag_id}: Heartbeat (Minimum; a gap is a missed run)",
            lines("Heartbeat", "Minimum"),
            0,
            yAxis={"left": {"min": 0, "max": 1}},
        ),
        widget("ScheduleDelay per task (s, Maximum)", lines("ScheduleDelay", "Maximum"), 6),
        widget("PickupDelay per task (s, Maximum)", lines("PickupDelay", "Maximum"), 12),
        widget("ProbeLatency (ms, Maximum)", lines("ProbeLatency", "Maximum"), 18),
        widget("ProbeOk (Minimum)", lines("ProbeOk", "Minimum"), 24, yAxis={"left": {"min": 0, "max": 1}}),
    ]
    return json.dumps({"widgets": [w for w in widgets if w["properties"]["metrics"]]}, indent=1)
