"""Backlog sources: how many task messages wait for a worker's queues, seen from the broker, DB or API.

Invariant: :func:`backlog_source` is the start-time check (an unsupported setup raises ``ConfigurationError``
there, never at the first idle moment), and ``count()`` raises only ``BacklogError``, within a bounded time
(every socket, HTTP and DB call has a timeout of at most ``TIMEOUT_SECONDS``; the broker count tries a kept
connection and then at most one new one).

"Waiting" means ready for a consumer: Redis list entries, RabbitMQ's ready ``message_count``, SQS's
``ApproximateNumberOfMessages`` (visible). Messages a worker has received but not acked (RabbitMQ unacked, SQS
``NotVisible``) are not backlog: the worker holding them is busy, so it stays protected while it holds them; if
it dies they become ready again and count then.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import Any, Protocol

from airflow_provider_ecsops.scalein.errors import BacklogError, ConfigurationError
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

# Airflow states of task instances that are, or are about to be, waiting in a queue.
WAITING_STATES = ("scheduled", "queued")
# Upper bound of one connect, read or statement of a count (the guard calls count() from its I/O thread).
TIMEOUT_SECONDS = 5.0
# URL scheme -> the kind of kombu transport behind it (kombu's own aliases).
BROKER_KINDS = {
    "redis": "redis",
    "rediss": "redis",
    "sentinel": "redis",
    "sqs": "sqs",
    "amqp": "amqp",
    "amqps": "amqp",
    "pyamqp": "amqp",
}


class BacklogSource(Protocol):
    def count(self, queues: list[str]) -> int:
        """Number of tasks waiting for ``queues``; raises only ``BacklogError``."""


def _bounded_options(kind: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A copy of the broker's transport options with timeouts added where the worker's config has none."""
    bounded = dict(options)
    # A count must not retry the connection for ever (kombu's default for max_retries is unlimited).
    bounded["max_retries"] = 1
    if kind == "redis":
        bounded.setdefault("socket_timeout", timeout)
        bounded.setdefault("socket_connect_timeout", timeout)
        sentinel = dict(bounded.get("sentinel_kwargs") or {})
        sentinel.setdefault("socket_timeout", timeout)
        sentinel.setdefault("socket_connect_timeout", timeout)
        bounded["sentinel_kwargs"] = sentinel
    elif kind == "sqs":
        config = {"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 2}}
        bounded["client-config"] = {**config, **(bounded.get("client-config") or {})}
    else:  # py-amqp takes the transport options as Connection keyword arguments
        bounded.setdefault("read_timeout", timeout)
        bounded.setdefault("write_timeout", timeout)
    return bounded


class BrokerBacklog:
    """Ready messages of the queues, counted by kombu with the worker's own transport and its options.

    kombu does the naming, so the count sees what the worker consumes: Redis ``global_keyprefix`` and the
    priority lists (``queue\\x06\\x163``... per ``priority_steps``), ``rediss://`` with ``broker_use_ssl``, sentinel
    via ``master_name``; SQS ``queue_name_prefix``, ``predefined_queues``, region and endpoint; RabbitMQ a
    passive ``queue_declare`` per queue. The connection is kept from one count to the next (the guard counts
    every tick while it drains, on its one I/O thread; a new SQS connection is a new boto3 client and a
    ListQueues each time); a count that fails on a kept connection is tried once more on a new one (a broker
    restart), and a failed count leaves no connection behind. A queue that does not exist holds no backlog (it
    is never created here).

    :param url: the broker URL (``redis://``, ``rediss://``, ``sentinel://``, ``sqs://``, ``amqp://``,
        ``amqps://``, ``pyamqp://``).
    :param transport_options: the Celery app's ``broker_transport_options``.
    :param ssl: the Celery app's ``broker_use_ssl``.
    :param timeout: bound of each connect and read, seconds.
    """

    def __init__(
        self,
        url: str,
        transport_options: dict[str, Any] | None = None,
        ssl: Any = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in BROKER_KINDS:
            raise ConfigurationError(
                f"[ecsops] scalein_backlog_source: the broker scheme {scheme + '://'!r} has no backlog count "
                f"(supported: {', '.join(s + '://' for s in BROKER_KINDS)}). "
                "Fix: set scalein_backlog_source = metadb (or rest_api)"
            )
        self.kind = BROKER_KINDS[scheme]
        options = transport_options or {}
        if scheme == "sentinel" and not options.get("master_name"):
            raise ConfigurationError(
                "[ecsops] scalein_backlog_source: a sentinel:// broker needs the master_name transport option. "
                "Fix: set [celery_broker_transport_options] master_name (the sentinel group of the broker)"
            )
        self.url, self.ssl, self.timeout = url, ssl, timeout
        self.transport_options = _bounded_options(self.kind, options, timeout)
        self._kept: Any = None  # the connection of the last good count
        try:
            self._connection().transport  # noqa: B018 -- imports the transport's client library now
        except ImportError as exc:
            raise ConfigurationError(
                f"[ecsops] scalein_backlog_source: the {self.kind} broker's client library is missing ({exc}). "
                f"Fix: install kombu[{self.kind}] in the worker image"
            ) from exc

    def _connection(self) -> Any:
        from kombu import Connection

        return Connection(
            self.url,
            ssl=self.ssl or False,
            transport_options=self.transport_options,
            connect_timeout=self.timeout,
            heartbeat=0,
        )

    def count(self, queues: list[str]) -> int:
        try:
            if self._kept is not None:
                try:
                    return self._count_on(self._kept, queues)
                except Exception:
                    self.close()  # e.g. the broker restarted: once more on a new connection
            connection = self._connection()
            try:
                connection.connect()
                counted = self._count_on(connection, queues)
            except BaseException:
                connection.release()
                raise
            self._kept = connection
            return counted
        except Exception as exc:
            raise BacklogError(
                f"[ecsops] scalein_backlog_source: counting {queues} on the {self.kind} broker failed "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Fix: none if it "
                "passes; the guard retries on the next tick (check the broker is reachable from the worker)"
            ) from exc

    def close(self) -> None:
        """Release the kept connection (the next count opens a new one)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(Exception):
                kept.release()

    def _count_on(self, connection: Any, queues: list[str]) -> int:
        return sum(self._ready(connection, queue) for queue in queues)

    def _ready(self, connection: Any, queue: str) -> int:
        if self.kind == "amqp":
            return self._amqp_ready(connection, queue)
        channel = connection.default_channel
        if self.kind == "redis":
            return int(channel._size(queue))
        return self._sqs_visible(channel, queue)

    @staticmethod
    def _amqp_ready(connection: Any, queue: str) -> int:
        # A passive declare of a missing queue closes its channel with 404: one channel per queue.
        channel = connection.channel()
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except connection.channel_errors as exc:
            if getattr(exc, "code", None) == 404 or getattr(exc, "reply_code", None) == 404:
                return 0
            raise
        finally:
            channel.close()

    @staticmethod
    def _sqs_visible(channel: Any, queue: str) -> int:
        # Not kombu's _size: that creates a missing queue (needs sqs:CreateQueue and changes the account). The
        # queue cache is what kombu's own _resolve_queue_url reads (kombu >= 5.4.1; MWAA 2.10.1 has 5.4.0), filled
        # by ListQueues with the queue's name as prefix, or from predefined_queues.
        name = channel.canonical_queue_name(queue)
        if name not in channel._queue_cache:
            channel._update_queue_cache(name)
        url = channel._queue_cache.get(name)
        if url is None:  # no such queue: nothing waits in it
            return 0
        attributes = channel.sqs(queue=channel.canonical_queue_name(queue)).get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


class MetadataDbBacklog:
    """Scheduled and queued task instances of the queues in Airflow's metadata DB.

    The query filters on ``state`` first, which Airflow's ``ti_state`` index serves; on very large tables an
    extra partial index helps (see docs/scalein.md).

    :param url: SQLAlchemy URL of the metadata DB.
    """

    QUERY = "SELECT count(*) FROM task_instance WHERE state IN :states AND queue IN :queues"

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            self.backend = make_url(url).get_backend_name()
        except ArgumentError as exc:
            raise ConfigurationError(
                "[ecsops] scalein_backlog_url: not a SQLAlchemy URL for scalein_backlog_source = metadb. "
                "Fix: leave it empty (Airflow's [database] sql_alchemy_conn) or set a postgresql:// URL"
            ) from exc
        self.url = url

    @cached_property
    def _engine(self) -> Any:
        from sqlalchemy import create_engine

        connect_args: dict[str, Any] = {}
        if self.backend == "postgresql":
            timeout_ms = int(TIMEOUT_SECONDS * 1000)
            connect_args = {
                "connect_timeout": int(TIMEOUT_SECONDS),
                "options": f"-c statement_timeout={timeout_ms}",
            }
        return create_engine(self.url, pool_pre_ping=True, pool_size=1, connect_args=connect_args)

    @cached_property
    def _statement(self) -> Any:
        from sqlalchemy import bindparam, text

        return text(self.QUERY).bindparams(
            bindparam("states", expanding=True), bindparam("queues", expanding=True)
        )

    def count(self, queues: list[str]) -> int:
        try:
            with self._engine.connect() as connection:
                return int(
                    connection.execute(
                        self._statement, {"states": list(WAITING_STATES), "queues": queues}
                    ).scalar()
                )
        except Exception as exc:
            raise BacklogError(
                f"[ecsops] scalein_backlog_source: counting {queues} in the metadata DB failed "
                f"({type(exc).__name__}). Fix: none if it passes; the guard retries on the next tick"
            ) from exc


class RestApiBacklog:
    """Scheduled and queued task instances of the queues from Airflow's REST API v2 (``total_entries``).

    :param transport: anything with ``get(path, params) -> dict`` on ``/api/v2``, e.g. the replication
        capability's ``HttpTransport`` (bearer token or ``/auth/token`` login).
    """

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def count(self, queues: list[str]) -> int:
        params = {"state": list(WAITING_STATES), "queue": queues, "limit": 1}
        try:
            return int(self.transport.get("/dags/~/dagRuns/~/taskInstances", params)["total_entries"])
        except Exception as exc:
            raise BacklogError(
                f"[ecsops] scalein_backlog_source: counting {queues} through the REST API failed "
                f"({type(exc).__name__}: {exc}). Fix: none if it passes; else check scalein_backlog_url and "
                "scalein_backlog_api_token"
            ) from exc


def backlog_source(
    settings: ScaleInSettings,
    broker_url: str,
    transport_options: dict[str, Any] | None = None,
    ssl: Any = None,
) -> BacklogSource:
    """The source ``settings.backlog_source`` names, with its URL defaulted from the broker / metadata DB.

    Call it when the worker starts: it is the start-time check of the backlog configuration.

    :param settings: the scale-in settings.
    :param broker_url: the Celery app's broker URL.
    :param transport_options: the Celery app's ``broker_transport_options``.
    :param ssl: the Celery app's ``broker_use_ssl``.
    :raises ConfigurationError: the source cannot work with this setup (the message names the fix).
    """
    if settings.backlog_source == "metadb":
        from airflow_provider_ecsops.compat import conf

        return MetadataDbBacklog(settings.backlog_url or conf.get("database", "sql_alchemy_conn"))
    if settings.backlog_source == "rest_api":
        if not settings.backlog_url:
            raise ConfigurationError(
                "[ecsops] scalein_backlog_url: empty, but scalein_backlog_source = rest_api needs the API "
                "base URL. Fix: set scalein_backlog_url, e.g. http://airflow-api-server:8080"
            )
        import httpx

        from airflow_provider_ecsops.airflow_api import HttpTransport

        transport = HttpTransport.connect(settings.backlog_url, token=settings.backlog_api_token or None)
        transport.client.timeout = httpx.Timeout(TIMEOUT_SECONDS)
        return RestApiBacklog(transport)
    return BrokerBacklog(settings.backlog_url or broker_url, transport_options, ssl)
