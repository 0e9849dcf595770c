from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_ecsops.testing.local_aws import local_aws
from tests.fargate.builders import offload_operator


@pytest.fixture
def aws(monkeypatch):
    """Local AWS (moto + the Fargate double) with the demo resources, and short backoffs and lags."""
    from airflow_provider_ecsops.fargate.hook import FargateHook
    from airflow_provider_ecsops.fargate.logs import LogTail
    from airflow_provider_ecsops.fargate.poller import TaskPoller

    monkeypatch.setattr(FargateHook, "retry_base", 0.01)
    monkeypatch.setattr(FargateHook, "retry_cap", 0.05)
    monkeypatch.setattr(TaskPoller, "retry_base", 0.01)
    monkeypatch.setattr(TaskPoller, "retry_cap", 0.05)
    monkeypatch.setattr(FargateHook, "missing_grace", 4.0)
    monkeypatch.setattr(LogTail, "delivery_lag", 0.3)
    with local_aws() as env:
        yield env


@dataclass
class TaskInstanceDouble:
    """The slice of Airflow's task instance the operator reads in ``execute`` (for logic-level tests; the
    end-to-end tests use real Airflow through ``dag.test()``)."""

    dag_id: str = "etl"
    task_id: str = "offload"
    run_id: str = "manual__2024-01-01T00:00:00+00:00"
    map_index: int = -1
    max_tries: int = 0
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(UTC))
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def context():
    ti = TaskInstanceDouble()
    return {"ti": ti, "run_id": ti.run_id}


@pytest.fixture
def make_operator(aws):
    """Build a FargateOffloadOperator on the demo resources inside a DAG; keyword arguments override."""
    return functools.partial(offload_operator, aws)
