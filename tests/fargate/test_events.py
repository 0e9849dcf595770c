"""Event-driven waiting: ECS Task State Change events through moto's EventBridge rule and SQS queue."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_ecsops.fargate.events import TaskEventConsumer
from airflow_provider_ecsops.testing.fargate_double import TaskScript, route_task_events
from airflow_provider_ecsops.testing.local_aws import local_aws
from tests.fargate.test_trigger import first_event, trigger_for

CHILD = Path(__file__).with_name("event_consumer_child.py")


def line_of(child: subprocess.Popen, prefix: str) -> str:
    """The child's next stdout line starting with ``prefix`` (Airflow may log to stdout before it)."""
    for line in child.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the child exited ({child.wait()}) without a line starting {prefix!r}")


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setattr(TaskEventConsumer, "wait_seconds", 1)
    monkeypatch.setattr(TaskEventConsumer, "retry_base", 0.05)


def test_deferred_tasks_complete_from_events_with_describe_tasks_only_at_start(aws, short_waits):
    queue = route_task_events(aws.region)
    aws.fargate.default_script = TaskScript(running=1.0, exit_codes={"etl": 3})
    arns = aws.run_tasks(30, operator_started=True)

    async def events():
        return await asyncio.gather(
            *(first_event(trigger_for(aws, arn, poll_interval=0.3, events_queue_url=queue)) for arn in arns)
        )

    with aws.fargate.emitting_events():
        results = asyncio.run(events())
    assert [e["status"] for e in results] == ["stopped"] * 30
    assert {e["task"]["containers"][0]["exitCode"] for e in results} == {
        3
    }  # the event's detail, as described
    # One batched DescribeTasks at the start; the 300 s safety net never came: the events resolved every task.
    assert aws.fargate.calls["DescribeTasks"] == 1
    assert all(e["task"]["lastStatus"] == "STOPPED" for e in results)


def test_a_task_stopped_before_its_trigger_started_is_found_by_the_start_check(aws, short_waits):
    queue = route_task_events(aws.region)
    aws.fargate.default_script = TaskScript(running=0.1)
    (arn,) = aws.run_tasks(1, operator_started=True)
    with aws.fargate.emitting_events():
        time.sleep(0.6)  # stopped, and its event queued, before anyone watches it
    assert aws.fargate.status(arn)["lastStatus"] == "STOPPED"
    event = asyncio.run(first_event(trigger_for(aws, arn, poll_interval=0.3, events_queue_url=queue)))
    assert event["status"] == "stopped"
    assert aws.fargate.calls["DescribeTasks"] == 1


def test_two_triggerer_processes_on_one_queue_each_see_their_own_tasks_stop():
    with local_aws(server=True) as env:
        queue = route_task_events(env.region)
        env.fargate.default_script = TaskScript(running=1.0)
        arns = env.run_tasks(20, operator_started=True)
        env.fargate.emit_due_events()  # the PROVISIONING events: the rule must keep them out of the queue
        children = [
            subprocess.Popen(
                [sys.executable, str(CHILD), queue, env.region, *half],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            )
            for half in (arns[0::2], arns[1::2])
        ]
        try:
            for child in children:
                line_of(child, "ready")
            time.sleep(1.5)  # both consume before anything stops
            with env.fargate.emitting_events():
                outputs = [json.loads(line_of(child, '{"stopped"')) for child in children]
        finally:
            for child in children:
                child.kill()
                child.wait()
    for output, half in zip(outputs, (arns[0::2], arns[1::2]), strict=True):
        assert output["stopped"] == dict.fromkeys(half, 0)
    # Some events first reached the triggerer that does not watch their task, which handed them on (the halves
    # interleave: moto returns messages in the order sent, so contiguous halves could each land at their owner).
    assert sum(output["released"] for output in outputs) > 0


def test_an_event_eventbridge_refuses_is_sent_again_at_the_next_emission(aws, monkeypatch):
    """The double as ECS: an entry PutEvents answers with an ``ErrorCode`` (``FailedEntryCount``) is not lost."""
    from airflow_provider_ecsops.testing import fargate_double

    queue = route_task_events(aws.region)
    aws.fargate.default_script = TaskScript(running=0.0)
    (arn,) = aws.run_tasks(1, operator_started=True)
    aws.fargate.emit_due_events()  # PROVISIONING, kept out of the queue by the rule
    time.sleep(0.3)  # stopped now
    real = fargate_double._moto_client
    refusals = [{"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}]
    refused: list[dict] = []

    class Refusing:
        def __init__(self, client):
            self.client = client

        def put_events(self, **kwargs):
            if refusals:
                refused.extend(json.loads(e["Detail"]) for e in kwargs["Entries"])
                return refusals.pop()
            return self.client.put_events(**kwargs)

    monkeypatch.setattr(
        fargate_double, "_moto_client", lambda service, region: Refusing(real(service, region))
    )
    assert aws.fargate.emit_due_events() == 0, "refused: not counted as sent"
    assert aws.fargate.emit_due_events() == 1, "sent again"
    assert aws.fargate.emit_due_events() == 0, "once sent, not again"
    sqs = real("sqs", aws.region)
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
    ]
    assert [(b["resources"], b["detail"]["lastStatus"]) for b in bodies] == [([arn], "STOPPED")]
    # The same event again: ECS's duplicates carry the same detail version (ecs_cwe_events.html).
    assert [b["detail"]["version"] for b in bodies] == [d["version"] for d in refused]
