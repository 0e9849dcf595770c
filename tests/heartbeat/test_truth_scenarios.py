"""The truth test's long form: the canary under a saturated queue, a frozen scheduler and failing probes, on the
same real stack as ``test_truth.py`` (scheduler, DAG processor, CeleryExecutor, Redis, ``airflow celery worker``s on
queues ``default``, ``qa`` and ``qb``, CloudWatch on a moto server, the metadata DB as the referee).

Each scenario first asserts that what it injected happened (both ``qa`` slots busy while the canary's ``queue_qa``
waited; the scheduler frozen across a due time), then that the canary's published delay equals the metadata DB's
and rose by the injected amount, and that no runs piled up (never two active runs). Long (about 15 minutes on a
loaded 2-core machine), so not in CI: ``ECSOPS_CANARY_LONG=1 scripts/test.sh 3.3.1 tests/heartbeat/test_truth_scenarios.py -s``
(schedule: ``ECSOPS_CANARY_SCHEDULE_SECONDS``, default 60 s here).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.capabilities import AIRFLOW_HAS_API_V2
from tests.heartbeat.helpers import REGION
from tests.heartbeat.test_truth import _published, _sql, _task_instances, _wait

pytestmark = [
    pytest.mark.skipif(
        not AIRFLOW_HAS_API_V2,
        reason="the canary stack runs Airflow 3's api-server (REST API v2, execution API)",
    ),
    pytest.mark.skipif(
        not os.environ.get("ECSOPS_CANARY_LONG"),
        reason="long form of the truth test (~15 min): ECSOPS_CANARY_LONG=1 scripts/test.sh 3.3.1 "
        "tests/heartbeat/test_truth_scenarios.py -s",
    ),
]

SCHEDULE = float(os.environ.get("ECSOPS_CANARY_SCHEDULE_SECONDS", "60"))
# Saturation and freeze end this far past the due time they span: under the report deadline (0.64 x).
PAST_DUE = 0.3 * SCHEDULE
SECRET = "s3cr3t-Canary-Pa55"
ACCESS_KEY = "AKIAABCDEFGHIJKLMNOP"
LOAD_DAG = '''\
"""Two long tasks on queue qa until a given time: every slot of its worker busy."""
import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow_provider_ecsops.compat import DAG

with DAG("canary_load", schedule="@once", start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    for i in range(2):
        BashOperator(task_id=f"busy_{i}", bash_command="sleep $(( {until} - $(date +%s) ))", queue="qa")
'''
FAULTY_DAG = '''\
"""A heartbeat whose probes all fail: S3 denied, DNS failure, a connection that does not exist, a URL with a password."""
import os
from datetime import timedelta

import pendulum

from airflow_provider_ecsops.heartbeat import ConnectionProbe, DnsProbe, HeartbeatMetrics, HttpProbe, S3BucketProbe, heartbeat_dag

dag = heartbeat_dag(
    "canary_faulty",
    timedelta(seconds=float(os.environ["ECSOPS_CANARY_SCHEDULE_SECONDS"])),
    [
        # 20 s: on a loaded worker the hook's first import of the amazon provider and boto3 took over 5 s.
        S3BucketProbe(bucket="canary-denied", aws_conn_id="aws_denied", timeout=20),
        DnsProbe(hostname="no-such-host.invalid", timeout=5),
        ConnectionProbe(conn_id="does_not_exist", timeout=5),
        HttpProbe(url=os.environ["ECSOPS_CANARY_SECRET_URL"], timeout=5),
    ],
    metrics=HeartbeatMetrics(namespace="Test/CanaryTruth", aws_conn_id=None, region_name="us-east-1"),
    task_overhead=timedelta(seconds=3),
    start_date=pendulum.parse(os.environ["ECSOPS_CANARY_START_DATE"]),
)
'''
FAULTY_PROBES = ("s3_canary-denied", "dns_no-such-host.invalid", "conn_does_not_exist", "http_127.0.0.1")


class _DeniedS3(http.server.BaseHTTPRequestHandler):
    """S3 for credentials without ``s3:ListBucket`` on the bucket: ``HeadBucket`` answers 403 with no body (a HEAD
    response has none; https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html). Every request is
    denied; nothing else of S3 is simulated."""

    def do_HEAD(self) -> None:
        self.send_response(403)
        self.send_header("x-amz-request-id", "CANARYDENIED")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _RunWatch(threading.Thread):
    """Samples the canary's active runs (queued or running) every 0.5 s: the pile-up referee."""

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.db, self.most, self.samples, self.stop = db, 0, 0, threading.Event()

    def run(self) -> None:
        import psycopg2

        while not self.stop.wait(0.5):
            with contextlib.suppress(psycopg2.OperationalError):
                ((active,),) = _sql(
                    self.db,
                    "SELECT count(*) FROM dag_run WHERE dag_id = 'canary_truth' AND state IN ('queued', 'running')",
                )
                self.most, self.samples = max(self.most, active), self.samples + 1


