"""The protection client against the fake agent endpoint and the fake ECS API (botocore-validated shapes)."""

from __future__ import annotations

import pytest

from airflow_provider_ecsops.scalein.protection import ProtectionError, TaskProtection


@pytest.fixture
def on_task(fake_agent, monkeypatch):
    for key, value in fake_agent.add_task().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", fake_agent.url)
    return next(iter(fake_agent.tasks))


def calls(fake_agent) -> list[tuple[str, str]]:
    return [(e["call"], e["via"]) for e in fake_agent.state()["history"]]


def test_protect_and_release_through_the_agent(fake_agent, on_task):
    protection = TaskProtection(minutes=30)
    protection.set(True)
    assert fake_agent.protected_tasks() == [on_task]
    assert 29 * 60 < protection.seconds_left() <= 30 * 60
    protection.set(False)
    assert fake_agent.protected_tasks() == []
    assert calls(fake_agent) == [("UpdateTaskProtection", "agent")] * 2


def test_throttling_is_retried_with_backoff(fake_agent, on_task):
    fake_agent.inject_fault("ThrottlingException", times=2)
    TaskProtection(attempts=3).set(True)
    assert calls(fake_agent) == [("fault", "agent"), ("fault", "agent"), ("UpdateTaskProtection", "agent")]
    assert fake_agent.protected_tasks() == [on_task]


def test_throttling_beyond_the_attempts_is_reported(fake_agent, on_task):
    fake_agent.inject_fault("ThrottlingException", times=5)
    with pytest.raises(ProtectionError, match=r"after 2 attempt\(s\): ThrottlingException") as caught:
        TaskProtection(attempts=2).set(True)
    assert caught.value.kind == "retryable"
    assert fake_agent.protected_tasks() == []
    assert ("UpdateTaskProtection", "api") not in calls(
        fake_agent
    )  # the API behind the agent is the throttled one


def test_access_denied_names_the_missing_permission_and_is_not_retried(fake_agent, on_task):
    fake_agent.inject_fault("AccessDeniedException", times=5)
    with pytest.raises(ProtectionError, match="give the task role ecs:UpdateTaskProtection") as caught:
        TaskProtection(attempts=5).set(True)
    assert caught.value.kind == "permanent"
    assert calls(fake_agent) == [("fault", "agent")]


def test_invalid_expiry_is_a_configuration_error_naming_the_setting(fake_agent, on_task):
    with pytest.raises(ProtectionError, match=r"INVALID_PARAMETER.*scalein_protection_minutes") as caught:
        TaskProtection(minutes=5000).set(True)
    assert caught.value.kind == "config"


def test_unreachable_agent_falls_back_to_the_ecs_api(fake_agent, on_task):
    fake_agent.stop_endpoint("agent")  # connections refused
    protection = TaskProtection(minutes=15)
    protection.set(True)
    assert calls(fake_agent) == [("UpdateTaskProtection", "api")]
    assert fake_agent.protected_tasks() == [on_task]
    protection.set(False)
    assert fake_agent.protected_tasks() == []


def test_api_fallback_reports_access_denied(fake_agent, on_task, monkeypatch):
    monkeypatch.delenv("ECS_AGENT_URI")
    fake_agent.inject_fault("AccessDeniedException", times=10)
    with pytest.raises(ProtectionError, match="give the task role ecs:UpdateTaskProtection") as caught:
        TaskProtection(attempts=2).set(True)
    assert caught.value.kind == "permanent"
    assert calls(fake_agent) == [("fault", "api")]


def test_not_on_ecs_is_a_logged_no_op(fake_agent, monkeypatch, caplog):
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)
    with caplog.at_level("INFO"):
        protection = TaskProtection()
        protection.set(True)
        protection.set(False)
    assert [r.message for r in caplog.records if "ecsops" in r.message] == [
        "ecsops scale-in: not running on ECS (no ECS_AGENT_URI), task protection is a no-op"
    ]
    assert fake_agent.state()["history"] == []
