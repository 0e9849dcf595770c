"""The heartbeat against the truth: a real scheduler, DAG processor, CeleryExecutor on PostgreSQL and Redis, real
``airflow celery worker``s on two queues, CloudWatch on a moto server, the metadata DB as the referee.

Time-scaled: the schedule is ``ECSOPS_CANARY_SCHEDULE_SECONDS`` (CI form: 30 s) and the alarm is
``heartbeat_alarm()`` for a 1-minute schedule evaluated with its period scaled alike (30 s). Shorter does not fit
a loaded 2-core machine: the verdict's import of the amazon provider and boto3 alone took 8 s there. The long form runs the
real cadence: ``ECSOPS_CANARY_SCHEDULE_SECONDS=60 scripts/test.sh 3.3.1 tests/heartbeat/test_truth.py``.

The alarm's states count only when the metadata DB agrees: OK before the stop on periods that all hold
Heartbeat=1, ALARM with a failed verdict after the stop, OK again with a successful verdict after the return
(missing data is breaching, so jitter alone can flip the state: seen, ALARM 2.5 s after the stop and OK 1.2 s
after the return, before any run had seen either).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_provider_ecsops.heartbeat.alarm import heartbeat_alarm
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.testing.alarm_eval import alarm_state
from airflow_provider_ecsops.testing.canary_stack import sql as _sql
from tests.capabilities import AIRFLOW_HAS_API_V2
from tests.heartbeat.helpers import REGION

pytestmark = pytest.mark.skipif(
    not AIRFLOW_HAS_API_V2, reason="the canary stack runs Airflow 3's api-server (REST API v2, execution API)"
)

SCHEDULE = float(os.environ.get("ECSOPS_CANARY_SCHEDULE_SECONDS", "30"))
SCALE = SCHEDULE / 60


def _wait(what: str, condition, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def _finished_runs(db: str, state: str, after: datetime) -> list[tuple]:
    return _sql(
        db,
        "SELECT run_id, run_after FROM dag_run WHERE dag_id = 'canary_truth' AND state = %s AND run_after > %s "
        "ORDER BY run_after",
        state,
        after,
    )


def _task_instances(db: str, run_id: str) -> dict[str, tuple]:
    rows = _sql(
        db,
        "SELECT task_id, queue, queued_dttm, start_date, end_date, state FROM task_instance "
        "WHERE dag_id = 'canary_truth' AND run_id = %s",
        run_id,
    )
    return {row[0]: row[1:] for row in rows}


def _verdicts(db: str, state: str, after: datetime) -> list[tuple]:
    """Verdicts in ``state`` that ended after ``after``: the metadata DB's word on what was published."""
    return _sql(
        db,
        "SELECT run_id, end_date FROM task_instance WHERE dag_id = 'canary_truth' AND task_id = 'verdict' "
        "AND state = %s AND end_date > %s",
        state,
        after,
    )


def _heartbeats(cloudwatch, alarm: dict, at: datetime) -> list[float | None]:
    """The minimum ``Heartbeat`` in each period the alarm evaluates at ``at`` (newest first; ``None``: no data)."""
    period = timedelta(seconds=alarm["Period"] * SCALE)
    values: list[float | None] = []
    for index in range(alarm["EvaluationPeriods"]):
        end = at - index * period
        points = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName="Heartbeat",
            Dimensions=alarm["Dimensions"],
            StartTime=end - period,
            EndTime=end,
            Period=60,
            Statistics=["Minimum"],
        )["Datapoints"]
        values.append(min(p["Minimum"] for p in points) if points else None)
    return values


def _published(cloudwatch, namespace: str, name: str, dims: dict[str, str], start: datetime, end: datetime):
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Minimum", "Maximum", "SampleCount"],
    )["Datapoints"]
    assert len(points) == 1 and points[0]["SampleCount"] == 1, (name, dims, points)
    return points[0]["Minimum"]


