"""Self-retire: lower the worker service's desiredCount by exactly one, never below its floor.

ECS ``UpdateService`` has no compare-and-swap, so two idle workers that both read desiredCount=3 and both write
2 would leave the fleet one short (both exit) and, at the floor, below it. The scheme here serialises the
read-decide-write under a lock shared by the fleet (Redis ``SET NX PX`` or a PostgreSQL advisory lock), and
keeps the lock until ``DescribeServices`` shows the new value, so the next holder reads it, not a stale one.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_RELEASE_IF_OURS = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class RetireLockBusy(RuntimeError):
    """Another worker holds the retire lock for longer than we wait."""


@contextmanager
def retire_lock(url: str, name: str, wait_seconds: float = 30.0, ttl_seconds: float = 60.0) -> Iterator[None]:
    """Hold the fleet-wide lock ``name`` for the body.

    :param url: ``redis://`` (``SET NX PX`` with a TTL, so a crashed holder cannot block the fleet) or
        ``postgresql://`` (session advisory lock, released by the server if the holder dies).
    :param name: lock name, one per service.
    :param wait_seconds: how long to wait for the lock before :class:`RetireLockBusy`.
    :param ttl_seconds: Redis only: expiry of the lock key.
    """
    deadline = time.monotonic() + wait_seconds
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url)
        token = uuid.uuid4().hex
        _wait_for(lambda: client.set(name, token, nx=True, px=int(ttl_seconds * 1000)), deadline, name)
        try:
            yield
        finally:
            client.eval(_RELEASE_IF_OURS, 1, name, token)
    elif url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        key = zlib.crc32(name.encode())
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            _wait_for(
                lambda: connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar(),
                deadline,
                name,
            )
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        engine.dispose()
    else:
        raise ValueError(f"[ecsops] scalein_retire_lock_url must be redis:// or postgresql://, got {url!r}")


@dataclass
class ServiceScaler:
    """Reads and lowers the desiredCount of one ECS service.

    :param cluster: cluster name or ARN.
    :param service: service name.
    :param min_workers: configured floor, or None to use the App Auto Scaling minimum alone.
    :param ecs: boto3 ECS client.
    :param autoscaling: boto3 Application Auto Scaling client.
    """

    cluster: str
    service: str
    min_workers: int | None
    ecs: Any
    autoscaling: Any

    def desired_count(self) -> int:
        services = self.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"]
        if not services:
            raise RuntimeError(f"ECS service {self.service!r} not found in cluster {self.cluster!r}")
        return services[0]["desiredCount"]

    def floor(self) -> int:
        """The larger of the configured floor and the scalable target's MinCapacity (1 if neither exists)."""
        resource_id = f"service/{self.cluster.rsplit('/', 1)[-1]}/{self.service}"
        targets = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource_id], ScalableDimension="ecs:service:DesiredCount"
        )["ScalableTargets"]
        candidates = [t["MinCapacity"] for t in targets]
        if self.min_workers is not None:
            candidates.append(self.min_workers)
        return max(candidates) if candidates else 1

    def retire_one(self, lock_url: str, settle_seconds: float = 30.0) -> bool:
        """Lower desiredCount by one if it is above the floor; True if it did.

        :param lock_url: URL of the fleet-wide retire lock.
        :param settle_seconds: how long to wait for DescribeServices to show the new value.
        """
        with retire_lock(lock_url, f"ecsops:scalein:retire:{self.cluster}:{self.service}"):
            desired, floor = self.desired_count(), self.floor()
            if desired <= floor:
                log.info("ecsops scale-in: not retiring, desiredCount %d is at the floor %d", desired, floor)
                return False
            self.ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=desired - 1)
            deadline = time.monotonic() + settle_seconds
            while self.desired_count() != desired - 1 and time.monotonic() < deadline:
                time.sleep(0.5)
            log.info(
                "ecsops scale-in: retiring, desiredCount %d -> %d (floor %d)", desired, desired - 1, floor
            )
            return True


def service_scaler(cluster: str, service: str, min_workers: str, aws_conn_id: str | None) -> ServiceScaler:
    """A :class:`ServiceScaler` with clients from the amazon provider's hook."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return ServiceScaler(
        cluster=cluster,
        service=service,
        min_workers=int(min_workers) if min_workers.strip() else None,
        ecs=AwsBaseHook(aws_conn_id=aws_conn_id, client_type="ecs").conn,
        autoscaling=AwsBaseHook(aws_conn_id=aws_conn_id, client_type="application-autoscaling").conn,
    )


def _wait_for(acquire: Callable[[], Any], deadline: float, name: str) -> None:
    """Call ``acquire`` until it returns a true value; raise RetireLockBusy once ``deadline`` has passed."""
    while not acquire():
        if time.monotonic() > deadline:
            raise RetireLockBusy(f"retire lock {name} still busy at its deadline")
        time.sleep(0.05)
