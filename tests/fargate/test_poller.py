"""The shared poller's schedule: each task at its own trigger's interval, arrivals batched into the next tick."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from airflow_provider_ecsops.testing.fargate_double import TaskScript
from tests.fargate.test_trigger import first_event, trigger_for


def described(aws) -> Counter[str]:
    return Counter(arn for request in aws.fargate.requests_of("DescribeTasks") for arn in request["tasks"])


def test_a_fast_trigger_does_not_make_slower_ones_poll_at_its_interval(aws):
    aws.fargate.default_script = TaskScript(running=None)
    fast, *slow = aws.run_tasks(21)
    triggers = [trigger_for(aws, fast, poll_interval=0.1, stop_on_kill=False)]
    triggers += [trigger_for(aws, arn, poll_interval=1.0, stop_on_kill=False) for arn in slow]

    async def until_fast_polled(times: int) -> float:
        """Seconds from the fast task's first DescribeTasks to its ``times``-th (the first one waits for the
        client, which takes long on a loaded machine)."""
        waits = [asyncio.ensure_future(first_event(t)) for t in triggers]
        deadline = time.monotonic() + 120
        while described(aws)[fast] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        first = time.monotonic()
        while described(aws)[fast] < times and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        span = time.monotonic() - first
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        return span

    span = asyncio.run(until_fast_polled(12))
    counts = described(aws)
    assert counts[fast] >= 12, counts[fast]  # the fast trigger did poll often
    # At 1 s each, the slow tasks were described about once per second of that span, not at every fast poll.
    assert max(counts[arn] for arn in slow) <= span / 1.0 + 2, (span, counts)
    assert min(counts[arn] for arn in slow) >= 1


def test_staggered_arrivals_join_the_next_scheduled_poll(aws):
    aws.fargate.default_script = TaskScript(running=None)
    arns = aws.run_tasks(200)

    async def arrive_then_wait():
        started = time.monotonic()
        waits = []
        for arn in arns:  # 200 arrivals 5 ms apart: one second of arrivals at a one-second interval
            waits.append(asyncio.ensure_future(first_event(trigger_for(aws, arn, poll_interval=1.0))))
            await asyncio.sleep(0.005)
        deadline = time.monotonic() + 120  # the first call waits for the client: long on a loaded machine
        while len(described(aws)) < len(arns) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        return time.monotonic() - started

    elapsed = asyncio.run(arrive_then_wait())
    requests = aws.fargate.requests_of("DescribeTasks")
    assert set(described(aws)) == set(arns)  # every arrival was polled
    assert max(len(r["tasks"]) for r in requests) == 100  # arrivals shared full batches
    assert len(requests) <= 2 * (elapsed / 1.0 + 2), len(
        requests
    )  # ceil(200 / 100) per interval, not per arrival


def test_a_trigger_arriving_while_a_poll_is_in_flight_waits_for_the_next_scheduled_poll(aws, monkeypatch):
    import threading

    from airflow_provider_ecsops.fargate.hook import FargateHook

    aws.fargate.default_script = TaskScript(running=None)
    first, late = aws.run_tasks(2)
    in_flight = threading.Event()
    describe = FargateHook.describe_tasks

    def slow_describe(self, cluster, arns):
        in_flight.set()
        time.sleep(0.6)  # the poll is in flight for a good part of the 1 s interval
        return describe(self, cluster, arns)

    monkeypatch.setattr(FargateHook, "describe_tasks", slow_describe)

    async def scenario() -> None:
        waits = [asyncio.ensure_future(first_event(trigger_for(aws, first, poll_interval=1.0)))]
        deadline = time.monotonic() + 120  # the first call waits for the client: long on a loaded machine
        while not in_flight.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert in_flight.is_set(), "the first poll never started"
        await asyncio.sleep(0.1)
        assert aws.fargate.calls["DescribeTasks"] == 0  # still in flight when the second trigger arrives
        waits.append(asyncio.ensure_future(first_event(trigger_for(aws, late, poll_interval=1.0))))
        while len(aws.fargate.requests_of("DescribeTasks")) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)

    asyncio.run(scenario())
    requests = [sorted(r["tasks"]) for r in aws.fargate.requests_of("DescribeTasks")]
    assert len(requests) >= 3, requests
    # The arrival forced no poll of its own: it was first described with the in-flight task, in one call.
    assert requests[0] == [first]
    assert requests[1] == sorted([first, late]), requests
    assert [late] not in requests, requests