def test_the_canary_tells_the_truth_about_two_queues_and_alarms_when_one_goes_silent(redis_broker_db: int):
    import boto3

    from airflow_provider_ecsops.testing.canary_stack import DAG_ID, NAMESPACE, CanaryStack
    from airflow_provider_ecsops.testing.local_aws import local_aws

    out_dir = Path(tempfile.mkdtemp(prefix="canary-truth-", dir="/tmp"))
    began = time.monotonic()
    start_date = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    metrics = HeartbeatMetrics(namespace=NAMESPACE, aws_conn_id=None, region_name=REGION)
    alarm = heartbeat_alarm(DAG_ID, timedelta(minutes=1), metrics=metrics)
    base = {"DAG": DAG_ID}
    with local_aws(server=True), CanaryStack(out_dir, SCHEDULE, start_date, redis_broker_db) as stack:
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        stack.start_worker("a", "default,qa")
        stack.start_worker("b", "qb")
        origin = datetime.now(UTC)

        # Healthy: two successful runs, each with Heartbeat=1 and delays equal to the metadata DB's.
        runs = _wait(
            "two successful runs",
            lambda: (
                _finished_runs(stack.db, "success", origin)[:2]
                if len(_finished_runs(stack.db, "success", origin)) >= 2
                else None
            ),
            timeout=8 * SCHEDULE + 120,
        )
        errors = []
        for run_id, run_after in runs:
            tis = _task_instances(stack.db, run_id)
            _, _, verdict_start, verdict_end, _ = tis["verdict"]
            window = (verdict_start - timedelta(seconds=1), verdict_end + timedelta(seconds=1))
            assert _published(cloudwatch, NAMESPACE, "Heartbeat", base, *window) == 1.0
            (report,) = _sql(
                stack.db,
                "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = 'verdict' "
                "AND key = 'return_value'",
                DAG_ID,
                run_id,
            )[0]
            report = json.loads(report) if isinstance(report, str) else report
            bases = {t["task_id"]: t["pickup_basis"] for t in report["timings"]}
            assert bases == dict.fromkeys(
                ("probes", "queue_qa", "queue_qb"), "REST API v2 queued_when (connection canary_api)"
            )
            for task_id in ("probes", "queue_qa", "queue_qb"):
                queue, queued, started, _, state = tis[task_id]
                assert state == "success"
                dims = {**base, "Queue": queue, "Task": task_id}
                pickup = _published(cloudwatch, NAMESPACE, "PickupDelay", dims, *window)
                schedule = _published(cloudwatch, NAMESPACE, "ScheduleDelay", dims, *window)
                errors.append(abs(pickup - (started - queued).total_seconds()))
                errors.append(abs(schedule - (started - run_after).total_seconds()))
        print(f"healthy: max |published - metadata DB| = {max(errors):.3f}s over {len(errors)} delays")
        assert max(errors) <= 1.0
        # Steady OK first: every evaluated period holds a Heartbeat=1 (missing data is breaching, so an OK that
        # rests on a lucky alignment of periods would let a later ALARM come from jitter, not from queue qb).
        _wait(
            "alarm OK on data while healthy",
            lambda: (
                alarm_state(cloudwatch, alarm, datetime.now(UTC), SCALE) == "OK"
                and _heartbeats(cloudwatch, alarm, datetime.now(UTC)) == [1.0] * alarm["EvaluationPeriods"]
            ),
            timeout=10 * SCHEDULE,
            every=0.5,
        )

        # Queue qb loses its workers: the alarm fires, on a verdict that names qb, not on a gap in the data.
        stack.stop_worker("b")
        stopped, stopped_at = time.monotonic(), datetime.now(UTC)
        _wait(
            "ALARM after qb stopped, with a failed verdict after the stop",
            lambda: (
                alarm_state(cloudwatch, alarm, datetime.now(UTC), SCALE) == "ALARM"
                and _verdicts(stack.db, "failed", stopped_at)
            ),
            timeout=6 * SCHEDULE,
            every=0.5,
        )
        detection = time.monotonic() - stopped
        print(f"queue qb silent: ALARM {detection:.1f}s after its worker stopped (schedule {SCHEDULE:g}s)")
        # Worst case by design: the next run is due within one interval, its verdict publishes Heartbeat=0 at the
        # report deadline (within the run's timeout), and DatapointsToAlarm periods must breach.
        assert detection <= SCHEDULE + alarm["DatapointsToAlarm"] * alarm["Period"] * SCALE + 30
        failed_logs = _wait(
            "a verdict naming queue_qb",
            lambda: [
                p
                for p in (stack.logs / "tasks").glob("dag_id=canary_truth/*/task_id=verdict/*.log")
                if "queue_qb: task did not report" in p.read_text(errors="replace")
            ],
            timeout=2 * SCHEDULE,
        )
        assert failed_logs

        # Its workers return: the alarm recovers, on a successful verdict after the return.
        stack.start_worker("b", "qb")
        returned, returned_at = time.monotonic(), datetime.now(UTC)
        _wait(
            "OK after qb returned, with a successful verdict after the return",
            lambda: (
                alarm_state(cloudwatch, alarm, datetime.now(UTC), SCALE) == "OK"
                and _verdicts(stack.db, "success", returned_at)
            ),
            timeout=8 * SCHEDULE + 60,
            every=0.5,
        )
        print(
            f"queue qb back: OK {time.monotonic() - returned:.1f}s after its worker started; "
            f"test {time.monotonic() - began:.0f}s"
        )
