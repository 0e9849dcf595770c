"""Worker seconds held per offloaded 10-minute container: ours (deferrable, sync) vs EcsRunTaskOperator.

"Held" is the time an Airflow worker slot is busy: ``execute`` plus, for deferrable runs, ``execute_complete``;
the wait in the triggerer is not held. Each variant runs against local AWS (a moto server, which the official
trigger's aiobotocore log calls need, + the Fargate double) with containers of two lengths; a straight-line fit
``held = fixed + slope * container_seconds`` is projected to a 600-second container. Every variant reads its
container's awslogs stream. The official operator runs with a 1 s ``waiter_delay`` like our ``poll_interval``,
once as usually configured (awslogs group and prefix: it then sleeps 10 s or more on the worker to discover the
container name) and once at its best (``container_name`` given, no such sleep).

Each point is the median of ``--repeat`` runs, after one warm-up run per variant.

    python bench/fargate_worker_seconds.py [--lengths 2 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchlib import quiet

from airflow_provider_ecsops.compat import DAG, TaskDeferred
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import LOG_GROUP, local_aws

PROJECTED = 600.0


@dataclass
class TaskInstanceStub:
    """What both operators read from the task instance while they run."""

    dag_id: str = "bench"
    task_id: str = "offload"
    run_id: str = "manual__bench"
    map_index: int = -1
    max_tries: int = 0
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(UTC))

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        pass


def ours(env, deferrable: bool):
    from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator

    return FargateOffloadOperator(
        task_id="offload",
        cluster=env.cluster,
        task_definition=env.task_definition,
        subnets=env.subnets,
        command=["python", "job.py"],
        poll_interval=1,
        deferrable=deferrable,
        region_name=env.region,
    )


def official(env, deferrable: bool, container_name: str | None = "etl"):
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    return EcsRunTaskOperator(
        task_id="offload",
        cluster=env.cluster,
        task_definition=env.task_definition,
        launch_type="FARGATE",
        overrides={"containerOverrides": [{"name": "etl", "command": ["python", "job.py"]}]},
        network_configuration={"awsvpcConfiguration": {"subnets": env.subnets}},
        awslogs_group=LOG_GROUP,
        awslogs_region=env.region,
        awslogs_stream_prefix="ecsops-demo-etl",
        container_name=container_name,
        waiter_delay=1,
        deferrable=deferrable,
        region=env.region,
        aws_conn_id=None,
    )


def held_seconds(make, deferrable: bool, container_seconds: float) -> float:
    """Worker-slot seconds of one run of a ``container_seconds`` container."""
    with local_aws(server=True) as env:
        env.fargate.script(TaskScript(provisioning=0.5, pending=0.5, running=container_seconds))
        with DAG("bench", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
            op = make(env, deferrable)
        ti = TaskInstanceStub()
        context = {"ti": ti, "run_id": ti.run_id, "task_instance": ti}
        started = time.monotonic()
        try:
            op.execute(context)
            return time.monotonic() - started
        except TaskDeferred as deferred:
            held = time.monotonic() - started
            trigger, method = deferred.trigger, deferred.method_name

            async def wait():
                async for event in trigger.run():
                    return event

            event = asyncio.run(wait())  # in the triggerer: not worker time
            started = time.monotonic()
            getattr(op, method)(context, event.payload)
            return held + time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=float, nargs=2, default=[2.0, 5.0], help="two container lengths, s")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    quiet()
    short, long_ = args.lengths

    def official_usual(env, deferrable):
        return official(env, deferrable, container_name=None)

    variants = [
        ("ours, deferrable", ours, True),
        ("ours, sync", ours, False),
        ("official, deferrable", official_usual, True),
        ("official, deferrable*", official, True),
        ("official, sync*", official, False),
    ]
    results = {}
    rows = []
    for name, make, deferrable in variants:
        held_seconds(make, deferrable, short)  # warm-up: first imports and client creation
        a, b = (
            statistics.median(held_seconds(make, deferrable, length) for _ in range(args.repeat))
            for length in (short, long_)
        )
        slope = max(0.0, (b - a) / (long_ - short))
        results[name] = projected = a + slope * (PROJECTED - short)
        rows.append(f"{name:<22} {a:>8.2f} {b:>8.2f} {projected:>9.1f}")
    print(f"Worker seconds held per container (measured at {short:g}s and {long_:g}s, projected to 600s)")
    print(f"{'variant':<22} {f'@{short:g}s':>8} {f'@{long_:g}s':>8} {'@600s':>9}")
    print("\n".join(rows))  # after the runs, so Airflow 3's log lines on stdout do not split the table
    print("* with container_name given (its best case); without it, its usual configuration")
    base = results["ours, deferrable"]
    for name in ("official, deferrable", "official, deferrable*", "official, sync*"):
        print(f"{name} holds {results[name] / base:.1f}x the worker seconds of ours, deferrable")


if __name__ == "__main__":
    main()
