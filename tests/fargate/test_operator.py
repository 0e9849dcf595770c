"""Operator behaviour against local AWS: idempotency, retries, waiting, kill, XCom and links."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from airflow_provider_ecsops.compat import AirflowException, AirflowSkipException, TaskDeferred
from airflow_provider_ecsops.fargate.validation import FargateConfigError
from airflow_provider_ecsops.testing.fargate_double import CAPACITY_UNAVAILABLE, TaskScript


def run_deferred(op, context):
    """What Airflow does with a deferrable task: execute, run the trigger to its event, execute_complete."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        trigger, method = deferred.trigger, deferred.method_name

        async def first_event():
            async for event in trigger.run():
                return event

        event = asyncio.run(first_event())
        return getattr(op, method)(context, event.payload)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_success_returns_xcom_and_runs_one_container(make_operator, context, aws, deferrable):
    aws.fargate.script(TaskScript(exit_codes={"sidecar": 3}))  # a failing sidecar does not fail the task
    result = run_deferred(make_operator(deferrable=deferrable, cpu=512, memory=1024), context)
    assert result["verdict"] == "success"
    assert result["exit_codes"] == {"etl": 0, "sidecar": 3}
    assert result["task_arn"].startswith(f"arn:aws:ecs:us-east-1:123456789012:task/{aws.cluster}/")
    for key in ("pending_seconds", "running_seconds", "vcpu_seconds", "gb_seconds", "stop_code"):
        assert key in result
    (request,) = aws.fargate.requests_of("RunTask")
    assert request["launchType"] == "FARGATE"
    assert request["overrides"] == {
        "containerOverrides": [{"name": "etl", "command": ["python", "job.py"]}],
        "cpu": "512",
        "memory": "1024",
    }
    assert request["startedBy"] == request["clientToken"].rsplit("-", 1)[0]
    assert {"key": "ecsops:run-key", "value": request["startedBy"]} in request["tags"]
    assert aws.fargate.calls["StopTask"] == 0


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_failure_message_has_codes_reason_and_last_log_lines(make_operator, context, aws, deferrable):
    aws.fargate.script(TaskScript(exit_codes={"etl": 2}, log_lines=[f"line {i}" for i in range(30)]))
    with pytest.raises(AirflowException) as err:
        run_deferred(make_operator(deferrable=deferrable, log_lines_on_failure=3), context)
    message = str(err.value)
    assert "essential container 'etl' exited 2" in message
    assert "stop code EssentialContainerExited" in message
    assert message.endswith("    line 27\n    line 28\n    line 29")
    assert context["ti"].xcom["fargate_task"]["exit_codes"]["etl"] == 2


def test_sync_mode_streams_every_log_line_into_the_task_log(make_operator, context, aws, caplog, capfd):
    lines = [f"row batch {i}" for i in range(12)]
    aws.fargate.script(TaskScript(running=0.3, log_lines=lines))
    with caplog.at_level("INFO"):
        make_operator().execute(context)
    # Airflow 2 logs through logging (caplog); Airflow 3's task logger writes through structlog (stdout).
    pattern = r"\[etl\] (row batch \d+)"
    logged = re.findall(pattern, caplog.text) or re.findall(pattern, capfd.readouterr().out)
    assert logged == lines


