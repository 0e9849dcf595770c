"""Backlog sources against the real thing: Redis lists, SQS (moto), Airflow's task_instance table in PostgreSQL."""

from __future__ import annotations

import datetime

import boto3
import pytest
import redis
from moto import mock_aws

from airflow_provider_ecsops.compat import DAG, EmptyOperator
from airflow_provider_ecsops.scalein.backlog import (
    MetadataDbBacklog,
    RedisBacklog,
    RestApiBacklog,
    SqsBacklog,
    backlog_source,
)
from airflow_provider_ecsops.scalein.settings import ScaleInSettings
from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    fresh_database,
    insert_task_instances,
)
from tests.capabilities import AIRFLOW_HAS_API_V2


def test_redis_backlog_counts_every_priority_list(broker):
    client = redis.Redis.from_url(broker)
    client.rpush("q1", "a", "b")
    client.rpush("q1\x06\x166", "c")
    client.rpush("q2", "d")
    client.rpush("other", "e")
    assert RedisBacklog(broker).count(["q1", "q2"]) == 4
    assert RedisBacklog(broker).count(["empty"]) == 0


@mock_aws
def test_sqs_backlog_counts_visible_messages():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="default")["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)  # in flight: not backlog
    assert SqsBacklog().count(["default"]) == 2
    prefixed = sqs.create_queue(QueueName="airflow-my-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=prefixed, MessageBody="x")
    assert SqsBacklog(transport_options={"queue_name_prefix": "airflow-"}).count(["my.queue"]) == 1
    predefined = {"predefined_queues": {"celery": {"url": url}}}
    assert SqsBacklog(transport_options=predefined).count(["celery"]) == 2


def test_metadata_db_backlog_counts_scheduled_and_queued_of_the_queues(postgres_url):
    url = fresh_database("ecsops_scalein_test", postgres_url.rsplit("/", 1)[0])
    create_airflow_tables(url)
    rows = [("default", "queued")] * 3 + [("default", "scheduled")] * 2 + [("default", "running")] * 4
    rows += [("gpu", "queued")] * 5 + [("other", "queued")] * 7
    insert_task_instances(url, rows)
    source = MetadataDbBacklog(url)
    assert source.count(["default"]) == 5
    assert source.count(["default", "gpu"]) == 10
    assert source.count(["nothing"]) == 0


def test_source_selection_and_clear_errors():
    assert isinstance(backlog_source(ScaleInSettings(), "redis://127.0.0.1:6379/7"), RedisBacklog)
    assert isinstance(backlog_source(ScaleInSettings(), "sqs://"), SqsBacklog)
    with pytest.raises(ValueError, match="scalein_backlog_source to metadb or rest_api"):
        backlog_source(ScaleInSettings(), "amqp://guest@localhost//")
    with pytest.raises(ValueError, match="needs scalein_backlog_url"):
        backlog_source(ScaleInSettings(backlog_source="rest_api"), "redis://")
    with pytest.raises(ValueError, match="scalein_backlog_source must be one of"):
        ScaleInSettings(backlog_source="kafka")
    with pytest.raises(ValueError, match="scalein_self_retire needs scalein_service"):
        ScaleInSettings(self_retire=True)


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
