"""Demand readings (metadata DB, REST API v2, broker) and their publication to a moto CloudWatch."""

from __future__ import annotations

import datetime
import json
import uuid

import boto3
import pytest
import redis
from sqlalchemy import create_engine, text

from airflow_provider_ecsops.compat import DAG, EmptyOperator
from airflow_provider_ecsops.scalein import demand_publish
from airflow_provider_ecsops.scalein.demand import (
    BrokerDemand,
    MetadbDemand,
    RestApiDemand,
    demand_source,
    read_demand,
)
from airflow_provider_ecsops.scalein.demand_publish import DemandPublisher, PublishConfig, publisher
from airflow_provider_ecsops.scalein.errors import DemandError
from airflow_provider_ecsops.testing.dag_runs import run_dag
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    fresh_database,
    insert_task_instances,
)
from tests.capabilities import AIRFLOW_HAS_API_V2
from tests.scalein.helpers import moto_worker_service

REGION = "eu-west-1"
UNREACHABLE_DB = "postgresql+psycopg2://postgres@127.0.0.1:1/none"


@pytest.fixture(scope="module")
def demand_db(postgres_url) -> str:
    """A metadata DB with demand on two queues and noise on a third: default 3 queued, 2 scheduled, 4 running;
    gpu 5 queued; other 7 queued; 50 finished."""
    url = fresh_database("ecsops_demand_test", postgres_url.rsplit("/", 1)[0])
    create_airflow_tables(url)
    rows = [("default", "queued")] * 3 + [("default", "scheduled")] * 2 + [("default", "running")] * 4
    rows += [("gpu", "queued")] * 5 + [("other", "queued")] * 7 + [("default", "success")] * 50
    insert_task_instances(url, rows)
    return url


@pytest.fixture
def demand_db_now(demand_db) -> str:
    """``demand_db`` with its queued task instances queued 60-120 s ago, the oldest of ``default`` 120 s ago."""
    engine = create_engine(demand_db)
    with engine.begin() as connection:
        connection.execute(text("SET session_replication_role = replica"))  # as the rows were inserted
        connection.execute(
            text(
                "UPDATE task_instance SET queued_dttm = now() - make_interval(secs => 120 - random() * 60) "
                "WHERE state = 'queued'"
            )
        )
        connection.execute(
            text(
                "UPDATE task_instance SET queued_dttm = now() - interval '120 seconds' WHERE task_id = "
                "(SELECT min(task_id) FROM task_instance WHERE queue = 'default' AND state = 'queued')"
            )
        )
    engine.dispose()
    return demand_db


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield


def _published(namespace: str = demand_publish.DEFAULT_NAMESPACE) -> dict[tuple[str, tuple], float]:
    """(metric, exact dimensions) -> the one value moto's CloudWatch stored for it (its statistics queries
    match dimension subsets, so the store is read directly)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    values: dict[tuple[str, tuple], list[float]] = {}
    for datum in cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION].metric_data:
        if datum.namespace == namespace:
            key = (datum.name, tuple(sorted((d.name, d.value) for d in datum.dimensions)))
            values.setdefault(key, []).append(float(datum.value))
    assert all(len(v) == 1 for v in values.values()), values
    return {k: v[0] for k, v in values.items()}


def test_the_metadata_db_reading_counts_every_state_per_queue_in_one_query(demand_db_now):
    demand = read_demand(MetadbDemand(demand_db_now), ["default", "gpu", "idle"], concurrency=2)
    by_queue = {q.queue: q for q in demand.queues}
    assert (by_queue["default"].queued, by_queue["default"].scheduled, by_queue["default"].running) == (
        3,
        2,
        4,
    )
    assert (by_queue["gpu"].queued, by_queue["gpu"].running) == (5, 0)
    assert (by_queue["idle"].queued, by_queue["idle"].oldest_queued_seconds) == (0, 0.0)
    assert 115 <= by_queue["default"].oldest_queued_seconds < 180
    # ceil((3 + 4 + 5) / 2): scheduled ones do not hold a slot yet, the other queue is another fleet's.
    assert demand.required_workers == 6
    assert [demand.required_for(q) for q in demand.queues] == [4, 3, 0]


def test_an_unreachable_metadata_db_raises_demand_error_not_a_zero_reading():
    with pytest.raises(DemandError, match=r"^\[ecsops\] demand: reading \['default'\] from the metadata DB"):
        MetadbDemand(UNREACHABLE_DB).read(["default"])


@pytest.fixture
def redis_queue(redis_url):
    """A queue of this test's own on the shared Redis (a unique key, deleted after; the db is not flushed)."""
    name = f"ecsops-demand-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    yield client, name
    client.delete(name)


