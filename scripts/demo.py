"""Run the example DAGs end to end on local AWS and print what each did (see scripts/demo.sh)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_dags"


def quietly(fn, *args, **kwargs):
    """Run ``fn`` with Airflow's task logs sent to stderr (the demo.log), keeping stdout for the summary."""
    with contextlib.redirect_stdout(sys.stderr):
        return fn(*args, **kwargs)


def states(dag_run) -> str:
    return ", ".join(
        f"{ti.task_id}={ti.state}" for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.task_id)
    )


def fargate(env) -> bool:
    from airflow_provider_ecsops.testing.dag_runs import run_dag

    print("\n== Fargate offload (example_dags/fargate_offload.py)")
    dag = runpy.run_path(str(EXAMPLES / "fargate_offload.py"))["dag"]
    for task in dag.tasks:
        task.poll_interval = 0.2  # the local containers run for a fraction of a second
    dag_run = quietly(run_dag, dag)
    print(f"run {dag_run.run_id}: {dag_run.state} ({states(dag_run)})")
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.task_id):
        result = ti.xcom_pull(task_ids=ti.task_id)
        if result:
            print(
                f"  {ti.task_id}: exit codes {result['exit_codes']}, stop code {result['stop_code']}, "
                f"{result['vcpu_seconds']} vCPU-s, task {result['task_arn'].rsplit('/', 1)[-1]}"
            )
    print(f"  ECS API calls: {dict(env.fargate.calls)}")
    return dag_run.state == "success"


def heartbeat(env) -> bool:
    import boto3

    from airflow_provider_ecsops.testing.dag_runs import run_dag

    print("\n== Heartbeat canary (example_dags/heartbeat.py)")
    namespace = runpy.run_path(str(EXAMPLES / "heartbeat.py"))
    dag_run = quietly(run_dag, namespace["dag"])
    print(f"run {dag_run.run_id}: {dag_run.state} ({states(dag_run)})")
    cloudwatch = boto3.client("cloudwatch", region_name=env.region)
    metrics = cloudwatch.list_metrics(Namespace="Airflow/Heartbeat")["Metrics"]
    names = sorted({m["MetricName"] for m in metrics})
    print(f"  CloudWatch metrics in Airflow/Heartbeat: {len(metrics)} series of {', '.join(names)}")
    alarm = namespace.get("HEARTBEAT_ALARM")
    if alarm:
        cloudwatch.put_metric_alarm(**alarm)
        state = cloudwatch.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"][0]
        print(
            f"  alarm {state['AlarmName']} created: {state['MetricName']} < {state['Threshold']}, "
            f"missing data {state['TreatMissingData']}"
        )
    return dag_run.state == "success"


RACE_SCALE = 1 / 60  # a minute of the set lasts 1 s, a period 10 s, a tick 1/6 s
RACE_PERIODS = 2
RACE_STUCK_AFTER = 3.0  # seconds past its expected end a run may overrun before it reads as lost
KILLED_DAG = "scaledown_race_b2"  # wave B's first DAG: the one the field report loses after a scale-in


def _run_slot(dag, slot) -> str:
    from airflow_provider_ecsops.testing.dag_runs import run_dag

    return quietly(run_dag, dag, logical_date=slot).state


def _kill_mid_run(slot, url: str) -> dict:
    """Run ``KILLED_DAG`` at ``slot`` in its own process and SIGKILL it while the task runs: a lost worker.

    Returns the event the race lab's autoscaler would log for it (worker = the hostname Airflow recorded).
    """
    import signal
    import subprocess
    import time

    from sqlalchemy import create_engine, text

    from airflow_provider_ecsops.replication.dags import TASK_ID

    # One indexed query per poll (not the report's reader): the task ticks for only 1-2 s at this scale.
    running_sql = text(
        "SELECT hostname FROM task_instance WHERE dag_id = :dag_id AND task_id = :task_id AND state = 'running'"
    )
    engine = create_engine(url)
    code = (
        "import runpy, sys, pendulum\n"
        "from airflow_provider_ecsops.testing.dag_runs import run_dag\n"
        f"dag = runpy.run_path({str(EXAMPLES / 'scaledown_race.py')!r})[{KILLED_DAG!r}]\n"
        f"run_dag(dag, logical_date=pendulum.parse({slot.isoformat()!r}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=sys.stderr, stderr=sys.stderr, start_new_session=True
    )
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            # The DAG's earlier runs have finished (max_active_runs=1): a running task instance is this one.
            with engine.connect() as conn:
                hostname = conn.execute(running_sql, {"dag_id": KILLED_DAG, "task_id": TASK_ID}).scalar()
            if hostname is not None:
                time.sleep(0.3)  # into its ticks
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return {"time": time.time(), "action": "sigkill", "worker": hostname or "?"}
            time.sleep(0.1)
    finally:
        engine.dispose()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    raise RuntimeError(f"{KILLED_DAG}: its task never reached running (exit {proc.returncode}); see demo.log")


