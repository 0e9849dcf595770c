"""The Fargate double over HTTP: another process's boto3 sees the double's ECS and moto's everything else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_ecsops.testing.ecs_front import EcsFront
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import local_aws

CHILD = """
import json, sys, time, boto3
ecs, logs = boto3.client("ecs"), boto3.client("logs")
env = json.loads(sys.argv[1])
arn = ecs.run_task(
    cluster=env["ECSOPS_DEMO_CLUSTER"], taskDefinition=env["ECSOPS_DEMO_TASK_DEFINITION"], launchType="FARGATE",
    networkConfiguration={"awsvpcConfiguration": {"subnets": env["ECSOPS_DEMO_SUBNETS"].split(",")}},
)["tasks"][0]["taskArn"]
while (task := ecs.describe_tasks(cluster=env["ECSOPS_DEMO_CLUSTER"], tasks=[arn])["tasks"][0])["lastStatus"] != "STOPPED":
    time.sleep(0.05)
stream = "ecsops-demo-etl/etl/" + arn.rsplit("/", 1)[-1]
lines = [e["message"] for e in logs.get_log_events(logGroupName=env["ECSOPS_DEMO_LOG_GROUP"], logStreamName=stream)["events"]]
try:
    ecs.stop_task(cluster=env["ECSOPS_DEMO_CLUSTER"], task="no-such-task")
    error = None
except ecs.exceptions.InvalidParameterException as exc:
    error = exc.response["Error"]["Code"]
print(json.dumps({"arn": arn, "exit": task["containers"][0]["exitCode"], "lines": lines, "error": error}))
"""


def test_another_process_runs_a_task_reads_its_logs_and_gets_errors_through_the_front():
    with local_aws(server=True) as aws, EcsFront(aws.fargate, os.environ["AWS_ENDPOINT_URL"]) as front:
        aws.fargate.default_script = TaskScript(running=0.2, exit_codes={"etl": 3}, log_lines=["a", "b"])
        child = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(aws.environ())],
            env={**os.environ, "AWS_ENDPOINT_URL": front.url},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        seen = json.loads(child.stdout.strip().splitlines()[-1])
        assert aws.fargate.task_arns() == [seen["arn"]]  # the double, not moto, ran it
    assert seen["exit"] == 3 and seen["lines"] == ["a", "b"] and seen["error"] == "InvalidParameterException"
