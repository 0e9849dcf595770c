"""heartbeat_dag end to end: real Airflow runs (dag.test()) publishing to moto CloudWatch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_provider_ecsops.heartbeat import (
    CallableProbe,
    DnsProbe,
    HeartbeatMetrics,
    HttpProbe,
    S3BucketProbe,
    TcpProbe,
    heartbeat_dag,
)
from airflow_provider_ecsops.testing.dag_runs import run_dag
from tests.heartbeat.helpers import REGION

ROOT = Path(__file__).resolve().parents[2]
METRICS = HeartbeatMetrics(
    namespace="Test/HeartbeatDag", environment="ci", aws_conn_id=None, region_name=REGION
)


def stats(namespace: str, name: str, dims: dict[str, str]) -> list[dict]:
    import boto3

    now = datetime.now(UTC)
    return boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Minimum", "Maximum", "SampleCount"],
    )["Datapoints"]


def only_value(namespace: str, name: str, dims: dict[str, str]) -> float:
    (point,) = stats(namespace, name, dims)
    assert point["Minimum"] == point["Maximum"]
    return point["Minimum"]


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def test_building_is_pure():
    # A fresh interpreter parses the example DAG with sockets disabled and must not load AWS SDKs.
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise RuntimeError('network during DAG build')\n"
        "socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse\n"
        "sys.path.insert(0, 'example_dags')\n"
        "import heartbeat\n"
        "from airflow_provider_ecsops.heartbeat import heartbeat_dag, S3BucketProbe, EcsClusterProbe\n"
        "heartbeat_dag('p', '*/5 * * * *', [S3BucketProbe(bucket='b'), EcsClusterProbe(cluster='c')],"
        " mode='parallel', queues=['a', 'b'])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aiobotocore', 'moto')"
        " or m.startswith('airflow.providers.amazon.aws')]\n"
        "assert not bad, bad\n"
        "print(sorted(heartbeat.dag.task_ids))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=os.environ
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "['probes', 'queue_default', 'verdict']"


def test_shapes():
    probes = [DnsProbe(hostname="localhost"), TcpProbe(host="db", port=5432)]
    single = heartbeat_dag("hb_shape_single", "* * * * *", probes)
    assert single.task_ids == ["heartbeat"]
    assert (
        "(single mode, timeout 0:00:48, normal priority): probes dns_localhost, tcp_db_5432" in single.doc_md
    )
    with_queues = heartbeat_dag(
        "hb_shape_q", "* * * * *", probes, queues=["default", "gpu large"], queue="ops"
    )
    assert sorted(with_queues.task_ids) == ["probes", "queue_default", "queue_gpu_large", "verdict"]
    assert with_queues.get_task("queue_gpu_large").queue == "gpu large"
    assert with_queues.get_task("probes").queue == "ops"
    # The verdict follows the probes only: it waits for queue reports until its deadline, so a dead queue
    # cannot keep it from running.
    verdict = with_queues.get_task("verdict")
    assert verdict.upstream_task_ids == {"probes"}
    assert verdict.report_task_ids == ["probes"]
    assert verdict.queue_task_ids == ["queue_default", "queue_gpu_large"]
    assert verdict.report_deadline == timedelta(seconds=48) * 0.8
    parallel = heartbeat_dag("hb_shape_par", "*/5 * * * *", probes, mode="parallel")
    assert sorted(parallel.task_ids) == ["probe_dns_localhost", "probe_tcp_db_5432", "verdict"]
    assert str(getattr(parallel.get_task("verdict").trigger_rule, "value", "")) == "all_done"


def ok_callable() -> bool:
    return True


def test_single_mode_healthy_run_publishes_metrics(aws, http_server, silent_port):
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket="hb-dag-bucket")
    probes = [
        DnsProbe(hostname="localhost"),
        TcpProbe(host="127.0.0.1", port=silent_port, name="tcp"),
        HttpProbe(url=f"{http_server.base}/status/200", name="http"),
        S3BucketProbe(bucket="hb-dag-bucket", aws_conn_id=None, region_name=REGION, name="s3"),
        CallableProbe(func=ok_callable),
    ]
    dag = heartbeat_dag("hb_single_ok", "* * * * *", probes, metrics=METRICS)
    dag_run = run_dag(dag)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    base = {"Environment": "ci", "DAG": "hb_single_ok"}
    assert only_value("Test/HeartbeatDag", "Heartbeat", base) == 1.0
    for probe in probes:
        assert only_value("Test/HeartbeatDag", "ProbeOk", {**base, "Probe": probe.name}) == 1.0
        assert only_value("Test/HeartbeatDag", "ProbeLatency", {**base, "Probe": probe.name}) >= 0
    for metric in ("ScheduleDelay", "PickupDelay"):
        assert (
            0
            <= only_value("Test/HeartbeatDag", metric, {**base, "Queue": "default", "Task": "heartbeat"})
            < 300
        )


def test_parallel_mode_failing_probe_fails_run_and_masks(aws, http_server, capfd, caplog):
    url = f"http://hb-user:hb-Pa55word@127.0.0.1:{http_server.port}/status/503"
    probes = [DnsProbe(hostname="localhost"), HttpProbe(url=url, name="api")]
    dag = heartbeat_dag(
        "hb_parallel_fail", "*/5 * * * *", probes, mode="parallel", queues=["default"], metrics=METRICS
    )
    dag_run = run_dag(dag)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    assert states(dag_run) == {
        "probe_dns_localhost": "success",
        "probe_api": "success",
        "queue_default": "success",
        "verdict": "failed",
    }
    base = {"Environment": "ci", "DAG": "hb_parallel_fail"}
    assert only_value("Test/HeartbeatDag", "Heartbeat", base) == 0.0
    assert only_value("Test/HeartbeatDag", "ProbeOk", {**base, "Probe": "api"}) == 0.0
    assert only_value("Test/HeartbeatDag", "ProbeOk", {**base, "Probe": "dns_localhost"}) == 1.0
    # Three tasks ran on the default queue (two probe tasks and the queue task): three series of one value.
    for task_id in ("probe_dns_localhost", "probe_api", "queue_default"):
        (delay,) = stats("Test/HeartbeatDag", "PickupDelay", {**base, "Queue": "default", "Task": task_id})
        assert delay["SampleCount"] == 1.0
    # Task logs reach stdout (Airflow 3.1+'s dag.test()) or Python logging (2.x, 3.0): read both.
    logs = "".join(capfd.readouterr()) + caplog.text
    assert "heartbeat FAILED, 1 problem(s): api: GET http://***@127.0.0.1" in logs
    assert "returned 503, expected [200]" in logs
    assert "hb-Pa55word" not in logs and "hb-user" not in logs


def test_example_dag_runs_against_local_aws():
    from airflow_provider_ecsops.testing.local_aws import local_aws

    with local_aws() as env:
        spec = importlib.util.spec_from_file_location(
            "ecsops_example_heartbeat", ROOT / "example_dags/heartbeat.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag_run = run_dag(module.dag)
        assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
        base = {"Environment": "demo", "DAG": "ecsops_heartbeat"}
        assert only_value("Airflow/Heartbeat", "Heartbeat", base) == 1.0
        for probe in (f"s3_{env.bucket}", f"ecs_{env.cluster}", "aws_identity", "python_imports"):
            assert only_value("Airflow/Heartbeat", "ProbeOk", {**base, "Probe": probe}) == 1.0
        assert module.HEARTBEAT_ALARM["Dimensions"] == [
            {"Name": "Environment", "Value": "demo"},
            {"Name": "DAG", "Value": "ecsops_heartbeat"},
        ]


def test_task_that_does_not_report_fails_the_heartbeat(aws, capfd, caplog):
    # A probe task that dies on the worker (simulated by its execute raising, as an OOM kill or a broken
    # worker image would end it) leaves no report: the verdict still runs (trigger rule all_done),
    # publishes Heartbeat 0 and fails naming the silent task.
    probes = [DnsProbe(hostname="localhost"), TcpProbe(host="127.0.0.1", port=1, name="tcp")]
    dag = heartbeat_dag("hb_silent_task", "*/5 * * * *", probes, mode="parallel", metrics=METRICS)

    def die(context):
        raise RuntimeError("worker lost")

    dag.get_task("probe_tcp").execute = die
    dag_run = run_dag(dag)
    assert states(dag_run) == {"probe_dns_localhost": "success", "probe_tcp": "failed", "verdict": "failed"}
    base = {"Environment": "ci", "DAG": "hb_silent_task"}
    assert only_value("Test/HeartbeatDag", "Heartbeat", base) == 0.0
    assert only_value("Test/HeartbeatDag", "ProbeOk", {**base, "Probe": "dns_localhost"}) == 1.0
    assert stats("Test/HeartbeatDag", "ProbeOk", {**base, "Probe": "tcp"}) == []
    logs = "".join(capfd.readouterr()) + caplog.text
    assert "heartbeat FAILED, 1 problem(s): probe_tcp: task did not report" in logs
