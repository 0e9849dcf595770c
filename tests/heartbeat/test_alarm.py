from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_ecsops.heartbeat.alarm import alarm_cloudformation, heartbeat_alarm
from airflow_provider_ecsops.heartbeat.metrics import HeartbeatMetrics
from tests.heartbeat.helpers import REGION

METRICS = HeartbeatMetrics(namespace="Test/Heartbeat", environment="prod")


def test_alarm_kwargs():
    kwargs = heartbeat_alarm(
        "hb", "*/5 * * * *", metrics=METRICS, alarm_actions=("arn:aws:sns:us-east-1:1:t",)
    )
    assert kwargs["Period"] == 300
    assert kwargs["TreatMissingData"] == "breaching"
    assert (kwargs["DatapointsToAlarm"], kwargs["EvaluationPeriods"]) == (2, 3)
    assert (kwargs["Statistic"], kwargs["ComparisonOperator"], kwargs["Threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        1.0,
    )
    assert kwargs["Dimensions"] == METRICS.base_dimensions("hb")
    assert kwargs["ActionsEnabled"] is True


def test_period_rounds_up_to_minutes():
    assert heartbeat_alarm("hb", timedelta(seconds=90))["Period"] == 120


def test_alarm_created_in_cloudwatch(aws):
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(**heartbeat_alarm("hb", timedelta(minutes=1), metrics=METRICS))
    (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    assert alarm["AlarmName"] == "Test/Heartbeat hb heartbeat"
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Dimensions"] == [{"Name": "Environment", "Value": "prod"}, {"Name": "DAG", "Value": "hb"}]


def test_cloudformation_snippet():
    kwargs = heartbeat_alarm("hb", "@hourly", metrics=METRICS)
    template = json.loads(alarm_cloudformation(kwargs))
    resource = template["Resources"]["HeartbeatAlarm"]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    assert resource["Properties"]["Period"] == 3600
    assert resource["Properties"]["TreatMissingData"] == "breaching"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"period": 60},
            r"^heartbeat_alarm: period=60: not a multiple of 60 of at least the schedule interval \(300s\);"
            r" .*\. Fix: period=300$",
        ),
        ({"period": 330}, r"^heartbeat_alarm: period=330: not a multiple of 60 .*\. Fix: period=300$"),
        (
            {"datapoints_to_alarm": 4},
            r"^heartbeat_alarm: datapoints_to_alarm=4: outside 1\.\.evaluation_periods \(3\)\. "
            r"Fix: datapoints_to_alarm=3$",
        ),
        (
            {"datapoints_to_alarm": 0},
            r"^heartbeat_alarm: datapoints_to_alarm=0: .*\. Fix: datapoints_to_alarm=1$",
        ),
    ],
)
def test_alarm_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        heartbeat_alarm("hb", "*/5 * * * *", **kwargs)


def test_documented_one_liner_creates_the_alarm(closed_port):
    # The exact command from docs/heartbeat.md, in a fresh interpreter, against a moto server.
    import boto3
    from moto.server import ThreadedMotoServer

    doc = (Path(__file__).resolve().parents[2] / "docs" / "heartbeat.md").read_text()
    (command,) = re.findall(r"^python -c \"(.+)\"$", doc, flags=re.MULTILINE)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=closed_port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{closed_port}"
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "eu-west-1"}
        out = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        alarms = boto3.client("cloudwatch", region_name="eu-west-1", endpoint_url=endpoint).describe_alarms()
    finally:
        server.stop()
    (alarm,) = alarms["MetricAlarms"]
    assert alarm["AlarmName"] == "Airflow/Heartbeat heartbeat heartbeat"
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:oncall"]