def _canary_run(db: str, after: datetime, where: str = "", *args) -> tuple | None:
    """The first finished canary run due after ``after`` (``run_id``, ``run_after``, ``state``)."""
    rows = _sql(
        db,
        "SELECT run_id, run_after, state FROM dag_run WHERE dag_id = 'canary_truth' AND run_after > %s "
        f"AND state IN ('success', 'failed') {where} ORDER BY run_after LIMIT 1",
        after,
        *args,
    )
    return rows[0] if rows else None


def _next_due(db: str, schedule: float) -> datetime:
    """The canary's next due time at least 0.6 of an interval away (time to parse a DAG file or to wait)."""
    ((last,),) = _sql(db, "SELECT max(run_after) FROM dag_run WHERE dag_id = 'canary_truth'")
    due = last + timedelta(seconds=schedule)
    while (due - datetime.now(UTC)).total_seconds() < 0.6 * schedule:
        due += timedelta(seconds=schedule)
    return due


def _delays(db: str, run_id: str) -> dict[str, tuple[float, float]]:
    """``task_id -> (schedule delay, pickup delay)`` of a run, from the metadata DB."""
    ((run_after,),) = _sql(db, "SELECT run_after FROM dag_run WHERE run_id = %s", run_id)
    return {
        task_id: ((start - run_after).total_seconds(), (start - queued).total_seconds())
        for task_id, (_, queued, start, _, _) in _task_instances(db, run_id).items()
        if start is not None and queued is not None
    }


