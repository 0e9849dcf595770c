"""Self-retire against the fake control plane: lower desiredCount by exactly the allowed amount."""

from __future__ import annotations

import socket
import threading
import time

import boto3
import pytest

from airflow_provider_ecsops.scalein.errors import ConfigurationError, RetireError, RetireLockBusy
from airflow_provider_ecsops.scalein.retire import (
    ServiceScaler,
    check_retire_config,
    retire_lock,
    retire_lock_url,
)
from airflow_provider_ecsops.scalein.settings import ScaleInSettings
from tests.scalein.helpers import executions, wait_until

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
    survivor = next(w for w in workers if w.process.poll() is None)
    # Workers start one after the other (slowly on a loaded machine): wait for the survivor's own refusal.
    survivor.wait_for_log("at the floor 1", timeout=30)
    time.sleep(2)  # it keeps trying every verification interval and must keep being refused
    exited = [w for w in workers if w.process.poll() is not None]
    assert len(exited) == 1 and exited[0].process.returncode == 0
    assert service.desired_count == 1 and service.update_count == 1
    assert survivor.process.poll() is None


def test_a_worker_retires_only_after_retire_idle_seconds_without_a_task(
    fake_agent, aws_endpoints, start_worker, send, broker
):
    service = fake_agent.add_service(SERVICE, desired_count=2, min_capacity=1)
    worker = start_worker(
        "paced", fake_agent.add_task(), self_retire="true", service=SERVICE, retire_idle_seconds="6"
    )
    send(seconds=0.0)
    wait_until(lambda: executions(broker), timeout=30, what="the task run")
    ran_at = executions(broker)[0][2]
    wait_until(lambda: service.update_count, timeout=40, what="the retire")
    idle = time.time() - ran_at
    assert worker.process.wait(30) == 0, worker.log()[-3000:]
    # Without the pace it retires after idle grace + verification, about 2 s with the test settings.
    assert idle >= 5.5, f"retired {idle:.1f} s after its task"
    assert service.desired_count == 1 and service.update_count == 1


def test_retire_idle_seconds_must_be_a_duration():
    with pytest.raises(
        ValueError, match=r"^\[ecsops\] scalein_retire_idle_seconds: -1.0 is not a duration\. Fix: "
    ):
        ScaleInSettings(retire_idle_seconds=-1.0)


@pytest.fixture(params=["redis", "postgresql"])
def lock_url(request, broker, postgres_url):
    """The retire lock on the Redis broker, or on a PostgreSQL metadata DB (the default for amqp/sqs brokers)."""
    return broker if request.param == "redis" else postgres_url


def scaler_for(fake_agent, min_workers=None) -> ServiceScaler:
    return ServiceScaler(
        fake_agent.cluster,
        SERVICE,
        min_workers,
        boto3.client("ecs", region_name="us-east-1"),
        boto3.client("application-autoscaling", region_name="us-east-1"),
    )


def test_concurrent_retire_calls_are_serialised_by_the_lock(fake_agent, aws_endpoints, lock_url):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=2)
    start, results = threading.Barrier(4), []

    def retire() -> None:
        scaler = scaler_for(fake_agent)
        start.wait()
        results.append(scaler.retire_one(lock_url))

    threads = [threading.Thread(target=retire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]
    assert service.desired_count == 2


def test_work_arriving_before_the_update_keeps_the_desired_count(fake_agent, aws_endpoints, broker):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    asked = []

    def busy_again() -> bool:
        asked.append(service.update_count)  # asked before any UpdateService
        return False

    assert scaler_for(fake_agent).retire_one(broker, still_idle=busy_again) is False
    assert asked == [0] and service.desired_count == 3 and service.update_count == 0
    assert scaler_for(fake_agent).retire_one(broker, still_idle=lambda: True) is True
    assert service.desired_count == 2


def test_configured_floor_above_the_autoscaling_minimum_wins(fake_agent, aws_endpoints, broker):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    ecs = boto3.client("ecs", region_name="us-east-1")
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    scaler = ServiceScaler(fake_agent.cluster, SERVICE, 3, ecs, aas)
    assert scaler.floor() == 3
    assert scaler.retire_one(broker) is False
    assert service.update_count == 0


def test_a_held_lock_makes_retire_wait_then_report_busy(fake_agent, aws_endpoints, lock_url):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    name = f"ecsops:scalein:retire:{fake_agent.cluster}:{SERVICE}"
    busy = pytest.raises(RetireLockBusy, match="still held by another worker")
    with retire_lock(lock_url, name), busy, retire_lock(lock_url, name, wait_seconds=0.5):
        pytest.fail("the lock was taken twice")
    assert service.update_count == 0


def test_an_unreachable_lock_raises_retire_error_and_changes_nothing(fake_agent, aws_endpoints):
    service = fake_agent.add_service(SERVICE, desired_count=3, min_capacity=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for url in (f"redis://127.0.0.1:{port}/0", f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"):
        with pytest.raises(RetireError, match=r"^\[ecsops\] scalein_self_retire: retiring failed"):
            scaler_for(fake_agent).retire_one(url)
    assert service.desired_count == 3 and service.update_count == 0


def test_a_missing_service_raises_retire_error_naming_scalein_service(fake_agent, aws_endpoints, broker):
    with pytest.raises(RetireError, match="not found in cluster"):
        scaler_for(fake_agent).retire_one(broker)


RETIRE = ScaleInSettings(self_retire=True, service=SERVICE)
PG = "postgresql+psycopg2://airflow@db/airflow"


@pytest.mark.parametrize(
    ("settings", "broker_url", "metadb_url", "expected"),
    [
        (RETIRE, "redis://redis:6379/0", PG, "redis://redis:6379/0"),
        (RETIRE, "rediss://redis:6379/0", "sqlite:////tmp/airflow.db", "rediss://redis:6379/0"),
        (RETIRE, "amqp://guest@rabbit//", PG, PG),
        (RETIRE, "sqs://", PG, PG),
        (RETIRE, "sentinel://s1:26379", PG, PG),
        (
            ScaleInSettings(self_retire=True, service=SERVICE, retire_lock_url="redis://lock/1"),
            "sqs://",
            "",
            "redis://lock/1",
        ),
    ],
)
def test_the_retire_lock_defaults_to_the_redis_broker_else_a_postgresql_metadata_db(
    settings, broker_url, metadb_url, expected
):
    assert retire_lock_url(settings, broker_url, metadb_url) == expected
    check_retire_config(settings, broker_url, metadb_url)


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            RETIRE,
            "[ecsops] scalein_retire_lock_url: empty, and neither the broker (amqp://) nor the metadata DB "
            "(sqlite://) can hold the retire lock. Fix: set scalein_retire_lock_url to a redis:// or "
            "postgresql:// URL the whole fleet reaches",
        ),
        (
            ScaleInSettings(self_retire=True, service=SERVICE, retire_lock_url="mysql://db/airflow"),
            "[ecsops] scalein_retire_lock_url: 'mysql://' cannot hold the retire lock. Fix: set it to a "
            "redis://, rediss:// or postgresql:// URL the whole fleet reaches",
        ),
    ],
)
def test_no_usable_retire_lock_fails_at_start_with_one_line(settings, line):
    with pytest.raises(ConfigurationError) as failure:
        check_retire_config(settings, "amqp://guest@rabbit//", "sqlite:////tmp/airflow.db")
    assert str(failure.value) == line


def test_without_self_retire_no_lock_is_needed():
    check_retire_config(ScaleInSettings(), "amqp://guest@rabbit//", "sqlite:////tmp/airflow.db")
