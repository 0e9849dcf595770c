"""Deferrable mode's live logs: the trigger copies the container's lines into the task's log while it waits,
drains them past CloudWatch's delivery lag, and the worker continues at the trigger's forward token: every line
once, in order, and a log fault is a warning, never the verdict."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from airflow_provider_ecsops.compat import TaskDeferred
from airflow_provider_ecsops.fargate.logs import LogTail
from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator
from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from tests.fargate.test_ecs_edge_cases import wait_for

LINE = "[%s] %s"  # how a LogTail writes a container line


class _Recorder:
    """A tail's logger that also notes each container line it is given: (epoch seconds, who, line)."""

    def __init__(self, log, who: str, seen: list[tuple[float, str, str]]) -> None:
        self._log, self._who, self._seen = log, who, seen

    def info(self, msg, *args, **kwargs):
        if msg == LINE:
            self._seen.append((time.time(), self._who, args[1]))
        self._log.info(msg, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._log, name)


@pytest.fixture
def copied(monkeypatch) -> list[tuple[float, str, str]]:
    """Every container line copied into a log, by the trigger or by the worker, in the order copied."""
    seen: list[tuple[float, str, str]] = []

    def recording(cls, who):
        original = cls._log_tail

        async def trigger_tail(self, *args, **kwargs):
            tail = await original(self, *args, **kwargs)
            if tail is not None:
                tail.log = _Recorder(tail.log, who, seen)
            return tail

        def worker_tail(self, *args, **kwargs):
            tail = original(self, *args, **kwargs)
            if tail is not None:
                tail.log = _Recorder(tail.log, who, seen)
            return tail

        monkeypatch.setattr(cls, "_log_tail", trigger_tail if who == "trigger" else worker_tail)

    recording(FargateTaskTrigger, "trigger")
    recording(FargateOffloadOperator, "worker")
    return seen


def defer(op, context) -> dict:
    """Execute until the task defers and run its trigger to the first event; returns the event's payload."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload

    return asyncio.run(first_event())


def exited_at(aws, arn: str) -> float:
    return aws.fargate.status(arn)["executionStoppedAt"].timestamp()


def test_a_deferred_task_logs_its_container_lines_while_it_waits_and_the_worker_needs_no_read_after_the_drain(
    make_operator, context, aws, copied
):
    lines = [f"row {i}" for i in range(20)]
    aws.fargate.script(TaskScript(running=120.0, log_lines=lines))  # one line every 6 s until finished
    op = make_operator(deferrable=True, poll_interval=0.1)

    def finish_after_a_live_line():
        wait_for(lambda: any(who == "trigger" for _, who, _ in copied), timeout=100)
        aws.fargate.finish(op._task_arn)  # the workload ends only once a line reached the log while it ran

    finisher = threading.Thread(target=finish_after_a_live_line, daemon=True)
    finisher.start()
    event = defer(op, context)
    finisher.join()
    assert event["status"] == "stopped"
    before = [line for at, who, line in copied if who == "trigger" and at < exited_at(aws, op._task_arn)]
    assert before, "no line reached the log before the container stopped: the logs were not live"
    assert len(before) < len(lines)  # the rest came after the exit, in the trigger's drain
    assert event["logs"]["drained"] is True
    reads = len(aws.fargate.requests_of("GetLogEvents"))
    result = op.execute_complete(context, event)
    assert result["verdict"] == "success" and result["log_warning"] is None
    # The trigger read past the delivery lag: the worker neither reads the stream again nor builds a client.
    assert aws.fargate.requests_of("GetLogEvents")[reads:] == []
    assert [line for _, _, line in copied] == lines  # every line once, in order


def test_a_drain_throttled_in_the_trigger_is_finished_by_the_worker_with_a_warning_not_a_failure(
    make_operator, context, aws, copied, monkeypatch, caplog, capfd
):
    lines = [f"row {i}" for i in range(20)]
    aws.fargate.log_lag = 2.5  # CloudWatch delivers each line this long after the container wrote it
    monkeypatch.setattr(LogTail, "delivery_lag", 3.0)
    aws.fargate.script(TaskScript(running=4.0, log_lines=lines))
    original = FargateTaskTrigger._drain

    async def throttled_drain(tail, task):
        aws.fargate.fail("GetLogEvents", "ThrottlingException", times=10_000)
        await original(tail, task)

    monkeypatch.setattr(FargateTaskTrigger, "_drain", staticmethod(throttled_drain))
    op = make_operator(deferrable=True, poll_interval=0.1)
    with caplog.at_level("INFO"):
        event = defer(op, context)
        aws.fargate.heal("GetLogEvents")
        wait_for(lambda: time.time() > exited_at(aws, op._task_arn) + 2.5 + 0.5)  # every line delivered
        result = op.execute_complete(context, event)
    assert result["verdict"] == "success" and result["log_warning"] is None
    by_trigger = [line for _, who, line in copied if who == "trigger"]
    by_worker = [line for _, who, line in copied if who == "worker"]
    assert by_trigger and by_worker, (by_trigger, by_worker)  # the scenario: the handoff carried lines over
    assert (
        event["logs"]["drained"] is False
    )  # the drain ended on throttling: the worker continued at the token
    assert by_trigger + by_worker == lines
    logged = caplog.text + capfd.readouterr().out
    assert re.search(r"failed for now \(ThrottlingException", logged)
