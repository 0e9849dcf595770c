"""Backlog sources against the real thing: Redis (plain, prefixed, priorities, sentinel), RabbitMQ, SQS on a
moto server, Airflow's task_instance table in PostgreSQL, Airflow's REST API; and their failure modes."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
import redis
from kombu import Connection, Exchange, Queue

from airflow_provider_ecsops.compat import DAG, EmptyOperator
from airflow_provider_ecsops.scalein.backlog import (
    TIMEOUT_SECONDS,
    BrokerBacklog,
    MetadataDbBacklog,
    RestApiBacklog,
    backlog_source,
)
from airflow_provider_ecsops.scalein.errors import BacklogError, ConfigurationError
from airflow_provider_ecsops.scalein.settings import ScaleInSettings
from airflow_provider_ecsops.testing.broker_rigs import RABBITMQ_URL, rabbitmq_rig, sqs_rig, unique_queue
from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    drop_database,
    fresh_database,
    insert_task_instances,
)
from tests.capabilities import AIRFLOW_HAS_API_V2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_backlog_counts_every_priority_list_of_the_queues(broker):
    client = redis.Redis.from_url(broker)
    client.rpush("q1", "a", "b")
    client.rpush("q1\x06\x166", "c")
    client.rpush("q2", "d")
    client.rpush("other", "e")
    assert BrokerBacklog(broker).count(["q1", "q2"]) == 4
    assert BrokerBacklog(broker).count(["empty"]) == 0


def test_redis_backlog_applies_kombus_global_keyprefix(broker):
    client = redis.Redis.from_url(broker)
    client.rpush("fleet1:q1", "a", "b")
    client.rpush("fleet1:q1\x06\x163", "c")
    client.rpush("q1", "not ours")  # an unprefixed list of the same name belongs to another app
    assert BrokerBacklog(broker, {"global_keyprefix": "fleet1:"}).count(["q1"]) == 3


def test_redis_backlog_counts_what_a_kombu_producer_sent_with_priorities(broker):
    queue = Queue("prio", Exchange("prio"), routing_key="prio", queue_arguments={"x-max-priority": 9})
    with Connection(broker) as connection:
        producer = connection.Producer()
        for priority in (0, 5, 9):
            producer.publish({"p": priority}, exchange=queue.exchange, routing_key="prio", declare=[queue],
                             priority=priority)  # fmt: skip
    assert BrokerBacklog(broker).count(["prio"]) == 3


@pytest.fixture
def sentinel(redis_url: str, tmp_path: Path):
    """A Redis sentinel (the machine's redis-server in sentinel mode) watching the local Redis as ``ecsops``."""
    port = free_port()
    config = tmp_path / "sentinel.conf"
    master_port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor ecsops 127.0.0.1 {master_port} 1\n")
    process = subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).execute_command("SENTINEL", "get-master-addr-by-name", "ecsops"):
                break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"sentinel://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_sentinel_backlog_finds_the_master_by_master_name(sentinel, broker):
    redis.Redis.from_url(broker).rpush("q1", "a", "b")
    db = broker.rsplit("/", 1)[1]
    assert BrokerBacklog(f"{sentinel}/{db}", {"master_name": "ecsops"}).count(["q1"]) == 2


def test_rabbitmq_backlog_counts_ready_messages_and_a_missing_queue_as_zero():
    with rabbitmq_rig() as rig:
        queue = Queue(rig.queue, Exchange(rig.queue), routing_key=rig.queue)
        with Connection(RABBITMQ_URL) as connection:
            producer = connection.Producer()
            for i in range(3):
                producer.publish({"i": i}, exchange=queue.exchange, routing_key=rig.queue, declare=[queue])
        for url in (RABBITMQ_URL, RABBITMQ_URL.replace("amqp://", "pyamqp://")):
            assert BrokerBacklog(url).count([rig.queue, unique_queue("missing")]) == 3


