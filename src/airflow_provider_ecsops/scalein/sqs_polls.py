"""SQS consumption that survives the guard's pauses: the guard pauses a queue (``cancel_by_queue``) and resumes it
(``consume``) while kombu's SQS transport keeps a poll loop per queue (``_loop1`` -> ``_schedule_queue`` -> a long
poll -> ``_loop1`` ...), which ends only when it finds the queue no longer consumed.

Invariants, for a channel prepared by :func:`prepare_sqs_channel`:

- a message that a poll returns after its queue stopped being consumed is made visible again at once
  (visibility 0), never handed to kombu's delivery, which looks the queue's callback up, raises KeyError and stops
  the worker ("Unrecoverable error"), leaving the message invisible for the whole visibility timeout;
- a queue has at most one poll loop. kombu starts a loop at every ``basic_consume``; a resume that comes while the
  paused queue's loop still has a poll scheduled or in flight would start a second one, and every further pause
  and resume one more. Each loop long-polls on its own: more messages than the prefetch limit are taken, and on
  kombu 5.5 (whose HTTP client polls synchronously, on the worker's event loop) every loop blocks the loop for a
  whole empty long poll in turn, so results and acks wait N x 10 s, visibility timeouts run out and tasks run
  twice (found as a worker that stayed busy on SQS at concurrency 4). A resume therefore starts a loop only if
  the queue has none running; a loop not seen for a long poll plus :data:`LOOP_STALE_SECONDS` counts as gone
  (a poll that failed inside kombu ends its loop without telling), so a resume is never left without a loop;
- :func:`open_polls` counts the long polls sent and not yet answered. SQS hands a message to a poll the moment
  it answers it, invisible for the visibility timeout: a worker that lets ECS stop it while a poll is open can
  lose the answer with its message in it, which resurfaces only when the visibility timeout ends (seen in the
  race lab: a guarded run started 2167 s late). The guard keeps protection until no poll is open. A poll not
  answered within a long poll plus :data:`LOOP_STALE_SECONDS` counts as gone, so a lost poll cannot hold
  protection forever.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

LOOP_STALE_SECONDS = 30.0  # beyond the long poll's wait: what one poll may take on a loaded machine


def prepare_sqs_channel(channel: Any) -> None:
    """Prepare ``channel`` (a kombu SQS channel; any other is left alone) for pauses: both invariants above.

    Call it before the channel's first poll: kombu binds ``_on_messages_ready`` into each poll's callback when
    the poll starts, and the first loop starts at the first ``basic_consume``.

    :param channel: the task consumer's channel (``consumer.task_consumer.channel``).
    """
    if getattr(channel, "_on_messages_ready", None) is None or getattr(channel, "_ecsops_prepared", False):
        return
    return_polls_of_paused_queues(channel)
    one_poll_loop_per_queue(channel)
    track_open_polls(channel)
    channel._ecsops_prepared = True


def open_polls(channel: Any) -> int:
    """How many long polls of ``channel`` are sent and not answered (0 for a channel not prepared, or not SQS).

    :param channel: the task consumer's channel.
    """
    opened: dict[str, float] | None = getattr(channel, "_ecsops_open_polls", None)
    if not opened:
        return 0
    fresh_after = time.monotonic() - _stale_after(channel)
    for queue in [q for q, at in opened.items() if at < fresh_after]:
        opened.pop(queue, None)
    return len(opened)


def track_open_polls(channel: Any) -> None:
    """Record each poll of ``channel`` from when it is sent until it is answered (for :func:`open_polls`).

    :param channel: a kombu SQS channel, after :func:`return_polls_of_paused_queues`.
    """
    opened: dict[str, float] = {}
    get_async, ready = channel._get_async, channel._on_messages_ready

    def sent(queue: str, *args: Any, **kwargs: Any) -> Any:
        opened[queue] = time.monotonic()
        try:
            return get_async(queue, *args, **kwargs)
        except BaseException:
            opened.pop(queue, None)
            raise

    def answered(queue_url: str, queue: str, messages: dict[str, Any]) -> Any:
        opened.pop(queue, None)
        return ready(queue_url, queue, messages)

    channel._ecsops_open_polls = opened
    channel._get_async, channel._on_messages_ready = sent, answered


def _stale_after(channel: Any) -> float:
    return float(getattr(channel, "wait_time_seconds", 10) or 0) + LOOP_STALE_SECONDS


def return_polls_of_paused_queues(channel: Any) -> None:
    """Make ``channel`` return the messages of polls answered after their queue was paused (the first invariant).

    :param channel: a kombu SQS channel.
    """
    deliver = channel._on_messages_ready

    def on_messages_ready(queue_url: str, queue: str, messages: dict[str, Any]) -> Any:
        if queue in channel.connection._callbacks:
            return deliver(queue_url, queue, messages)
        late = messages.get("Messages") or []
        try:
            client = channel.sqs(queue=channel.canonical_queue_name(queue))
            for message in late:
                client.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        except Exception:
            log.exception(
                "ecsops scale-in: could not return %d message(s) polled from paused queue %s; they reappear "
                "after the queue's visibility timeout",
                len(late),
                queue,
            )
        else:
            if late:
                log.info(
                    "ecsops scale-in: returned %d message(s) polled from paused queue %s", len(late), queue
                )
        return None

    channel._on_messages_ready = on_messages_ready


def one_poll_loop_per_queue(channel: Any) -> None:
    """Make ``channel`` keep at most one poll loop per queue across cancel and consume (the second invariant).

    :param channel: a kombu SQS channel.
    """
    schedule, loop, consume = channel._schedule_queue, channel._loop1, channel.basic_consume
    seen: dict[str, float] = {}  # queue -> when its loop last ran (scheduled a poll or waited for the QoS)
    starting: set[str] = set()  # queues in a basic_consume whose loop still runs: no second loop
    stale_after = _stale_after(channel)

    def schedule_queue(queue: str) -> Any:
        if queue not in channel._active_queues:
            seen.pop(queue, None)  # kombu's loop ends here: the queue is no longer consumed
        else:
            seen[queue] = time.monotonic()
        return schedule(queue)

    def loop1(queue: str, _: Any = None) -> Any:
        if queue in starting:
            return None
        return loop(queue, _)

    def basic_consume(queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        last = seen.get(queue)
        if last is not None and time.monotonic() - last < stale_after:
            starting.add(queue)  # its loop goes on polling once the queue is consumed again
        else:
            seen[queue] = time.monotonic()  # kombu starts a loop now
        try:
            return consume(queue, no_ack, *args, **kwargs)
        finally:
            starting.discard(queue)

    channel._schedule_queue, channel._loop1, channel.basic_consume = schedule_queue, loop1, basic_consume
