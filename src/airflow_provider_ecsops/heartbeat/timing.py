"""Schedule delay and pickup delay of the running task, from what each Airflow line exposes."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_provider_ecsops.heartbeat.queued_time import api_task_times

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskTiming:
    """
    How late a heartbeat task started, in seconds, with the field each figure was measured from.

    ``schedule_delay`` = task start minus the run's scheduled time:
    Airflow 3: ``dag_run.run_after`` (the time the run became due; trigger time for manual runs);
    Airflow 2: ``dag_run.data_interval_end`` for scheduled runs, else ``dag_run.queued_at``
    (``logical_date`` when that is unset).

    ``pickup_delay`` = task start minus when the task was queued:
    Airflow 2: ``ti.queued_dttm`` (the executor-queue time, exact);
    Airflow 3: the Task SDK's ``RuntimeTaskInstance`` does not carry ``queued_dttm`` (nor does the execution
    API serve it), so with ``api_conn_id`` set it is the REST API v2's ``queued_when`` (the same column, exact);
    without it, or when that lookup fails (logged), task start minus ``dag_run.start_date``: an upper bound
    of the pickup delay that also includes the scheduler's time to schedule and queue the task (the
    heartbeat's tasks have no upstream, so they cannot be queued before the run starts). Airflow 2 uses the
    same fallback when ``queued_dttm`` is unset (``dag.test()``).

    Task start is the REST API's ``start_date`` when that lookup answered it (Airflow 3: the context's
    ``ti.start_date`` is taken after the execution API's start call returned, up to seconds after the DB's);
    else ``ti.start_date``; where that is unset (Airflow 2's ``dag.test()``) it is the clock when ``execute()``
    began, a few milliseconds later (``start_basis`` says which).
    """

    task_id: str
    queue: str
    start_basis: str
    schedule_delay: float | None
    schedule_basis: str
    pickup_delay: float | None
    pickup_basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskTiming:
        return cls(**data)


def task_timing(context: Any, api_conn_id: str | None = None) -> TaskTiming:
    """
    Measure the current task's delays from its Airflow context.

    :param context: the task's execution context (``ti``, ``dag_run``, ``task``).
    :param api_conn_id: connection to Airflow's REST API v2, asked for the queued time when the context
        lacks it (Airflow 3); ``None``: the run-start bound.
    """
    ti, dag_run = context["ti"], context["dag_run"]
    started, start_basis = ti.start_date, "ti.start_date"
    if started is None:
        started, start_basis = datetime.now(UTC), "execute() clock"

    run_type = getattr(dag_run, "run_type", None)
    is_scheduled = getattr(run_type, "value", run_type) == "scheduled"
    scheduled, schedule_basis = _first(
        dag_run, "run_after", "data_interval_end" if is_scheduled else "", "queued_at", "logical_date"
    )
    queued, pickup_basis = _first(ti, "queued_dttm")
    if queued is None and api_conn_id:
        times, pickup_basis = api_task_times(api_conn_id, ti)
        if times is None:
            log.warning("PickupDelay falls back to the bound from dag_run.start_date: %s", pickup_basis)
        else:
            queued = times.queued_when
            if times.start_date is not None:
                started, start_basis = times.start_date, "REST API v2 start_date"
    if queued is None:
        queued, pickup_basis = dag_run.start_date, "dag_run.start_date"
    elif pickup_basis == "queued_dttm":
        pickup_basis = "ti.queued_dttm"
    return TaskTiming(
        task_id=ti.task_id,
        queue=context["task"].queue,
        start_basis=start_basis,
        schedule_delay=_seconds(started, scheduled),
        schedule_basis=f"dag_run.{schedule_basis}" if schedule_basis else "none",
        pickup_delay=_seconds(started, queued),
        pickup_basis=pickup_basis,
    )


def _first(obj: Any, *fields: str) -> tuple[datetime | None, str]:
    for name in fields:
        value = getattr(obj, name, None) if name else None
        if value is not None:
            return value, name
    return None, ""


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)
