"""Heartbeat metrics: CloudWatch ``PutMetricData`` in as few calls as the API allows, and optional EMF lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_ecsops.heartbeat.probes import ProbeResult
from airflow_provider_ecsops.heartbeat.timing import TaskTiming

# PutMetricData limits: 1,000 metric data per call and 1 MB per request.
MAX_DATA_PER_CALL = 1000
MAX_REQUEST_BYTES = 1_000_000
# The query protocol repeats "MetricData.member.N.Dimensions.member.M.Name=" for every field, so the encoded
# request is at most ~3x a datum's JSON; budgeting 3x keeps every protocol under the 1 MB limit.
_ENCODING_FACTOR = 3
_REQUEST_OVERHEAD_BYTES = 1024


@dataclass(frozen=True, kw_only=True)
class HeartbeatMetrics:
    """
    Where and how heartbeat metrics go.

    :param namespace: CloudWatch namespace.
    :param environment: value of the ``Environment`` dimension; ``None`` leaves the dimension out.
    :param dimensions: extra dimensions added to every metric (e.g. ``{"Cluster": "prod-airflow"}``).
    :param dag_dimension: add the ``DAG`` dimension (the heartbeat DAG's id; spelled as in MWAA's own metrics).
    :param aws_conn_id: Airflow connection for CloudWatch (``None``: boto3's default chain).
    :param region_name: AWS region for CloudWatch.
    :param put_metric_data: call ``PutMetricData``; ``False`` when only EMF lines are wanted.
    :param emf: also log each metric group as one Embedded Metric Format JSON line on the
        ``airflow_provider_ecsops.heartbeat.emf`` logger.
    """

    namespace: str = "Airflow/Heartbeat"
    environment: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    dag_dimension: bool = True
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    put_metric_data: bool = True
    emf: bool = False

    def __post_init__(self) -> None:
        if not self.namespace or self.namespace.startswith("AWS/"):
            raise ValueError(
                f"HeartbeatMetrics: namespace {self.namespace!r} must be set and not start with 'AWS/'."
            )
        reserved = {"Environment", "DAG", "Probe", "Queue", "Task"} & set(self.dimensions)
        if reserved:
            raise ValueError(
                f"HeartbeatMetrics: dimensions {sorted(reserved)} are set by the heartbeat itself."
            )

    def base_dimensions(self, dag_id: str) -> list[dict[str, str]]:
        """Dimensions of the ``Heartbeat`` metric (and the alarm on it)."""
        dims = [{"Name": "Environment", "Value": self.environment}] if self.environment else []
        if self.dag_dimension:
            dims.append({"Name": "DAG", "Value": dag_id})
        return dims + [{"Name": k, "Value": v} for k, v in self.dimensions.items()]


def build_metric_data(
    metrics: HeartbeatMetrics,
    dag_id: str,
    healthy: bool,
    results: Sequence[ProbeResult],
    timings: Sequence[TaskTiming],
    timestamp: datetime,
) -> list[dict[str, Any]]:
    """
    The ``MetricData`` of one heartbeat run.

    ``Heartbeat`` (1/0), ``ProbeOk`` (1/0) and ``ProbeLatency`` (ms) per probe, ``ScheduleDelay`` and
    ``PickupDelay`` (s) per task: dimensions ``Queue`` (where it ran) and ``Task`` (which task), so each series
    holds one thing measured (the probes task and a queue task on the same queue are two series).
    0/1 metrics are unit ``Count``, as AWS's own 0/1 metrics (e.g. MWAA's, ``StatusCheckFailed``).
    """
    base = metrics.base_dimensions(dag_id)

    def datum(name: str, value: float, unit: str, extra: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Dimensions": base + extra,
            "Timestamp": timestamp,
            "Value": value,
            "Unit": unit,
        }

    data = [datum("Heartbeat", 1.0 if healthy else 0.0, "Count", [])]
    for result in results:
        probe = [{"Name": "Probe", "Value": result.name}]
        data.append(datum("ProbeOk", 1.0 if result.ok else 0.0, "Count", probe))
        data.append(datum("ProbeLatency", result.latency_ms, "Milliseconds", probe))
    for timing in timings:
        task = [{"Name": "Queue", "Value": timing.queue}, {"Name": "Task", "Value": timing.task_id}]
        if timing.schedule_delay is not None:
            data.append(datum("ScheduleDelay", timing.schedule_delay, "Seconds", task))
        if timing.pickup_delay is not None:
            data.append(datum("PickupDelay", timing.pickup_delay, "Seconds", task))
    return data


def batch_metric_data(data: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split ``data`` into the fewest ``PutMetricData`` requests within the count and size limits."""
    batches: list[list[dict[str, Any]]] = []
    size = 0
    for item in data:
        item_size = len(json.dumps(item, default=str)) * _ENCODING_FACTOR
        if not batches or len(batches[-1]) >= MAX_DATA_PER_CALL or size + item_size > MAX_REQUEST_BYTES:
            batches.append([])
            size = _REQUEST_OVERHEAD_BYTES
        batches[-1].append(item)
        size += item_size
    return batches


def put_metric_data(metrics: HeartbeatMetrics, data: Sequence[dict[str, Any]]) -> int:
    """
    Send ``data`` to CloudWatch; returns the number of ``PutMetricData`` calls made.

    :param metrics: namespace, connection and region.
    :param data: ``MetricData`` entries from :func:`build_metric_data`.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(
        aws_conn_id=metrics.aws_conn_id, client_type="cloudwatch", region_name=metrics.region_name
    ).get_conn()
    batches = batch_metric_data(data)
    for batch in batches:
        client.put_metric_data(Namespace=metrics.namespace, MetricData=batch)
    return len(batches)


def emf_lines(namespace: str, data: Iterable[dict[str, Any]]) -> list[str]:
    """
    Embedded Metric Format documents for ``data``: one per distinct dimension set, since EMF carries one
    set of dimension values per document (each set holds each metric name once: one series per thing).
    """
    groups: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for item in data:
        key = tuple((d["Name"], d["Value"]) for d in item["Dimensions"])
        groups.setdefault(key, []).append(item)
    lines = []
    for dims, items in groups.items():
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(items[0]["Timestamp"].astimezone(UTC).timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [[name for name, _ in dims]],
                        "Metrics": [{"Name": i["MetricName"], "Unit": i["Unit"]} for i in items],
                    }
                ],
            },
            **dict(dims),
            **{i["MetricName"]: i["Value"] for i in items},
        }
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines
