"""ECS API calls per minute while N deferred Fargate tasks wait: ours vs the official trigger's pattern.

Both run in one triggerer-like event loop against local AWS (moto + the Fargate double, whose containers run
longer than the window): N of our FargateTaskTriggers (one shared, batched poller) and N of the amazon
provider's TaskDoneTrigger (what EcsRunTaskOperator defers to: one DescribeTasks per task per interval). Calls
are counted for a window of whole intervals after every trigger is waiting, then scaled to one minute at the
6-second interval both use by default. ``--interval`` shortens the real wait; it must be whole seconds because
the official trigger sleeps ``int(waiter_delay)`` (a fraction would make it poll without pause).

The staggered row (``--staggered``, N=500 by default) lets the triggers arrive 4 ms apart, as a scheduler
deferring a burst of tasks does, and counts from the first arrival: arrivals must join the next scheduled poll
rather than each force one.

    python bench/fargate_api_calls.py [--sizes 1 100 500] [--staggered 500] [--interval 1] [--window 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

from benchlib import official_trigger as official
from benchlib import quiet

from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import local_aws

DEFAULT_INTERVAL = 6.0  # both operators' default poll interval, seconds


def ours(env, arn: str, interval: float):
    return FargateTaskTrigger(env.cluster, arn, None, env.region, poll_interval=interval)


STAGGER = 0.004  # seconds between staggered arrivals


async def measure(env, make, arns: list[str], interval: float, window: int, staggered: bool = False) -> float:
    """DescribeTasks calls per minute (at the default interval) while every trigger waits; staggered: arrivals
    4 ms apart, counted from the first one."""

    async def drive(trigger):
        async for _ in trigger.run():
            return

    env.fargate.requests.clear()
    before = env.fargate.calls["DescribeTasks"]
    started = loop_time()
    tasks = []
    for arn in arns:
        tasks.append(asyncio.ensure_future(drive(make(env, arn, interval))))
        if staggered:
            await asyncio.sleep(STAGGER)
    if not staggered:
        # Count only once every trigger polls: creating N clients takes the official triggers a while.
        while len({a for r in env.fargate.requests_of("DescribeTasks") for a in r["tasks"]}) < len(arns):
            await asyncio.sleep(0.2)
        await asyncio.sleep(interval)
        before, started = env.fargate.calls["DescribeTasks"], loop_time()
    await asyncio.sleep(interval * window)
    calls = env.fargate.calls["DescribeTasks"] - before
    window = (loop_time() - started) / interval
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return calls / window * (60 / DEFAULT_INTERVAL)


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--window", type=int, default=4, help="intervals counted")
    parser.add_argument("--staggered", type=int, nargs="*", default=[500], help="N of the staggered rows")
    args = parser.parse_args()
    quiet()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    print(f"DescribeTasks calls per minute at a {DEFAULT_INTERVAL:.0f}s interval while N tasks wait")
    print(f"{'N':>6} {'ours':>10} {'official':>10} {'official/ours':>14}")
    rows = [(n, False) for n in args.sizes] + [(n, True) for n in args.staggered]
    for n, staggered in rows:
        with local_aws() as env:
            # Containers outlive the window. No log lines: the double writes them to moto when it describes a
            # task (16 ms per task here), a cost of the double that would stretch each polled batch.
            env.fargate.default_script = TaskScript(running=None, log_lines=[])
            arns = env.run_tasks(n)
            mine = asyncio.run(measure(env, ours, arns, args.interval, args.window, staggered))
            theirs = asyncio.run(measure(env, official, arns, args.interval, args.window, staggered))
        label = f"{n} staggered" if staggered else str(n)
        print(f"{label:>6} {mine:>10.1f} {theirs:>10.1f} {theirs / mine:>13.1f}x")


if __name__ == "__main__":
    main()
