"""Self-retire against the fake control plane: lower desiredCount by exactly the allowed amount."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from airflow_provider_ecsops.scalein.retire import ServiceScaler
from tests.scalein.helpers import wait_until

SERVICE = "airflow-workers"


@pytest.fixture
def aws_endpoints(fake_agent, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", fake_agent.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", fake_agent.url)
    return {
        "AWS_ENDPOINT_URL_ECS": fake_agent.url,
        "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING": fake_agent.url,
    }


def retiring_workers(start_worker, fake_agent, count: int) -> list:
    return [
        start_worker(f"retire{i}", fake_agent.add_task(), self_retire="true", service=SERVICE)
        for i in range(count)
    ]


def test_two_idle_workers_above_the_floor_both_retire(fake_agent, aws_endpoints, start_worker):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    workers = retiring_workers(start_worker, fake_agent, 2)
    for worker in workers:
        assert worker.process.wait(30) == 0, worker.log()[-3000:]
    assert service.desired_count == 1
    assert service.update_count == 2
    assert fake_agent.protected_tasks() == []


def test_two_idle_workers_one_above_the_floor_only_one_retires(fake_agent, aws_endpoints, start_worker):
    service = fake_agent.add_service(SERVICE, desired_count=2, min_capacity=1)
    workers = retiring_workers(start_worker, fake_agent, 2)
    wait_until(lambda: any(w.process.poll() is not None for w in workers), timeout=30, what="one retirement")
    time.sleep(4)  # the other keeps trying every verification interval and must keep being refused
    exited = [w for w in workers if w.process.poll() is not None]
    assert len(exited) == 1 and exited[0].process.returncode == 0
    assert service.desired_count == 1 and service.update_count == 1
    survivor = next(w for w in workers if w.process.poll() is None)
    assert "at the floor 1" in survivor.log()


def test_concurrent_retire_calls_are_serialised_by_the_lock(fake_agent, aws_endpoints, broker):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=2)
    start, results = threading.Barrier(4), []

    def retire() -> None:
        scaler = ServiceScaler(
            fake_agent.cluster,
            SERVICE,
            None,
            boto3.client("ecs", region_name="us-east-1"),
            boto3.client("application-autoscaling", region_name="us-east-1"),
        )
        start.wait()
        results.append(scaler.retire_one(broker))

    threads = [threading.Thread(target=retire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]
    assert service.desired_count == 2


def test_configured_floor_above_the_autoscaling_minimum_wins(fake_agent, aws_endpoints, broker):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    ecs = boto3.client("ecs", region_name="us-east-1")
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    scaler = ServiceScaler(fake_agent.cluster, SERVICE, 3, ecs, aas)
    assert scaler.floor() == 3
    assert scaler.retire_one(broker) is False
    assert service.update_count == 0
