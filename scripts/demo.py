"""Run the example DAGs end to end on local AWS and print what each did (see scripts/demo.sh)."""

from __future__ import annotations

import contextlib
import logging
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


def main() -> int:
    from airflow_provider_ecsops.testing.local_aws import local_aws

    logging.disable(logging.WARNING)
    ok = True
    with local_aws() as env:
        print(
            f"Local AWS: cluster {env.cluster}, task definition {env.task_definition.rsplit('/', 1)[-1]}, "
            f"subnets {','.join(env.subnets)}, bucket {env.bucket}"
        )
        for demo in (fargate, heartbeat):
            ok = demo(env) and ok
    print("\nDemo", "succeeded" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
