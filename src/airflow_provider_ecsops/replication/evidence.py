"""What a run of the set leaves behind: the completion record that tells a finished run from a lost one.

A record is a plain JSON dict, returned by the task (so Airflow stores it as the ``return_value`` XCom, in the
metadata DB on both Airflow lines) and logged as one ``completion record:`` line.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from airflow_provider_ecsops.ecs_metadata import EcsIdentity

log = logging.getLogger(__name__)

RECORD_KEYS = ("hostname", "pid", "ecs_task_arn", "slot", "start", "end", "ticks")
METADATA_TIMEOUT_SECONDS = 2


def ecs_task_arn() -> str | None:
    """ARN of the ECS task this process runs in, from the task metadata endpoint v4; ``None`` off ECS.

    Reads ``$ECS_CONTAINER_METADATA_URI_V4/task`` (``TaskARN``), which the ECS agent sets in every container.
    """
    base = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if not base:
        return None
    try:
        return EcsIdentity.from_metadata(base, timeout=METADATA_TIMEOUT_SECONDS).task_arn
    except (OSError, ValueError, KeyError) as err:
        # The record is still worth having without the ARN: hostname and pid attribute the run.
        log.warning("ECS task metadata endpoint %s unreadable: %s", base, err)
        return None


def worker_hostname() -> str:
    """The name Airflow records as the task's hostname (``[core] hostname_callable``), so both sources agree."""
    from airflow_provider_ecsops.compat import conf

    hostname_callable = conf.getimport("core", "hostname_callable", fallback=None) or socket.getfqdn
    return hostname_callable()


def completion_record(slot: datetime, start: datetime, end: datetime, ticks: int) -> dict:
    """The record a run returns when it reaches its end.

    :param slot: scheduled time of the run.
    :param start: when the task body started.
    :param end: when the last tick was logged.
    :param ticks: ticks logged.
    """
    return {
        "hostname": worker_hostname(),
        "pid": os.getpid(),
        "ecs_task_arn": ecs_task_arn(),
        "slot": slot.astimezone(UTC).isoformat(),
        "start": start.astimezone(UTC).isoformat(),
        "end": end.astimezone(UTC).isoformat(),
        "ticks": ticks,
    }


def is_completion_record(value: object) -> bool:
    """Whether ``value`` (an XCom value read back) is a completion record."""
    return isinstance(value, dict) and all(key in value for key in RECORD_KEYS)
