"""Worker seconds held per offloaded container, measured at long containers: ours (deferrable) vs EcsRunTaskOperator.

"Held" is the time an Airflow worker slot is busy: ``execute`` plus ``execute_complete``; the wait in the
triggerer is not held. Each run is one container of ``--lengths`` seconds (60 and 300 by default) writing
``--rate`` log lines a second to its awslogs stream, against local AWS (a moto server, which the official
trigger's aiobotocore calls need, + the Fargate double). Measured, not projected: held seconds must not grow
with the container's length or its log volume. Ours runs deferrable with ``poll_interval=1``; the official
operator at its best, deferrable with ``container_name`` given (without it, it sleeps 10 s or more on the
worker to discover the container name) and a 1 s ``waiter_delay``. The variants alternate, length by length,
so that the machine's load falls on both alike. Every AWS client retries (standard mode, 10 attempts) and reads
with a 300 s timeout: a loaded machine slows the moto server down, it must not fail a run.

    python bench/fargate_worker_seconds.py [--lengths 60 300] [--rate 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchlib import quiet

from airflow_provider_ecsops.compat import DAG, TaskDeferred
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import LOG_GROUP, local_aws

CONN = "aws_bench"
# Both operators build their clients from this connection; the double's own clients read the AWS_* variables.
CONN_ENV = {
    f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(
        {
            "conn_type": "aws",
            "extra": {
                "config_kwargs": {
                    "read_timeout": 300,
                    "connect_timeout": 60,
                    "retries": {"mode": "standard", "max_attempts": 10},
                }
            },
        }
    ),
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "10",
}


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
        aws_conn_id=CONN,
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
        aws_conn_id=CONN,
    )


def held_seconds(make, deferrable: bool, container_seconds: float, rate: float) -> float:
    """Worker-slot seconds of one run of a ``container_seconds`` container writing ``rate`` lines a second."""
    with local_aws(server=True) as env:
        lines = [f"line {i}: progress" for i in range(int(container_seconds * rate))]
        env.fargate.script(
            TaskScript(provisioning=0.5, pending=0.5, running=container_seconds, log_lines=lines)
        )
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
    parser.add_argument(
        "--lengths", type=float, nargs="+", default=[60.0, 300.0], help="container lengths, s"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="log lines per second")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    quiet()
    os.environ.update(CONN_ENV)
    variants = [("ours, deferrable", ours), ("official, deferrable*", official)]
    for _, make in variants:
        held_seconds(make, True, 1.0, args.rate)  # warm-up: first imports and client creation
    held: dict[str, list[float]] = {name: [] for name, _ in variants}
    for length in args.lengths:
        runs: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _ in range(args.repeat):
            for name, make in variants:
                runs[name].append(held_seconds(make, True, length, args.rate))
        for name in runs:
            held[name].append(statistics.median(runs[name]))
    heads = " ".join(f"{f'@{length:g}s':>9}" for length in args.lengths)
    print(f"Worker seconds held per container, {args.rate:g} log lines/s, median of {args.repeat} (measured)")
    print(f"{'variant':<22} {heads} {'per 100 s':>10}")
    span = args.lengths[-1] - args.lengths[0]
    for name, values in held.items():
        growth = (values[-1] - values[0]) / span * 100 if span else 0.0
        print(f"{name:<22} {' '.join(f'{v:>9.2f}' for v in values)} {growth:>+10.3f}")
    print(
        "* with container_name given (its best case); 'per 100 s': growth of held seconds per 100 s of container"
    )
    ratios = ", ".join(
        f"@{length:g}s {b / a:.2f}x"
        for length, a, b in zip(
            args.lengths, held["ours, deferrable"], held["official, deferrable*"], strict=True
        )
    )
    print(f"official, deferrable* / ours, deferrable: {ratios}")


if __name__ == "__main__":
    main()
