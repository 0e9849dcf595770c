"""Waiting on ECS events vs polling: DescribeTasks per task lifetime and completion latency, N tasks, one run.

N Fargate tasks are watched from triggers arriving 4 ms apart and stopped (StopTask) 5 to 15 s after their
trigger arrived, spread evenly (stopped, not run for a fixed time: starting 500 tasks on a loaded machine takes
longer than that), on local AWS (moto + the
Fargate double, which emits ECS Task State Change events into moto's EventBridge; a rule with the documented
pattern feeds an SQS queue). Each row waits for all N in one triggerer-like event loop:
- ours, events: FargateTaskTrigger with the events queue (DescribeTasks at the start and at the 300 s safety net);
- ours, polling: FargateTaskTrigger polling every ``--interval`` seconds (batched, 100 tasks per call);
- official: the amazon provider's TaskDoneTrigger (EcsRunTaskOperator's), one DescribeTasks per task per interval.
Latency is from the task's stoppedAt (when the double took the StopTask) to the moment its trigger yields.

    python bench/fargate_events.py [--n 500] [--interval 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from benchlib import official_trigger as official
from benchlib import quiet

from airflow_provider_ecsops.fargate.events import TaskEventConsumer
from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger
from airflow_provider_ecsops.testing.fargate_double import TaskScript, route_task_events
from airflow_provider_ecsops.testing.local_aws import local_aws

STAGGER = 0.004  # seconds between arrivals
LATE_SECONDS = 2.0  # issue 12's target: a completion seen within 2 s of the stop; slower ones are counted


async def wait_all(triggers: list) -> list[float]:
    """The time each trigger yields its event (the double is asked for stoppedAt afterwards, off the clock)."""

    async def arrive(i: int, trigger) -> float:
        await asyncio.sleep(i * STAGGER)
        asyncio.get_running_loop().call_later(5 + 10 * i / max(1, len(triggers) - 1), stop, trigger.task_arn)
        async for _ in trigger.run():
            return time.time()
        return float("nan")

    ecs = boto3.client("ecs")
    stopper = ThreadPoolExecutor(4)

    def stop(arn: str) -> None:
        stopper.submit(ecs.stop_task, cluster=arn.split("/")[1], task=arn, reason="bench")

    try:
        return await asyncio.gather(*(arrive(i, t) for i, t in enumerate(triggers)))
    finally:
        stopper.shutdown()


def row(name: str, n: int, interval: int, events: bool) -> None:
    with local_aws() as env:
        queue = route_task_events(env.region) if events else ""
        # Stopped by the bench, 5-15 s after arrival. No log lines: the double writes a task's due lines to moto
        # whenever it describes the task, 16 ms per task in this process (profiled), so 500 tasks with lines
        # made each event emission and each polled batch take 8 s: the double's cost, not ECS's or ours.
        env.fargate.default_script = TaskScript(running=None, log_lines=[])
        arns = env.run_tasks(n, operator_started=True)
        if name == "official":
            triggers = [official(env, arn, interval) for arn in arns]
        else:
            triggers = [
                FargateTaskTrigger(
                    env.cluster, arn, None, env.region, poll_interval=interval, events_queue_url=queue
                )
                for arn in arns
            ]
        started = time.monotonic()
        with env.fargate.emitting_events():
            seen = asyncio.run(wait_all(triggers))
        wall = time.monotonic() - started
        calls = env.fargate.calls["DescribeTasks"]
        latencies = [
            t - env.fargate.status(arn)["stoppedAt"].timestamp() for t, arn in zip(seen, arns, strict=True)
        ]
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    late = sum(1 for latency in latencies if not latency <= LATE_SECONDS)  # a NaN (never yielded) is late too
    print(
        f"{name:<14} {calls:>6} {calls / n:>9.3f} {statistics.median(latencies):>9.2f} {p95:>8.2f} "
        f"{max(latencies):>8.2f} {late:>6} {wall:>7.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--interval", type=int, default=6, help="poll interval, whole seconds (official)")
    parser.add_argument("--skip-official", action="store_true")
    args = parser.parse_args()
    quiet()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    TaskEventConsumer.wait_seconds = 1
    print(
        f"N={args.n} tasks arriving {STAGGER * 1000:.0f} ms apart, stopped 5-15 s after arrival, poll interval {args.interval}s"
    )
    print(
        f"{'mode':<14} {'calls':>6} {'per task':>9} {'lat p50':>9} {'p95':>8} {'max':>8} {f'> {LATE_SECONDS:.0f} s':>6} {'wall':>7}"
    )
    row("ours, events", args.n, args.interval, events=True)
    row("ours, polling", args.n, args.interval, events=False)
    if not args.skip_official:
        row("official", args.n, args.interval, events=False)


if __name__ == "__main__":
    main()
