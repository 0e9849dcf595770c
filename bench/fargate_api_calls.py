"""ECS API calls per minute while N deferred Fargate tasks wait: ours vs the official trigger's pattern.

Both run in one triggerer-like event loop against local AWS (moto + the Fargate double, whose containers run
longer than the window): N of our FargateTaskTriggers (one shared, batched poller) and N of the amazon
provider's TaskDoneTrigger (what EcsRunTaskOperator defers to: one DescribeTasks per task per interval). Calls
are counted for a window of whole intervals after every trigger is waiting, then scaled to one minute at the
6-second interval both use by default. ``--interval`` shortens the real wait; it must be whole seconds because
the official trigger sleeps ``int(waiter_delay)`` (a fraction would make it poll without pause).

    python bench/fargate_api_calls.py [--sizes 1 100 500] [--interval 1] [--window 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

import boto3
from benchlib import quiet

from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import local_aws

DEFAULT_INTERVAL = 6.0  # both operators' default poll interval, seconds


def start_tasks(env, n: int) -> list[str]:
    ecs = boto3.client("ecs", region_name=env.region)
    return [
        ecs.run_task(
            cluster=env.cluster,
            taskDefinition=env.task_definition,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": env.subnets}},
        )["tasks"][0]["taskArn"]
        for _ in range(n)
    ]


def ours(env, arn: str, interval: float):
    return FargateTaskTrigger(env.cluster, arn, None, env.region, poll_interval=interval)


def official(env, arn: str, interval: float):
    from airflow.providers.amazon.aws.triggers.ecs import TaskDoneTrigger

    return TaskDoneTrigger(
        cluster=env.cluster,
        task_arn=arn,
        waiter_delay=interval,
        waiter_max_attempts=1_000_000,
        aws_conn_id=None,
        region=env.region,
    )


async def measure(env, make, arns: list[str], interval: float, window: int) -> float:
    """DescribeTasks calls per minute (at the default interval) while every trigger waits."""

    async def drive(trigger):
        async for _ in trigger.run():
            return

    env.fargate.requests.clear()
    tasks = [asyncio.ensure_future(drive(make(env, arn, interval))) for arn in arns]
    # Count only once every trigger polls: creating N clients takes the official triggers a while.
    while len({a for r in env.fargate.requests_of("DescribeTasks") for a in r["tasks"]}) < len(arns):
        await asyncio.sleep(0.2)
    await asyncio.sleep(interval)
    before = env.fargate.calls["DescribeTasks"]
    await asyncio.sleep(interval * window)
    calls = env.fargate.calls["DescribeTasks"] - before
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return calls / window * (60 / DEFAULT_INTERVAL)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--window", type=int, default=4, help="intervals counted")
    args = parser.parse_args()
    quiet()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    print(f"DescribeTasks calls per minute at a {DEFAULT_INTERVAL:.0f}s interval while N tasks wait")
    print(f"{'N':>6} {'ours':>10} {'official':>10} {'official/ours':>14}")
    for n in args.sizes:
        with local_aws() as env:
            env.fargate.default_script = TaskScript(running=None)  # containers outlive the window
            arns = start_tasks(env, n)
            mine = asyncio.run(measure(env, ours, arns, args.interval, args.window))
            theirs = asyncio.run(measure(env, official, arns, args.interval, args.window))
        print(f"{n:>6} {mine:>10.1f} {theirs:>10.1f} {theirs / mine:>13.1f}x")


if __name__ == "__main__":
    main()
