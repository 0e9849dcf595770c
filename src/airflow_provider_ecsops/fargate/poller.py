"""One DescribeTasks poller per (cluster, region, connection) in a triggerer process, shared by its triggers.

Invariant: each watched task is described at its own trigger's interval, never more often because another
trigger polls faster, and every call carries up to 100 tasks (DescribeTasks' limit). The states of a watch:
*scheduled* (a due time on the event loop's clock), *described* (rescheduled one interval later unless STOPPED)
and *resolved* (STOPPED, gone from ECS, or a permanent error). A tick describes every task due by then or within
a quarter of its interval, so that watches drift into shared batches; an arrival joins the next scheduled tick
when that comes within its first delay (an arrival while a poll is in flight: within its first delay plus the
poll's duration), and only an earlier due time wakes the loop: 500 triggers arriving 4 ms apart cost
ceil(500 / 100) calls per interval, not one poll each.

A watch may also be resolved from outside (:meth:`TaskPoller.offer`, the EventBridge consumer of
:mod:`~airflow_provider_ecsops.fargate.events`); its interval is then only the safety net.

The poller lives on the triggerer's event loop, starts with its first watcher and ends with its last. Transient
errors (throttling, 5xx, connection) are waited out with backoff and never end a watch; a permanent error ends
the watches of the affected tasks with an error result that the trigger turns into an error event. MISSING for a
task not seen yet is "not visible yet" for ``FargateHook.missing_grace`` seconds from its first watch
(DescribeTasks is eventually consistent right after RunTask), and final after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_ecsops.aws_retry import backoff, error_text, is_transient

log = logging.getLogger(__name__)

BATCH = 100  # DescribeTasks' maximum number of tasks per call
COALESCE = 0.25  # a task due within this share of its interval joins the current tick


@dataclass(frozen=True)
class PollerKey:
    cluster: str
    region: str | None
    aws_conn_id: str | None


@dataclass
class _Watch:
    due: float  # event-loop time of the task's next DescribeTasks
    futures: list[tuple[asyncio.Future, float]] = field(default_factory=list)  # (waiter, its interval)
    unseen_since: float | None = None  # loop time of the first watch, until DescribeTasks has shown the task

    @property
    def interval(self) -> float:
        return min(interval for _, interval in self.futures)

    @property
    def pending(self) -> bool:
        return any(not future.done() for future, _ in self.futures)


class TaskPoller:
    """Batches the DescribeTasks calls of every trigger watching tasks of one cluster.

    :param key: cluster, region and connection this poller serves.
    """

    _pollers: ClassVar[dict[tuple[PollerKey, int], TaskPoller]] = {}
    retry_base: ClassVar[float] = 1.0
    retry_cap: ClassVar[float] = 60.0

    def __init__(self, key: PollerKey) -> None:
        self.key = key
        self.calls = 0
        self._watches: dict[str, _Watch] = {}
        self._last_status: dict[str, str] = {}
        self._next_tick: float | None = None  # when the loop will poll next, while it sleeps
        self._polling_since: float | None = None  # when the poll in flight began
        self._joining: list[str] = []  # arrivals during the poll in flight: they join the tick after it
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None

    @classmethod
    def get(cls, key: PollerKey) -> TaskPoller:
        """The poller of ``key`` on the running event loop, created on first use."""
        loop_key = (key, id(asyncio.get_running_loop()))
        poller = cls._pollers.get(loop_key)
        if poller is None:
            poller = cls._pollers[loop_key] = cls(key)
        return poller

    @classmethod
    def on_this_loop(cls) -> list[TaskPoller]:
        """Every poller of the running event loop."""
        loop_id = id(asyncio.get_running_loop())
        return [poller for (_, owner), poller in list(cls._pollers.items()) if owner == loop_id]

    async def wait_stopped(
        self, task_arn: str, interval: float, first: float | None = None
    ) -> dict[str, Any]:
        """Wait until ``task_arn`` is STOPPED; returns ``{"task": ...}`` or ``{"error": ...}``.

        :param interval: seconds between this task's DescribeTasks calls.
        :param first: latest delay of its first call (default ``interval``); sooner if another tick comes first.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        latest = loop.time() + (interval if first is None else first)
        watch = self._watches.get(task_arn)
        if watch is None:
            joins = self._next_tick is not None and self._next_tick <= latest
            due = self._next_tick if joins else latest
            watch = self._watches[task_arn] = _Watch(due=due, unseen_since=loop.time())  # type: ignore[arg-type]
            if self._polling_since is not None:
                self._joining.append(task_arn)
        else:
            watch.due = min(watch.due, latest)
        watch.futures.append((future, interval))
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = loop.create_task(self._run())
        elif (
            self._wake is not None
            and self._polling_since is None  # the loop reschedules after the poll in flight anyway
            and (self._next_tick is None or watch.due < self._next_tick)
        ):
            self._wake.set()  # only a due time before the scheduled tick moves the tick
        try:
            return await future
        finally:
            watch.futures = [(f, i) for f, i in watch.futures if f is not future]
            if not watch.futures and self._watches.get(task_arn) is watch:
                del self._watches[task_arn]
                self._last_status.pop(task_arn, None)

    @property
    def watched(self) -> int:
        return len(self._watches)

    def watches(self, task_arn: str) -> bool:
        watch = self._watches.get(task_arn)
        return watch is not None and watch.pending

    def offer(self, task: dict[str, Any]) -> bool:
        """Take a task's state from elsewhere (an ECS Task State Change event's detail, which has
        DescribeTasks' task shape); returns whether this poller watches the task."""
        if not self.watches(task.get("taskArn", "")):
            return False
        self._publish([task], [])
        return True

    def _due_now(self, now: float) -> list[str]:
        return [arn for arn, w in self._watches.items() if w.pending and w.due <= now + COALESCE * w.interval]

    async def _run(self) -> None:
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.hook import FargateHook

        loop = asyncio.get_running_loop()
        hook = FargateHook(aws_conn_id=self.key.aws_conn_id, region_name=self.key.region)
        describe = sync_to_async(hook.describe_tasks, thread_sensitive=False)
        self._wake = asyncio.Event()
        delays = None
        try:
            while self._watches:
                self._wake.clear()
                arns = self._due_now(loop.time())
                self._polling_since = loop.time()
                try:
                    start = 0
                    for start in range(0, len(arns), BATCH):
                        chunk = [arn for arn in arns[start : start + BATCH] if self.watches(arn)]
                        if not chunk:
                            continue
                        self.calls += 1
                        tasks, failures = await describe(self.key.cluster, chunk)
                        self._reschedule(chunk, loop.time())
                        self._publish(tasks, failures)
                    delays = None
                except Exception as exc:
                    if is_transient(exc):
                        delays = delays or backoff(self.retry_base, self.retry_cap)
                        wait = next(delays)
                        log.warning(
                            "DescribeTasks on %s: %s; waiting %.1fs", self.key.cluster, error_text(exc), wait
                        )
                        self._reschedule(arns[start:], loop.time(), at_least=wait)
                    else:
                        self._fail_all(arns, f"DescribeTasks failed: {error_text(exc)}")
                self._join_next_tick(loop.time() - self._polling_since)
                self._polling_since = None
                dues = [w.due for w in self._watches.values() if w.pending]
                if not dues:  # resolved waiters are yet to leave: let them run
                    await asyncio.sleep(0)
                    continue
                self._next_tick = min(dues)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, self._next_tick - loop.time()))
                self._next_tick = None
        finally:
            # Only the loop's own end removes it; a poller cancelled with the event loop leaves nothing behind.
            self._next_tick = self._polling_since = None
            self._pollers.pop((self.key, id(loop)), None)

    def _join_next_tick(self, in_flight: float) -> None:
        """Arrivals during a poll join the next scheduled tick (that of the tasks just polled) if it comes at
        most the poll's duration after their own due time: they do not force a call of their own."""
        joining, self._joining = set(self._joining), []
        dues = [w.due for arn, w in self._watches.items() if w.pending and arn not in joining]
        tick = min(dues, default=None)
        for arn in joining:
            watch = self._watches.get(arn)
            if watch is not None and tick is not None and watch.due < tick <= watch.due + in_flight:
                watch.due = tick

    def _reschedule(self, arns: list[str], now: float, at_least: float = 0.0) -> None:
        """Next call one interval on (or, backing off, ``at_least`` seconds on, if that is longer)."""
        for arn in arns:
            watch = self._watches.get(arn)
            if watch is not None and watch.pending:
                watch.due = now + max(at_least, watch.interval)

    def _publish(self, tasks: list[dict], failures: list[dict]) -> None:
        from airflow_provider_ecsops.fargate.hook import FargateHook
        from airflow_provider_ecsops.fargate.outcome import normalize_task

        now = asyncio.get_running_loop().time()
        for task in tasks:
            arn, status = task["taskArn"], task["lastStatus"]
            if (seen := self._watches.get(arn)) is not None:
                seen.unseen_since = None
            if self._last_status.get(arn) != status:
                self._last_status[arn] = status
                log.info("ECS task %s is %s", arn, status)
            if status == "STOPPED":
                self._resolve(arn, {"task": normalize_task(task)})
        for failure in failures:
            arn, reason = failure.get("arn", ""), failure.get("reason", "unknown")
            watch = self._watches.get(arn)
            since = None if watch is None else watch.unseen_since
            if reason == "MISSING" and since is not None and now - since < FargateHook.missing_grace:
                continue  # not visible yet
            self._resolve(arn, {"error": f"ECS no longer knows the task ({reason})"})

    def _fail_all(self, arns: list[str], message: str) -> None:
        for arn in arns:
            self._resolve(arn, {"error": message})

    def _resolve(self, arn: str, result: dict[str, Any]) -> None:
        watch = self._watches.get(arn)
        for future, _ in watch.futures if watch else []:
            if not future.done():
                future.set_result(result)