def test_the_broker_count_keeps_its_connection_and_survives_the_broker_dropping_it():
    """The guard counts every tick while it drains: one connection for all counts, and a dropped one (a broker
    restart; here its socket shut) costs no failed count, only a new connection."""
    with rabbitmq_rig() as rig:
        queue = Queue(rig.queue, Exchange(rig.queue), routing_key=rig.queue)
        with Connection(RABBITMQ_URL) as connection:
            connection.Producer().publish({}, exchange=queue.exchange, routing_key=rig.queue, declare=[queue])
        backlog = BrokerBacklog(RABBITMQ_URL)
        try:
            assert backlog.count([rig.queue]) == 1
            kept = backlog._kept
            assert backlog.count([rig.queue]) == 1 and backlog._kept is kept, "the same connection"
            kept.connection.sock.shutdown(socket.SHUT_RDWR)
            assert backlog.count([rig.queue]) == 1
            assert backlog._kept is not kept, "a new connection after the dropped one"
        finally:
            backlog.close()
    assert backlog._kept is None


def test_sqs_backlog_counts_visible_messages_without_creating_missing_queues():
    with sqs_rig() as rig:
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName=rig.queue)["QueueUrl"]
        for body in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60
        )  # in flight: not backlog
        assert BrokerBacklog("sqs://").count([rig.queue, "missing"]) == 2
        assert "missing" not in str(sqs.list_queues().get("QueueUrls", []))
        prefixed = sqs.create_queue(QueueName="airflow-my-queue")["QueueUrl"]
        sqs.send_message(QueueUrl=prefixed, MessageBody="x")
        assert BrokerBacklog("sqs://", {"queue_name_prefix": "airflow-"}).count(["my.queue"]) == 1
        predefined = {"predefined_queues": {"celery": {"url": url}}}
        assert BrokerBacklog("sqs://", predefined).count(["celery"]) == 2


def test_metadata_db_backlog_counts_scheduled_and_queued_of_the_queues(postgres_url):
    # A database of this process's own: matrix lines and other checkouts share this PostgreSQL server.
    name, server = f"ecsops_scalein_test_{os.getpid()}", postgres_url.rsplit("/", 1)[0]
    url = fresh_database(name, server)
    try:
        create_airflow_tables(url)
        rows = [("default", "queued")] * 3 + [("default", "scheduled")] * 2 + [("default", "running")] * 4
        rows += [("gpu", "queued")] * 5 + [("other", "queued")] * 7
        insert_task_instances(url, rows)
        source = MetadataDbBacklog(url)
        assert source.count(["default"]) == 5
        assert source.count(["default", "gpu"]) == 10
        assert source.count(["nothing"]) == 0
    finally:
        drop_database(name, server)


def test_settings_refuse_an_unknown_source_and_self_retire_without_service():
    with pytest.raises(ValueError, match="scalein_backlog_source must be one of"):
        ScaleInSettings(backlog_source="kafka")
    with pytest.raises(ValueError, match="scalein_self_retire needs scalein_service"):
        ScaleInSettings(self_retire=True)


@pytest.mark.parametrize(
    "url",
    ["amqp://guest:guest@127.0.0.1:{port}//", "redis://127.0.0.1:{port}/0", "sentinel://127.0.0.1:{port}"],
)
def test_count_on_an_unreachable_broker_raises_backlog_error_within_the_bound(url):
    source = BrokerBacklog(url.format(port=free_port()), {"master_name": "ecsops"})
    started = time.monotonic()
    with pytest.raises(BacklogError, match=r"^\[ecsops\] scalein_backlog_source: counting \['q'\] on the"):
        source.count(["q"])
    assert time.monotonic() - started < 3 * TIMEOUT_SECONDS


