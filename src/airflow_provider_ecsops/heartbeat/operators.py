"""The heartbeat's tasks: probes, one trivial task per queue, and the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_ecsops.compat import BaseOperator
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.heartbeat.probes import Probe, ProbeResult
from airflow_provider_ecsops.heartbeat.runner import run_probes
from airflow_provider_ecsops.heartbeat.timing import TaskTiming, task_timing
from airflow_provider_ecsops.heartbeat.verdict import decide


class HeartbeatProbesOperator(BaseOperator):
    """
    Run probes concurrently inside this task and report their results and this task's delays.

    :param probes: the probes to run.
    :param metrics: when given, this task is the whole heartbeat: it also decides the verdict and
        publishes the metrics (single mode without queue tasks: one task, one scheduling round trip).
    :param api_conn_id: connection to Airflow's REST API v2 for the exact queued time on Airflow 3.
    """

    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        probes: Sequence[Probe],
        metrics: HeartbeatMetrics | None = None,
        api_conn_id: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.probes = list(probes)
        self.metrics = metrics
        self.api_conn_id = api_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        timing = task_timing(context, self.api_conn_id)
        results = run_probes(self.probes)
        if self.metrics is not None:
            return decide(self.metrics, self.dag_id, results, [timing])
        return {"timing": timing.to_dict(), "results": [r.to_dict() for r in results]}


class HeartbeatQueueOperator(BaseOperator):
    """
    Trivial task proving a worker of its ``queue`` takes work; reports its delays.

    :param api_conn_id: connection to Airflow's REST API v2 for the exact queued time on Airflow 3.
    """

    ui_color = "#d6eaf8"

    def __init__(self, *, api_conn_id: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api_conn_id = api_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        return {"timing": task_timing(context, self.api_conn_id).to_dict(), "results": []}


class HeartbeatVerdictOperator(BaseOperator):
    """
    Collect every heartbeat task's report, publish the metrics and fail with a summary if unhealthy.

    :param metrics: metric destination.
    :param report_task_ids: the probe and queue tasks whose XCom reports are judged; a missing report
        (task failed or was skipped) fails the heartbeat.
    """

    ui_color = "#fdebd0"

    def __init__(self, *, metrics: HeartbeatMetrics, report_task_ids: Sequence[str], **kwargs) -> None:
        super().__init__(trigger_rule="all_done", **kwargs)
        self.metrics = metrics
        self.report_task_ids = list(report_task_ids)

    def execute(self, context: Any) -> dict[str, Any]:
        results: list[ProbeResult] = []
        timings: list[TaskTiming] = []
        missing: list[str] = []
        for task_id in self.report_task_ids:
            report = context["ti"].xcom_pull(task_ids=task_id)
            if not report:
                missing.append(task_id)
                continue
            timings.append(TaskTiming.from_dict(report["timing"]))
            results += [ProbeResult.from_dict(r) for r in report["results"]]
        return decide(self.metrics, self.dag_id, results, timings, missing)
