"""
Heartbeat single vs parallel mode under a real scheduler: end-to-end run time per run, from the metadata DB.

One local Airflow 3 stack (:class:`airflow_provider_ecsops.testing.canary_stack.CanaryStack`: API server, DAG
processor, scheduler, CeleryExecutor on PostgreSQL and Redis, one ``airflow celery worker`` of concurrency 4,
CloudWatch on a moto server) runs, side by side, a heartbeat of 4 loopback probes (DNS, TCP, HTTP, a Python
import) in single and in parallel mode at each schedule interval asked for, plus the stack's own canary; every
DAG is load on the one scheduler, as on a real environment. Parallel mode below 5 minutes is what the guard
refuses: here the guard's minimum is lifted in the bench's DAG file only, to measure what it forbids.

Per run, from ``dag_run``: due -> done (``end_date - run_after``: what the alarm sees) and start -> done
(``end_date - start_date``); per task stage, the scheduling + pickup overhead (each task's ``start_date`` minus
when its upstream ended, or minus ``run_after`` for the first stage). The baseline is single mode at the same
interval, measured in the same run; the ratio printed is parallel / single. Run with a 3.x line's venv:

    ECSOPS_TEST_REDIS_DB=<your db> $(scripts/venv.sh 3.3.1)/bin/python bench/heartbeat_scheduler_modes.py \\
        [--intervals 30,60,120] [--minutes 8] [--load-dags 20 --load-tasks 8]

``--load-dags N`` adds N DAGs of ``--load-tasks`` tasks each (a 2 s sleep), every 30 s, on a queue ``load`` with
its own worker (8 slots): a loaded scheduler and machine, as the guards are meant for, without taking the
heartbeat's slots. A load above what that worker drains (e.g. 20 x 8) fills the executor's parallelism with
queued load tasks, and no heartbeat task starts at all: a saturated environment, not a loaded one.

Figures depend on the machine's load (printed): on a loaded 2-core machine they are an upper bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

from benchlib import OkHandler

from airflow_provider_ecsops.testing.canary_stack import sql

PROBE_TIMEOUT = 5
DAG_TEMPLATE = '''\
"""Bench: heartbeat {mode} mode every {interval:g} s (the parallel-mode guard lifted for the measurement)."""
from datetime import timedelta

import pendulum

from airflow_provider_ecsops.heartbeat import guards
from airflow_provider_ecsops.heartbeat import DnsProbe, HeartbeatMetrics, HttpProbe, PythonImportProbe, TcpProbe, heartbeat_dag

guards.PARALLEL_MIN_INTERVAL = timedelta(0)
dag = heartbeat_dag(
    "{dag_id}",
    timedelta(seconds={interval!r}),
    [
        DnsProbe(hostname="localhost", timeout={timeout}),
        TcpProbe(host="127.0.0.1", port={port}, name="tcp", timeout={timeout}),
        HttpProbe(url="http://127.0.0.1:{port}/health", name="http", timeout={timeout}),
        PythonImportProbe(requirements=["json"], name="py_json", timeout={timeout}),
    ],
    mode="{mode}",
    metrics=HeartbeatMetrics(namespace="Bench/HeartbeatScheduler", aws_conn_id=None, region_name="us-east-1"),
    task_overhead=timedelta(seconds=3),
    start_date=pendulum.parse("{start}"),
)
'''
LOAD_TEMPLATE = '''\
"""Bench: scheduler load, {tasks} tasks every 30 s on queue load."""
import time
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task


def nap():
    time.sleep(2)


with DAG("{dag_id}", schedule=timedelta(seconds=30), start_date=pendulum.parse("{start}"), catchup=False,
         max_active_runs=2):
    for i in range({tasks}):
        task(task_id=f"load_{{i}}", queue="load")(nap)()
'''


def runs(db: str, dag_id: str, after: datetime) -> list[dict]:
    """Finished runs due after ``after``: state, due -> done, start -> done, and per-stage overheads (s)."""
    found = []
    for run_id, state, run_after, started, ended in sql(
        db,
        "SELECT run_id, state, run_after, start_date, end_date FROM dag_run WHERE dag_id = %s AND run_after > %s "
        "AND state IN ('success', 'failed') ORDER BY run_after",
        dag_id,
        after,
    ):
        tis = dict(
            (task_id, (start, end))
            for task_id, start, end in sql(
                db,
                "SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = %s AND run_id = %s",
                dag_id,
                run_id,
            )
        )
        stages = []
        probe_tasks = [v for k, v in tis.items() if k != "verdict" and v[0] is not None]
        if probe_tasks:
            stages.append(max(s for s, _ in probe_tasks) - run_after)  # the last probe task's wait
        if "verdict" in tis and tis["verdict"][0] is not None and probe_tasks:
            stages.append(tis["verdict"][0] - max(e for _, e in probe_tasks if e is not None))
        found.append(
            {
                "state": state,
                "due_to_done": (ended - run_after).total_seconds(),
                "start_to_done": (ended - started).total_seconds(),
                "stages": [s.total_seconds() for s in stages],
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--intervals", default="30,60,120", help="schedule intervals in s (default 30,60,120)"
    )
    parser.add_argument("--minutes", type=float, default=8, help="measuring time (default 8)")
    parser.add_argument("--load-dags", type=int, default=0, help="background DAGs on queue load (default 0)")
    parser.add_argument("--load-tasks", type=int, default=8, help="tasks per background DAG (default 8)")
    args = parser.parse_args()
    intervals = [float(i) for i in args.intervals.split(",")]
    redis_db = int(os.environ["ECSOPS_TEST_REDIS_DB"])

    from airflow_provider_ecsops.testing.canary_stack import CanaryStack
    from airflow_provider_ecsops.testing.local_aws import local_aws

    http = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    out_dir = Path(tempfile.mkdtemp(prefix="canary-bench-", dir="/tmp"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    began = time.monotonic()
    dag_ids = {(m, i): f"bench_{m}_{i:g}s" for m in ("single", "parallel") for i in intervals}
    loads = []
    with local_aws(server=True), CanaryStack(out_dir, 300, start, redis_db, queues=("default",)) as stack:
        for (mode, interval), dag_id in dag_ids.items():
            source = DAG_TEMPLATE.format(
                mode=mode,
                interval=interval,
                dag_id=dag_id,
                port=http.server_address[1],
                timeout=PROBE_TIMEOUT,
                start=start.isoformat(),
            )
            stack.add_dag(dag_id, source)
        for n in range(args.load_dags):
            source = LOAD_TEMPLATE.format(dag_id=f"load_{n}", tasks=args.load_tasks, start=start.isoformat())
            stack.add_dag(f"load_{n}", source)
        stack.start_worker("w", "default", concurrency=4)
        if args.load_dags:
            stack.start_worker("wl", "load", concurrency=8)
        origin = datetime.now(UTC) + timedelta(seconds=60)  # runs due after the stack settled
        deadline = time.monotonic() + 60 + args.minutes * 60
        while time.monotonic() < deadline:
            loads.append(os.getloadavg()[0])
            time.sleep(10)
        figures = {key: runs(stack.db, dag_id, origin) for key, dag_id in dag_ids.items()}
    http.shutdown()

    import airflow

    print(
        f"Airflow {airflow.__version__}, 4 loopback probes, CeleryExecutor (1 worker x 4 slots), {len(dag_ids)} "
        f"bench DAGs side by side, {args.load_dags} load DAGs x {args.load_tasks} tasks every 30 s, "
        f"{args.minutes:g} min; load average 1-min: median "
        f"{statistics.median(loads):.1f}, max {max(loads):.1f} ({os.cpu_count()} cores); wall "
        f"{time.monotonic() - began:.0f} s"
    )
    print(
        f"{'interval':>8} {'mode':>9} {'runs':>5} {'ok':>4} {'due->done med':>14} {'max':>7} "
        f"{'start->done med':>16} {'stage overhead med':>19} {'max':>7} {'due->done vs single':>20}"
    )
    for interval in intervals:
        single_med = None
        for mode in ("single", "parallel"):
            rows = figures[(mode, interval)]
            if not rows:
                print(f"{interval:>7g}s {mode:>9} {0:>5} (no finished run)")
                continue
            due = [r["due_to_done"] for r in rows]
            stages = [s for r in rows for s in r["stages"]] or [float("nan")]
            med = statistics.median(due)
            single_med = med if mode == "single" else single_med
            ratio = f"{med / single_med:.2f}x" if single_med else "-"
            print(
                f"{interval:>7g}s {mode:>9} {len(rows):>5} {sum(r['state'] == 'success' for r in rows):>4} "
                f"{med:>13.1f}s {max(due):>6.1f}s {statistics.median(r['start_to_done'] for r in rows):>15.1f}s "
                f"{statistics.median(stages):>18.1f}s {max(stages):>6.1f}s {ratio:>20}"
            )
    print("tasks per run: single 1; parallel 5 (4 probe tasks + verdict), 2 stages")


if __name__ == "__main__":
    main()
