"""The operator against ECS as documented: stopping phases, eventual consistency, the listing hour, token
conflicts, unreadable or late logs, and a permanent error on the last try."""

from __future__ import annotations

import re
import time

import pytest

from airflow_provider_ecsops.compat import AirflowException, TaskDeferred
from airflow_provider_ecsops.testing.fargate_double import STOPPING_STATES, TaskScript
from tests.fargate.test_operator import run_deferred

modes = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])


class TaskStateStore:
    """Airflow 3.3's ``context["task_state_store"]`` (get/set of JSON per task instance, kept across tries)."""

    def __init__(self) -> None:
        self.values: dict = {}

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value, *, retention=None):
        self.values[key] = value


def lose_the_worker(make_operator, context) -> str:
    """Try 1 starts its container and defers; the worker dies there. Returns the task ARN."""
    op = make_operator(deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context)
    context["ti"].try_number += 1
    return op._task_arn


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the scenario did not happen"
        time.sleep(0.02)


@modes
def test_retry_during_the_stopping_phase_awaits_that_container_and_uses_its_result(
    make_operator, context, aws, deferrable
):
    aws.fargate.script(TaskScript(running=0.05, stopping=8.0))  # Fargate takes tens of seconds here
    arn = lose_the_worker(make_operator, context)
    wait_for(lambda: aws.fargate.status(arn)["lastStatus"] in STOPPING_STATES)
    assert aws.fargate.status(arn)["desiredStatus"] == "STOPPED"
    result = run_deferred(make_operator(deferrable=deferrable), context)
    assert result["task_arn"] == arn and result["verdict"] == "success"
    assert aws.fargate.task_arns() == [arn]


@modes
def test_missing_right_after_run_task_is_waited_out(make_operator, context, aws, deferrable):
    aws.fargate.script(TaskScript(invisible=3, running=0.1))
    result = run_deferred(make_operator(deferrable=deferrable), context)
    assert result["verdict"] == "success"
    assert aws.fargate.missing_answers == 3  # DescribeTasks did answer MISSING first
    assert aws.fargate.calls["StopTask"] == 0


def test_retry_after_the_listing_hour_reruns_a_failed_container_with_a_new_token(make_operator, context, aws):
    aws.fargate.script(TaskScript(exit_codes={"etl": 1}), TaskScript())
    with pytest.raises(AirflowException, match="exited 1"):
        make_operator().execute(context)
    aws.fargate.advance(2 * 3600)  # ECS no longer lists or describes it, but remembers its clientToken
    context["ti"].try_number = 2
    result = make_operator().execute(context)
    assert result["verdict"] == "success"
    assert len(aws.fargate.task_arns()) == 2
    assert len({r["clientToken"] for r in aws.fargate.requests_of("RunTask")}) == 2


def test_with_a_task_state_store_the_retry_reads_the_kept_arn_instead_of_searching(
    make_operator, context, aws
):
    context["task_state_store"] = TaskStateStore()
    aws.fargate.script(TaskScript(running=0.05, stopping=1.0))
    arn = lose_the_worker(make_operator, context)
    assert context["task_state_store"].values["ecsops_fargate_task"]["task_arn"] == arn
    aws.fargate.calls.clear()
    assert make_operator().execute(context)["task_arn"] == arn
    assert aws.fargate.calls["RunTask"] == 0 and aws.fargate.calls["ListTasks"] == 0


def test_a_rerun_of_a_try_whose_parameters_render_differently_uses_the_task_its_token_started(
    make_operator, context, aws
):
    aws.fargate.script(TaskScript(running=0.3))
    with pytest.raises(TaskDeferred):
        make_operator(deferrable=True, command=["python", "job.py", "--at", "01:00"]).execute(context)
    result = make_operator(command=["python", "job.py", "--at", "01:01"]).execute(context)  # same try again
    assert result["verdict"] == "success"
    assert len(aws.fargate.task_arns()) == 1
    assert aws.fargate.calls["RunTask"] == 2  # the second one was a ConflictException


def test_the_hook_lists_tasks_by_started_by_alone(make_operator, context, aws):
    aws.fargate.script(TaskScript(running=0.5))
    lose_the_worker(make_operator, context)
    make_operator().execute(context)
    (request,) = aws.fargate.requests_of("ListTasks")
    assert set(request) == {"cluster", "startedBy"}


@modes
def test_unreadable_logs_are_a_warning_never_the_verdict(
    make_operator, context, aws, deferrable, caplog, capfd
):
    aws.fargate.script(TaskScript(running=0.3))
    aws.fargate.fail("GetLogEvents", "AccessDeniedException", times=1)
    with caplog.at_level("WARNING"):
        result = run_deferred(make_operator(deferrable=deferrable), context)
    assert result["verdict"] == "success"
    assert "AccessDeniedException" in result["log_warning"]
    assert "logs:GetLogEvents" in caplog.text + capfd.readouterr().out
    assert aws.fargate.calls["StopTask"] == 0


@modes
def test_late_log_lines_are_drained_into_the_log_and_the_failure_message(
    make_operator, context, aws, deferrable, caplog, capfd, monkeypatch
):
    from airflow_provider_ecsops.fargate.logs import LogTail

    lines = [f"row {i}" for i in range(40)]
    aws.fargate.log_lag = 3.0  # CloudWatch delivers each line this long after the container wrote it
    monkeypatch.setattr(LogTail, "delivery_lag", 3.5)
    aws.fargate.script(TaskScript(running=0.1, stopping=0.05, exit_codes={"etl": 2}, log_lines=lines))
    with caplog.at_level("INFO"), pytest.raises(AirflowException) as err:
        run_deferred(make_operator(deferrable=deferrable, log_lines_on_failure=3), context)
    # The scenario: some read came after the exit while CloudWatch still lagged (a single late read, which
    # would also have found every line, does not count as a drain).
    assert aws.fargate.reads_in_flight > 0, "no read came while lines were in flight: the lag was not met"
    assert str(err.value).endswith("    row 37\n    row 38\n    row 39")
    logged = re.findall(r"\[etl\] (row \d+)", caplog.text) or re.findall(
        r"\[etl\] (row \d+)", capfd.readouterr().out
    )
    assert logged == lines


@modes
def test_a_permanent_error_on_the_last_try_stops_the_container_and_says_so(
    make_operator, context, aws, deferrable
):
    aws.fargate.script(TaskScript(running=None))
    aws.fargate.fail("DescribeTasks", "AccessDeniedException", times=1)
    with pytest.raises(AirflowException, match=r"last try: the container was stopped \(stop_on_failure\)"):
        run_deferred(make_operator(deferrable=deferrable), context)
    (stop,) = aws.fargate.requests_of("StopTask")
    assert "stop_on_failure" in stop["reason"]


def test_a_permanent_error_before_the_last_try_leaves_the_container_for_the_retry(
    make_operator, context, aws
):
    aws.fargate.script(TaskScript(running=None))
    aws.fargate.fail("DescribeTasks", "AccessDeniedException", times=1)
    context["ti"].max_tries = 1
    with pytest.raises(AirflowException, match="the retry reattaches to it"):
        make_operator(retries=1).execute(context)
    assert aws.fargate.calls["StopTask"] == 0
