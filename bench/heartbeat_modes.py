"""
Heartbeat single vs parallel mode: time from run start to metric written, and PutMetricData calls per run.

Six probes (DNS, TCP, HTTP on loopback; STS, S3, ECS on moto) run under real ``dag.test()`` in both modes.
The baseline is parallel mode (one task per probe plus a verdict task, the field report's design); the ratio
printed is parallel / single. Run with any matrix venv:

    $(scripts/venv.sh af2)/bin/python bench/heartbeat_modes.py [--runs 3]

``AIRFLOW_HOME`` defaults to a fresh temporary one, migrated here. Figures under ``dag.test()`` show task
overhead without a scheduler loop; a real scheduler adds its loop time per task stage on top (more in parallel).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

from benchlib import OkHandler

REGION = "us-east-1"


def prepare_airflow_home() -> None:
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ecsops-bench-heartbeat-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ.setdefault(key, value)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


class PutMetricDataCounter:
    """Records every PutMetricData botocore sends (wall-clock time of the answered call)."""

    def __init__(self) -> None:
        self.calls: list[datetime] = []

    def __enter__(self) -> PutMetricDataCounter:
        from botocore.client import BaseClient

        self._original = original = BaseClient._make_api_call
        calls = self.calls

        def counting(client, operation_name, api_params):
            response = original(client, operation_name, api_params)
            if operation_name == "PutMetricData":
                calls.append(datetime.now(UTC))
            return response

        BaseClient._make_api_call = counting
        return self

    def __exit__(self, *exc) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original


def probes(http_port: int, tcp_port: int) -> list:
    from airflow_provider_ecsops.heartbeat import (
        AwsIdentityProbe,
        DnsProbe,
        EcsClusterProbe,
        HttpProbe,
        S3BucketProbe,
        TcpProbe,
    )

    aws = {"aws_conn_id": None, "region_name": REGION, "timeout": 10}
    return [
        DnsProbe(hostname="localhost", timeout=5),
        TcpProbe(host="127.0.0.1", port=tcp_port, name="tcp", timeout=5),
        HttpProbe(url=f"http://127.0.0.1:{http_port}/health", name="http", timeout=5),
        AwsIdentityProbe(**aws),
        S3BucketProbe(bucket="bench-bucket", name="s3", **aws),
        EcsClusterProbe(cluster="bench-cluster", name="ecs", **aws),
    ]


def measure(mode: str, runs: int, probe_list: list) -> list[tuple[float, float, int]]:
    """Per run: (run start -> last metric written s, dag.test() wall s, PutMetricData calls)."""
    from airflow_provider_ecsops.heartbeat import HeartbeatMetrics, heartbeat_dag
    from airflow_provider_ecsops.testing.dag_runs import run_dag

    metrics = HeartbeatMetrics(namespace="Bench/Heartbeat", aws_conn_id=None, region_name=REGION)
    dag = heartbeat_dag(f"bench_heartbeat_{mode}", "*/5 * * * *", probe_list, mode=mode, metrics=metrics)
    figures = []
    for _ in range(runs):
        with PutMetricDataCounter() as counter:
            wall = time.monotonic()
            dag_run = run_dag(dag)
            wall = time.monotonic() - wall
        state = str(getattr(dag_run.state, "value", dag_run.state))
        if state != "success" or not counter.calls:
            raise SystemExit(f"{mode} run ended {state} with {len(counter.calls)} PutMetricData calls")
        figures.append(((counter.calls[-1] - dag_run.start_date).total_seconds(), wall, len(counter.calls)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (default 3)")
    args = parser.parse_args()
    prepare_airflow_home()

    import logging

    logging.disable(logging.CRITICAL)  # dag.test() task logs would drown the table
    from moto import mock_aws

    http = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    # Airflow 3's task logs go to stdout through structlog; keep them out of the table.
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        import boto3

        boto3.client("s3", region_name=REGION).create_bucket(Bucket="bench-bucket")
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName="bench-cluster")
        probe_list = probes(http.server_address[1], http.server_address[1])
        measure("single", 1, probe_list)  # warm-up: imports, DB, first-parse costs
        results = {mode: measure(mode, args.runs, probe_list) for mode in ("single", "parallel")}
    http.shutdown()

    import airflow

    print(f"Airflow {airflow.__version__}, 6 probes, {args.runs} runs per mode under dag.test(), medians")
    print(f"{'':38}{'single':>10}{'parallel':>10}{'parallel/single':>17}")
    rows = [
        ("run start -> metric written (s)", 0),
        ("dag.test() wall time (s)", 1),
        ("PutMetricData calls per run", 2),
    ]
    for label, index in rows:
        single = statistics.median(r[index] for r in results["single"])
        parallel = statistics.median(r[index] for r in results["parallel"])
        print(f"{label:38}{single:>10.2f}{parallel:>10.2f}{parallel / single:>16.2f}x")
    print("tasks per run: single 1, parallel 7 (6 probe tasks + verdict)")


if __name__ == "__main__":
    main()
