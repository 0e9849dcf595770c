"""Publishing a fleet's demand to CloudWatch: one ``PutMetricData`` call per interval, three ways to run it.

- :func:`lambda_handler`: an AWS Lambda function on an EventBridge schedule (configuration from the environment).
- ``ecsops-demand --interval 60``: a long-running command for a sidecar or a small ECS service (:func:`main`).
- :meth:`DemandPublisher.publish_once`: one interval, for a team's own scheduler loop.

Invariant: an interval either publishes a complete reading in one call or publishes nothing (a ``DemandError``
from the source, or a failed ``DescribeServices``, skips the interval with one logged line): a missing datapoint
is what an outage looks like, never a zero. Configuration is checked once, at start (:meth:`PublishConfig.from_env`
and :func:`publisher` raise ``ConfigurationError``, one line naming the fix).

Metrics (namespace configurable, dimension ``Fleet`` plus any configured ones; per queue also ``Queue``):
``Queued``, ``Running``, ``Scheduled``, ``RequiredWorkers``, ``OldestQueuedAgeSeconds``; per fleet the same over
all its queues and, with the ECS service configured, ``DesiredWorkers`` and ``DemandPerWorker`` =
RequiredWorkers / max(DesiredWorkers, 1), the target-tracking metric of ``scalein.policy`` (target 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ecsops.scalein.demand import Demand, DemandSource, demand_source, read_demand
from airflow_provider_ecsops.scalein.errors import ConfigurationError, DemandError

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "Ecsops/CeleryDemand"
# The target-tracking metric and its dimension set (scalein.policy builds the policy on it).
TRACKED_METRIC = "DemandPerWorker"
# PutMetricData takes at most 1000 datums and 30 dimensions per metric (CloudWatch API reference, PutMetricData).
MAX_DATUMS = 1000
MAX_DIMENSIONS = 30
PER_QUEUE = 5
PER_FLEET = 7
ENV_PREFIX = "ECSOPS_DEMAND_"


def demand_per_worker(demand: Demand, desired: int) -> float:
    """The tracked metric: required workers per desired worker (a desired count of 0 counts as 1, so demand on
    an empty service still reads above the target)."""
    return demand.required_workers / max(desired, 1)


def _dimensions(text: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ConfigurationError(
            f"[ecsops] ECSOPS_DEMAND_DIMENSIONS: {text!r} is not Name=Value[,Name=Value]. "
            "Fix: e.g. ECSOPS_DEMAND_DIMENSIONS=Environment=prod"
        )
    return {k.strip(): v.strip() for k, v in pairs}


@dataclass(frozen=True)
class PublishConfig:
    """What a publisher needs; every field is also an ``ECSOPS_DEMAND_<FIELD>`` environment variable.

    :param fleet: the fleet's name (dimension ``Fleet``), e.g. the worker service's name.
    :param queues: Celery queues the fleet's workers consume.
    :param concurrency: task slots per worker (``[celery] worker_concurrency``).
    :param source: ``metadb``, ``rest_api`` or ``broker``.
    :param url: SQLAlchemy URL, API base URL or broker URL of the source (empty for metadb: Airflow's own).
    :param api_token: bearer token for ``rest_api``.
    :param secret_id: Secrets Manager secret whose string is the ``url`` (metadb, broker) or the token
        (rest_api); read once at start, so no credential sits in the environment.
    :param namespace: CloudWatch namespace.
    :param dimensions: extra dimensions on every metric.
    :param cluster: ECS cluster of the worker service (with ``service``: ``DesiredWorkers``, ``DemandPerWorker``).
    :param service: ECS service of the workers.
    """

    fleet: str
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 16
    source: str = "metadb"
    url: str = ""
    api_token: str = ""
    secret_id: str = ""
    namespace: str = DEFAULT_NAMESPACE
    dimensions: dict[str, str] = field(default_factory=dict)
    cluster: str = ""
    service: str = ""

    def __post_init__(self) -> None:
        problems = [
            (
                not self.fleet,
                "ECSOPS_DEMAND_FLEET: empty. Fix: set it to the fleet's name (the worker service)",
            ),
            (not self.queues, "ECSOPS_DEMAND_QUEUES: empty. Fix: list the fleet's queues, e.g. default,etl"),
            (self.concurrency < 1, "ECSOPS_DEMAND_CONCURRENCY: must be >= 1. Fix: the workers' concurrency"),
            (
                bool(self.service) != bool(self.cluster),
                "ECSOPS_DEMAND_SERVICE: needs ECSOPS_DEMAND_CLUSTER and the other way round. Fix: set both",
            ),
            (
                len(self.dimensions) + 2 > MAX_DIMENSIONS,
                f"ECSOPS_DEMAND_DIMENSIONS: at most {MAX_DIMENSIONS - 2}. Fix: drop some",
            ),
            (
                PER_QUEUE * len(self.queues) + PER_FLEET > MAX_DATUMS,
                f"ECSOPS_DEMAND_QUEUES: too many for one PutMetricData ({MAX_DATUMS} datums). "
                "Fix: split the queues into several fleets",
            ),
        ]
        for bad, message in problems:
            if bad:
                raise ConfigurationError(f"[ecsops] {message}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> PublishConfig:
        """The configuration from ``ECSOPS_DEMAND_*`` variables, ``overrides`` (non-empty) winning."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(ENV_PREFIX + name.upper(), default)

        concurrency = get("concurrency", "16")
        if not concurrency.isdigit():
            raise ConfigurationError(
                f"[ecsops] ECSOPS_DEMAND_CONCURRENCY: {concurrency!r} is not a whole number. "
                "Fix: the workers' [celery] worker_concurrency"
            )
        values: dict[str, Any] = {
            "fleet": get("fleet"),
            "queues": tuple(q.strip() for q in get("queues", "default").split(",") if q.strip()),
            "concurrency": int(concurrency),
            "source": get("source", "metadb"),
            "url": get("url"),
            "api_token": get("api_token"),
            "secret_id": get("secret_id"),
            "namespace": get("namespace", DEFAULT_NAMESPACE),
            "dimensions": _dimensions(get("dimensions")),
            "cluster": get("cluster"),
            "service": get("service"),
        }
        return cls(**(values | {k: v for k, v in overrides.items() if v not in (None, "")}))


def _secret(secret_id: str, client: Any) -> str:
    try:
        return client.get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as exc:
        raise ConfigurationError(
            f"[ecsops] ECSOPS_DEMAND_SECRET_ID: cannot read {secret_id!r} ({type(exc).__name__}). "
            "Fix: a string secret the role may secretsmanager:GetSecretValue"
        ) from exc


class DemandPublisher:
    """Reads the fleet's demand and publishes it; one instance per process (it keeps the source's engine).

    :param config: the checked configuration.
    :param source: the demand source (``demand_source``'s start-time check already passed).
    :param cloudwatch: a boto3 CloudWatch client.
    :param ecs: a boto3 ECS client (used with ``config.service``).
    """

    def __init__(self, config: PublishConfig, source: DemandSource, cloudwatch: Any, ecs: Any = None) -> None:
        self.config, self.source, self.cloudwatch, self.ecs = config, source, cloudwatch, ecs

    def _desired(self) -> int | None:
        if not self.config.service:
            return None
        services = self.ecs.describe_services(cluster=self.config.cluster, services=[self.config.service])
        if not services["services"]:
            raise DemandError(f"[ecsops] ECSOPS_DEMAND_SERVICE: {self.config.service!r} not found")
        return int(services["services"][0]["desiredCount"])

    def metric_data(self, demand: Demand, desired: int | None) -> list[dict[str, Any]]:
        """The datums of one interval (the ``MetricData`` of its PutMetricData call)."""
        base = [{"Name": "Fleet", "Value": self.config.fleet}] + [
            {"Name": k, "Value": v} for k, v in self.config.dimensions.items()
        ]

        def datum(name: str, value: float, dims: list[dict[str, str]], unit: str = "Count") -> dict[str, Any]:
            return {
                "MetricName": name,
                "Dimensions": dims,
                "Value": float(value),
                "Unit": unit,
                "Timestamp": demand.at,
            }

        data = []
        for q in demand.queues:
            dims = [*base, {"Name": "Queue", "Value": q.queue}]
            data.append(datum("Queued", q.queued, dims))
            data.append(datum("RequiredWorkers", demand.required_for(q), dims))
            if q.running is not None:
                data.append(datum("Running", q.running, dims))
            if q.scheduled is not None:
                data.append(datum("Scheduled", q.scheduled, dims))
            if q.oldest_queued_seconds is not None:
                data.append(datum("OldestQueuedAgeSeconds", q.oldest_queued_seconds, dims, "Seconds"))
        data.append(datum("Queued", demand.queued, base))
        data.append(datum("RequiredWorkers", demand.required_workers, base))
        if all(q.running is not None for q in demand.queues):
            data.append(datum("Running", demand.running, base))
        ages = [q.oldest_queued_seconds for q in demand.queues]
        if all(a is not None for a in ages):
            data.append(
                datum("OldestQueuedAgeSeconds", max(a for a in ages if a is not None), base, "Seconds")
            )
        if desired is not None:
            data.append(datum("DesiredWorkers", desired, base))
            data.append(datum(TRACKED_METRIC, demand_per_worker(demand, desired), base, "None"))
        return data

    def publish_once(self) -> Demand | None:
        """Read and publish one interval; return the reading, or ``None`` if nothing was published."""
        try:
            demand = read_demand(self.source, list(self.config.queues), self.config.concurrency)
            desired = self._desired()
        except Exception as exc:  # an outage: publish nothing, so the datapoint is missing, not zero
            log.error("ecsops demand: nothing published this interval: %s", str(exc).splitlines()[0])
            return None
        self.cloudwatch.put_metric_data(
            Namespace=self.config.namespace, MetricData=self.metric_data(demand, desired)
        )
        log.info(
            "ecsops demand: %s queued %d running %d required %d desired %s",
            self.config.fleet,
            demand.queued,
            demand.running,
            demand.required_workers,
            desired,
        )
        return demand

    def run(self, interval: float, stop: threading.Event) -> None:
        """Publish every ``interval`` seconds (on a fixed grid, so slow reads do not drift) until ``stop``."""
        import time

        started = time.monotonic()
        while not stop.is_set():
            try:
                self.publish_once()
            except Exception as exc:  # a PutMetricData failure loses one interval, not the publisher
                log.error("ecsops demand: PutMetricData failed: %s", str(exc).splitlines()[0])
            elapsed = time.monotonic() - started
            stop.wait(interval - elapsed % interval)


def publisher(config: PublishConfig, session: Any = None) -> DemandPublisher:
    """A publisher with boto3 clients from ``session`` (default: boto3's default chain); the start-time check.

    :raises ConfigurationError: the source, the secret or the region cannot work (one line naming the fix).
    """
    import boto3

    session = session or boto3.session.Session()
    if not session.region_name:
        raise ConfigurationError(
            "[ecsops] demand: no AWS region. Fix: set AWS_DEFAULT_REGION (or AWS_REGION)"
        )
    url, token = config.url, config.api_token
    if config.secret_id:
        secret = _secret(config.secret_id, session.client("secretsmanager"))
        url, token = (url, secret) if config.source == "rest_api" else (secret, token)
    source = demand_source(config.source, url, token, broker_url=url)
    ecs = session.client("ecs") if config.service else None
    return DemandPublisher(config, source, session.client("cloudwatch"), ecs)


_LAMBDA: DemandPublisher | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (``airflow_provider_ecsops.scalein.demand_publish.lambda_handler``).

    Configured by ``ECSOPS_DEMAND_*`` environment variables; the publisher (and its DB engine) is kept between
    invocations of a warm container. Returns what was published, for the invocation's log.
    """
    global _LAMBDA
    if _LAMBDA is None:
        _LAMBDA = publisher(PublishConfig.from_env())
    demand = _LAMBDA.publish_once()
    if demand is None:
        return {"published": False}
    return {
        "published": True,
        "queued": demand.queued,
        "running": demand.running,
        "required_workers": demand.required_workers,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecsops-demand",
        description="Publish a Celery fleet's demand to CloudWatch every interval (ECSOPS_DEMAND_* variables "
        "configure what the options do not).",
    )
    p.add_argument("--interval", type=float, default=60.0, help="seconds between publications (default 60)")
    p.add_argument("--once", action="store_true", help="publish one interval and exit")
    p.add_argument("--fleet")
    p.add_argument("--queues", help="comma-separated Celery queues")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--source", choices=("metadb", "rest_api", "broker"))
    p.add_argument("--url")
    p.add_argument("--namespace")
    p.add_argument("--cluster")
    p.add_argument("--service")
    return p


def main(argv: list[str] | None = None) -> int:
    """``ecsops-demand``: exit 2 with one line on bad configuration, else publish until SIGTERM / Ctrl-C."""
    import signal

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    queues = tuple(q.strip() for q in args.queues.split(",") if q.strip()) if args.queues else None
    try:
        if args.interval <= 0:
            raise ConfigurationError("[ecsops] --interval: must be > 0. Fix: e.g. --interval 60")
        config = PublishConfig.from_env(
            fleet=args.fleet,
            queues=queues,
            concurrency=args.concurrency,
            source=args.source,
            url=args.url,
            namespace=args.namespace,
            cluster=args.cluster,
            service=args.service,
        )
        demand_publisher = publisher(config)
    except ConfigurationError as exc:
        print(f"ecsops-demand: {exc}", file=sys.stderr)
        return 2
    if args.once:
        return 0 if demand_publisher.publish_once() is not None else 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        demand_publisher.run(args.interval, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
