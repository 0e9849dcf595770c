"""Delay measurement from the fields each Airflow line puts in the task context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from airflow_provider_ecsops.heartbeat.timing import task_timing

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def context(ti, dag_run, queue="default"):
    return {"ti": ti, "dag_run": dag_run, "task": SimpleNamespace(queue=queue)}


def test_airflow2_scheduled_run_uses_queued_dttm_and_interval_end():
    ti = SimpleNamespace(
        task_id="probes", start_date=T0 + timedelta(seconds=9), queued_dttm=T0 + timedelta(seconds=7)
    )
    run = SimpleNamespace(
        run_type=SimpleNamespace(value="scheduled"),
        data_interval_end=T0,
        queued_at=T0,
        logical_date=T0 - timedelta(minutes=1),
        start_date=T0 + timedelta(seconds=1),
    )
    timing = task_timing(context(ti, run, queue="gpu"))
    assert (timing.queue, timing.schedule_delay, timing.pickup_delay) == ("gpu", 9.0, 2.0)
    assert (timing.start_basis, timing.schedule_basis, timing.pickup_basis) == (
        "ti.start_date",
        "dag_run.data_interval_end",
        "ti.queued_dttm",
    )


def test_airflow2_manual_run_uses_queued_at():
    ti = SimpleNamespace(
        task_id="probes", start_date=T0 + timedelta(seconds=3), queued_dttm=T0 + timedelta(seconds=2)
    )
    run = SimpleNamespace(
        run_type="manual",
        data_interval_end=T0 + timedelta(hours=1),
        queued_at=T0,
        logical_date=T0,
        start_date=T0,
    )
    timing = task_timing(context(ti, run))
    assert (timing.schedule_delay, timing.schedule_basis) == (3.0, "dag_run.queued_at")


def test_airflow3_runtime_ti_has_no_queued_dttm():
    # The Task SDK's RuntimeTaskInstance and DagRun carry no queued_dttm / queued_at.
    ti = SimpleNamespace(task_id="queue_gpu", start_date=T0 + timedelta(seconds=5))
    run = SimpleNamespace(
        run_type="scheduled",
        run_after=T0,
        start_date=T0 + timedelta(seconds=1),
        data_interval_end=T0 - timedelta(hours=1),
        logical_date=T0,
    )
    timing = task_timing(context(ti, run))
    assert (timing.schedule_delay, timing.schedule_basis) == (5.0, "dag_run.run_after")
    assert (timing.pickup_delay, timing.pickup_basis) == (4.0, "dag_run.start_date")


def test_unset_start_date_falls_back_to_execute_clock():
    ti = SimpleNamespace(task_id="t", start_date=None, queued_dttm=None)
    now = datetime.now(UTC)
    run = SimpleNamespace(
        run_type="manual", queued_at=None, logical_date=now - timedelta(seconds=30), start_date=now
    )
    timing = task_timing(context(ti, run))
    assert timing.start_basis == "execute() clock"
    assert 30 <= timing.schedule_delay < 60
    assert timing.schedule_basis == "dag_run.logical_date"
    assert 0 <= timing.pickup_delay < 30
