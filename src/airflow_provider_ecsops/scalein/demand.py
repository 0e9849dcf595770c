"""Demand of a self-managed Celery fleet, per Celery queue: what scale-out needs and Airflow does not publish.

Per queue: ``queued`` and ``running`` (and ``scheduled``, about to be queued) task instances, and the age of the
oldest queued one (pickup latency). The fleet's **required workers** = ceil((queued + running) / concurrency)
over all the queues its workers consume: every running task holds a slot and every queued one wants one.

Invariant: a reading is either complete (every queue asked for, from one consistent source call) or it raises
``DemandError``; there is no partial or defaulted reading, so an outage publishes nothing (missing data, which
an alarm can see) and never a fake zero. Sources are built by :func:`demand_source`, the start-time check (bad
configuration raises ``ConfigurationError`` there, one line naming the fix); every call is bounded by the
backlog sources' ``TIMEOUT_SECONDS``.

Sources: the metadata DB (one indexed query for all queues), Airflow 3's REST API v2 (for set-ups where nothing
but the API server reaches the DB), or the broker (ready messages only: a broker cannot tell running tasks or
their age, so that reading has ``running`` / ``oldest`` unknown and required workers from the queued alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from airflow_provider_ecsops.scalein.backlog import (
    BrokerBacklog,
    MetadataDbBacklog,
    RestApiBacklog,
    backlog_source,
)
from airflow_provider_ecsops.scalein.errors import BacklogError, ConfigurationError, DemandError
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

# Task instance states the demand counts: scheduled (about to be queued), queued (waiting for a worker),
# running (holding a worker slot).
DEMAND_STATES = ("scheduled", "queued", "running")


@dataclass(frozen=True)
class QueueDemand:
    """One queue's reading.

    :param queue: Celery queue name.
    :param scheduled: task instances scheduled (``None``: the source cannot tell).
    :param queued: task instances queued (broker: ready messages).
    :param running: task instances running (``None``: the source cannot tell).
    :param oldest_queued_seconds: age of the oldest queued task instance; 0 with none queued, ``None`` unknown.
    """

    queue: str
    scheduled: int | None
    queued: int
    running: int | None
    oldest_queued_seconds: float | None


@dataclass(frozen=True)
class Demand:
    """A complete reading of a fleet's queues at one time.

    :param queues: one entry per queue asked for, in that order.
    :param concurrency: task slots per worker (``[celery] worker_concurrency``).
    :param at: when the reading was taken.
    """

    queues: tuple[QueueDemand, ...]
    concurrency: int
    at: datetime

    @property
    def queued(self) -> int:
        return sum(q.queued for q in self.queues)

    @property
    def running(self) -> int:
        return sum(q.running or 0 for q in self.queues)

    @property
    def required_workers(self) -> int:
        """ceil((queued + running) / concurrency) over the fleet's queues (its workers serve them all)."""
        return math.ceil((self.queued + self.running) / self.concurrency)

    def required_for(self, queue: QueueDemand) -> int:
        return math.ceil((queue.queued + (queue.running or 0)) / self.concurrency)


class DemandSource(Protocol):
    def read(self, queues: list[str]) -> list[QueueDemand]:
        """A reading of every queue in ``queues``; raises only ``DemandError``."""


def _age(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # Airflow stores UTC; a naive value from the driver is UTC too
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (now - oldest).total_seconds())


class MetadbDemand:
    """Demand from the metadata DB: :data:`QUERY`, one statement for all queues.

    ``state`` leads the filter, so Airflow's ``ti_state`` index serves it (``bench/scalein_demand_query.py``
    measures it at 100k and 1M task instances against a sequential scan). It reuses the backlog source's engine,
    with the same connect and statement timeouts.

    :param url: SQLAlchemy URL of the metadata DB.
    """

    QUERY = (
        "SELECT queue, state, count(*), min(queued_dttm) FROM task_instance "
        "WHERE state IN :states AND queue IN :queues GROUP BY queue, state"
    )

    def __init__(self, url: str) -> None:
        self.db = MetadataDbBacklog(url)

    def _statement(self) -> Any:
        from sqlalchemy import bindparam, text

        return text(self.QUERY).bindparams(
            bindparam("states", expanding=True), bindparam("queues", expanding=True)
        )

    def read(self, queues: list[str]) -> list[QueueDemand]:
        try:
            with self.db._engine.connect() as connection:
                rows = connection.execute(
                    self._statement(), {"states": list(DEMAND_STATES), "queues": queues}
                ).all()
        except Exception as exc:
            raise DemandError(
                f"[ecsops] demand: reading {queues} from the metadata DB failed ({type(exc).__name__}). "
                "Fix: none if it passes (nothing is published meanwhile); else check the DB URL and network"
            ) from exc
        now = datetime.now(UTC)
        counts = {(queue, state): (int(n), oldest) for queue, state, n, oldest in rows}

        def n(queue: str, state: str) -> int:
            return counts.get((queue, state), (0, None))[0]

        return [
            QueueDemand(
                queue=q,
                scheduled=n(q, "scheduled"),
                queued=n(q, "queued"),
                running=n(q, "running"),
                oldest_queued_seconds=_age(counts.get((q, "queued"), (0, None))[1], now),
            )
            for q in queues
        ]