def replication(env) -> bool:
    """Runs at the set's own slots for a few scaled periods, one of them killed mid-run; then the race report."""
    import json
    import math
    import time
    from datetime import UTC, datetime, timedelta

    import pendulum

    from airflow_provider_ecsops.compat import conf
    from airflow_provider_ecsops.replication.cli import main as race_report
    from airflow_provider_ecsops.replication.schedule import RaceSchedule

    print(
        f"\n== Scale-down race set, {RACE_PERIODS} periods time-scaled to 1 s minutes (example_dags/scaledown_race.py)"
    )
    start = pendulum.now("UTC").subtract(hours=1).start_of("hour")  # the DAGs' start_date: before every slot
    os.environ.update(
        {"ECSOPS_RACE_TIME_SCALE": str(RACE_SCALE), "ECSOPS_RACE_START_DATE": start.isoformat()}
    )
    dags = runpy.run_path(str(EXAMPLES / "scaledown_race.py"))
    schedule = RaceSchedule(time_scale=RACE_SCALE, start_date=start)
    # The last whole periods before now, so every run below stands for a slot of the set's schedule.
    last = math.floor((datetime.now(UTC) - schedule.epoch) / schedule.period) - 1
    since = schedule.epoch + schedule.period * (last - RACE_PERIODS + 1)
    until = schedule.epoch + schedule.period * (last + 1) - timedelta(microseconds=1)
    url = conf.get("database", "sql_alchemy_conn")
    killed_slot = None
    ok = True
    for k in range(RACE_PERIODS):
        base = since + schedule.period * k
        states = []
        for spec in schedule.dags:
            slot = pendulum.instance(base + schedule.minute * spec.start_minute)
            if spec.dag_id == KILLED_DAG and k == RACE_PERIODS - 1:
                killed_slot = slot
                continue
            state = _run_slot(dags[spec.dag_id], slot)
            ok = ok and state == "success"
            states.append(f"{spec.dag_id.removeprefix('scaledown_race_')}={state}")
        print(f"  period {k + 1} (slots from {base:%H:%M:%S} UTC): {', '.join(states)}")
    print(
        f"  stopping {KILLED_DAG} (slot {killed_slot:%H:%M:%S}) on purpose: SIGKILL to its process while the "
        "task runs, as a scale-in stop does to a busy worker"
    )
    event = _kill_mid_run(killed_slot, url)
    time.sleep(
        schedule.tick.total_seconds() * 12 + RACE_STUCK_AFTER + 1
    )  # past its expected end + stuck-after
    out = Path(os.environ.get("ECSOPS_DEMO_OUT", ROOT / "out" / "demo"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.jsonl").write_text(json.dumps(event) + "\n")
    args = [
        "--db-url", url,
        "--time-scale", str(RACE_SCALE), "--start-date", start.isoformat(),
        "--since", since.isoformat(), "--until", until.isoformat(), "--stuck-after", str(RACE_STUCK_AFTER),
        "--html", str(out / "race-report.html"), "--json", str(out / "race-report.json"),
        "--events", str(out / "events.jsonl"),
    ]  # fmt: skip
    print(
        f"  race report over those {RACE_PERIODS} periods (expected: {8 * RACE_PERIODS - 1} completed, 1 lost):"
    )
    with contextlib.redirect_stdout(io.StringIO()) as report:
        status = race_report(args)
    print("    " + report.getvalue().strip().replace("\n", "\n    "))
    report_json = json.loads((out / "race-report.json").read_text())
    counts = report_json["tallies"]["all"]["all"]
    ok = ok and status == 0 and (counts["completed"], counts["lost"]) == (8 * RACE_PERIODS - 1, 1)
    print(f"  HTML timeline: {out / 'race-report.html'}")
    return ok


def main() -> int:
    from airflow_provider_ecsops.testing.local_aws import local_aws

    logging.disable(logging.WARNING)
    ok = True
    with local_aws() as env:
        print(
            f"Local AWS: cluster {env.cluster}, task definition {env.task_definition.rsplit('/', 1)[-1]}, "
            f"subnets {','.join(env.subnets)}, bucket {env.bucket}"
        )
        for demo in (fargate, heartbeat, replication):
            ok = demo(env) and ok
    print("\nDemo", "succeeded" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
