"""FargateOffloadOperator: run a container on ECS Fargate and wait for it, cheaply and idempotently."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import UTC, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, cast

from airflow_provider_ecsops.compat import BaseOperator
from airflow_provider_ecsops.fargate.links import FargateLogStreamLink, FargateTaskLink
from airflow_provider_ecsops.fargate.validation import (
    FargateConfigError,
    check_arguments,
    check_size,
    exit_codes,
)

if TYPE_CHECKING:
    from airflow_provider_ecsops.fargate.logs import LogTail

# Every argument validation checks (skip_on_exit_code is checked as it is normalized, in __init__).
_CHECKED = (
    "cluster", "task_definition", "container_name", "command", "subnets", "security_groups", "environment",
    "cpu", "memory", "tags", "capacity_provider_strategy", "launch_type", "platform_version", "propagate_tags",
    "assign_public_ip", "aws_conn_id", "region_name", "deferrable", "poll_interval", "stop_on_kill",
    "stop_on_failure", "rerun_failed_on_retry", "log_lines_on_failure", "run_task_timeout",
)  # fmt: skip
_STORE_KEY = "ecsops_fargate_task"  # the task state store entry: {"run_key": ..., "task_arn": ...}


class FargateOffloadOperator(BaseOperator):
    """Run a container on ECS Fargate and wait for it to finish; succeed iff every essential container exits 0.

    Every try of one task instance shares a run key (dag, task, run, map index; not the try number) used as
    RunTask's ``startedBy`` and a tag; the clientToken is the key and the number of the try that starts the
    container. A retry first finds the previous container: the task ARN an earlier try kept in Airflow 3.3's
    task state store, else a running task listed with the key, else by re-sending the previous try's RunTask
    (ECS returns the task a clientToken started, for 24 hours). A running or stopping container is awaited, a
    finished one's result is used instead of running again, and only a failed one is replaced by a fresh
    container (``rerun_failed_on_retry``). Clearing the task instance starts anew. Logs never decide the
    verdict: a log read error is a warning in the task log and the XCom.

    :param cluster: ECS cluster name or ARN. (templated)
    :param task_definition: family, ``family:revision`` or ARN. (templated)
    :param subnets: awsvpc subnets the task runs in. (templated)
    :param container_name: container to run ``command`` in; default the task definition's only essential
        container. (templated)
    :param command: the container command as a list of strings. (templated)
    :param environment: extra environment variables for the container. (templated)
    :param cpu: task-level CPU units override (256, 512, 1024, ...). (templated)
    :param memory: task-level memory override in MiB, a valid Fargate size for ``cpu``. (templated)
    :param security_groups: awsvpc security groups. (templated)
    :param assign_public_ip: give the task a public IP (public subnets without NAT).
    :param launch_type: ``FARGATE`` (the default unless ``capacity_provider_strategy`` is set).
    :param capacity_provider_strategy: e.g. ``[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]``. (templated)
    :param platform_version: Fargate platform version, default ECS's LATEST. (templated)
    :param tags: tags for the task, besides the operator's own run-key tags. (templated)
    :param propagate_tags: ``TASK_DEFINITION`` to copy the task definition's tags onto the task.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region; default the connection's.
    :param deferrable: wait in the triggerer, freeing the worker slot; default ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks; default ``[ecsops] fargate_poll_interval``.
    :param stop_on_kill: stop the container when the task instance is killed or times out.
    :param stop_on_failure: when waiting fails for good (a permanent AWS error) on the last try, stop the
        container rather than leave it running with nobody watching; earlier tries leave it for the retry.
    :param rerun_failed_on_retry: on a retry, start a fresh container if the previous one failed (otherwise
        report that failure again). A container that succeeded is never run again for the same key.
    :param skip_on_exit_code: exit code(s) of the essential containers that mark the task skipped.
    :param log_lines_on_failure: how many last log lines a failure message carries; default
        ``[ecsops] fargate_log_lines_on_failure``.
    :param run_task_timeout: seconds RunTask may keep being retried for capacity and throttling errors.
    :param run_task_kwargs: further RunTask arguments the operator does not model, passed through, e.g.
        ``{"enableExecuteCommand": True, "overrides": {"ephemeralStorage": {"sizeInGiB": 50}}}``; checked
        against botocore's RunTask model at DAG parse time. (templated)

    When apache-airflow-providers-openlineage is installed and enabled, the container's environment carries
    the task's OpenLineage parent run (``OPENLINEAGE_PARENT_ID`` ...); ``environment`` wins over it.
    """

    template_fields: Sequence[str] = (
        "cluster", "task_definition", "container_name", "command", "environment", "cpu", "memory", "subnets",
        "security_groups", "tags", "capacity_provider_strategy", "platform_version", "run_task_kwargs",
    )  # fmt: skip
    template_fields_renderers = {"command": "json", "environment": "json", "tags": "json"}
    operator_extra_links = (FargateTaskLink(), FargateLogStreamLink())
    ui_color = "#fcd9a5"

    def __init__(
        self,
        *,
        cluster: str,
        task_definition: str,
        subnets: list[str] | str,
        container_name: str | None = None,
        command: list[str] | str | None = None,
        environment: dict[str, str] | str | None = None,
        cpu: int | str | None = None,
        memory: int | str | None = None,
        security_groups: list[str] | str | None = None,
        assign_public_ip: bool = False,
        launch_type: str | None = None,
        capacity_provider_strategy: list[dict[str, Any]] | str | None = None,
        platform_version: str | None = None,
        tags: dict[str, str] | None = None,
        propagate_tags: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        stop_on_kill: bool = True,
        stop_on_failure: bool = True,
        rerun_failed_on_retry: bool = True,
        skip_on_exit_code: int | Collection[int] | None = None,
        log_lines_on_failure: int | None = None,
        run_task_timeout: float = 600,
        run_task_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from airflow_provider_ecsops.compat import conf

        self.cluster = cluster
        self.task_definition = task_definition
        self.subnets = subnets
        self.container_name = container_name
        self.command = command
        self.environment = environment
        self.cpu = cpu
        self.memory = memory
        self.security_groups = security_groups
        self.assign_public_ip = assign_public_ip
        self.launch_type = launch_type
        self.capacity_provider_strategy = capacity_provider_strategy
        self.platform_version = platform_version
        self.tags = tags
        self.propagate_tags = propagate_tags
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False)
            if deferrable is None
            else deferrable
        )
        self.poll_interval = poll_interval  # None: read from [ecsops] at run time, not at DAG parse time
        self.stop_on_kill = stop_on_kill
        self.stop_on_failure = stop_on_failure
        self.rerun_failed_on_retry = rerun_failed_on_retry
        self.skip_on_exit_code = exit_codes(skip_on_exit_code)
        self.log_lines_on_failure = log_lines_on_failure
        self.run_task_timeout = run_task_timeout
        self.run_task_kwargs = run_task_kwargs
        self._lineage_env: dict[str, str] = {}
        self._task_arn: str | None = None
        self._deadline: float | None = None  # time.monotonic() when execution_timeout runs out
        self._stopped = False
        self._check()

    def _check(self) -> None:
        from airflow_provider_ecsops.fargate.passthrough import check_run_task_kwargs

        check_arguments({name: getattr(self, name) for name in _CHECKED})
        check_run_task_kwargs(self.run_task_kwargs)

    def _resolve_settings(self) -> None:
        """Fill the defaults that come from ``[ecsops]``: reading a provider's section makes Airflow load every
        provider's configuration, which DAG parsing must not pay for."""
        from airflow_provider_ecsops.fargate.settings import FargateSettings

        self._run_settings = FargateSettings.from_airflow_conf(
            poll_interval=self.poll_interval, log_lines_on_failure=self.log_lines_on_failure
        )

    @cached_property
    def hook(self):
        from airflow_provider_ecsops.fargate.hook import FargateHook

        return FargateHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    # -- start or attach -----------------------------------------------------------------------------------
    def execute(self, context) -> dict[str, Any]:
        from airflow_provider_ecsops.fargate.lineage import parent_run_environment
        from airflow_provider_ecsops.fargate.outcome import normalize_task
        from airflow_provider_ecsops.fargate.run_key import RunKey

        self._check()  # templates are rendered now
        self._resolve_settings()
        remaining = self._remaining_time(context)
        self._deadline = None if remaining is None else time.monotonic() + remaining
        key = RunKey.from_context(context, self.retries or 0)
        self._lineage_env = parent_run_environment(context["ti"])
        taskdef = self.hook.describe_task_definition(self.task_definition)
        state = self._task_state(taskdef)
        task, reused = self._attach_or_start(context, key, state)
        self._task_arn = task["taskArn"]
        state["log"] = self._log_location(taskdef, state["container"], task["taskArn"])
        self._persist_links(context, task, state["log"])
        if task["lastStatus"] == "STOPPED":
            task = normalize_task(task)
            return self._complete(context, task, state, self._read_logs(state, task), reused)
        if self.deferrable:
            self._defer(context, key, state)
        return self._wait(context, task, state)

    def _task_state(self, taskdef: dict[str, Any]) -> dict[str, Any]:
        """Which container runs the command, and which containers decide success."""
        names = [c["name"] for c in taskdef["containerDefinitions"]]
        essential = [c["name"] for c in taskdef["containerDefinitions"] if c.get("essential", True)]
        family = f"{taskdef['family']}:{taskdef['revision']}"
        container = self.container_name
        if container is None:
            if len(essential) != 1:
                raise FargateConfigError(
                    f"container_name: task definition {family} has {len(essential)} essential containers "
                    f"({', '.join(essential)}). Fix: set container_name to the one that runs the command"
                )
            container = essential[0]
        elif container not in names:
            raise FargateConfigError(
                f"container_name: {container!r} is not in task definition {family}. "
                f"Fix: use one of {', '.join(names)}"
            )
        # An override of only cpu or only memory must still fit the task definition's other half.
        check_size(
            self.cpu if self.cpu is not None else taskdef.get("cpu"),
            self.memory if self.memory is not None else taskdef.get("memory"),
        )
        return {"container": container, "essential": essential}

    def _attach_or_start(self, context, key, state) -> tuple[dict[str, Any], bool]:
        """Reattach to this key's running or stopping task, reuse its finished one, or start a new one."""
        from airflow_provider_ecsops.fargate.outcome import TaskOutcome, normalize_task
        from airflow_provider_ecsops.fargate.run_key import current_try

        last = self._previous_task(context, key, state)
        if last is not None and last["lastStatus"] != "STOPPED":
            self.log.info(
                "Reattaching to %s (%s), started earlier for %s",
                last["taskArn"],
                last["lastStatus"],
                key.describe(),
            )
            return last, False
        if last is not None:
            verdict = TaskOutcome.from_task(
                normalize_task(last), state["essential"], self.skip_on_exit_code
            ).verdict
            if verdict != "failed":
                self.log.info(
                    "%s already finished (%s) for %s; using its result",
                    last["taskArn"],
                    verdict,
                    key.describe(),
                )
                return last, True
            if not self.rerun_failed_on_retry:
                self.log.info(
                    "%s failed earlier and rerun_failed_on_retry is off; reporting it", last["taskArn"]
                )
                return last, True
            self.log.info("%s failed earlier; starting a fresh container", last["taskArn"])
        task = self._run_task(context, key, state, current_try(context))
        self.log.info("Started ECS task %s (%s) for %s", task["taskArn"], state["container"], key.describe())
        return task, False

    def _previous_task(self, context, key, state) -> dict[str, Any] | None:
        """The container an earlier try of this key started, if any (None on a first try)."""
        from airflow_provider_ecsops.fargate.run_key import current_try

        store = context.get("task_state_store")  # Airflow 3.3+; unlike XCom it survives into the next try
        stored = store.get(_STORE_KEY) if store is not None else None
        if isinstance(stored, dict) and stored.get("run_key") == key.value:
            task = self.hook.describe_task(self.cluster, stored["task_arn"])
            if task is not None:
                return task
            self.log.warning("%s, kept by an earlier try, is no longer known to ECS", stored["task_arn"])
        elif current_try(context) == 1:
            return None  # nothing ran before; a re-sent first try gets its task back through the clientToken
        running = self.hook.find_running_tasks(self.cluster, key.value)
        if running:
            return running[-1]
        if current_try(context) == 1:
            return None
        # Nothing kept (Airflow < 3.3, or the earlier try died before keeping it): re-send the previous try's
        # RunTask. ECS answers with the task that clientToken started (for 24 hours); if that try started none,
        # this starts one, which is the container needed now.
        return self._run_task(context, key, state, current_try(context) - 1)

    def _run_task(self, context, key, state, try_number: int) -> dict[str, Any]:
        """RunTask with the clientToken of ``try_number``; keeps the task ARN where the next try can read it."""
        from airflow_provider_ecsops.compat import AirflowException
        from airflow_provider_ecsops.fargate.hook import ClientTokenInUse

        request = self._run_task_request(key, state["container"], try_number)
        deadline = time.monotonic() + self.run_task_timeout
        if self._deadline is not None:
            deadline = min(deadline, self._deadline)
        try:
            task = self.hook.run_task(request, deadline=deadline)
        except ClientTokenInUse as conflict:
            # That try already started a task, with parameters rendered differently: that task is its container.
            self.log.info("%s; using the task it started", conflict)
            found = (
                self.hook.describe_task(self.cluster, conflict.task_arns[0]) if conflict.task_arns else None
            )
            if found is None:
                raise AirflowException(f"{conflict}; ECS does not show the task it names") from conflict
            task = found
        store = context.get("task_state_store")
        if store is not None:
            store.set(_STORE_KEY, {"run_key": key.value, "task_arn": task["taskArn"]})
        return task

    def _run_task_request(self, key, container: str, try_number: int) -> dict[str, Any]:
        from airflow_provider_ecsops.fargate.passthrough import merge

        override: dict[str, Any] = {"name": container}
        if self.command is not None:
            override["command"] = list(self.command)
        # Rendered and checked by now; the user's own variables win over the lineage ones.
        environment = {**self._lineage_env, **cast("dict[str, str]", self.environment or {})}
        if environment:
            override["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
        overrides: dict[str, Any] = {"containerOverrides": [override]}
        if self.cpu is not None:
            overrides["cpu"] = str(self.cpu)
        if self.memory is not None:
            overrides["memory"] = str(self.memory)
        vpc: dict[str, Any] = {
            "subnets": list(self.subnets),
            "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
        }
        if self.security_groups:
            vpc["securityGroups"] = list(self.security_groups)
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": self.task_definition,
            "count": 1,
            "startedBy": key.value,
            "clientToken": key.client_token(try_number),
            "networkConfiguration": {"awsvpcConfiguration": vpc},
            "overrides": overrides,
            "tags": key.tags() + [{"key": k, "value": v} for k, v in (self.tags or {}).items()],
        }
        if self.capacity_provider_strategy:
            request["capacityProviderStrategy"] = list(self.capacity_provider_strategy)
        else:
            request["launchType"] = self.launch_type or "FARGATE"
        if self.platform_version:
            request["platformVersion"] = self.platform_version
        if self.propagate_tags:
            request["propagateTags"] = self.propagate_tags
        return merge(request, self.run_task_kwargs)

    # -- waiting -------------------------------------------------------------------------------------------
    def _defer(self, context, key, state) -> None:
        from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger

        remaining = self._remaining_time(context)
        trigger = FargateTaskTrigger(
            cluster=self.cluster,
            task_arn=cast(str, self._task_arn),  # set when the task started, before any wait
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            poll_interval=self._run_settings.poll_interval,
            deadline=None if remaining is None else time.time() + remaining,
            stop_on_kill=self.stop_on_kill,
            stop_reason=key.describe(),
            resume={**state, "log_lines": self._run_settings.log_lines_on_failure},
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def _wait(self, context, task: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        """Synchronous mode: poll, stream new log lines into the task log, stop the container on timeout."""
        from airflow_provider_ecsops.aws_retry import backoff, error_text, is_transient
        from airflow_provider_ecsops.compat import AirflowException, AirflowTaskTimeout
        from airflow_provider_ecsops.fargate.outcome import normalize_task

        tail = self._log_tail(state)
        delays = None
        since, seen = time.monotonic(), False
        try:
            while task["lastStatus"] != "STOPPED":
                if tail:
                    tail.read()
                time.sleep(self._run_settings.poll_interval if delays is None else next(delays))
                try:
                    tasks, failures = self.hook.describe_tasks(self.cluster, [self._task_arn])
                except Exception as exc:
                    if not is_transient(exc):
                        self._give_up(context, f"DescribeTasks failed: {error_text(exc)}")
                    delays = delays or backoff(
                        max(self.hook.retry_base, self._run_settings.poll_interval), self.hook.retry_cap
                    )
                    self.log.warning(
                        "DescribeTasks: %s; the container keeps running, waiting", error_text(exc)
                    )
                    continue
                delays = None
                if failures and not seen and time.monotonic() - since < self.hook.missing_grace:
                    self.log.info("ECS does not show %s yet (DescribeTasks lags RunTask)", self._task_arn)
                    continue
                if failures:
                    raise AirflowException(f"ECS no longer knows task {self._task_arn}: {failures}")
                task, seen = tasks[0], True
        except AirflowTaskTimeout:
            # A kill is handled by on_kill; a permanent AWS error is handled by _give_up.
            if self.stop_on_kill:
                self._stop("execution_timeout reached")
            raise
        task = normalize_task(task)
        if tail:
            tail.drain(task)
        return self._complete(context, task, state, tail, reused=False)

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        """Deferrable mode: the trigger reports the stopped task (or a timeout, or an error)."""
        from airflow_provider_ecsops.compat import AirflowTaskTimeout

        self._resolve_settings()
        self._task_arn = event["task_arn"]
        state = event["resume"]
        # The trigger copied the lines into the task log as they came; continue where it stopped.
        handed = event.get("logs")
        if event["status"] == "stopped":
            logs = self._read_logs(state, event["task"], handed)
            return self._complete(context, event["task"], state, logs, reused=False)
        if event["status"] != "timeout":
            self._give_up(context, event["message"])
        logs = self._read_logs(state, None, handed)
        tail = "\n".join(f"    {line}" for line in (logs.lines if logs else [])) or "    (no log lines)"
        stopped = "was stopped" if event.get("stopped") else "could NOT be stopped (see the triggerer log)"
        raise AirflowTaskTimeout(
            f"ECS task {self._task_arn} ran past execution_timeout and {stopped}. Last log lines:\n{tail}"
        )

    def _give_up(self, context, problem: str) -> NoReturn:
        """Waiting failed for good: fail the try; on the last try stop the container first (stop_on_failure)."""
        from airflow_provider_ecsops.compat import AirflowException
        from airflow_provider_ecsops.fargate.run_key import is_last_try

        message = f"Waiting for ECS task {self._task_arn} failed: {problem}."
        if not is_last_try(context, self.retries or 0):
            raise AirflowException(f"{message} The container keeps running; the retry reattaches to it.")
        if not self.stop_on_failure:
            raise AirflowException(
                f"{message} This was the last try and stop_on_failure is off: the container "
                "keeps running with nobody watching."
            )
        stopped = self._stop(f"stop_on_failure, last try: {problem}")
        what = "was stopped (stop_on_failure)" if stopped else "could NOT be stopped (see the error above)"
        self.log.warning("This was the last try: ECS task %s %s", self._task_arn, what)
        raise AirflowException(f"{message} This was the last try: the container {what}.")

    # -- completion (both modes) ---------------------------------------------------------------------------
    def _complete(self, context, task, state, logs: LogTail | None, reused: bool) -> dict[str, Any]:
        from airflow_provider_ecsops.compat import AirflowException, AirflowSkipException
        from airflow_provider_ecsops.fargate.outcome import TaskOutcome

        outcome = TaskOutcome.from_task(task, state["essential"], self.skip_on_exit_code)
        outcome.reused = reused
        outcome.log_tail = (
            list(logs.lines)[-self._run_settings.log_lines_on_failure :]
            if logs and self._run_settings.log_lines_on_failure
            else []
        )
        outcome.log_warning = logs.warning if logs else None
        if outcome.verdict == "success":
            self.log.info("ECS task %s succeeded: %s", outcome.task_arn, outcome.exit_codes)
            return outcome.xcom()
        context["ti"].xcom_push(key="fargate_task", value=outcome.xcom())
        if outcome.verdict == "skipped":
            raise AirflowSkipException(f"ECS task {outcome.task_arn}: {outcome.explanation}")
        raise AirflowException(outcome.failure_message())

    def on_kill(self) -> None:
        if self._task_arn and self.stop_on_kill:
            timed_out = self._deadline is not None and time.monotonic() >= self._deadline
            self._stop("execution_timeout reached" if timed_out else "task instance was killed")

    def _stop(self, why: str) -> bool:
        """Stop the container once (Airflow 3 also calls on_kill after a timeout already stopped it); returns
        whether ECS accepted it."""
        if self._stopped:
            return True
        self._stopped = True
        try:
            self.hook.stop_task(self.cluster, self._task_arn, f"Airflow {self.dag_id}.{self.task_id}: {why}")
            return True
        except Exception:
            self.log.exception("Could not stop ECS task %s", self._task_arn)
            return False

    # -- logs and links ------------------------------------------------------------------------------------
    def _log_location(self, taskdef, container: str, task_arn: str) -> dict[str, Any] | None:
        from airflow_provider_ecsops.fargate.logs import LogLocation

        location = LogLocation.of(taskdef, container, task_arn)
        if location is None:
            self.log.info(
                "Container %s does not log to awslogs with a stream prefix; no logs to show", container
            )
        return None if location is None else location.as_dict()

    def _log_tail(self, state, handed: dict[str, Any] | None = None) -> LogTail | None:
        """A follower of the container's log stream that copies its lines into the task log.

        :param handed: the trigger's :meth:`LogTail.handoff`, to continue at its forward token.
        """
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        from airflow_provider_ecsops.fargate.logs import LogLocation, LogReader, LogTail

        if not state.get("log"):
            return None
        location = LogLocation(**state["log"])
        hook = AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=location.region or self.region_name)
        pause = min(1.0, self._run_settings.poll_interval)
        # A drained handoff needs no read, so no client (building one is most of the worker's time then).
        client = None if (handed or {}).get("drained") else hook.conn
        reader = LogReader(client, location, token=(handed or {}).get("token"))
        return LogTail(reader, self.log, self._run_settings.log_lines_on_failure, pause, handed=handed)

    def _read_logs(
        self, state, task: dict[str, Any] | None, handed: dict[str, Any] | None = None
    ) -> LogTail | None:
        """Copy the container's lines into the task log: all of them, late ones included, for a stopped
        ``task``; what is there now otherwise. After a trigger's ``handed`` tail (it followed in the triggerer),
        one read from its forward token, none if the trigger drained the stream past the delivery lag."""
        logs = self._log_tail(state, handed)
        if logs and handed is not None:
            if not logs.drained:
                logs.read()
            self.log.info("%d container log lines were copied into this task's log", logs.read_count)
        elif logs and task:
            logs.drain(task)
        elif logs:
            logs.read()
        return logs

    def _persist_links(self, context, task, log: dict[str, Any] | None) -> None:
        """Store each link's URL once, as soon as the task is known (links.py says where the UI reads it)."""
        region = self.hook.conn_region_name
        partition = self.hook.conn_partition
        # New-format ARNs carry the cluster name (task/<cluster>/<id>); old ones only the id.
        parts = task["taskArn"].split(":task/", 1)[1].split("/")
        cluster = parts[0] if len(parts) == 2 else self.cluster.rsplit("/", 1)[-1]
        ti = context["ti"]
        FargateTaskLink.persist(
            ti, FargateTaskLink.url(region=region, partition=partition, cluster=cluster, task_id=parts[-1])
        )
        if log:
            url = FargateLogStreamLink.url(
                region=region,
                partition=partition,
                log_region=log["region"] or region,
                group=log["group"],
                stream=log["stream"],
            )
            FargateLogStreamLink.persist(ti, url)

    def _remaining_time(self, context) -> float | None:
        """Seconds left of execution_timeout for this try, or None when there is no timeout."""
        if not isinstance(self.execution_timeout, timedelta):
            return None
        start = getattr(context["ti"], "start_date", None)
        if start is None:
            return self.execution_timeout.total_seconds()
        from datetime import datetime

        return max(0.0, (start + self.execution_timeout - datetime.now(UTC)).total_seconds())
