"""The final step of a heartbeat run: one verdict, its metrics, and a failure that says what broke."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_ecsops.heartbeat.metrics import (
    HeartbeatMetrics,
    build_metric_data,
    emf_lines,
    put_metric_data,
)
from airflow_provider_ecsops.heartbeat.probes import ProbeResult
from airflow_provider_ecsops.heartbeat.timing import TaskTiming

log = logging.getLogger(__name__)
emf_log = logging.getLogger("airflow_provider_ecsops.heartbeat.emf")


def failure_summary(results: Sequence[ProbeResult], missing: Sequence[str]) -> str | None:
    """``None`` when healthy, else one line naming each failed probe and silent task, and why."""
    failed = [f"{r.name}: {r.error}" for r in results if not r.ok]
    failed += [f"{task_id}: task did not report (failed, timed out or never ran)" for task_id in missing]
    if not failed:
        return None
    return f"heartbeat FAILED, {len(failed)} problem(s): " + "; ".join(failed)


def decide(
    metrics: HeartbeatMetrics,
    dag_id: str,
    results: Sequence[ProbeResult],
    timings: Sequence[TaskTiming],
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """
    Publish the run's metrics, then fail if anything is unhealthy.

    :param metrics: metric destination.
    :param dag_id: the heartbeat DAG (``Dag`` dimension).
    :param results: every probe's result.
    :param timings: delays of every heartbeat task that ran.
    :param missing: task ids whose report is missing (their task failed or never ran).
    :return: a JSON-able report (pushed to XCom by the operator) when healthy.
    :raises AirflowFailException: with the failure summary, after the metrics went out.
    """
    from airflow_provider_ecsops.compat import AirflowFailException

    summary = failure_summary(results, missing)
    # Log first: if CloudWatch is unreachable the run still says what it found.
    for timing in timings:
        log.info(
            "%s on queue %s: start from %s; schedule delay %ss (from %s), pickup delay %ss (from %s)",
            timing.task_id,
            timing.queue,
            timing.start_basis,
            timing.schedule_delay,
            timing.schedule_basis,
            timing.pickup_delay,
            timing.pickup_basis,
        )
    for result in results:
        log.info(
            "probe %s: %s in %.1f ms%s",
            result.name,
            "ok" if result.ok else "FAILED",
            result.latency_ms,
            f" ({result.error})" if result.error else "",
        )
    if summary:
        log.error("%s", summary)
    data = build_metric_data(metrics, dag_id, summary is None, results, timings, datetime.now(UTC))
    calls = put_metric_data(metrics, data) if metrics.put_metric_data else 0
    published_at = datetime.now(UTC)
    if metrics.emf:
        for line in emf_lines(metrics.namespace, data):
            emf_log.info(line)
    log.info(
        "Published %d metric data in %d PutMetricData call(s) to %s", len(data), calls, metrics.namespace
    )
    if summary:
        raise AirflowFailException(summary)
    return {
        "healthy": True,
        "metric_data": len(data),
        "put_metric_data_calls": calls,
        "published_at": published_at.isoformat(),
        "results": [r.to_dict() for r in results],
        "timings": [t.to_dict() for t in timings],
    }
