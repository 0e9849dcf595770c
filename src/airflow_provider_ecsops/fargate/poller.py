"""One DescribeTasks poller per (cluster, region, connection) in a triggerer process, shared by its triggers.

N deferred Fargate tasks on one cluster cost ceil(N / 100) DescribeTasks calls per interval instead of N. The
poller lives on the triggerer's event loop, starts with its first watcher and ends with its last. Transient
errors (throttling, 5xx, connection) are waited out with backoff and never end a watch; a permanent error ends
the watches of the affected tasks with an error result that the trigger turns into an error event. MISSING for a
task not seen yet is "not visible yet" for ``FargateHook.missing_grace`` seconds from its first watch
(DescribeTasks is eventually consistent right after RunTask), and final after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_ecsops.aws_retry import backoff, error_text, is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollerKey:
    cluster: str
    region: str | None
    aws_conn_id: str | None


class TaskPoller:
    """Batches the DescribeTasks calls of every trigger watching tasks of one cluster.

    :param key: cluster, region and connection this poller serves.
    :param interval: seconds between polls.
    """

    _pollers: ClassVar[dict[tuple[PollerKey, int], TaskPoller]] = {}
    retry_base: ClassVar[float] = 1.0
    retry_cap: ClassVar[float] = 60.0

    def __init__(self, key: PollerKey, interval: float) -> None:
        self.key = key
        self.interval = interval
        self.calls = 0
        self._watchers: dict[str, list[asyncio.Future]] = {}
        self._last_status: dict[str, str] = {}
        self._watched_since: dict[str, float] = {}  # loop time of each task's first watch, until it is seen
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None

    @classmethod
    def get(cls, key: PollerKey, interval: float) -> TaskPoller:
        """The poller of ``key`` on the running event loop, created on first use."""
        loop_key = (key, id(asyncio.get_running_loop()))
        poller = cls._pollers.get(loop_key)
        if poller is None:
            poller = cls._pollers[loop_key] = cls(key, interval)
        poller.interval = min(poller.interval, interval)
        return poller

    async def wait_stopped(self, task_arn: str) -> dict[str, Any]:
        """Wait until ``task_arn`` is STOPPED; returns ``{"task": ...}`` or ``{"error": ...}``."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(task_arn, []).append(future)
        self._watched_since.setdefault(task_arn, asyncio.get_running_loop().time())
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())
        elif self._wake is not None:
            self._wake.set()  # a newcomer is checked at once rather than after a full interval
        try:
            return await future
        finally:
            futures = self._watchers.get(task_arn, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._watchers.pop(task_arn, None)
                self._watched_since.pop(task_arn, None)

    @property
    def watched(self) -> int:
        return len(self._watchers)

    async def _run(self) -> None:
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.hook import FargateHook

        hook = FargateHook(aws_conn_id=self.key.aws_conn_id, region_name=self.key.region)
        describe = sync_to_async(hook.describe_tasks, thread_sensitive=False)
        self._wake = asyncio.Event()
        delays = None
        try:
            while self._watchers:
                self._wake.clear()
                arns = list(self._watchers)
                try:
                    for start in range(0, len(arns), 100):
                        chunk = arns[start : start + 100]
                        self.calls += 1
                        tasks, failures = await describe(self.key.cluster, chunk)
                        self._publish(tasks, failures)
                    delays = None
                    wait = self.interval
                except Exception as exc:
                    if is_transient(exc):
                        delays = delays or backoff(max(self.retry_base, self.interval), self.retry_cap)
                        wait = next(delays)
                        log.warning(
                            "DescribeTasks on %s: %s; waiting %.1fs", self.key.cluster, error_text(exc), wait
                        )
                    else:
                        self._fail_all(arns, f"DescribeTasks failed: {error_text(exc)}")
                        wait = self.interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            # Only the loop's own end removes it; a poller cancelled with the event loop leaves nothing behind.
            self._pollers.pop((self.key, id(asyncio.get_running_loop())), None)

    def _publish(self, tasks: list[dict], failures: list[dict]) -> None:
        from airflow_provider_ecsops.fargate.hook import FargateHook
        from airflow_provider_ecsops.fargate.outcome import normalize_task

        now = asyncio.get_running_loop().time()
        for task in tasks:
            arn, status = task["taskArn"], task["lastStatus"]
            self._watched_since.pop(arn, None)
            if self._last_status.get(arn) != status:
                self._last_status[arn] = status
                log.info("ECS task %s is %s", arn, status)
            if status == "STOPPED":
                self._resolve(arn, {"task": normalize_task(task)})
                self._last_status.pop(arn, None)
        for failure in failures:
            arn, reason = failure.get("arn", ""), failure.get("reason", "unknown")
            since = self._watched_since.get(arn)
            if reason == "MISSING" and since is not None and now - since < FargateHook.missing_grace:
                continue  # not visible yet
            self._resolve(arn, {"error": f"ECS no longer knows the task ({reason})"})

    def _fail_all(self, arns: list[str], message: str) -> None:
        for arn in arns:
            self._resolve(arn, {"error": message})

    def _resolve(self, arn: str, result: dict[str, Any]) -> None:
        for future in self._watchers.get(arn, []):
            if not future.done():
                future.set_result(result)