class RestApiDemand:
    """Demand from Airflow 3's REST API v2 (``GET /dags/~/dagRuns/~/taskInstances``).

    Counts are ``total_entries`` of one-item pages (one call per queue and state); the oldest queued age needs
    the queued items' ``queued_when`` (the endpoint cannot sort by it), so queued task instances are paged
    through: cost grows with the backlog, 100 per call.

    :param transport: a core ``airflow_api`` transport (``HttpTransport`` or ``MwaaTransport``).
    """

    PATH = "/dags/~/dagRuns/~/taskInstances"

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def _total(self, queue: str, state: str) -> int:
        return int(
            self.transport.get(self.PATH, {"state": [state], "queue": [queue], "limit": 1})["total_entries"]
        )

    def _queued_times(self, queue: str) -> list[datetime]:
        from airflow_provider_ecsops.airflow_api import pages

        items: Iterable[dict] = pages(
            self.transport, self.PATH, "task_instances", {"state": ["queued"], "queue": [queue]}
        )
        return [datetime.fromisoformat(i["queued_when"]) for i in items if i.get("queued_when")]

    def read(self, queues: list[str]) -> list[QueueDemand]:
        try:
            readings = []
            for q in queues:
                times = self._queued_times(q)
                readings.append(
                    QueueDemand(
                        queue=q,
                        scheduled=self._total(q, "scheduled"),
                        queued=len(times),
                        running=self._total(q, "running"),
                        oldest_queued_seconds=_age(min(times, default=None), datetime.now(UTC)),
                    )
                )
            return readings
        except Exception as exc:
            raise DemandError(
                f"[ecsops] demand: reading {queues} through the REST API failed ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). Fix: none if it passes (nothing is published "
                "meanwhile); else check the API URL and token"
            ) from exc


class BrokerDemand:
    """Demand from the broker: ready messages per queue (the backlog source's kombu count), nothing else.

    :param backlog: the kombu backlog source (same naming, transport options and timeouts as the worker).
    """

    def __init__(self, backlog: BrokerBacklog) -> None:
        self.backlog = backlog

    def read(self, queues: list[str]) -> list[QueueDemand]:
        try:
            return [QueueDemand(q, None, self.backlog.count([q]), None, None) for q in queues]
        except BacklogError as exc:
            raise DemandError(str(exc).replace("scalein_backlog_source", "demand")) from exc


def read_demand(source: DemandSource, queues: list[str], concurrency: int) -> Demand:
    """One complete reading: the function for teams that run their own loop (publish it with
    :func:`airflow_provider_ecsops.scalein.demand_publish.publish`).

    :raises DemandError: the source could not be read this time.
    """
    return Demand(tuple(source.read(queues)), concurrency, datetime.now(UTC))


def demand_source(kind: str, url: str = "", api_token: str = "", broker_url: str = "") -> DemandSource:
    """The demand source ``kind`` names; call it at start (it is the configuration check).

    :param kind: ``metadb``, ``rest_api`` or ``broker`` (as ``scalein_backlog_source``).
    :param url: SQLAlchemy URL (metadb; empty: Airflow's ``sql_alchemy_conn``), API base URL (rest_api) or
        broker URL (broker; empty: ``broker_url``).
    :param api_token: bearer token for ``rest_api``.
    :param broker_url: the Celery broker URL (broker).
    :raises ConfigurationError: the source cannot work as configured (the message names the fix).
    """
    try:
        settings = ScaleInSettings(backlog_source=kind, backlog_url=url, backlog_api_token=api_token)
    except ValueError as exc:
        raise ConfigurationError(
            f"[ecsops] demand source: {kind!r} is not a source. Fix: use metadb, rest_api or broker"
        ) from exc
    if kind == "broker" and not (url or broker_url):
        raise ConfigurationError(
            "[ecsops] demand source: broker needs the broker URL. Fix: set ECSOPS_DEMAND_URL to it"
        )
    backlog = backlog_source(settings, broker_url)
    if isinstance(backlog, MetadataDbBacklog):
        return MetadbDemand(backlog.url)
    if isinstance(backlog, RestApiBacklog):
        return RestApiDemand(backlog.transport)
    assert isinstance(backlog, BrokerBacklog)
    return BrokerDemand(backlog)
