"""Event-driven waiting: one SQS consumer per triggerer process hands ECS "Task State Change" events to the pollers.

ECS sends a task state change event to EventBridge at each transition; its ``detail`` is the task as
DescribeTasks shows it, with a ``version`` that grows with each change, and an event may be delivered more than
once (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_cwe_events.html). A rule sends the STOPPED ones
of tasks the operator started (``startedBy`` prefix ``ecsops-``) to one SQS queue (docs/fargate.md).

Invariant: an event is deleted only by a consumer that watches its task, or after ``release_limit`` receives.
With several triggerers (Airflow's HA set-up) all consume the same queue and SQS hands each message to one of them
only: a consumer that does not watch the task makes the message visible again at once (visibility timeout 0),
so another triggerer receives it; a task nobody watches (its trigger ended, or moved between triggerers) is
dropped after ``release_limit`` receives. A lost event costs latency, never a result: every watch is described
at its start (batched with the other arrivals) and at the slow safety-net interval. The states of the consumer:
*idle* (no trigger uses it), *consuming* (long-polling), *backing off* (after an SQS error, which is logged and
never reaches a trigger).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any, ClassVar

from airflow_provider_ecsops.aws_retry import backoff, error_text, is_transient
from airflow_provider_ecsops.fargate.poller import TaskPoller

log = logging.getLogger(__name__)

DETAIL_TYPE = "ECS Task State Change"
# The EventBridge rule's event pattern (docs/fargate.md): stopped tasks that the operator started.
RULE_PATTERN = {
    "source": ["aws.ecs"],
    "detail-type": [DETAIL_TYPE],
    "detail": {"lastStatus": ["STOPPED"], "startedBy": [{"prefix": "ecsops-"}]},
}


class TaskEventConsumer:
    """Long-polls one SQS queue of ECS task state change events for the triggers of one event loop.

    :param queue_url: the SQS queue the EventBridge rule delivers to.
    :param region: AWS region of the queue.
    :param aws_conn_id: Airflow AWS connection.
    """

    _consumers: ClassVar[dict[tuple[str, str | None, str | None, int], TaskEventConsumer]] = {}
    release_limit: ClassVar[int] = 20  # receives before an event nobody watches is dropped
    wait_seconds: ClassVar[int] = 2  # SQS long-poll wait; bounds how long an idle consumer outlives its users
    retry_base: ClassVar[float] = 1.0
    retry_cap: ClassVar[float] = 60.0

    def __init__(self, queue_url: str, region: str | None, aws_conn_id: str | None) -> None:
        self.queue_url = queue_url
        self.region = region
        self.aws_conn_id = aws_conn_id
        self.users = 0
        self.handed = 0  # events given to a watching poller
        self.released = 0  # events made visible again for another consumer
        self._loop_task: asyncio.Task | None = None

    @classmethod
    def get(cls, queue_url: str, region: str | None, aws_conn_id: str | None) -> TaskEventConsumer:
        """The consumer of this queue on the running event loop, created on first use."""
        key = (queue_url, region, aws_conn_id, id(asyncio.get_running_loop()))
        consumer = cls._consumers.get(key)
        if consumer is None:
            consumer = cls._consumers[key] = cls(queue_url, region, aws_conn_id)
        return consumer

    def __enter__(self) -> TaskEventConsumer:
        """A trigger uses the consumer while it waits; the first user starts it, it ends after the last."""
        self.users += 1
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self.users -= 1

    async def _run(self) -> None:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook
        from asgiref.sync import sync_to_async

        loop = asyncio.get_running_loop()
        sqs = SqsHook(aws_conn_id=self.aws_conn_id, region_name=self.region).conn
        receive = sync_to_async(self._receive, thread_sensitive=False)
        settle = sync_to_async(self._settle, thread_sensitive=False)
        delays = None
        try:
            while self.users > 0:
                try:
                    done, release = self._dispatch(await receive(sqs))
                    await settle(sqs, done, release)
                    delays = None
                    if release and not done:
                        # Nothing here was ours: an immediate receive would mostly take back what was just released
                        # (SQS hands visible messages to whoever asks first), and each receive counts toward the
                        # release limit, so another triggerer's events could be dropped unseen. Let it ask first.
                        await asyncio.sleep(random.uniform(0.2, 0.6))
                except Exception as exc:
                    delays = delays or backoff(self.retry_base, self.retry_cap)
                    wait = next(delays) if is_transient(exc) else self.retry_cap
                    log.warning(
                        "ECS task events from %s: %s; the safety-net DescribeTasks carries on; retrying in %.1fs",
                        self.queue_url,
                        error_text(exc),
                        wait,
                    )
                    await asyncio.sleep(wait)
        finally:
            self._consumers.pop((self.queue_url, self.region, self.aws_conn_id, id(loop)), None)

    def _dispatch(self, messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
        """Offer each event to this loop's pollers; returns the messages to delete and those to release."""
        done, release = [], []
        pollers = TaskPoller.on_this_loop()
        for message in messages:
            detail = _task_detail(message.get("Body", ""))
            if detail is not None and any(poller.offer(detail) for poller in pollers):
                self.handed += 1
                done.append(message)
            elif (
                detail is None or int(message["Attributes"]["ApproximateReceiveCount"]) >= self.release_limit
            ):
                done.append(message)  # not an ECS task event, or nobody took it in time
            else:
                self.released += 1
                release.append(message)
        return done, release

    def _receive(self, sqs) -> list[dict[str, Any]]:
        return sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
            # MessageSystemAttributeNames replaces it, but MWAA's botocore 1.35 may predate it
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])

    def _settle(self, sqs, done: list[dict], release: list[dict]) -> None:
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if release:
            sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(release)
                ],
            )


def _task_detail(body: str) -> dict[str, Any] | None:
    """The task of an ECS Task State Change event (an EventBridge event as the SQS message body), else None."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or not detail.get("taskArn") or not detail.get("lastStatus"):
        return None
    return detail
