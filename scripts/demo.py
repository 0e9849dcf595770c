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


def replication(env) -> bool:
    import pendulum

    from airflow_provider_ecsops.replication.cli import main as race_report
    from airflow_provider_ecsops.testing.dag_runs import run_dag

    print("\n== Scale-down race set, time-scaled to 1 s minutes (example_dags/scaledown_race.py)")
    start = pendulum.now("UTC").subtract(minutes=1).start_of("minute")
    scale = 1 / 60
    os.environ.update({"ECSOPS_RACE_TIME_SCALE": str(scale), "ECSOPS_RACE_START_DATE": start.isoformat()})
    namespace = runpy.run_path(str(EXAMPLES / "scaledown_race.py"))
    dags = {name: value for name, value in namespace.items() if hasattr(value, "dag_id")}
    ok = True
    for dag_id, dag in sorted(dags.items()):
        dag_run = quietly(run_dag, dag)
        ok = ok and dag_run.state == "success"
        print(f"  {dag_id}: {dag_run.state}")
    out = Path(os.environ.get("ECSOPS_DEMO_OUT", ROOT / "out" / "demo"))
    out.mkdir(parents=True, exist_ok=True)
    from airflow_provider_ecsops.compat import conf

    args = [
        "--db-url", conf.get("database", "sql_alchemy_conn"),
        "--time-scale", str(scale), "--start-date", start.isoformat(),
        "--html", str(out / "race-report.html"), "--json", str(out / "race-report.json"),
    ]  # fmt: skip
    print("  race report (dag.test runs are manual, so the scheduled slots read as never scheduled):")
    with contextlib.redirect_stdout(io.StringIO()) as report:
        race_report(args)
    print("    " + report.getvalue().strip().replace("\n", "\n    "))
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
