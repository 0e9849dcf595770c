"""Added wall time per no-op task with the scale-in guard vs without, on a real Celery worker (Redis db 9).

Each variant starts one prefork worker (concurrency 1) with Airflow's default Celery config, then runs no-op
tasks one after the other (send, wait for the result) and reports the median round trip. The guarded worker
runs against the fake ECS agent with the default guard settings.

    python bench/scalein_guard_overhead.py [--tasks 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis
from celery import Celery

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent

BROKER = "redis://127.0.0.1:6379/9"
QUEUE = "ecsops-scalein-bench"
HERE = Path(__file__).resolve().parent


def round_trips(guarded: bool, tasks: int, fake: FakeEcsAgent) -> list[float]:
    redis.Redis.from_url(BROKER).flushdb()
    env = {
        **os.environ,
        "AIRFLOW__CELERY__BROKER_URL": BROKER,
        "AIRFLOW__CELERY__RESULT_BACKEND": BROKER,
        "ECSOPS_BENCH_GUARD": "1" if guarded else "0",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        **(fake.add_task() if guarded else {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "scalein_celery_app", "worker", "-Q", QUEUE, "--pool", "prefork",
        "--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
    ]  # fmt: skip
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sender = Celery("ecsops-scalein-bench-sender", broker=BROKER, backend=BROKER)
    try:
        sender.send_task("ecsops_scalein_bench.noop", queue=QUEUE).get(timeout=60)  # worker up
        times = []
        for i in range(tasks + 20):
            started = time.perf_counter()
            sender.send_task("ecsops_scalein_bench.noop", queue=QUEUE).get(timeout=30)
            if i >= 20:  # warm-up excluded
                times.append(time.perf_counter() - started)
        return times
    finally:
        sender.close()
        worker.terminate()
        worker.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="alternating worker starts per variant")
    args = parser.parse_args()
    samples: dict[bool, list[float]] = {False: [], True: []}
    with FakeEcsAgent() as fake:
        for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both variants alike
            for guarded_run in (False, True):
                samples[guarded_run] += round_trips(guarded_run, args.tasks // args.rounds, fake)
        protections = sum(1 for e in fake.history if e["call"] == "UpdateTaskProtection")
    baseline, guarded = statistics.median(samples[False]), statistics.median(samples[True])
    print(f"no-op task round trip, median of {args.tasks} sequential tasks, one prefork worker")
    print(f"  baseline (Airflow's default config, no guard): {baseline * 1000:8.3f} ms")
    print(f"  with the scale-in guard:                       {guarded * 1000:8.3f} ms")
    print(f"  added per task: {(guarded - baseline) * 1000:+.3f} ms, ratio {guarded / baseline:.3f}")
    print(f"  protection calls during the guarded run: {protections}")


if __name__ == "__main__":
    main()
