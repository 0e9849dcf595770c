"""The one completion logic both modes share."""

from __future__ import annotations

from airflow_provider_ecsops.fargate.outcome import TaskOutcome


def _task(
    exit_codes: dict, stop_code="EssentialContainerExited", reason="Essential container in task exited"
):
    return {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/etl/abc",
        "containers": [{"name": n, "exitCode": c} for n, c in exit_codes.items()],
        "stopCode": stop_code,
        "stoppedReason": reason,
        "cpu": "1024",
        "memory": "2048",
        "createdAt": "2024-01-01T00:00:00+00:00",
        "pullStartedAt": "2024-01-01T00:00:10+00:00",
        "startedAt": "2024-01-01T00:00:30+00:00",
        "executionStoppedAt": "2024-01-01T00:10:30+00:00",
        "stoppedAt": "2024-01-01T00:10:40+00:00",
    }


def test_success_needs_every_essential_container_at_zero_and_ignores_sidecars():
    outcome = TaskOutcome.from_task(_task({"etl": 0, "sidecar": 1}), essential=["etl"])
    assert outcome.verdict == "success"
    assert TaskOutcome.from_task(_task({"etl": 0, "db": 3}), essential=["etl", "db"]).verdict == "failed"


def test_durations_and_usage():
    outcome = TaskOutcome.from_task(_task({"etl": 0}), essential=["etl"])
    assert outcome.pending_seconds == 30
    assert outcome.running_seconds == 600
    assert outcome.vcpu_seconds == 630  # 1 vCPU x (stoppedAt - pullStartedAt)
    assert outcome.gb_seconds == 1260


def test_failure_message_carries_exit_codes_stop_code_reason_and_log_tail():
    outcome = TaskOutcome.from_task(_task({"etl": 2, "sidecar": 0}), essential=["etl"])
    outcome.log_tail = ["loading", "KeyError: 'id'"]
    message = outcome.failure_message()
    assert "essential container 'etl' exited 2" in message
    assert "{'etl': 2, 'sidecar': 0}" in message
    assert "stop code EssentialContainerExited" in message
    assert "Essential container in task exited" in message
    assert message.endswith("    loading\n    KeyError: 'id'")
    assert not outcome.retryable


def test_platform_stops_are_retryable_and_say_so():
    spot = TaskOutcome.from_task(
        _task({"etl": None}, "SpotInterruption", "Your Spot Task was interrupted."), ["etl"]
    )
    assert spot.verdict == "failed" and spot.retryable
    assert "did not run (no exit code)" in spot.explanation
    assert "retryable: Fargate Spot reclaimed the capacity" in spot.failure_message()
    start = TaskOutcome.from_task(
        _task({}, "TaskFailedToStart", "CannotPullContainerError: pull access denied"), ["etl"]
    )
    assert start.retryable and "CannotPullContainerError" in start.failure_message()
    for code in ("TerminationNotice",):
        assert TaskOutcome.from_task(_task({"etl": 143}, code, "terminated"), ["etl"]).retryable


def test_user_initiated_stop_says_who():
    outcome = TaskOutcome.from_task(
        _task({"etl": 143}, "UserInitiated", "Airflow etl.offload: killed"), ["etl"]
    )
    assert "reason: Airflow etl.offload: killed" in outcome.failure_message()
    assert "stopped by a StopTask call" in outcome.failure_message()


def test_skip_on_exit_code():
    assert TaskOutcome.from_task(_task({"etl": 99}), ["etl"], skip_on_exit_code=[99]).verdict == "skipped"
    assert TaskOutcome.from_task(_task({"etl": 98}), ["etl"], skip_on_exit_code=[99]).verdict == "failed"
