"""A second triggerer's event side, for test_events: one process consuming the shared queue for its own tasks.

Usage: python event_consumer_child.py QUEUE_URL REGION ARN... ; prints "ready", then one JSON line
{"stopped": {arn: exit code}, "released": n} once every given task's STOPPED event arrived (or after 90 s).
Its poller's first DescribeTasks is set beyond the test, so only events can resolve the watches.
"""

from __future__ import annotations

import asyncio
import json
import sys

from airflow_provider_ecsops.fargate.events import TaskEventConsumer
from airflow_provider_ecsops.fargate.poller import PollerKey, TaskPoller


async def main(queue_url: str, region: str, arns: list[str]) -> dict:
    TaskEventConsumer.wait_seconds = 1
    poller = TaskPoller.get(PollerKey("ecsops-demo", region, None))
    with TaskEventConsumer.get(queue_url, region, None) as consumer:
        waits = [asyncio.ensure_future(poller.wait_stopped(arn, 600, first=600)) for arn in arns]
        print("ready", flush=True)
        done, _ = await asyncio.wait(waits, timeout=90)
        results = {arn: wait.result() for arn, wait in zip(arns, waits, strict=True) if wait in done}
        for wait in waits:
            wait.cancel()
        return {
            "stopped": {arn: r["task"]["containers"][0].get("exitCode") for arn, r in results.items()},
            "released": consumer.released,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))), flush=True)