def test_the_broker_reading_has_ready_messages_and_leaves_running_unknown(redis_url, redis_queue):
    client, queue = redis_queue
    client.lpush(queue, *[json.dumps({"n": i}) for i in range(3)])
    source = demand_source("broker", broker_url=redis_url)
    assert isinstance(source, BrokerDemand)
    demand = read_demand(source, [queue, f"{queue}-empty"], concurrency=1)
    assert [(q.queued, q.running, q.oldest_queued_seconds) for q in demand.queues] == [
        (3, None, None),
        (0, None, None),
    ]
    names = {
        d["MetricName"] for d in DemandPublisher(PublishConfig("f"), source, None).metric_data(demand, None)
    }
    assert names == {"Queued", "RequiredWorkers"}  # nothing it cannot know, no zero for it


@pytest.mark.skipif(not AIRFLOW_HAS_API_V2, reason="no REST API v2 (FastAPI API server) on this Airflow")
def test_the_rest_api_reading_matches_the_task_instances_airflow_serves(monkeypatch):
    from airflow.api_fastapi.app import create_app
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient

    from airflow_provider_ecsops.airflow_api import HttpTransport

    with DAG("ecsops_demand_rest", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
        for i in range(5):
            EmptyOperator(task_id=f"t{i}")
    run_id = run_dag(dag).run_id
    q = f"demand-{run_id}"  # unique, so rows of earlier runs in a reused DB do not count
    with create_session() as session:
        for task_id, state in {"t0": "queued", "t1": "queued", "t2": "running", "t3": "scheduled"}.items():
            session.execute(
                text(
                    "UPDATE task_instance SET queue = :q, state = :s, queued_dttm = :at "
                    "WHERE run_id = :r AND task_id = :t"
                ),
                {
                    "q": q,
                    "s": state,
                    "r": run_id,
                    "t": task_id,
                    "at": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=90),
                },
            )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    reading = RestApiDemand(HttpTransport(TestClient(create_app("core")))).read([q])[0]
    assert (reading.queued, reading.running, reading.scheduled) == (2, 1, 1)
    assert 85 <= reading.oldest_queued_seconds < 150


def test_the_lambda_handler_publishes_one_interval_from_postgresql_to_cloudwatch(
    demand_db_now, aws, monkeypatch
):
    moto_worker_service(REGION, desired=2)
    env = {
        "FLEET": "workers",
        "QUEUES": "default,gpu",
        "CONCURRENCY": "2",
        "URL": demand_db_now,
        "CLUSTER": "airflow",
        "SERVICE": "workers",
        "DIMENSIONS": "Environment=prod",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"ECSOPS_DEMAND_{key}", value)
    monkeypatch.setattr(demand_publish, "_LAMBDA", None)
    calls = []
    real = boto3.session.Session.client

    def counting(self, name, *args, **kwargs):
        client = real(self, name, *args, **kwargs)
        if name == "cloudwatch":
            client.meta.events.register("before-call.cloudwatch.PutMetricData", lambda **kw: calls.append(1))
        return client

    monkeypatch.setattr(boto3.session.Session, "client", counting)
    assert demand_publish.lambda_handler({}, None) == {
        "published": True,
        "queued": 8,
        "running": 4,
        "required_workers": 6,
    }
    assert len(calls) == 1  # one PutMetricData for the interval
    fleet = (("Environment", "prod"), ("Fleet", "workers"))
    values = _published()
    assert values["RequiredWorkers", fleet] == 6
    assert values["DesiredWorkers", fleet] == 2
    assert values["DemandPerWorker", fleet] == 3.0
    assert values["Queued", (*fleet, ("Queue", "gpu"))] == 5
    assert values["Running", (*fleet, ("Queue", "default"))] == 4
    assert values["Scheduled", (*fleet, ("Queue", "default"))] == 2
    assert 115 <= values["OldestQueuedAgeSeconds", fleet] < 180


