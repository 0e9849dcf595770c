"""Self-retire: lower the worker service's desiredCount by exactly one, never below its floor.

ECS ``UpdateService`` has no compare-and-swap, so two idle workers that both read desiredCount=3 and both write
2 would leave the fleet one short (both exit) and, at the floor, below it. The scheme here serialises the
read-decide-write under a lock shared by the fleet (Redis ``SET NX PX`` or a PostgreSQL advisory lock), and
keeps the lock until ``DescribeServices`` shows the new value, so the next holder reads it, not a stale one.

The lock lives where the fleet already has shared state: ``scalein_retire_lock_url``, else a Redis broker, else
a PostgreSQL metadata DB (RabbitMQ and SQS brokers hold no lock); without any, :func:`check_retire_config` fails
at worker start. Calls here raise only ``RetireError`` / ``RetireLockBusy`` (and ``ConfigurationError`` from the
start-time check), each wait bounded.
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

from airflow_provider_ecsops.scalein.errors import ConfigurationError, RetireError, RetireLockBusy
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

log = logging.getLogger(__name__)

# Bound of each connect and lock statement, seconds (retire runs on the guard's I/O thread).
TIMEOUT_SECONDS = 5.0
_REDIS_SCHEMES = ("redis://", "rediss://")
_RELEASE_IF_OURS = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def _is_postgresql(url: str) -> bool:
    return url.split("://", 1)[0].split("+", 1)[0] == "postgresql"


def _unusable_lock(url: str) -> ConfigurationError:
    return ConfigurationError(
        f"[ecsops] scalein_retire_lock_url: {url.split('://', 1)[0] + '://'!r} cannot hold the retire lock. "
        "Fix: set it to a redis://, rediss:// or postgresql:// URL the whole fleet reaches"
    )


def retire_lock_url(settings: ScaleInSettings, broker_url: str, metadb_url: str) -> str:
    """The URL of the fleet's retire lock: ``scalein_retire_lock_url``, else the broker if it is Redis, else
    the metadata DB if it is PostgreSQL.

    :param settings: the scale-in settings.
    :param broker_url: the Celery app's broker URL.
    :param metadb_url: Airflow's ``[database] sql_alchemy_conn``.
    :raises ConfigurationError: no usable lock (the message names ``scalein_retire_lock_url``).
    """
    url = settings.retire_lock_url
    if url:
        if url.startswith(_REDIS_SCHEMES) or _is_postgresql(url):
            return url
        raise _unusable_lock(url)
    if broker_url.startswith(_REDIS_SCHEMES):
        return broker_url
    if _is_postgresql(metadb_url):
        return metadb_url
    raise ConfigurationError(
        "[ecsops] scalein_retire_lock_url: empty, and neither the broker "
        f"({broker_url.split('://', 1)[0]}://) nor the metadata DB ({metadb_url.split('://', 1)[0]}://) can "
        "hold the retire lock. Fix: set scalein_retire_lock_url to a redis:// or postgresql:// URL the whole "
        "fleet reaches"
    )


def check_retire_config(settings: ScaleInSettings, broker_url: str, metadb_url: str) -> None:
    """Start-time check of self-retire: with ``scalein_self_retire`` on, a retire lock must be usable.

    :raises ConfigurationError: see :func:`retire_lock_url`.
    """
    if settings.self_retire:
        retire_lock_url(settings, broker_url, metadb_url)


@contextmanager
def retire_lock(url: str, name: str, wait_seconds: float = 30.0, ttl_seconds: float = 60.0) -> Iterator[None]:
    """Hold the fleet-wide lock ``name`` for the body.

    :param url: ``redis://`` / ``rediss://`` (``SET NX PX`` with a TTL, so a crashed holder cannot block the
        fleet) or ``postgresql://`` (session advisory lock, released by the server if the holder dies).
    :param name: lock name, one per service.
    :param wait_seconds: how long to wait for the lock before :class:`RetireLockBusy`.
    :param ttl_seconds: Redis only: expiry of the lock key.
    """
    deadline = time.monotonic() + wait_seconds
    if url.startswith(_REDIS_SCHEMES):
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        token = uuid.uuid4().hex
        _wait_for(lambda: client.set(name, token, nx=True, px=int(ttl_seconds * 1000)), deadline, name)
        try:
            yield
        finally:
            client.eval(_RELEASE_IF_OURS, 1, name, token)
    elif _is_postgresql(url):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        key = zlib.crc32(name.encode())
        timeouts = {
            "connect_timeout": int(TIMEOUT_SECONDS),
            "options": f"-c statement_timeout={int(TIMEOUT_SECONDS * 1000)}",
        }
        engine = create_engine(url, poolclass=NullPool, connect_args=timeouts)
        try:
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
        finally:
            engine.dispose()
    else:
        raise _unusable_lock(url)


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
            raise RetireError(
                f"[ecsops] scalein_service: ECS service {self.service!r} not found in cluster {self.cluster!r}. "
                "Fix: set scalein_service to the workers' service name"
            )
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

    def retire_one(
        self, lock_url: str, settle_seconds: float = 30.0, still_idle: Callable[[], bool] | None = None
    ) -> bool:
        """Lower desiredCount by one if it is above the floor and ``still_idle()``; True if it did.

        :param lock_url: URL of the fleet-wide retire lock (see :func:`retire_lock_url`).
        :param settle_seconds: how long to wait for DescribeServices to show the new value.
        :param still_idle: asked under the lock, right before UpdateService: False (work arrived while the
            clients, the lock and DescribeServices took their time) keeps desiredCount.
        :raises RetireLockBusy: another worker kept the lock past the wait.
        :raises RetireError: anything else failed; desiredCount is unchanged.
        """
        lowered = False
        try:
            with retire_lock(lock_url, f"ecsops:scalein:retire:{self.cluster}:{self.service}"):
                desired, floor = self.desired_count(), self.floor()
                if desired <= floor:
                    log.info(
                        "ecsops scale-in: not retiring, desiredCount %d is at the floor %d", desired, floor
                    )
                    return False
                # The caller's idle check ran before the clients, the lock and two API calls: seconds under
                # load (a race lab run saw three workers retire 7-11 s after it, with a new wave in the queue).
                if still_idle is not None and not still_idle():
                    log.info("ecsops scale-in: not retiring, work arrived since the idle check")
                    return False
                self.ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=desired - 1)
                lowered = True
                log.info(
                    "ecsops scale-in: retiring, desiredCount %d -> %d (floor %d)", desired, desired - 1, floor
                )
                deadline = time.monotonic() + settle_seconds
                while self.desired_count() != desired - 1 and time.monotonic() < deadline:
                    time.sleep(0.5)
                return True
        except RetireError:
            raise
        except Exception as exc:
            if (
                lowered
            ):  # the service already counts one task less: this worker must go, whatever failed after
                log.warning("ecsops scale-in: retiring although settling or unlocking failed: %r", exc)
                return True
            raise RetireError(
                f"[ecsops] scalein_self_retire: retiring failed ({type(exc).__name__}: {exc}); desiredCount "
                "unchanged. Fix: none if it passes on a later try; else check the retire lock's reachability and "
                "the task role's ecs:DescribeServices, ecs:UpdateService and "
                "application-autoscaling:DescribeScalableTargets"
            ) from exc


def service_scaler(cluster: str, service: str, min_workers: str, aws_conn_id: str | None) -> ServiceScaler:
    """A :class:`ServiceScaler` with clients from the amazon provider's hook.

    :raises RetireError: the clients cannot be made (no region, a broken connection ``aws_conn_id``).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    try:
        return ServiceScaler(
            cluster=cluster,
            service=service,
            min_workers=int(min_workers) if min_workers.strip() else None,
            ecs=AwsBaseHook(aws_conn_id=aws_conn_id, client_type="ecs").conn,
            autoscaling=AwsBaseHook(aws_conn_id=aws_conn_id, client_type="application-autoscaling").conn,
        )
    except Exception as exc:
        raise RetireError(
            f"[ecsops] scalein_aws_conn_id: no ECS client for self-retire ({type(exc).__name__}: {exc}). "
            "Fix: give the worker a region (AWS_DEFAULT_REGION) and credentials, or a working aws_conn_id"
        ) from exc


def _wait_for(acquire: Callable[[], Any], deadline: float, name: str) -> None:
    """Call ``acquire`` until it returns a true value; raise RetireLockBusy once ``deadline`` has passed."""
    while not acquire():
        if time.monotonic() > deadline:
            raise RetireLockBusy(
                f"[ecsops] scalein_self_retire: the retire lock {name} is still held by another worker. "
                "Fix: none, retried on a later idle tick"
            )
        time.sleep(0.05)
