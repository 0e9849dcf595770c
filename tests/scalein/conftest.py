"""Real Celery worker processes with the guard, the Redis broker (db 7; also the result backend and the
executions log for other brokers) and the fake ECS agent on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from tests.scalein.helpers import FAST_SETTINGS, QUEUE, ROOT, Worker


@pytest.fixture
def broker(redis_url: str, redis_broker_db: int) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + f"/{redis_broker_db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def fake_agent() -> Iterator[FakeEcsAgent]:
    with FakeEcsAgent() as fake:
        yield fake


@pytest.fixture
def start_worker(broker: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(
        name: str,
        ecs_env: dict[str, str] | None,
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
        broker_url: str | None = None,
        queue: str = QUEUE,
        **settings: str,
    ) -> Worker:
        env = {
            **os.environ,
            **FAST_SETTINGS,
            **{f"AIRFLOW__ECSOPS__SCALEIN_{k.upper()}": v for k, v in settings.items()},
            **(ecs_env or {}),
            **(extra_env or {}),
            "AIRFLOW__CELERY__BROKER_URL": broker_url or broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": broker,
            "ECSOPS_TEST_WORKER": name,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        for key in ("ECS_AGENT_URI", "ECS_CONTAINER_METADATA_URI_V4"):
            if not ecs_env or key not in ecs_env:
                env.pop(key, None)
        log_path = tmp_path / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.scalein.celery_app", "worker", "-Q", queue,
            "--pool", "prefork", "--concurrency", str(concurrency), "--hostname", f"{name}@ecsops",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip
        with log_path.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        worker = Worker(name, process, log_path, env)
        workers.append(worker)
        # A worker's start is all import and fork: seconds on a quiet machine, over a minute at load 30-40 (seen:
        # 14 tests failing at 60 s on the 2.11.2 line run beside campaigns); a worker that dies fails at once.
        worker.wait_for_log("ready.", timeout=180)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)


@pytest.fixture
def send(broker: str) -> Iterator[Callable[..., str]]:
    """Send the test app's ``record`` task to ``QUEUE``; returns the task id."""
    from celery import Celery

    sender = Celery("ecsops-scalein-sender", broker=broker)

    def send_task(seconds: float = 0.0, countdown: float | None = None) -> str:
        return sender.send_task(
            "ecsops_scalein_test.record", kwargs={"seconds": seconds}, queue=QUEUE, countdown=countdown
        ).id

    yield send_task
    sender.close()
