from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from airflow_provider_ecsops.heartbeat.probes import ProbeResult
from airflow_provider_ecsops.heartbeat.verdict import decide, failure_summary
from tests.heartbeat.helpers import REGION

METRICS = HeartbeatMetrics(namespace="Test/Verdict", aws_conn_id=None, region_name=REGION)


def test_summary_names_each_failure():
    results = [
        ProbeResult("s3", True, 1.0),
        ProbeResult("db", False, 2.0, "timed out after 2s"),
        ProbeResult("api", False, 3.0, "GET https://***@api/x returned 500, expected [200]"),
    ]
    assert failure_summary(results, ["queue_gpu"]) == (
        "heartbeat FAILED, 3 problem(s): db: timed out after 2s; "
        "api: GET https://***@api/x returned 500, expected [200]; "
        "queue_gpu: task did not report (failed, timed out or never ran)"
    )
    assert failure_summary(results[:1], []) is None


def test_failed_verdict_publishes_zero_then_fails(aws):
    import boto3

    from airflow_provider_ecsops.compat import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"heartbeat FAILED, 1 problem\(s\): db: refused"):
        decide(METRICS, "hb", [ProbeResult("db", False, 1.0, "refused")], [])
    now = datetime.now(UTC)
    points = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace="Test/Verdict",
        MetricName="Heartbeat",
        Dimensions=[{"Name": "DAG", "Value": "hb"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [0.0]


def test_emf_only_makes_no_call(caplog):
    metrics = HeartbeatMetrics(namespace="Test/Verdict", put_metric_data=False, emf=True)
    with caplog.at_level("INFO", logger="airflow_provider_ecsops.heartbeat.emf"):
        report = decide(metrics, "hb", [ProbeResult("db", True, 1.0)], [])
    assert report["put_metric_data_calls"] == 0
    emf = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_ecsops.heartbeat.emf"]
    assert len(emf) == 2 and '"Heartbeat":1.0' in emf[0]
