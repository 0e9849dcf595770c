from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from airflow import __version__ as airflow_version

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from tests.replication.helpers import FAKE_CLUSTER_ARN, FAKE_TASK_ARN

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def ecs_metadata_url() -> Iterator[str]:
    """``ECS_CONTAINER_METADATA_URI_V4`` of task :data:`FAKE_TASK_ARN` on the fake ECS agent."""
    with FakeEcsAgent(cluster=FAKE_CLUSTER_ARN) as agent:
        yield agent.add_task(FAKE_TASK_ARN)["ECS_CONTAINER_METADATA_URI_V4"]


@pytest.fixture
def on_ecs(monkeypatch, ecs_metadata_url):
    """This process looks like an ECS container: ``ECS_CONTAINER_METADATA_URI_V4`` points at the fake agent."""
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_url)
    return ecs_metadata_url


@pytest.fixture(scope="session")
def sqlite_plan(ecs_metadata_url):
    """One period of the set written into the test run's SQLite metadata DB by Airflow itself (``seed.py``)."""
    from airflow_provider_ecsops.compat import conf
    from tests.replication.seed import seed

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_url)
        plan = seed()
    return {**plan, "url": conf.get("database", "sql_alchemy_conn")}


@pytest.fixture(scope="session")
def postgres_plan(postgres_url, ecs_metadata_url):
    """The same period written into a fresh PostgreSQL database, migrated and seeded by Airflow subprocesses."""
    # One database per line and run: the matrix lines (and other checkouts) share this PostgreSQL server.
    name = f"ecsops_replication_test_{airflow_version.replace('.', '_')}_{os.getpid()}"
    _postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        # Airflow 3 also builds an async engine; nothing here uses it, and asyncpg is not a test dependency.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"sqlite+aiosqlite:///{os.environ['AIRFLOW_HOME']}/unused-async.db",
        "ECS_CONTAINER_METADATA_URI_V4": ecs_metadata_url,
    }
    airflow = Path(sys.executable).with_name("airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=240)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.replication.seed"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-2000:]
    plan = json.loads(seeded.stdout.split("SEED-PLAN ", 1)[1].splitlines()[0])
    yield {**plan, "url": url}
    _postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres_admin(*statements: str) -> None:
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    admin.close()
