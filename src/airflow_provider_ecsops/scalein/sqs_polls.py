"""SQS consumption that survives a pause: the guard pauses a queue (``cancel_by_queue``) while kombu's SQS
transport may have a long poll in flight for it.

Invariant: a message that such a poll returns after its queue stopped being consumed is made visible again
at once (visibility 0), never handed to kombu's delivery, which looks the queue's callback up, raises KeyError
and stops the worker ("Unrecoverable error"), leaving the message invisible for the whole visibility timeout.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def return_polls_of_paused_queues(channel: Any) -> None:
    """Make ``channel`` (a kombu SQS channel; any other is left alone) return late polls of paused queues.

    Install it before the channel's first poll: kombu binds ``_on_messages_ready`` into each poll's callback
    when the poll starts, so a poll started earlier still delivers through the original.

    :param channel: the task consumer's channel (``consumer.task_consumer.channel``).
    """
    deliver = getattr(channel, "_on_messages_ready", None)
    if deliver is None or getattr(channel, "_ecsops_returns_late_polls", False):
        return

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
    channel._ecsops_returns_late_polls = True
