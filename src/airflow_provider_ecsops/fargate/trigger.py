"""The trigger a deferred FargateOffloadOperator waits on.

It waits through the shared :class:`~airflow_provider_ecsops.fargate.poller.TaskPoller` (at its own
``poll_interval``), or, where the triggerer has an events queue (``[ecsops] fargate_events_queue_url``), on ECS
task state change events (:mod:`~airflow_provider_ecsops.fargate.events`) with DescribeTasks at the start and at
``fargate_events_safety_interval`` only. It never fails on a
transient AWS error, stops the container at its deadline (the task's execution_timeout), and stops it when the
task instance is killed (Airflow 3.3+ calls :meth:`on_kill`; older Airflow cancels the trigger, and the trigger
then stops the container only if the task instance has left the deferred state, so a triggerer restart does
not stop healthy work). Every outcome is an event; the trigger never raises.

While it waits, the trigger copies the container's new log lines into its log (the task instance's log on the
triggerer) every ``poll_interval``, in turn with the other triggers (:class:`~airflow_provider_ecsops.fargate.logs.
ReadBudget`); once the task stopped it drains them past CloudWatch's delivery lag and hands the tail (forward
token, last lines, warning, drained) to the worker in its event: no read is left for the worker after a drain,
one at the token otherwise. A log error
is a warning, never an event of its own: logs never decide the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ecsops.compat import AIRFLOW_V_3

if TYPE_CHECKING:
    from airflow_provider_ecsops.fargate.logs import LogTail

_USER_ACTION = "__airflow_user_action__"  # Airflow 3.3+ cancels with this before calling on_kill()


class FargateTaskTrigger(BaseTrigger):
    """Wait for one Fargate task to stop.

    :param cluster: ECS cluster name or ARN.
    :param task_arn: the task to watch.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param poll_interval: seconds between batched DescribeTasks calls.
    :param deadline: epoch seconds after which the container is stopped and a timeout event sent.
    :param stop_on_kill: stop the container when the task instance is killed.
    :param stop_reason: who is waiting, put into StopTask's reason (names the task instance).
    :param resume: plain JSON the operator needs to complete; echoed in every event. Its ``log`` (a
        :class:`~airflow_provider_ecsops.fargate.logs.LogLocation` as a dict) and ``log_lines`` (how many last
        lines to keep) turn on live logs.
    :param events_queue_url: SQS queue of ECS task state change events; None reads the triggerer's
        ``[ecsops] fargate_events_queue_url``, ``""`` polls.
    """

    def __init__(
        self,
        cluster: str,
        task_arn: str,
        aws_conn_id: str | None,
        region_name: str | None,
        poll_interval: float,
        deadline: float | None = None,
        stop_on_kill: bool = True,
        stop_reason: str = "",
        resume: dict[str, Any] | None = None,
        events_queue_url: str | None = None,
    ) -> None:
        super().__init__()
        self.cluster = cluster
        self.task_arn = task_arn
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.stop_on_kill = stop_on_kill
        self.stop_reason = stop_reason
        self.resume = resume or {}
        self.events_queue_url = events_queue_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cluster": self.cluster,
                "task_arn": self.task_arn,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "stop_on_kill": self.stop_on_kill,
                "stop_reason": self.stop_reason,
                "resume": self.resume,
                "events_queue_url": self.events_queue_url,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_ecsops.fargate.poller import PollerKey, TaskPoller

        poller = TaskPoller.get(PollerKey(self.cluster, self.region_name, self.aws_conn_id))
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
        tail = await self._log_tail()
        stop_following = asyncio.Event()
        follower = asyncio.ensure_future(self._follow(tail, stop_following)) if tail else None
        try:
            with self._events() as safety_interval:
                result = await asyncio.wait_for(
                    poller.wait_stopped(
                        self.task_arn, max(self.poll_interval, safety_interval), first=self.poll_interval
                    ),
                    timeout=timeout,
                )
        except TimeoutError:
            await self._stop_following(follower, stop_following)
            stopped = await self._stop("execution_timeout reached")
            yield self._event("timeout", stopped=stopped, logs=tail.handoff() if tail else None)
            return
        except asyncio.CancelledError as exc:
            if follower is not None:
                follower.cancel()
            user_action = bool(exc.args) and exc.args[0] == _USER_ACTION
            if not user_action and self.stop_on_kill and await self._left_deferred_state():
                await self._stop("task instance was killed")
            raise
        await self._stop_following(follower, stop_following)
        if "error" in result:
            yield self._event("error", message=result["error"])
            return
        if tail is not None:
            await self._drain(tail, result["task"])
        yield self._event("stopped", task=result["task"], logs=tail.handoff() if tail else None)

    async def _log_tail(self) -> LogTail | None:
        """A follower of the container's log stream that copies its lines into this trigger's log (the task
        instance's log on the triggerer); None without awslogs, or if no logs client can be made."""
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.logs import LogLocation, LogReader, LogTail

        if not self.resume.get("log"):
            return None
        location = LogLocation(**self.resume["log"])

        def client():
            from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

            return AwsLogsHook(
                aws_conn_id=self.aws_conn_id, region_name=location.region or self.region_name
            ).conn

        try:
            logs = await sync_to_async(client, thread_sensitive=False)()
        except Exception as exc:  # logs never decide the verdict; the worker reads them at completion instead
            self.log.warning("Logs: no CloudWatch Logs client (%s); the lines follow at completion", exc)
            return None
        keep = int(self.resume.get("log_lines", 20))
        return LogTail(LogReader(logs, location), self.log, keep, pause=min(1.0, self.poll_interval))

    async def _follow(self, tail: LogTail, stop: asyncio.Event) -> None:
        """Copy new lines every poll interval while the container runs, in turn with the other triggers."""
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.logs import ReadBudget

        budget = ReadBudget.of_this_loop()
        read = sync_to_async(tail.read, thread_sensitive=False)
        while not tail.reader.error:
            if await _stopped_within(stop, self.poll_interval) or await _stopped_within(stop, budget.take()):
                return
            await read()

    @staticmethod
    async def _stop_following(follower: asyncio.Future | None, stop: asyncio.Event) -> None:
        """End live following after its read in flight, so that the tail is not read twice at once."""
        stop.set()
        if follower is not None:
            await follower

    @staticmethod
    async def _drain(tail: LogTail, task: dict[str, Any]) -> None:
        """Wait out CloudWatch's delivery lag past the container's exit, reading what arrives meanwhile."""
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.logs import ReadBudget, settled_at

        budget = ReadBudget.of_this_loop()
        step = sync_to_async(tail.drain_step, thread_sensitive=False)
        settled = settled_at(task)
        while True:
            await asyncio.sleep(budget.take())
            wait = await step(settled)
            if wait is None:
                return
            await asyncio.sleep(wait)

    @contextlib.contextmanager
    def _events(self) -> Iterator[float]:
        """Use the event consumer if there is a queue; yields the DescribeTasks interval that is then enough."""
        from airflow_provider_ecsops.fargate.settings import FargateSettings

        settings = FargateSettings.from_airflow_conf()
        queue = settings.events_queue_url if self.events_queue_url is None else self.events_queue_url
        if not queue:
            yield self.poll_interval
            return
        from airflow_provider_ecsops.fargate.events import TaskEventConsumer

        with TaskEventConsumer.get(queue, self.region_name, self.aws_conn_id):
            yield settings.events_safety_interval

    def _event(self, status: str, **payload: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "task_arn": self.task_arn, "resume": self.resume, **payload})

    async def on_kill(self) -> None:
        """Airflow 3.3+: the user marked, cleared or killed the deferred task instance."""
        if self.stop_on_kill:
            await self._stop("task instance was killed")

    async def _stop(self, why: str) -> bool:
        """Stop the container; returns whether ECS accepted the request (failures are logged, not raised)."""
        from asgiref.sync import sync_to_async

        from airflow_provider_ecsops.fargate.hook import FargateHook

        hook = FargateHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        try:
            await sync_to_async(hook.stop_task, thread_sensitive=False)(
                self.cluster, self.task_arn, f"Airflow {self.stop_reason}: {why}"
            )
            return True
        except Exception:
            self.log.exception("Could not stop ECS task %s", self.task_arn)
            return False

    async def _left_deferred_state(self) -> bool:
        """Whether the task instance is no longer deferred (a kill), as opposed to a triggerer shutting down."""
        from airflow.utils.state import TaskInstanceState
        from asgiref.sync import sync_to_async

        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            state = await sync_to_async(_task_state, thread_sensitive=False)(ti)
        except Exception:
            self.log.exception("Could not read the task instance state; leaving the container running")
            return False
        return state != TaskInstanceState.DEFERRED


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; returns whether it came."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


def _task_state(ti) -> str | None:
    if AIRFLOW_V_3:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
        return states[ti.run_id][ti.task_id]
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == ti.dag_id,
                TaskInstance.task_id == ti.task_id,
                TaskInstance.run_id == ti.run_id,
                TaskInstance.map_index == ti.map_index,
            )
        )
