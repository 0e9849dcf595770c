"""The ops kit derived from a built heartbeat DAG: IAM policy, series and cost, dashboard, delay alarms."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_ecsops.heartbeat import (
    AwsIdentityProbe,
    DnsProbe,
    EcsClusterProbe,
    HeartbeatMetrics,
    S3BucketProbe,
    heartbeat_dag,
)
from airflow_provider_ecsops.heartbeat.alarm import delay_alarm
from airflow_provider_ecsops.heartbeat.ops_kit import dashboard, iam_policy, metric_series, monthly_cost
from airflow_provider_ecsops.testing.dag_runs import run_dag
from tests.heartbeat.helpers import REGION

ROOT = Path(__file__).resolve().parents[2]
METRICS = HeartbeatMetrics(namespace="Test/OpsKit", environment="ci", aws_conn_id=None, region_name=REGION)


def aws_probe_dag(**kwargs):
    probes = [
        AwsIdentityProbe(),
        S3BucketProbe(bucket="BUCKET"),
        S3BucketProbe(bucket="other-bucket"),
        EcsClusterProbe(cluster="CLUSTER"),
        DnsProbe(hostname="localhost"),
    ]
    return heartbeat_dag("hb_ops", "* * * * *", probes, queues=["default", "gpu"], metrics=METRICS, **kwargs)


def test_the_policy_holds_one_statement_per_probe_kind_scoped_to_the_probes_resources():
    policy = iam_policy(aws_probe_dag(), region="eu-west-1", account="123456789012")
    assert {s["Sid"]: s["Resource"] for s in policy["Statement"]} == {
        "PublishHeartbeatMetrics": "*",
        "AwsIdentityProbe": "*",
        "S3BucketProbe": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::other-bucket"],
        "EcsClusterProbe": "arn:aws:ecs:eu-west-1:123456789012:cluster/CLUSTER",
    }
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Test/OpsKit"}}


def test_the_policy_of_a_dag_with_every_aws_probe_lists_exactly_the_actions_the_code_calls():
    from tests.test_docs import _called_actions

    policy = iam_policy(aws_probe_dag())
    assert {s["Action"] for s in policy["Statement"]} == set(_called_actions("heartbeat"))


def test_a_dag_without_aws_probes_or_api_calls_needs_no_statement():
    dag = heartbeat_dag(
        "hb_emf",
        "* * * * *",
        [DnsProbe(hostname="localhost")],
        metrics=HeartbeatMetrics(put_metric_data=False),
    )
    assert iam_policy(dag)["Statement"] == []


def test_the_docs_policy_is_the_generated_one():
    text = (ROOT / "docs" / "heartbeat.md").read_text()
    (body,) = [b for b in re.findall(r"```json\n(.*?)```", text, re.S) if '"Statement"' in b]
    dag = heartbeat_dag(
        "hb_doc",
        "* * * * *",
        [AwsIdentityProbe(), S3BucketProbe(bucket="BUCKET"), EcsClusterProbe(cluster="CLUSTER")],
    )
    assert json.loads(body) == iam_policy(dag, region="REGION", account="ACCOUNT")


def test_eight_probes_on_three_queues_cost_what_the_docs_say():
    probes = [DnsProbe(hostname=f"h{i}.example") for i in range(8)]
    dag = heartbeat_dag("hb_cost", "* * * * *", probes, queues=["a", "b", "c"])
    cost = monthly_cost(dag, "* * * * *")
    # Heartbeat + 8 x (ProbeOk, ProbeLatency) + 4 tasks (probes, 3 queues) x (ScheduleDelay, PickupDelay).
    assert cost == {"metrics": 25, "put_metric_data_requests": 43800, "usd": 7.94}
    assert "25 custom metrics" in (ROOT / "docs" / "heartbeat.md").read_text()


def test_the_series_the_dashboard_draws_are_the_ones_a_run_publishes(aws):
    import boto3

    dag = heartbeat_dag(
        "hb_dash", "* * * * *", [DnsProbe(hostname="localhost")], queues=["default"], metrics=METRICS
    )
    dag_run = run_dag(dag)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    published = {
        (m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
        for m in cloudwatch.list_metrics(Namespace="Test/OpsKit")["Metrics"]
    }
    body = json.loads(dashboard(dag, region=REGION))
    drawn = set()
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            namespace, name, *pairs, _options = line
            assert namespace == "Test/OpsKit"
            drawn.add((name, tuple(zip(pairs[::2], pairs[1::2], strict=True))))
    assert drawn == published and len(drawn) == len(metric_series(dag)) == 7
    cloudwatch.put_dashboard(DashboardName="hb_dash", DashboardBody=dashboard(dag, region=REGION))
    assert cloudwatch.list_dashboards()["DashboardEntries"][0]["DashboardName"] == "hb_dash"


def test_a_delay_alarm_watches_one_tasks_series(aws):
    import boto3

    kwargs = delay_alarm(
        "hb_ops", "* * * * *", task_id="queue_gpu", queue="gpu", threshold_seconds=20, metrics=METRICS
    )
    assert (kwargs["Statistic"], kwargs["ComparisonOperator"], kwargs["TreatMissingData"]) == (
        "Maximum",
        "GreaterThanThreshold",
        "missing",
    )
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(**kwargs)
    (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    assert alarm["Dimensions"][-2:] == [
        {"Name": "Queue", "Value": "gpu"},
        {"Name": "Task", "Value": "queue_gpu"},
    ]
    assert alarm["MetricName"] == "PickupDelay" and alarm["Threshold"] == 20.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"metric": "Heartbeat"},
            "delay_alarm: metric='Heartbeat': not a heartbeat delay. Fix: metric='PickupDelay' or 'ScheduleDelay'",
        ),
        ({"period": 30}, "delay_alarm: period=30: not a multiple of 60"),
    ],
)
def test_delay_alarm_errors_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        delay_alarm("hb", timedelta(minutes=1), task_id="t", queue="q", threshold_seconds=1, **kwargs)
