"""Every fault of the protection and metadata paths, against the fake agent over loopback HTTP.

Each test asserts what ``TaskProtection.set`` did: the attempts made (the fake's history), whether it fell back
to the ECS API (botocore's real requests, validated by the fake against botocore's model), the error's kind and
message, and that it returned within its time budget.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from airflow_provider_ecsops.ecs_metadata import EcsIdentity, MetadataError, task_desired_status
from airflow_provider_ecsops.scalein.protection import (
    AGENT_ATTEMPT_TIMEOUT_SECONDS,
    AGENT_BUDGET_SECONDS,
    API_CONNECT_TIMEOUT_SECONDS,
    API_READ_TIMEOUT_SECONDS,
    CALL_BUDGET_SECONDS,
    KINDS,
    ProtectionError,
    TaskProtection,
)
from airflow_provider_ecsops.testing.fake_ecs_agent import ERROR_STATUS, FAILURE_STATUS, WIRE_FAULTS

# The longest a set() may take: its budget plus one API attempt started just before the budget ended.
LONGEST_CALL = CALL_BUDGET_SECONDS + API_CONNECT_TIMEOUT_SECONDS + API_READ_TIMEOUT_SECONDS


@pytest.fixture
def on_task(fake_agent, monkeypatch):
    env = fake_agent.add_task()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", fake_agent.url)
    return env


@pytest.fixture(scope="module", autouse=True)
def _airflow_imported():
    """A worker has Airflow imported before it protects; a call's budget is not meant to cover that import."""
    import airflow.providers.amazon.aws.hooks.base_aws  # noqa: F401


def calls(fake_agent) -> list[tuple[str, str]]:
    return [(e["call"], e["via"]) for e in fake_agent.state()["history"] if e["call"] != "agent_down"]


def timed_set(protection: TaskProtection, enabled: bool = True) -> tuple[float, ProtectionError | None]:
    started = time.monotonic()
    try:
        protection.set(enabled)
    except ProtectionError as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


@pytest.mark.parametrize(
    "fault", ["ServerException", "RequestCanceled", "empty-503", "html-502", "non-json-200", "reset"]
)
def test_transient_agent_answers_are_retried_at_the_agent_until_it_protects(fake_agent, on_task, fault):
    fake_agent.inject_fault(fault, times=2, endpoint="agent")
    elapsed, error = timed_set(TaskProtection(attempts=5))
    assert error is None
    assert calls(fake_agent) == [("fault", "agent"), ("fault", "agent"), ("UpdateTaskProtection", "agent")]
    assert fake_agent.protected_tasks() == [on_task["ECSOPS_FAKE_TASK_ARN"]]
    assert elapsed < AGENT_BUDGET_SECONDS


def test_a_hanging_agent_costs_one_attempt_timeout_then_is_retried(fake_agent, on_task):
    protection = TaskProtection()
    # The first call builds the API fallback's client (1.6 s on a loaded CI machine): not what this measures.
    protection.set(True)
    fake_agent.inject_fault("hanging", times=1, endpoint="agent")
    elapsed, error = timed_set(protection)
    assert error is None
    assert calls(fake_agent) == [
        ("UpdateTaskProtection", "agent"),
        ("fault", "agent"),
        ("UpdateTaskProtection", "agent"),
    ]
    assert AGENT_ATTEMPT_TIMEOUT_SECONDS <= elapsed < AGENT_ATTEMPT_TIMEOUT_SECONDS + 1.5


def test_an_agent_failing_beyond_its_attempts_hands_over_to_the_ecs_api(fake_agent, on_task):
    fake_agent.inject_fault("empty-503", times=99, endpoint="agent")
    elapsed, error = timed_set(TaskProtection(attempts=3))
    assert error is None
    assert calls(fake_agent) == [("fault", "agent")] * 3 + [("UpdateTaskProtection", "api")]
    assert fake_agent.protected_tasks() == [on_task["ECSOPS_FAKE_TASK_ARN"]]
    assert elapsed < AGENT_BUDGET_SECONDS + API_READ_TIMEOUT_SECONDS


def test_a_hanging_agent_is_given_up_after_the_agent_budget_and_the_api_protects(fake_agent, on_task):
    protection = TaskProtection()
    protection.set(True)  # the guard's first call at start: it also builds the API fallback's client
    assert "_ecs" in protection.__dict__, "the fallback's client is built before any call needs it"
    fake_agent.inject_fault("hanging", times=99, endpoint="agent")
    elapsed, error = timed_set(protection)
    assert error is None
    history = calls(fake_agent)
    assert history[-1] == ("UpdateTaskProtection", "api")
    assert 2 <= history.count(("fault", "agent")) <= 3  # 2 s per attempt within the 5 s agent budget
    assert AGENT_BUDGET_SECONDS - 0.5 <= elapsed < AGENT_BUDGET_SECONDS + API_READ_TIMEOUT_SECONDS + 1


