"""The metric payload, batched within PutMetricData's limits and read back from moto CloudWatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_ecsops.heartbeat.metrics import (
    MAX_DATA_PER_CALL,
    MAX_REQUEST_BYTES,
    HeartbeatMetrics,
    batch_metric_data,
    build_metric_data,
    emf_lines,
    put_metric_data,
)
from airflow_provider_ecsops.heartbeat.probes import ProbeResult
from airflow_provider_ecsops.heartbeat.timing import TaskTiming
from tests.heartbeat.helpers import REGION

NOW = datetime.now(UTC).replace(microsecond=0)
RESULTS = [ProbeResult("s3", True, 12.5), ProbeResult("db", False, 2000.0, "timed out after 2s")]
TIMINGS = [
    TaskTiming("probes", "default", "ti.start_date", 1.5, "dag_run.run_after", 0.75, "dag_run.start_date"),
    TaskTiming(
        "queue_default", "default", "ti.start_date", 2.5, "dag_run.run_after", 1.25, "dag_run.start_date"
    ),
    TaskTiming("queue_gpu", "gpu", "ti.start_date", 4.0, "dag_run.run_after", 3.0, "dag_run.start_date"),
]
METRICS = HeartbeatMetrics(
    namespace="Test/Heartbeat",
    environment="prod",
    dimensions={"Cluster": "c1"},
    aws_conn_id=None,
    region_name=REGION,
)


def dims(**pairs):
    return [
        {"Name": "Environment", "Value": "prod"},
        {"Name": "DAG", "Value": "hb"},
        {"Name": "Cluster", "Value": "c1"},
    ] + [{"Name": k, "Value": v} for k, v in pairs.items()]


def test_each_task_delay_is_its_own_series_with_mwaa_names_and_count_units():
    data = build_metric_data(METRICS, "hb", False, RESULTS, TIMINGS, NOW)
    table = [(d["MetricName"], d["Value"], d["Unit"], d["Dimensions"]) for d in data]
    assert table == [
        ("Heartbeat", 0.0, "Count", dims()),
        ("ProbeOk", 1.0, "Count", dims(Probe="s3")),
        ("ProbeLatency", 12.5, "Milliseconds", dims(Probe="s3")),
        ("ProbeOk", 0.0, "Count", dims(Probe="db")),
        ("ProbeLatency", 2000.0, "Milliseconds", dims(Probe="db")),
        ("ScheduleDelay", 1.5, "Seconds", dims(Queue="default", Task="probes")),
        ("PickupDelay", 0.75, "Seconds", dims(Queue="default", Task="probes")),
        ("ScheduleDelay", 2.5, "Seconds", dims(Queue="default", Task="queue_default")),
        ("PickupDelay", 1.25, "Seconds", dims(Queue="default", Task="queue_default")),
        ("ScheduleDelay", 4.0, "Seconds", dims(Queue="gpu", Task="queue_gpu")),
        ("PickupDelay", 3.0, "Seconds", dims(Queue="gpu", Task="queue_gpu")),
    ]
    series = [(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"])) for d in data]
    assert len(series) == len(set(series)), "two values share one series"


def test_batches_respect_count_and_size_limits():
    small = [{"MetricName": "M", "Value": 1.0, "Dimensions": []}] * 2500
    assert [len(b) for b in batch_metric_data(small)] == [1000, 1000, 500]
    fat_dims = [{"Name": f"D{i}", "Value": "v" * 250} for i in range(30)]
    fat = [{"MetricName": "M", "Value": 1.0, "Dimensions": fat_dims}] * 200
    batches = batch_metric_data(fat)
    assert len(batches) > 1 and sum(map(len, batches)) == 200
    # Measure the real request body botocore's query serializer (the most verbose protocol) builds.
    import botocore.serialize
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricData")
    serializer = botocore.serialize.create_serializer("query")
    for batch in batches:
        assert len(batch) <= MAX_DATA_PER_CALL
        body = serializer.serialize_to_request({"Namespace": "N", "MetricData": batch}, model)["body"]
        assert len(str(body).encode()) < MAX_REQUEST_BYTES


def test_put_metric_data_reads_back_from_cloudwatch(aws):
    import boto3

    data = build_metric_data(METRICS, "hb", False, RESULTS, TIMINGS, NOW)
    assert put_metric_data(METRICS, data) == 1
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    listed = cloudwatch.list_metrics(Namespace="Test/Heartbeat")["Metrics"]
    assert {(m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in listed} == {
        (d["MetricName"], tuple(x["Value"] for x in d["Dimensions"])) for d in data
    }

    def stat(name, **extra):
        points = cloudwatch.get_metric_statistics(
            Namespace="Test/Heartbeat",
            MetricName=name,
            Dimensions=dims(**extra),
            StartTime=NOW - timedelta(minutes=5),
            EndTime=NOW + timedelta(minutes=5),
            Period=60,
            Statistics=["Minimum", "SampleCount"],
        )["Datapoints"]
        assert len(points) == 1
        return points[0]["Minimum"]

    assert stat("Heartbeat") == 0.0
    assert stat("ProbeOk", Probe="db") == 0.0
    assert stat("ProbeLatency", Probe="s3") == 12.5
    assert stat("PickupDelay", Queue="gpu", Task="queue_gpu") == 3.0
    assert stat("PickupDelay", Queue="default", Task="probes") == 0.75
    assert stat("PickupDelay", Queue="default", Task="queue_default") == 1.25


def test_more_than_a_thousand_data_take_two_calls(aws):
    import boto3

    # Only the Probe dimension: moto 5.0's query parser is quadratic in data x dimensions.
    metrics = HeartbeatMetrics(
        namespace="Test/Many", dag_dimension=False, aws_conn_id=None, region_name=REGION
    )
    results = [ProbeResult(f"p{i}", True, 1.0) for i in range(500)]  # 1 + 1000 data
    data = build_metric_data(metrics, "hb", True, results, [], NOW)
    assert put_metric_data(metrics, data) == 2
    paginator = boto3.client("cloudwatch", region_name=REGION).get_paginator("list_metrics")
    listed = {
        (m["MetricName"], tuple(d["Value"] for d in m["Dimensions"]))
        for page in paginator.paginate(Namespace="Test/Many")
        for m in page["Metrics"]
    }
    assert len(listed) == 1001


def test_emf_writes_one_document_per_series_group_with_one_value_per_metric():
    data = build_metric_data(METRICS, "hb", True, RESULTS[:1], TIMINGS[:2], NOW)
    docs = [json.loads(line) for line in emf_lines("Test/Heartbeat", data)]
    assert [d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for d in docs] == [
        [["Environment", "DAG", "Cluster"]],
        [["Environment", "DAG", "Cluster", "Probe"]],
        [["Environment", "DAG", "Cluster", "Queue", "Task"]],
        [["Environment", "DAG", "Cluster", "Queue", "Task"]],
    ]
    assert docs[0]["Heartbeat"] == 1.0 and docs[0]["Environment"] == "prod"
    assert docs[1]["ProbeLatency"] == 12.5 and docs[1]["Probe"] == "s3"
    assert (docs[2]["Task"], docs[2]["ScheduleDelay"]) == ("probes", 1.5)
    assert (docs[3]["Task"], docs[3]["ScheduleDelay"]) == ("queue_default", 2.5)
    assert [m["Name"] for m in docs[2]["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "ScheduleDelay",
        "PickupDelay",
    ]
    assert docs[0]["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"namespace": "AWS/EC2"}, "must be set and not start with 'AWS/'"),
        ({"dimensions": {"Probe": "x"}}, r"dimensions \['Probe'\] are set by the heartbeat"),
        ({"dimensions": {"Task": "x"}}, r"dimensions \['Task'\] are set by the heartbeat"),
    ],
)
def test_metrics_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HeartbeatMetrics(**kwargs)
