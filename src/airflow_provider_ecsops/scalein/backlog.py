"""Backlog sources: how many task messages wait for a worker's queues, seen from the broker, DB or API."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Protocol

from airflow_provider_ecsops.scalein.settings import ScaleInSettings

# Airflow states of task instances that are, or are about to be, waiting in a queue.
WAITING_STATES = ("scheduled", "queued")
# kombu's Redis transport keeps priority levels in extra lists named queue + sep + level.
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class BacklogSource(Protocol):
    def count(self, queues: list[str]) -> int:
        """Number of tasks waiting for ``queues``."""


class RedisBacklog:
    """Length of the queues' Redis lists (all priority levels).

    :param url: ``redis://`` URL of the broker.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def count(self, queues: list[str]) -> int:
        pipe = self._client.pipeline(transaction=False)
        for queue in queues:
            for suffix in _REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        return sum(pipe.execute())


class SqsBacklog:
    """``ApproximateNumberOfMessages`` of the queues' SQS queues (visible messages only).

    Queue URLs are resolved the way kombu's SQS transport names them: ``predefined_queues`` first, else
    ``queue_name_prefix`` + the name with dots as dashes.

    :param aws_conn_id: Airflow connection; None = the task role.
    :param transport_options: the Celery app's ``broker_transport_options``.
    """

    def __init__(
        self, aws_conn_id: str | None = None, transport_options: dict[str, Any] | None = None
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.transport_options = transport_options or {}

    @cached_property
    def _sqs(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        return SqsHook(aws_conn_id=self.aws_conn_id).conn

    def _url(self, queue: str) -> str:
        predefined = self.transport_options.get("predefined_queues") or {}
        if queue in predefined:
            return predefined[queue]["url"]
        name = self.transport_options.get("queue_name_prefix", "") + queue.replace(".", "-")
        return self._sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def count(self, queues: list[str]) -> int:
        total = 0
        for queue in queues:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._url(queue), AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"])
        return total


class MetadataDbBacklog:
    """Scheduled and queued task instances of the queues in Airflow's metadata DB.

    The query filters on ``state`` first, which Airflow's ``ti_state`` index serves; on very large tables an
    extra partial index helps (see docs/scalein.md).

    :param url: SQLAlchemy URL of the metadata DB.
    """

    QUERY = "SELECT count(*) FROM task_instance WHERE state IN :states AND queue IN :queues"

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def _engine(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(self.url, pool_pre_ping=True, pool_size=1)

    @cached_property
    def _statement(self) -> Any:
        from sqlalchemy import bindparam, text

        return text(self.QUERY).bindparams(
            bindparam("states", expanding=True), bindparam("queues", expanding=True)
        )

    def count(self, queues: list[str]) -> int:
        with self._engine.connect() as connection:
            return int(
                connection.execute(
                    self._statement, {"states": list(WAITING_STATES), "queues": queues}
                ).scalar()
            )


class RestApiBacklog:
    """Scheduled and queued task instances of the queues from Airflow's REST API v2 (``total_entries``).

    :param transport: anything with ``get(path, params) -> dict`` on ``/api/v2``, e.g. the replication
        capability's ``HttpTransport`` (bearer token or ``/auth/token`` login).
    """

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def count(self, queues: list[str]) -> int:
        params = {"state": list(WAITING_STATES), "queue": queues, "limit": 1}
        return int(self.transport.get("/dags/~/dagRuns/~/taskInstances", params)["total_entries"])


def backlog_source(
    settings: ScaleInSettings, broker_url: str, transport_options: dict[str, Any] | None = None
) -> BacklogSource:
    """The source ``settings.backlog_source`` names, with its URL defaulted from the broker / metadata DB.

    :param settings: the scale-in settings.
    :param broker_url: the Celery app's broker URL.
    :param transport_options: the Celery app's ``broker_transport_options``.
    """
    if settings.backlog_source == "metadb":
        from airflow_provider_ecsops.compat import conf

        return MetadataDbBacklog(settings.backlog_url or conf.get("database", "sql_alchemy_conn"))
    if settings.backlog_source == "rest_api":
        if not settings.backlog_url:
            raise ValueError(
                "[ecsops] scalein_backlog_source = rest_api needs scalein_backlog_url (API base URL)"
            )
        from airflow_provider_ecsops.airflow_api import HttpTransport

        return RestApiBacklog(
            HttpTransport.connect(settings.backlog_url, token=settings.backlog_api_token or None)
        )
    url = settings.backlog_url or broker_url
    if url.startswith(("redis://", "rediss://")):
        return RedisBacklog(url)
    if url.startswith("sqs://"):
        return SqsBacklog(settings.aws_conn_id or None, transport_options)
    raise ValueError(
        f"[ecsops] scalein_backlog_source = broker supports Redis and SQS brokers, not {url.split(':')[0]!r}; "
        "set scalein_backlog_source to metadb or rest_api"
    )