def test_a_hanging_agent_at_the_first_call_still_protects_via_the_api_within_the_call_budget(
    fake_agent, on_task
):
    fake_agent.inject_fault("hanging", times=99, endpoint="agent")
    elapsed, error = timed_set(TaskProtection())
    assert error is None
    assert calls(fake_agent)[-1] == ("UpdateTaskProtection", "api")
    assert AGENT_BUDGET_SECONDS - 0.5 <= elapsed < LONGEST_CALL


def test_agent_and_metadata_both_refused_before_the_identity_is_known_is_retryable_not_fatal(
    fake_agent, on_task
):
    fake_agent.restart_agent(down_seconds=60)
    elapsed, error = timed_set(TaskProtection())
    assert error is not None and error.kind == "retryable"
    assert "task metadata" in str(error) and "Fix: none if the ECS agent is restarting" in str(error)
    assert elapsed < AGENT_BUDGET_SECONDS + AGENT_ATTEMPT_TIMEOUT_SECONDS
    assert fake_agent.protected_tasks() == []


def test_renewal_keeps_working_across_an_agent_restart(fake_agent, on_task):
    protection = TaskProtection(minutes=20)
    protection.set(True)  # via the agent; the identity is read and kept while the agent answers
    fake_agent.restart_agent(down_seconds=6)
    elapsed, error = timed_set(protection)
    assert error is None, error
    assert elapsed < LONGEST_CALL
    assert calls(fake_agent)[-1] == ("UpdateTaskProtection", "api")
    deadline = time.monotonic() + 10
    while ("agent_up", "agent") not in calls(fake_agent) and time.monotonic() < deadline:
        time.sleep(0.2)
    protection.set(True)
    assert calls(fake_agent)[-1] == ("UpdateTaskProtection", "agent")
    assert fake_agent.protected_tasks() == [on_task["ECSOPS_FAKE_TASK_ARN"]]
    assert 19 * 60 < protection.seconds_left() <= 20 * 60