def test_a_db_outage_publishes_nothing_for_the_interval(aws, caplog):
    config = PublishConfig("workers", url=UNREACHABLE_DB)
    assert publisher(config).publish_once() is None
    assert boto3.client("cloudwatch", region_name=REGION).list_metrics()["Metrics"] == []
    assert "nothing published this interval" in caplog.text


def test_a_secret_holds_the_db_url_so_none_sits_in_the_environment(demand_db, aws):
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="demand-db", SecretString=demand_db)
    demand = publisher(PublishConfig("workers", secret_id="demand-db", namespace="Test")).publish_once()
    assert demand is not None and demand.queued == 3
    assert _published("Test")["Queued", (("Fleet", "workers"),)] == 3


@pytest.mark.parametrize(
    ("env", "args", "line"),
    [
        ({}, [], "[ecsops] ECSOPS_DEMAND_FLEET: empty. Fix: set it to the fleet's name (the worker service)"),
        (
            {"FLEET": "w", "CONCURRENCY": "many"},
            [],
            "[ecsops] ECSOPS_DEMAND_CONCURRENCY: 'many' is not a whole number. Fix: the workers' [celery] "
            "worker_concurrency",
        ),
        (
            {"FLEET": "w", "SERVICE": "workers"},
            [],
            "[ecsops] ECSOPS_DEMAND_SERVICE: needs ECSOPS_DEMAND_CLUSTER and the other way round. Fix: set both",
        ),
        (
            {"FLEET": "w", "DIMENSIONS": "Environment"},
            [],
            "[ecsops] ECSOPS_DEMAND_DIMENSIONS: 'Environment' is not Name=Value[,Name=Value]. Fix: e.g. "
            "ECSOPS_DEMAND_DIMENSIONS=Environment=prod",
        ),
        (
            {"FLEET": "w", "SOURCE": "rest_api"},
            [],
            "[ecsops] scalein_backlog_url: empty, but scalein_backlog_source = rest_api needs the API base URL. "
            "Fix: set scalein_backlog_url, e.g. http://airflow-api-server:8080",
        ),
        ({"FLEET": "w"}, ["--interval", "0"], "[ecsops] --interval: must be > 0. Fix: e.g. --interval 60"),
        (
            {"FLEET": "w", "SECRET_ID": "missing"},
            [],
            "[ecsops] ECSOPS_DEMAND_SECRET_ID: cannot read 'missing' (ResourceNotFoundException). Fix: a string "
            "secret the role may secretsmanager:GetSecretValue",
        ),
    ],
)
def test_the_command_refuses_bad_configuration_at_start_with_one_line(
    env, args, line, aws, monkeypatch, capsys
):
    for key, value in env.items():
        monkeypatch.setenv(f"ECSOPS_DEMAND_{key}", value)
    assert demand_publish.main(["--once", *args]) == 2
    assert capsys.readouterr().err == f"ecsops-demand: {line}\n"


def test_the_command_publishes_once_and_exits(demand_db, aws, monkeypatch):
    monkeypatch.setenv("ECSOPS_DEMAND_URL", demand_db)
    assert demand_publish.main(["--once", "--fleet", "cli", "--queues", "gpu", "--concurrency", "4"]) == 0
    assert _published()["RequiredWorkers", (("Fleet", "cli"),)] == 2
