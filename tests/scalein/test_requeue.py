"""Returning a received, not started SQS message to its queue (moto SQS).

kombu's SQS transport needs pycurl, which the test environments do not ship, so no SQS worker runs here: the
message below carries the ``delivery_info`` kombu's SQS channel gives every message (``sqs_message`` with the
receipt handle, ``sqs_queue`` with the queue URL, ``routing_key``), on a channel exposing the two things
``return_to_queue`` uses (``sqs(queue=...)`` and ``canonical_queue_name``) backed by a real moto SQS client.
"""

from __future__ import annotations

from types import SimpleNamespace

import boto3
from moto import mock_aws

from airflow_provider_ecsops.scalein.guard import return_to_queue


class _Qos:
    def __init__(self) -> None:
        self.acked: list[str] = []

    def ack(self, delivery_tag: str) -> None:
        self.acked.append(delivery_tag)


@mock_aws
def test_sqs_message_becomes_visible_again_and_is_not_deleted():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="default")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="task")
    received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=3600)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url), "in flight: invisible to other workers"

    channel = SimpleNamespace(sqs=lambda queue=None: sqs, canonical_queue_name=lambda name: name, qos=_Qos())
    message = SimpleNamespace(
        delivery_tag="tag-1",
        channel=channel,
        delivery_info={"sqs_message": received, "sqs_queue": url, "routing_key": "default"},
    )
    request = SimpleNamespace(message=message, acknowledged=False)
    return_to_queue(request)

    again = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["MessageId"] for m in again] == [received["MessageId"]]
    assert request.acknowledged is True, "Celery must not ack (delete) it later"
    assert channel.qos.acked == ["tag-1"], "forgotten locally only"
