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
    :param dag_dimension: add the ``Dag`` dimension (the heartbeat DAG's id).
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
        reserved = {"Environment", "Dag", "Probe", "Queue"} & set(self.dimensions)
        if reserved:
            raise ValueError(
                f"HeartbeatMetrics: dimensions {sorted(reserved)} are set by the heartbeat itself."
            )

    def base_dimensions(self, dag_id: str) -> list[dict[str, str]]:
        """Dimensions of the ``Heartbeat`` metric (and the alarm on it)."""
        dims = [{"Name": "Environment", "Value": self.environment}] if self.environment else []
        if self.dag_dimension:
            dims.append({"Name": "Dag", "Value": dag_id})
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
    ``PickupDelay`` (s) per task with the ``Queue`` it ran on.
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

    data = [datum("Heartbeat", 1.0 if healthy else 0.0, "None", [])]
    for result in results:
        probe = [{"Name": "Probe", "Value": result.name}]
        data.append(datum("ProbeOk", 1.0 if result.ok else 0.0, "None", probe))
        data.append(datum("ProbeLatency", result.latency_ms, "Milliseconds", probe))
    for timing in timings:
        queue = [{"Name": "Queue", "Value": timing.queue}]
        if timing.schedule_delay is not None:
            data.append(datum("ScheduleDelay", timing.schedule_delay, "Seconds", queue))
        if timing.pickup_delay is not None:
            data.append(datum("PickupDelay", timing.pickup_delay, "Seconds", queue))
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
    value per dimension name per document.
    """
    groups: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for item in data:
        key = tuple((d["Name"], d["Value"]) for d in item["Dimensions"])
        groups.setdefault(key, []).append(item)
    lines = []
    for dims, items in groups.items():
        timestamp = items[0]["Timestamp"]
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(timestamp.astimezone(UTC).timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [[name for name, _ in dims]],
                        "Metrics": [{"Name": i["MetricName"], "Unit": i["Unit"]} for i in items],
                    }
                ],
            },
            **dict(dims),
        }
        # Two tasks on one queue give two delays under one name: EMF takes a list of values.
        for item in items:
            previous = document.get(item["MetricName"])
            value = item["Value"]
            document[item["MetricName"]] = value if previous is None else [*_as_list(previous), value]
        metrics_list = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"] = list(
            {m["Name"]: m for m in metrics_list}.values()
        )
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
