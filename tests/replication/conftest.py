from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from tests.replication.helpers import FAKE_CLUSTER_ARN, FAKE_TASK_ARN


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
