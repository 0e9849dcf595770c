"""The heartbeat's tasks: probes, one trivial task per queue, and the verdict."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_ecsops.compat import BaseOperator
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.heartbeat.probes import Probe, ProbeResult
from airflow_provider_ecsops.heartbeat.runner import run_probes
from airflow_provider_ecsops.heartbeat.timing import TaskTiming, task_timing
from airflow_provider_ecsops.heartbeat.verdict import decide

# How often the verdict asks for the queue tasks' reports while it waits: one XCom read per missing report.
REPORT_POLL_SECONDS = 1.0


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

    It runs after the probe tasks (its upstream, trigger rule ``all_done``) and waits for the queue tasks'
    reports only until ``report_deadline`` after the run started: a queue whose workers are gone leaves its
    task queued forever, and the heartbeat must still name that queue and publish ``Heartbeat=0`` before the
    run's timeout, instead of timing out silently.

    :param metrics: metric destination.
    :param report_task_ids: the probe tasks (upstream, done when this runs) whose XCom reports are judged.
    :param queue_task_ids: the queue tasks whose reports are waited for until ``report_deadline``.
    A missing report (task failed, was skipped or did not start by the deadline) fails the heartbeat.
    :param report_deadline: how long after the run's start the queue tasks' reports are waited for.
    """

    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        metrics: HeartbeatMetrics,
        report_task_ids: Sequence[str],
        queue_task_ids: Sequence[str] = (),
        report_deadline: timedelta = timedelta(0),
        **kwargs,
    ) -> None:
        super().__init__(trigger_rule="all_done", **kwargs)
        self.metrics = metrics
        self.report_task_ids = list(report_task_ids)
        self.queue_task_ids = list(queue_task_ids)
        self.report_deadline = report_deadline

    def execute(self, context: Any) -> dict[str, Any]:
        pull = context["ti"].xcom_pull
        reports = {task_id: pull(task_ids=task_id) for task_id in self.report_task_ids}
        waiting = {task_id: None for task_id in self.queue_task_ids}
        deadline = context["dag_run"].start_date + self.report_deadline
        while True:
            waiting |= {t: pull(task_ids=t) for t, report in waiting.items() if not report}
            if all(waiting.values()) or datetime.now(UTC) >= deadline:
                break
            time.sleep(REPORT_POLL_SECONDS)
        reports |= waiting
        results: list[ProbeResult] = []
        timings: list[TaskTiming] = []
        missing = [task_id for task_id, report in reports.items() if not report]
        for report in filter(None, reports.values()):
            timings.append(TaskTiming.from_dict(report["timing"]))
            results += [ProbeResult.from_dict(r) for r in report["results"]]
        return decide(self.metrics, self.dag_id, results, timings, missing)