def test_count_on_an_unreachable_metadata_db_raises_backlog_error():
    source = MetadataDbBacklog(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/airflow")
    with pytest.raises(BacklogError, match="in the metadata DB failed"):
        source.count(["default"])


def test_a_hanging_broker_is_given_up_after_the_timeout():
    with socket.socket() as silent:  # accepts connections, never answers: a hung broker
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(BacklogError):
            BrokerBacklog(f"amqp://guest:guest@127.0.0.1:{port}//", timeout=1.0).count(["q"])
        assert time.monotonic() - started < 10


def test_source_selection():
    assert backlog_source(ScaleInSettings(), "redis://127.0.0.1:6379/7").kind == "redis"
    assert backlog_source(ScaleInSettings(), "rediss://127.0.0.1:6379/7").kind == "redis"
    assert backlog_source(ScaleInSettings(), "sqs://").kind == "sqs"
    for url in ("amqp://guest@localhost//", "amqps://guest@localhost//", "pyamqp://guest@localhost//"):
        assert backlog_source(ScaleInSettings(), url).kind == "amqp"
    assert isinstance(
        backlog_source(ScaleInSettings(backlog_source="metadb", backlog_url="postgresql://db/a"), "amqp://"),
        MetadataDbBacklog,
    )


@pytest.mark.parametrize(
    ("settings", "broker_url", "transport_options", "line"),
    [
        (
            ScaleInSettings(),
            "kafka://broker:9092",
            None,
            "[ecsops] scalein_backlog_source: the broker scheme 'kafka://' has no backlog count (supported: "
            "redis://, rediss://, sentinel://, sqs://, amqp://, amqps://, pyamqp://). Fix: set "
            "scalein_backlog_source = metadb (or rest_api)",
        ),
        (
            ScaleInSettings(),
            "sentinel://127.0.0.1:26379",
            {},
            "[ecsops] scalein_backlog_source: a sentinel:// broker needs the master_name transport option. Fix: "
            "set [celery_broker_transport_options] master_name (the sentinel group of the broker)",
        ),
        (
            ScaleInSettings(backlog_source="rest_api"),
            "redis://",
            None,
            "[ecsops] scalein_backlog_url: empty, but scalein_backlog_source = rest_api needs the API base URL. "
            "Fix: set scalein_backlog_url, e.g. http://airflow-api-server:8080",
        ),
        (
            ScaleInSettings(backlog_source="metadb", backlog_url="not a url"),
            "amqp://",
            None,
            "[ecsops] scalein_backlog_url: not a SQLAlchemy URL for scalein_backlog_source = metadb. Fix: leave "
            "it empty (Airflow's [database] sql_alchemy_conn) or set a postgresql:// URL",
        ),
    ],
)
def test_unsupported_setups_fail_at_construction_with_one_line(settings, broker_url, transport_options, line):
    with pytest.raises(ConfigurationError) as failure:
        backlog_source(settings, broker_url, transport_options)
    assert str(failure.value) == line


@pytest.mark.skipif(not AIRFLOW_HAS_API_V2, reason="no REST API v2 (FastAPI API server) on this Airflow")
def test_rest_api_backlog_counts_through_airflows_own_api(monkeypatch):
    """Real task instances (from ``dag.test()``) set to queued/scheduled, counted by the in-process API server."""
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from airflow_provider_ecsops.airflow_api import HttpTransport

    with DAG("ecsops_scalein_backlog", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
        for i in range(5):
            EmptyOperator(task_id=f"t{i}")
    run_id = run_dag(dag).run_id
    q1, q2 = f"q1-{run_id}", f"q2-{run_id}"  # unique, so rows of earlier runs in a reused DB do not count
    states = {"t0": (q1, "queued"), "t1": (q1, "scheduled"), "t2": (q2, "queued"), "t3": (q1, "running")}
    with create_session() as session:
        for task_id, (queue, state) in states.items():
            session.execute(
                text("UPDATE task_instance SET queue = :q, state = :s WHERE run_id = :r AND task_id = :t"),
                {"q": queue, "s": state, "r": run_id, "t": task_id},
            )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app

    source = RestApiBacklog(HttpTransport(TestClient(create_app("core"))))
    assert source.count([q1]) == 2
    assert source.count([q1, q2]) == 3
    assert source.count(["nothing"]) == 0