def test_the_canary_measures_saturation_and_a_frozen_scheduler_and_names_failing_probes(redis_broker_db: int):
    import boto3

    from airflow_provider_ecsops.testing.canary_stack import DAG_ID, NAMESPACE, CanaryStack
    from airflow_provider_ecsops.testing.local_aws import local_aws

    out_dir = Path(tempfile.mkdtemp(prefix="canary-scenarios-", dir="/tmp"))
    began = time.monotonic()
    denied = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DeniedS3)
    threading.Thread(target=denied.serve_forever, daemon=True).start()
    aws_denied = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET,
        "extra": {"endpoint_url": f"http://127.0.0.1:{denied.server_address[1]}", "region_name": REGION},
    }
    extra_env = {
        "AIRFLOW_CONN_AWS_DENIED": json.dumps(aws_denied),
        "ECSOPS_CANARY_SECRET_URL": f"http://canary:{SECRET}@127.0.0.1:{_closed_port()}/health",
    }
    start_date = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with (
        local_aws(server=True),
        CanaryStack(out_dir, SCHEDULE, start_date, redis_broker_db, extra_env=extra_env) as stack,
    ):
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        stack.start_worker("d", "default")
        stack.start_worker("a", "qa", concurrency=2)
        stack.start_worker("b", "qb")
        watch = _RunWatch(stack.db)
        watch.start()
        origin = datetime.now(UTC)

        # Baseline: two successful runs; the delays of a healthy, unloaded canary.
        _wait(
            "two successful runs",
            lambda: (
                len(
                    _sql(
                        stack.db,
                        "SELECT 1 FROM dag_run WHERE dag_id = %s AND state = 'success' AND run_after > %s",
                        DAG_ID,
                        origin,
                    )
                )
                >= 2
            ),
            timeout=6 * SCHEDULE + 120,
        )
        baseline_runs = [
            r
            for (r,) in _sql(
                stack.db,
                "SELECT run_id FROM dag_run WHERE dag_id = %s AND state = 'success' AND run_after > %s",
                DAG_ID,
                origin,
            )
        ]
        baseline = [_delays(stack.db, r) for r in baseline_runs]
        base_schedule = max(d["probes"][0] for d in baseline)
        base_pickup = max(d["queue_qa"][1] for d in baseline)
        print(
            f"baseline: ScheduleDelay(probes) max {base_schedule:.1f}s, PickupDelay(queue_qa) max "
            f"{base_pickup:.1f}s over {len(baseline)} runs"
        )

        # (a) Queue qa saturated: both slots of its worker busy with long tasks when the next canary run queues.
        due = _next_due(stack.db, SCHEDULE)
        stack.add_dag("canary_load", LOAD_DAG.replace("{until}", str(int(due.timestamp() + PAST_DUE))))
        busy = _wait(
            "both qa slots busy with the load",
            lambda: (
                rows
                if len(
                    rows := _sql(
                        stack.db,
                        "SELECT start_date, end_date FROM task_instance WHERE dag_id = "
                        "'canary_load' AND state = 'running' AND start_date IS NOT NULL",
                    )
                )
                == 2
                else None
            ),
            timeout=2 * SCHEDULE,
            every=0.5,
        )
        saturated_at = max(start for start, _ in busy)
        run = _wait(
            "a canary run whose queue_qa queued while qa was saturated",
            lambda: _canary_run(
                stack.db,
                saturated_at - timedelta(seconds=SCHEDULE),
                "AND run_id IN (SELECT run_id FROM task_instance WHERE dag_id = 'canary_truth' "
                "AND task_id = 'queue_qa' AND queued_dttm > %s)",
                saturated_at,
            ),
            timeout=3 * SCHEDULE,
        )
        run_id = run[0]
        _, qa_queued, qa_start, _, _ = _task_instances(stack.db, run_id)["queue_qa"]
        busy = _sql(
            stack.db,
            "SELECT start_date, end_date FROM task_instance WHERE dag_id = 'canary_load' AND start_date <= %s",
            qa_queued,
        )
        assert len(busy) == 2 and all(end is None or end > qa_queued for _, end in busy), (
            "saturation did not happen: both qa slots were not busy when queue_qa queued",
            busy,
            qa_queued,
        )
        freed = min(end for _, end in busy)
        injected = (freed - qa_queued).total_seconds()
        assert injected >= 5, (
            f"saturation too short to measure: a slot freed {injected:.1f}s after queue_qa queued"
        )
        dims = {"DAG": DAG_ID, "Queue": "qa", "Task": "queue_qa"}
        pickup = _published(cloudwatch, NAMESPACE, "PickupDelay", dims, qa_queued, datetime.now(UTC))
        truth = (qa_start - qa_queued).total_seconds()
        print(
            f"saturated qa: injected {injected:.1f}s (a slot freed after queue_qa queued), PickupDelay "
            f"published {pickup:.3f}s, metadata DB {truth:.3f}s, baseline max {base_pickup:.1f}s"
        )
        assert abs(pickup - truth) <= 1.0
        assert injected - 1.0 <= pickup <= injected + base_pickup + 5.0
        stack.remove_dag("canary_load")

        # (b) Scheduler frozen across a due time: that run's ScheduleDelay rises by the time it was frozen past it.
        # Frozen from 0.3 of an interval before the next due time to PAST_DUE after it.
        due = _next_due(stack.db, SCHEDULE)
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 0.3 * SCHEDULE))
        frozen_for = (due - datetime.now(UTC)).total_seconds() + PAST_DUE
        stack.pause_scheduler()
        frozen_at = datetime.now(UTC)
        time.sleep(frozen_for)
        stack.resume_scheduler()
        resumed_at = datetime.now(UTC)
        run = _wait(
            "the run due while frozen", lambda: _canary_run(stack.db, frozen_at), timeout=3 * SCHEDULE
        )
        run_id, run_after, _ = run
        assert frozen_at < run_after < resumed_at, (
            "the scheduler was not frozen across a due time",
            frozen_at,
            run_after,
            resumed_at,
        )
        injected = (resumed_at - run_after).total_seconds()
        ((_, _, started, _, _),) = [v for k, v in _task_instances(stack.db, run_id).items() if k == "probes"]
        dims = {"DAG": DAG_ID, "Queue": "default", "Task": "probes"}
        schedule_delay = _published(
            cloudwatch, NAMESPACE, "ScheduleDelay", dims, run_after, datetime.now(UTC)
        )
        truth = (started - run_after).total_seconds()
        print(
            f"frozen scheduler: {frozen_for:.0f}s frozen, {injected:.1f}s past the due time; ScheduleDelay "
            f"published {schedule_delay:.3f}s, metadata DB {truth:.3f}s, baseline max {base_schedule:.1f}s"
        )
        assert abs(schedule_delay - truth) <= 1.0
        assert injected - 1.0 <= schedule_delay <= injected + base_schedule + 5.0

        # (c) Failing probes: the failure names each one; the password and the access key id appear nowhere.
        stack.add_dag("canary_faulty", FAULTY_DAG)
        added = datetime.now(UTC)
        (log,) = _wait(
            "a failed canary_faulty run",
            lambda: [
                p
                for p in (stack.logs / "tasks").glob("dag_id=canary_faulty/*/task_id=heartbeat/*.log")
                if "heartbeat FAILED, 4 problem(s)" in p.read_text(errors="replace")
            ][:1],
            timeout=4 * SCHEDULE,
        )
        stack.remove_dag("canary_faulty")
        text = log.read_text(errors="replace")
        failure = next(line for line in text.splitlines() if "heartbeat FAILED, 4 problem(s)" in line)
        print(f"failing probes: {failure[failure.index('heartbeat FAILED') :][:600]}")
        for name in FAULTY_PROBES:
            assert f"{name}: " in failure, name

            def probe_ok(name=name):  # the failure is logged before the metrics go out
                return cloudwatch.get_metric_statistics(
                    Namespace=NAMESPACE,
                    MetricName="ProbeOk",
                    Dimensions=[{"Name": "DAG", "Value": "canary_faulty"}, {"Name": "Probe", "Value": name}],
                    StartTime=added,
                    EndTime=datetime.now(UTC) + timedelta(minutes=1),
                    Period=60,
                    Statistics=["Maximum"],
                )["Datapoints"]

            points = _wait(f"ProbeOk of {name}", probe_ok, timeout=60)
            assert max(p["Maximum"] for p in points) == 0.0, (name, points)
        assert "s3_canary-denied: ClientError: An error occurred (403)" in failure
        everything = "".join(p.read_text(errors="replace") for p in (stack.logs / "tasks").rglob("*.log"))
        assert SECRET not in everything and ACCESS_KEY not in everything

        watch.stop.set()
        watch.join()
        print(
            f"pile-up: at most {watch.most} active canary run(s) over {watch.samples} samples; "
            f"test {time.monotonic() - began:.0f}s"
        )
        assert watch.samples > 100 and watch.most == 1
    denied.shutdown()
