"""The trigger and its shared poller: batching, resilience, deadline and kill handling."""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

from airflow_provider_ecsops.fargate.poller import TaskPoller
from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger
from airflow_provider_ecsops.testing.fargate_double import TaskScript


def trigger_for(aws, arn: str, **kwargs) -> FargateTaskTrigger:
    args = {
        "cluster": aws.cluster,
        "task_arn": arn,
        "aws_conn_id": None,
        "region_name": aws.region,
        "poll_interval": 0.05,
        "stop_reason": "etl.offload run manual__1",
        "resume": {"container": "etl"},
    }
    return FargateTaskTrigger(**{**args, **kwargs})


async def first_event(trigger):
    async for event in trigger.run():
        return event.payload


def test_serialize_round_trip():
    trigger = FargateTaskTrigger(
        "c", "arn:t", "aws_default", "eu-west-1", 6.0, 1700000000.0, False, "d.t", {"a": 1}
    )
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (path, kwargs)
    import json

    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON only


def test_many_triggers_share_one_batched_poller(aws):
    aws.fargate.default_script = TaskScript(running=0.3)
    arns = aws.run_tasks(250)

    async def all_events():
        return await asyncio.gather(*(first_event(trigger_for(aws, arn)) for arn in arns))

    started = time.monotonic()
    events = asyncio.run(all_events())
    elapsed = time.monotonic() - started
    assert [e["status"] for e in events] == ["stopped"] * 250
    assert {e["task"]["taskArn"] for e in events} == set(arns)
    assert all(e["resume"] == {"container": "etl"} for e in events)
    calls = aws.fargate.calls["DescribeTasks"]
    polls = elapsed / 0.05 + 2
    assert calls <= 3 * polls, (calls, polls)  # ceil(250 / 100) calls per poll, never one per trigger
    requests = aws.fargate.requests_of("DescribeTasks")
    assert max(len(r["tasks"]) for r in requests) == 100


def test_throttling_and_server_errors_never_fail_the_wait_or_stop_the_task(aws):
    aws.fargate.default_script = TaskScript(running=0.3)
    (arn,) = aws.run_tasks(1)
    aws.fargate.fail("DescribeTasks", "ThrottlingException", times=5)
    aws.fargate.fail("DescribeTasks", "InternalFailure", times=1, status=500)
    aws.fargate.fail("DescribeTasks", "connection", times=1)
    event = asyncio.run(first_event(trigger_for(aws, arn)))
    assert event["status"] == "stopped"
    assert event["task"]["containers"][0]["exitCode"] == 0
    assert aws.fargate.calls["StopTask"] == 0


def test_permanent_error_is_an_error_event_not_an_exception(aws):
    (arn,) = aws.run_tasks(1)
    aws.fargate.fail("DescribeTasks", "AccessDeniedException", times=1)
    event = asyncio.run(first_event(trigger_for(aws, arn)))
    assert event["status"] == "error"
    assert "AccessDeniedException" in event["message"]
    assert aws.fargate.calls["StopTask"] == 0


def test_unknown_task_is_an_error_event(aws):
    event = asyncio.run(
        first_event(trigger_for(aws, f"arn:aws:ecs:us-east-1:123456789012:task/{aws.cluster}/gone"))
    )
    assert event["status"] == "error" and "MISSING" in event["message"]


def test_deadline_stops_the_container_and_reports_timeout(aws):
    aws.fargate.default_script = TaskScript(running=None)
    (arn,) = aws.run_tasks(1)
    event = asyncio.run(first_event(trigger_for(aws, arn, deadline=time.time() + 0.3)))
    assert event == {
        "status": "timeout",
        "task_arn": arn,
        "stopped": True,
        "resume": {"container": "etl"},
        "logs": None,
    }
    (stop,) = aws.fargate.requests_of("StopTask")
    assert stop["reason"] == "Airflow etl.offload run manual__1: execution_timeout reached"
    assert aws.fargate.status(arn)["desiredStatus"] == "STOPPED"  # stopping, then STOPPED, as ECS does


def test_on_kill_stops_the_container(aws):
    aws.fargate.default_script = TaskScript(running=None)
    (arn,) = aws.run_tasks(1)
    asyncio.run(trigger_for(aws, arn).on_kill())
    assert (
        aws.fargate.status(arn)["stoppedReason"]
        == "Airflow etl.offload run manual__1: task instance was killed"
    )
    aws.fargate.requests.clear()
    asyncio.run(trigger_for(aws, arn, stop_on_kill=False).on_kill())
    assert aws.fargate.requests_of("StopTask") == []


@pytest.mark.parametrize(
    ("cancel_message", "left_deferred", "stopped"),
    [
        (None, True, True),  # Airflow < 3.3: task instance killed, trigger cancelled
        (None, False, False),  # triggerer shutting down: the task instance is still deferred
        ("__airflow_user_action__", True, False),  # Airflow 3.3+: on_kill() does the stopping
    ],
)
def test_cancellation_stops_only_when_the_task_instance_was_killed(
    aws, cancel_message, left_deferred, stopped
):
    aws.fargate.default_script = TaskScript(running=None)
    (arn,) = aws.run_tasks(1)
    trigger = trigger_for(aws, arn)

    async def left():
        return left_deferred

    trigger._left_deferred_state = left

    async def run_then_cancel():
        task = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.2)
        task.cancel(cancel_message)
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_then_cancel())
    assert len(aws.fargate.requests_of("StopTask")) == (1 if stopped else 0)


def test_poller_is_per_cluster_and_event_loop(aws):
    async def pollers():
        from airflow_provider_ecsops.fargate.poller import PollerKey

        a = TaskPoller.get(PollerKey("c1", "us-east-1", None))
        b = TaskPoller.get(PollerKey("c1", "us-east-1", None))
        c = TaskPoller.get(PollerKey("c2", "us-east-1", None))
        return a, b, c

    a, b, c = asyncio.run(pollers())
    assert a is b and a is not c