def test_spot_interruption_is_reported_retryable(make_operator, context, aws):
    aws.fargate.script(
        TaskScript(
            running=0.05,
            stop_code="SpotInterruption",
            stopped_reason="Your Spot Task was interrupted.",
            exit_codes={"etl": 143},
        )
    )
    op = make_operator(capacity_provider_strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    with pytest.raises(AirflowException, match="retryable: Fargate Spot reclaimed the capacity"):
        op.execute(context)
    assert context["ti"].xcom["fargate_task"]["retryable"] is True
    (request,) = aws.fargate.requests_of("RunTask")
    assert (
        "launchType" not in request
        and request["capacityProviderStrategy"][0]["capacityProvider"] == "FARGATE_SPOT"
    )


def test_skip_on_exit_code_skips(make_operator, context, aws):
    aws.fargate.script(TaskScript(exit_codes={"etl": 99}))
    with pytest.raises(AirflowSkipException):
        make_operator(skip_on_exit_code=99).execute(context)


def test_retry_after_worker_loss_reattaches_without_a_second_run_task(make_operator, context, aws):
    # Still running when the retry starts, with room for a loaded machine (2 s was seen finished by then).
    aws.fargate.script(TaskScript(running=6.0))
    first = make_operator(deferrable=True)
    with pytest.raises(TaskDeferred):
        first.execute(context)  # the worker dies here: the try never completes
    context["ti"].try_number = 2
    retry = make_operator(deferrable=False)
    result = retry.execute(context)
    assert result["verdict"] == "success" and result["reused"] is False
    assert aws.fargate.calls["RunTask"] == 1


def test_container_that_finished_while_worker_was_down_is_not_rerun(make_operator, context, aws):
    aws.fargate.script(TaskScript(running=0.05))
    with pytest.raises(TaskDeferred):
        make_operator(deferrable=True).execute(context)
    time.sleep(0.5)  # the container finishes with nobody watching
    context["ti"].try_number = 2
    result = make_operator().execute(context)
    assert result["reused"] is True and result["verdict"] == "success"
    assert len(aws.fargate.task_arns()) == 1


def test_failed_container_is_replaced_on_retry_with_a_new_client_token(make_operator, context, aws):
    aws.fargate.script(TaskScript(exit_codes={"etl": 1}), TaskScript())
    with pytest.raises(AirflowException):
        make_operator().execute(context)
    context["ti"].try_number = 2
    assert make_operator().execute(context)["verdict"] == "success"
    tokens = [r["clientToken"] for r in aws.fargate.requests_of("RunTask")]
    key = tokens[0][:-2]
    # The retry re-sends try 1's RunTask (ECS answers with that failed task), then starts try 2's container.
    assert tokens == [f"{key}-1", f"{key}-1", f"{key}-2"]
    assert len(aws.fargate.task_arns()) == 2


def test_failed_container_is_reported_again_when_rerun_is_off(make_operator, context, aws):
    aws.fargate.script(TaskScript(exit_codes={"etl": 1}))
    for try_number in (1, 2):
        context["ti"].try_number = try_number
        with pytest.raises(AirflowException, match="exited 1"):
            make_operator(rerun_failed_on_retry=False).execute(context)
    assert len(aws.fargate.task_arns()) == 1


def test_clearing_the_task_instance_runs_a_new_container(make_operator, context, aws):
    make_operator().execute(context)
    context["ti"].max_tries += 1  # what Airflow does on clear
    context["ti"].try_number += 1
    make_operator().execute(context)
    assert len(aws.fargate.task_arns()) == 2


def test_capacity_errors_are_retried_with_the_same_client_token(make_operator, context, aws):
    aws.fargate.run_failure(CAPACITY_UNAVAILABLE, times=2)
    aws.fargate.fail("RunTask", "ThrottlingException", times=1)
    assert make_operator().execute(context)["verdict"] == "success"
    tokens = {r["clientToken"] for r in aws.fargate.requests_of("RunTask")}
    assert aws.fargate.calls["RunTask"] == 4 and len(tokens) == 1
    assert len(aws.fargate.task_arns()) == 1


def test_invalid_parameters_fail_at_once_with_aws_message(make_operator, context, aws):
    aws.fargate.fail("RunTask", "InvalidParameterException", times=1)
    with pytest.raises(Exception, match="RunTask was refused: InvalidParameterException: simulated"):
        make_operator().execute(context)
    assert aws.fargate.calls["RunTask"] == 1


def test_throttled_describe_tasks_neither_fails_nor_stops_the_container(make_operator, context, aws):
    aws.fargate.script(TaskScript(running=0.3))
    aws.fargate.fail("DescribeTasks", "ThrottlingException", times=4)
    aws.fargate.fail("DescribeTasks", "ServiceUnavailable", times=1, status=503)
    aws.fargate.fail("DescribeTasks", "connection", times=1)
    assert make_operator().execute(context)["verdict"] == "success"
    assert aws.fargate.calls["StopTask"] == 0


def test_on_kill_stops_the_container_naming_the_task_instance(make_operator, context, aws):
    aws.fargate.script(TaskScript(running=None))  # runs until stopped
    op = make_operator()

    def kill_when_running():  # as Airflow's SIGTERM handler would, while execute() waits
        deadline = time.time() + 10
        while (
            op._task_arn is None or aws.fargate.status(op._task_arn)["lastStatus"] != "RUNNING"
        ) and time.time() < deadline:
            time.sleep(0.02)
        op.on_kill()

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    with pytest.raises(AirflowException, match="UserInitiated"):
        op.execute(context)
    killer.join()
    (stop,) = aws.fargate.requests_of("StopTask")
    assert stop["reason"] == "Airflow etl.offload: task instance was killed"
    assert aws.fargate.status(op._task_arn)["stopCode"] == "UserInitiated"


def test_container_name_is_resolved_from_the_task_definition(aws, make_operator, context):
    import boto3

    from airflow_provider_ecsops.testing.local_aws import register_task_definition

    ecs = boto3.client("ecs", region_name=aws.region)
    td = ecs.describe_task_definition(taskDefinition=aws.task_definition)["taskDefinition"]
    two = [dict(c, essential=True) for c in td["containerDefinitions"]]
    ecs.register_task_definition(
        family="two-essential", containerDefinitions=two, requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc", cpu="256", memory="512",
    )  # fmt: skip
    with pytest.raises(FargateConfigError, match=r"^container_name: .* has 2 essential containers"):
        make_operator(task_definition="two-essential").execute(context)
    with pytest.raises(FargateConfigError, match=r"^container_name: 'nope' is not in"):
        make_operator(container_name="nope").execute(context)
    assert make_operator(task_definition="two-essential", container_name="sidecar").execute(context)
    register_task_definition(ecs, "single", sidecar=False)
    context["ti"].max_tries += 1  # a clear: otherwise the finished run above is (rightly) reused
    make_operator(task_definition="single").execute(context)
    assert aws.fargate.requests_of("RunTask")[-1]["overrides"]["containerOverrides"][0]["name"] == "etl"


def test_extra_links_point_at_the_task_and_its_log_stream(make_operator, context, aws):
    from airflow_provider_ecsops.fargate.links import FargateLogStreamLink, FargateTaskLink

    result = make_operator().execute(context)
    task_id = result["task_arn"].rsplit("/", 1)[-1]
    task_link = context["ti"].xcom[FargateTaskLink().xcom_key]
    assert task_link == (
        f"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/{aws.cluster}/tasks/{task_id}/configuration"
        "?region=us-east-1"
    )
    log_link = context["ti"].xcom[FargateLogStreamLink().xcom_key]
    assert log_link == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/"
        f"$252Fecs$252Fecsops-demo/log-events/ecsops-demo-etl$252Fetl$252F{task_id}"
    )


def test_deferrable_run_over_a_moto_server(monkeypatch, context):
    """The same path over real HTTP: every client reaches a moto server on loopback (AWS_ENDPOINT_URL)."""
    from airflow_provider_ecsops.testing.local_aws import local_aws
    from tests.fargate.builders import offload_operator

    with local_aws(server=True) as env:
        env.fargate.script(TaskScript(exit_codes={"etl": 4}, log_lines=["over http"]))
        op = offload_operator(env, deferrable=True)
        with pytest.raises(AirflowException, match=r"(?s)exited 4.*    over http$"):
            run_deferred(op, context)


def test_a_single_size_override_must_fit_the_task_definition(make_operator, context, aws):
    # The demo task definition has cpu 256: memory 4096 alone is no Fargate size for it.
    with pytest.raises(FargateConfigError, match=r"^memory: 4096 MiB does not go with cpu=256"):
        make_operator(memory=4096).execute(context)
    assert aws.fargate.calls["RunTask"] == 0
