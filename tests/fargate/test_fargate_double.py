"""The Fargate double models ECS's documented awkward parts, through real botocore clients."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import ClientError

from airflow_provider_ecsops.testing.fargate_double import STOPPING_STATES, TaskScript
from airflow_provider_ecsops.testing.local_aws import FAMILY


def run_task(aws, ecs, **extra):
    response = ecs.run_task(
        cluster=aws.cluster,
        taskDefinition=aws.task_definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": aws.subnets}},
        **extra,
    )
    return response["tasks"][0]["taskArn"]


@pytest.fixture
def ecs(aws):
    return boto3.client("ecs", region_name=aws.region)


def test_a_finished_task_passes_the_stopping_states_with_desired_status_stopped(aws, ecs):
    aws.fargate.script(TaskScript(running=0.05, stopping=0.6, exit_codes={"etl": 3}))
    arn = run_task(aws, ecs)
    seen = []
    deadline = time.monotonic() + 10
    while not seen or seen[-1][0] != "STOPPED":
        assert time.monotonic() < deadline
        task = ecs.describe_tasks(cluster=aws.cluster, tasks=[arn])["tasks"][0]
        if task["lastStatus"] in (*STOPPING_STATES, "STOPPED") and task["lastStatus"] not in [
            s for s, _ in seen
        ]:
            seen.append((task["lastStatus"], task))
        time.sleep(0.02)
    assert [s for s, _ in seen] == [*STOPPING_STATES, "STOPPED"]
    for status, task in seen:
        assert task["desiredStatus"] == "STOPPED"
        assert task["containers"][0]["exitCode"] == 3
        assert ("stoppedAt" in task) == (status == "STOPPED")
    stopped = seen[-1][1]
    assert 0.5 <= (stopped["stoppedAt"] - stopped["executionStoppedAt"]).total_seconds() <= 0.7


def test_describe_tasks_answers_missing_right_after_run_task(aws, ecs):
    aws.fargate.script(TaskScript(invisible=2))
    arn = run_task(aws, ecs)
    assert ecs.list_tasks(cluster=aws.cluster)["taskArns"] == []
    for _ in range(2):
        missing = ecs.describe_tasks(cluster=aws.cluster, tasks=[arn])["failures"]
        assert missing == [{"arn": arn, "reason": "MISSING"}]
    assert ecs.describe_tasks(cluster=aws.cluster, tasks=[arn])["tasks"][0]["taskArn"] == arn


def test_stopped_tasks_are_listed_for_an_hour_and_their_token_kept_for_a_day(aws, ecs):
    aws.fargate.script(TaskScript(provisioning=0.01, pending=0.01, running=0.01, stopping=0.01))
    arn = run_task(aws, ecs, clientToken="t-1")
    time.sleep(0.2)  # past its 0.04 s from RunTask to STOPPED
    assert ecs.list_tasks(cluster=aws.cluster, desiredStatus="STOPPED")["taskArns"] == [arn]
    aws.fargate.advance(3601)
    assert ecs.list_tasks(cluster=aws.cluster, desiredStatus="STOPPED")["taskArns"] == []
    assert ecs.describe_tasks(cluster=aws.cluster, tasks=[arn])["failures"][0]["reason"] == "MISSING"
    assert run_task(aws, ecs, clientToken="t-1") == arn  # the token still names the old task
    aws.fargate.advance(24 * 3600)
    assert run_task(aws, ecs, clientToken="t-1") != arn


def test_a_reused_client_token_with_other_parameters_is_a_conflict(aws, ecs):
    arn = run_task(aws, ecs, clientToken="t-1", startedBy="a")
    assert run_task(aws, ecs, clientToken="t-1", startedBy="a") == arn
    with pytest.raises(ClientError) as err:
        run_task(aws, ecs, clientToken="t-1", startedBy="b")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["resourceIds"] == [arn]


def test_list_tasks_takes_started_by_only_alone_and_lists_desired_running_by_default(aws, ecs):
    aws.fargate.script(TaskScript(running=None), TaskScript(running=0.01, stopping=5))
    running, stopping = run_task(aws, ecs, startedBy="k"), run_task(aws, ecs, startedBy="k")
    time.sleep(0.2)
    assert ecs.list_tasks(cluster=aws.cluster, startedBy="k")["taskArns"] == [running]
    with pytest.raises(ClientError, match="startedBy must be the only filter"):
        ecs.list_tasks(cluster=aws.cluster, startedBy="k", desiredStatus="STOPPED")
    assert ecs.list_tasks(cluster=aws.cluster, desiredStatus="STOPPED")["taskArns"] == [stopping]


def test_log_lines_reach_cloudwatch_after_the_delivery_lag(aws, ecs):
    logs = boto3.client("logs", region_name=aws.region)
    aws.fargate.log_lag = 3.0
    aws.fargate.script(TaskScript(running=0.01, stopping=0.01, log_lines=["one", "two"]))
    arn = run_task(aws, ecs)
    while ecs.describe_tasks(cluster=aws.cluster, tasks=[arn])["tasks"][0]["lastStatus"] != "STOPPED":
        time.sleep(0.02)
    stream = f"{FAMILY}/etl/{arn.rsplit('/', 1)[-1]}"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        logs.get_log_events(logGroupName=aws.log_group, logStreamName=stream)
    time.sleep(3.0)
    events = logs.get_log_events(logGroupName=aws.log_group, logStreamName=stream)["events"]
    assert [e["message"] for e in events] == ["one", "two"]
