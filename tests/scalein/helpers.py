"""What the scale-in tests share besides fixtures: the worker handle, the fast guard settings, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import redis

from airflow_provider_ecsops.scalein.settings import ScaleInSettings

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "ecsops-scalein"
FAST_SETTINGS = {
    "AIRFLOW__ECSOPS__SCALEIN_IDLE_GRACE_SECONDS": "0.3",
    "AIRFLOW__ECSOPS__SCALEIN_IDLE_VERIFY_SECONDS": "1.5",
    "AIRFLOW__ECSOPS__SCALEIN_TICK_SECONDS": "0.2",
    "AIRFLOW__ECSOPS__SCALEIN_PROTECTION_MINUTES": "5",
    "AIRFLOW__ECSOPS__SCALEIN_RENEW_BEFORE_MINUTES": "2",
    "AIRFLOW__ECSOPS__SCALEIN_RETIRE_IDLE_SECONDS": "0",
}


@dataclass
class Worker:
    """A Celery worker process started by the ``start_worker`` fixture, with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: {text!r} not logged within {timeout}s:\n{self.log()[-4000:]}")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)


def worker_settings(worker: Worker) -> ScaleInSettings:
    """The ``ScaleInSettings`` a worker started with (its ``AIRFLOW__ECSOPS__SCALEIN_*`` environment)."""
    with mock.patch.dict(os.environ, worker.env):  # Airflow's conf reads the environment at each get
        return ScaleInSettings.from_airflow_conf()


def executions(broker: str) -> list[tuple[str, str, float]]:
    """(task id, worker name, start time) of every execution the test tasks logged."""
    rows = redis.Redis.from_url(broker).lrange("ecsops-scalein-test:executions", 0, -1)
    return [(i, w, float(t)) for i, w, t in (r.decode().split() for r in rows)]


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def moto_worker_service(
    region: str, desired: int, cluster: str = "airflow", service: str = "workers"
) -> None:
    """An ECS cluster with a worker service of ``desired`` tasks, inside a running ``mock_aws``."""
    import boto3

    ecs = boto3.client("ecs", region_name=region)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family="worker", containerDefinitions=[{"name": "w", "image": "x", "memory": 512}]
    )
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition="worker", desiredCount=desired)
