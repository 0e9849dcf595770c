"""Celery brokers other than Redis for the scale-in tests: the machine's RabbitMQ and SQS on a moto server.

Each rig owns one queue with a unique name (other test runs share the RabbitMQ server), sends the tests' task
messages to it with a plain Celery client, and removes the queue on exit. The SQS rig's moto server is on
loopback and exported as ``AWS_ENDPOINT_URL`` (with test credentials) while the rig is open, so a worker
process started meanwhile reaches it through kombu's own ``sqs://`` transport (boto3 honours the variable).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ecsops.testing.services import ensure_service

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
TASK_NAME = "ecsops_scalein_test.record"


@dataclass
class BrokerRig:
    """One broker and one queue of it.

    :param name: ``rabbitmq`` or ``sqs``.
    :param url: the broker URL a worker and a client use.
    :param queue: the queue of this rig.
    """

    name: str
    url: str
    queue: str
    _sender: Any = field(default=None, repr=False)

    def send(self, seconds: float = 0.0) -> str:
        """Send one test task (it sleeps ``seconds``); returns its id."""
        if self._sender is None:
            from celery import Celery

            self._sender = Celery(f"ecsops-rig-{self.name}", broker=self.url)
        return self._sender.send_task(TASK_NAME, kwargs={"seconds": seconds}, queue=self.queue).id

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()


def unique_queue(prefix: str = "ecsops-brokers") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextmanager
def rabbitmq_rig(queue: str | None = None) -> Iterator[BrokerRig]:
    """The local RabbitMQ (started if down) and a queue of its own, deleted on exit."""
    from kombu import Connection, Queue

    ensure_service("rabbitmq")
    rig = BrokerRig("rabbitmq", RABBITMQ_URL, queue or unique_queue())
    try:
        yield rig
    finally:
        rig.close()
        with Connection(RABBITMQ_URL) as connection:
            Queue(rig.queue, channel=connection.default_channel).delete()


@contextmanager
def sqs_rig(queue: str | None = None) -> Iterator[BrokerRig]:
    """SQS on a moto server on loopback, with the queue created up front.

    Created here, not by kombu: a worker and a client that both create it with different attributes (their
    ``visibility_timeout``) would collide.
    """
    import boto3

    from airflow_provider_ecsops.testing.local_aws import local_aws

    with local_aws(server=True) as aws:
        rig = BrokerRig("sqs", "sqs://", queue or unique_queue())
        boto3.client("sqs", region_name=aws.region).create_queue(QueueName=rig.queue)
        try:
            yield rig
        finally:
            rig.close()
