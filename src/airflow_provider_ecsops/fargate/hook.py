"""ECS calls of the Fargate operator on top of the amazon provider's EcsHook, with retries where safe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from airflow.providers.amazon.aws.hooks.ecs import EcsHook

from airflow_provider_ecsops.aws_retry import backoff, error_text, is_transient

DESCRIBE_BATCH = 100  # DescribeTasks takes at most 100 tasks per call
CAPACITY_MARKERS = ("Capacity is unavailable", "RESOURCE:", "AGENT")


class RunTaskFailed(RuntimeError):
    """RunTask could not start the task; the message carries AWS's reason."""


class ClientTokenInUse(RunTaskFailed):
    """RunTask's ConflictException: the clientToken already started ``task_arns`` with other parameters.

    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html#RunTaskIdempotency
    """

    def __init__(self, message: str, task_arns: list[str]) -> None:
        super().__init__(message)
        self.task_arns = task_arns


class FargateHook(EcsHook):
    """EcsHook with the calls the Fargate operator and its trigger need.

    ``retry_base`` and ``retry_cap`` bound the backoff, in seconds, between tries after a transient error.
    """

    retry_base: float = 1.0
    retry_cap: float = 30.0
    #: Seconds after RunTask during which DescribeTasks answering MISSING means "not visible yet": the ECS API is
    #: eventually consistent (RunTask API reference; boto/boto3 #842, #3393).
    missing_grace: float = 60.0

    def describe_task_definition(self, task_definition: str) -> dict[str, Any]:
        return self._retrying(lambda: self.conn.describe_task_definition(taskDefinition=task_definition))[
            "taskDefinition"
        ]

    def describe_tasks(self, cluster: str, arns: Iterable[str]) -> tuple[list[dict], list[dict]]:
        """Describe any number of tasks in batches of 100; returns (tasks, failures)."""
        arns = list(arns)
        tasks: list[dict] = []
        failures: list[dict] = []
        for start in range(0, len(arns), DESCRIBE_BATCH):
            chunk = arns[start : start + DESCRIBE_BATCH]
            response = self.conn.describe_tasks(cluster=cluster, tasks=chunk)
            tasks.extend(response.get("tasks", []))
            failures.extend(response.get("failures", []))
        return tasks, failures

    def find_running_tasks(self, cluster: str, started_by: str) -> list[dict]:
        """The tasks started with ``started_by`` whose desired status is RUNNING, oldest first.

        ListTasks' API reference: "When you specify startedBy as the filter, it must be the only filter that you
        use", and the default desiredStatus filter is RUNNING; so stopping and stopped tasks are not found here.
        """
        paginator = self.conn.get_paginator("list_tasks")
        pages = self._retrying(lambda: list(paginator.paginate(cluster=cluster, startedBy=started_by)))
        arns = [arn for page in pages for arn in page.get("taskArns", [])]
        if not arns:
            return []
        tasks, _ = self._retrying(lambda: self.describe_tasks(cluster, dict.fromkeys(arns)))
        return sorted(tasks, key=lambda t: t["createdAt"])

    def run_task(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """RunTask, retrying throttling, 5xx and capacity failures with the same clientToken until ``deadline``.

        Invalid parameters fail at once with AWS's message.
        """
        delays = backoff(self.retry_base, self.retry_cap)
        while True:
            try:
                response = self.conn.run_task(**request)
                failures = response.get("failures", [])
                if response.get("tasks"):
                    return response["tasks"][0]
                reason = "; ".join(
                    f.get("reason", "unknown") + (f" ({f['detail']})" if f.get("detail") else "")
                    for f in failures
                )
                if not any(m in reason for m in CAPACITY_MARKERS):
                    raise RunTaskFailed(f"RunTask started no task: {reason or 'no reason given'}")
                problem = f"capacity: {reason}"
            except Exception as exc:
                if not is_transient(exc):
                    if isinstance(exc, RunTaskFailed):
                        raise
                    response = getattr(exc, "response", {})
                    if response.get("Error", {}).get("Code") == "ConflictException":
                        raise ClientTokenInUse(
                            f"RunTask: {error_text(exc)}", response.get("resourceIds", [])
                        ) from exc
                    raise RunTaskFailed(f"RunTask was refused: {error_text(exc)}") from exc
                problem = error_text(exc)
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise RunTaskFailed(f"RunTask kept failing until the retry budget ran out; last: {problem}")
            self.log.warning(
                "RunTask did not start the task (%s); retrying in %.1fs with the same clientToken",
                problem,
                delay,
            )
            time.sleep(delay)

    def describe_task(self, cluster: str, task_arn: str) -> dict | None:
        """One task, or None if ECS answers MISSING (not visible yet, or stopped too long ago)."""
        tasks, _ = self._retrying(lambda: self.describe_tasks(cluster, [task_arn]))
        return tasks[0] if tasks else None

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None:
        """Stop a task; ECS limits the reason to 255 characters."""
        self._retrying(lambda: self.conn.stop_task(cluster=cluster, task=task_arn, reason=reason[:255]))
        self.log.info("Asked ECS to stop %s: %s", task_arn, reason)

    def _retrying(self, call: Callable[[], Any], attempts: int = 8) -> Any:
        """Run ``call``, retrying transient errors with backoff (blocking; for worker-side calls only)."""
        delays = backoff(self.retry_base, self.retry_cap)
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except Exception as exc:
                if not is_transient(exc) or attempt == attempts:
                    raise
                delay = next(delays)
                self.log.warning("Transient AWS error (%s); retrying in %.1fs", error_text(exc), delay)
                time.sleep(delay)
        raise AssertionError("unreachable")