def test_without_a_region_the_fallback_uses_the_region_of_the_task_arn(fake_agent, on_task, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    fake_agent.stop_endpoint("agent")
    _, error = timed_set(TaskProtection())
    assert error is None, error
    assert calls(fake_agent) == [("UpdateTaskProtection", "api")]


def test_no_credentials_for_the_fallback_is_a_configuration_error_naming_the_task_role(
    fake_agent, on_task, monkeypatch, tmp_path
):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fake_agent.stop_endpoint("agent")
    elapsed, error = timed_set(TaskProtection())
    assert error is not None and error.kind == "config"
    assert "no AWS credentials" in str(error) and "Fix: give the ECS task a task role" in str(error)
    assert elapsed < LONGEST_CALL


def test_throttling_at_the_agent_is_retried_there_and_not_sent_to_the_api(fake_agent, on_task):
    fake_agent.inject_fault("ThrottlingException", times=99, endpoint="agent")
    elapsed, error = timed_set(TaskProtection(attempts=3))
    assert error is not None and error.kind == "retryable"
    assert "after 3 attempt(s): ThrottlingException" in str(error)
    assert calls(fake_agent) == [("fault", "agent")] * 3
    assert elapsed < AGENT_BUDGET_SECONDS + 0.5


@pytest.mark.parametrize("endpoint", ["agent", "api"])
def test_deployment_blocked_is_its_own_kind_with_its_fix_and_not_retried(fake_agent, on_task, endpoint):
    if endpoint == "api":
        fake_agent.stop_endpoint("agent")
    fake_agent.inject_fault("DEPLOYMENT_BLOCKED", times=99, endpoint=endpoint)
    _, error = timed_set(TaskProtection())
    assert error is not None and error.kind == "deployment_blocked"
    assert "DEPLOYMENT_BLOCKED" in str(error) and "Fix: the service's deployment is blocked" in str(error)
    assert calls(fake_agent) == [("fault", endpoint)]


def test_ecs_stopping_the_task_is_permanent(fake_agent, on_task):
    fake_agent.inject_fault("TASK_STOPPING_OR_STOPPED", endpoint="agent")
    _, error = timed_set(TaskProtection())
    assert error is not None and error.kind == "permanent"
    assert "TASK_STOPPING_OR_STOPPED" in str(error)


def test_api_throttling_is_retried_within_the_budget(fake_agent, on_task):
    fake_agent.stop_endpoint("agent")
    fake_agent.inject_fault("ThrottlingException", times=2, endpoint="api")
    _, error = timed_set(TaskProtection())
    assert error is None, error
    assert calls(fake_agent) == [("fault", "api"), ("fault", "api"), ("UpdateTaskProtection", "api")]


def test_api_throttling_beyond_the_budget_is_retryable_and_bounded(fake_agent, on_task):
    fake_agent.stop_endpoint("agent")
    fake_agent.inject_fault("ThrottlingException", times=999, endpoint="api")
    # The budget leaves room for several API attempts after the agent's own (about 2 s) on a loaded machine.
    budget = 8
    elapsed, error = timed_set(TaskProtection(budget=budget))
    assert error is not None and error.kind == "retryable"
    assert "ecs:UpdateTaskProtection failed after" in str(error) and "ThrottlingException" in str(error)
    assert calls(fake_agent).count(("fault", "api")) >= 2
    assert elapsed < budget + API_CONNECT_TIMEOUT_SECONDS + API_READ_TIMEOUT_SECONDS


@pytest.mark.parametrize("code", sorted({*ERROR_STATUS, *FAILURE_STATUS, *WIRE_FAULTS} - {"error-500"}))
def test_set_raises_only_a_classified_protection_error_within_its_budget_whatever_both_paths_answer(
    fake_agent, on_task, code
):
    fake_agent.inject_fault(code, times=999)  # the agent and, for API-shaped faults, the API too
    elapsed, error = timed_set(TaskProtection())
    assert error is None or error.kind in KINDS
    assert error is None or "Fix: " in str(error)
    assert elapsed < LONGEST_CALL


# -- the metadata endpoint ------------------------------------------------------------------------------------------
def test_desired_status_follows_what_ecs_decided_for_the_task(fake_agent, on_task):
    uri = on_task["ECS_CONTAINER_METADATA_URI_V4"]
    assert task_desired_status(uri) == "RUNNING"
    fake_agent.set_desired_status(on_task["ECSOPS_FAKE_TASK_ARN"], "STOPPED")
    assert task_desired_status(uri) == "STOPPED"


@pytest.mark.parametrize("fault", ["empty-503", "html-502", "error-500", "non-json-200", "reset", "hanging"])
def test_a_faulty_metadata_endpoint_raises_a_retryable_metadata_error_within_the_timeout(
    fake_agent, on_task, fault
):
    fake_agent.inject_fault(fault, endpoint="metadata")
    started = time.monotonic()
    with pytest.raises(MetadataError) as caught:
        task_desired_status(on_task["ECS_CONTAINER_METADATA_URI_V4"], timeout=1.0)
    assert caught.value.kind == "retryable"
    assert not isinstance(caught.value, OSError)  # Celery would take an OSError for a broker connection error
    assert time.monotonic() - started < 2.0
    assert calls(fake_agent) == [("fault", "metadata")]


def test_a_refused_metadata_endpoint_raises_a_retryable_metadata_error(fake_agent, on_task):
    fake_agent.stop_endpoint("metadata")
    with pytest.raises(MetadataError) as caught:
        EcsIdentity.from_metadata(on_task["ECS_CONTAINER_METADATA_URI_V4"])
    assert caught.value.kind == "retryable" and "unreachable" in str(caught.value)


def test_an_unknown_task_on_the_metadata_endpoint_is_a_permanent_metadata_error(fake_agent, on_task):
    with pytest.raises(MetadataError) as caught:
        task_desired_status(f"{fake_agent.endpoint_url('metadata')}/v4/nosuchtask")
    assert caught.value.kind == "permanent"


def test_identity_comes_with_its_region_from_the_metadata_endpoint(fake_agent, on_task):
    identity = EcsIdentity.from_metadata(on_task["ECS_CONTAINER_METADATA_URI_V4"])
    assert identity.task_arn == on_task["ECSOPS_FAKE_TASK_ARN"]
    assert identity.cluster == fake_agent.cluster
    assert identity.region == "us-east-1"


# -- the fake's HTTP control endpoints, for tests whose workers run in other processes ----------------------------
def post(fake_agent, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{fake_agent.url}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_faults_restarts_and_desired_status_can_be_set_over_http(fake_agent, on_task):
    arn = on_task["ECSOPS_FAKE_TASK_ARN"]
    post(fake_agent, "/_fake/faults", {"code": "DEPLOYMENT_BLOCKED", "endpoint": "agent", "task_arn": arn})
    _, error = timed_set(TaskProtection())
    assert error is not None and error.kind == "deployment_blocked"
    post(fake_agent, "/_fake/desired_status", {"task_arn": arn, "status": "STOPPED"})
    assert task_desired_status(on_task["ECS_CONTAINER_METADATA_URI_V4"]) == "STOPPED"
    post(fake_agent, "/_fake/restart", {"down_seconds": 30, "endpoints": ["metadata"]})
    with pytest.raises(MetadataError):
        task_desired_status(on_task["ECS_CONTAINER_METADATA_URI_V4"])
