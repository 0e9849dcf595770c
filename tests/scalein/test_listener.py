"""The task-level listener alternative, in real Airflow (``dag.test()``) against the fake agent."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_ecsops.compat import DAG, PythonOperator
from airflow_provider_ecsops.scalein import listener
from airflow_provider_ecsops.testing.dag_runs import run_dag as run_dag_test


@pytest.fixture
def registered_listener(fake_agent, monkeypatch, tmp_path):
    for key, value in fake_agent.add_task().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(listener, "REGISTRY", tmp_path / "running")
    managers = listener_managers()
    for manager in managers:
        manager.add_listener(listener)
    listener._settings.cache_clear()
    yield fake_agent
    for manager in managers:
        manager.clear()
    listener._settings.cache_clear()


def listener_managers() -> list:
    """Airflow core's listener manager and, on Airflow 3.3+, the Task SDK's own (which runs task hooks)."""
    from airflow.listeners.listener import get_listener_manager

    managers = [get_listener_manager()]
    try:
        from airflow.sdk.listener import get_listener_manager as get_sdk_listener_manager
    except ImportError:
        return managers
    return [*managers, get_sdk_listener_manager()]


def run_dag(fake_agent) -> list[list[str]]:
    seen: list[list[str]] = []
    with DAG("ecsops_scalein_listener", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
        PythonOperator(task_id="observe", python_callable=lambda: seen.append(fake_agent.protected_tasks()))
    run_dag_test(dag)
    return seen


def test_enabled_listener_protects_while_the_task_runs(registered_listener, monkeypatch):
    monkeypatch.setenv("AIRFLOW__ECSOPS__SCALEIN_LISTENER_ENABLED", "true")
    task_arn = next(iter(registered_listener.tasks))
    assert run_dag(registered_listener) == [[task_arn]]
    assert registered_listener.protected_tasks() == []
    enabled = [e["enabled"] for e in registered_listener.state()["history"]]
    assert enabled == [True, False]


def test_listener_is_inert_unless_enabled(registered_listener):
    assert run_dag(registered_listener) == [[]]
    assert registered_listener.state()["history"] == []
