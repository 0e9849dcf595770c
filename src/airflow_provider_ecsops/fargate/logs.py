"""Reading a Fargate container's awslogs stream from CloudWatch Logs.

Invariant: logs never decide the verdict. A stream that does not exist yet and transient errors are retried at
the next read; any other error (e.g. AccessDenied on logs:GetLogEvents) ends reading with a warning that the
operator puts into the task log and the XCom. CloudWatch Logs delivery lags the container (the awslogs driver
buffers, PutLogEvents batches), so after the container exits :meth:`LogTail.drain` keeps reading until
:attr:`LogTail.delivery_lag` seconds past the exit and a read that brings nothing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from airflow_provider_ecsops.aws_retry import error_text, is_transient


@dataclass(frozen=True)
class LogLocation:
    group: str
    stream: str
    region: str | None

    @classmethod
    def of(cls, task_definition: dict[str, Any], container: str, task_arn: str) -> LogLocation | None:
        """Where awslogs writes ``container`` of ``task_arn``, or None if it does not use awslogs."""
        cdef = next(c for c in task_definition["containerDefinitions"] if c["name"] == container)
        config = cdef.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            return None
        prefix = options.get("awslogs-stream-prefix")
        task_id = task_arn.rsplit("/", 1)[-1]
        # Without a prefix, Fargate cannot name a stream per task; the operator then has no log to read.
        if not prefix:
            return None
        return cls(options["awslogs-group"], f"{prefix}/{container}/{task_id}", options.get("awslogs-region"))

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "stream": self.stream, "region": self.region}


class LogReader:
    """Follows one stream forward; each :meth:`read_new` returns the lines written since the last call.

    :param client: a boto3 CloudWatch Logs client.
    """

    def __init__(self, client, location: LogLocation) -> None:
        self.client = client
        self.location = location
        self._token: str | None = None
        self.error: str | None = None  # set by a permanent read error; reading stops

    def read_new(self, limit: int = 100_000) -> list[str]:
        """New lines since the last call (all lines on the first call), up to ``limit``.

        A stream that does not exist yet, or a transient error, yields nothing now and is tried again later; any
        other error is kept in :attr:`error` and ends reading.
        """
        lines: list[str] = []
        while len(lines) < limit and self.error is None:
            kwargs: dict[str, Any] = {
                "logGroupName": self.location.group,
                "logStreamName": self.location.stream,
                "startFromHead": True,
            }
            if self._token:
                kwargs["nextToken"] = self._token
            try:
                page = self.client.get_log_events(**kwargs)
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if code == "ResourceNotFoundException" or is_transient(exc):
                    return lines
                self.error = error_text(exc)
                return lines
            lines.extend(e["message"].rstrip("\n") for e in page["events"])
            token = page.get("nextForwardToken")
            if not page["events"] or token == self._token:
                self._token = token or self._token
                return lines
            self._token = token
        return lines


class LogTail:
    """Copies a container's new log lines into a logger as they arrive and keeps the last ones.

    :param reader: the stream to follow.
    :param log: where the lines go (the task log in the worker, the triggerer's log in a trigger).
    :param keep: how many last lines to keep for a failure message.
    :param pause: seconds between reads while draining.
    """

    #: Seconds after the container's exit by which CloudWatch Logs has delivered its last lines.
    delivery_lag: ClassVar[float] = 5.0

    def __init__(self, reader: LogReader, log: logging.Logger | Any, keep: int, pause: float) -> None:
        self.reader = reader
        self.log = log
        self.lines: deque[str] = deque(maxlen=max(keep, 1))
        self.pause = pause
        self.warning: str | None = None

    def read(self) -> int:
        """Copy the lines written since the last read; returns how many."""
        lines = self.reader.read_new()
        container = self.reader.location.stream.split("/")[-2]
        for line in lines:
            self.log.info("[%s] %s", container, line)
        self.lines.extend(lines)
        if self.reader.error and self.warning is None:
            self.warning = (
                f"could not read the container's log stream {self.reader.location.stream} "
                f"({self.reader.error}); the result does not depend on it. "
                "Fix: allow logs:GetLogEvents on the log group"
            )
            self.log.warning("Logs: %s", self.warning)
        return len(lines)

    def drain(self, task: dict[str, Any] | None) -> None:
        """Read until CloudWatch has delivered the lines of the stopped ``task`` (normalized; None: now) and a
        read brings nothing."""
        settled = settled_at(task)
        while self.read() or time.time() < settled:
            if self.reader.error:
                return
            time.sleep(min(self.pause, max(0.0, settled - time.time())) or self.pause)


def settled_at(task: dict[str, Any] | None) -> float:
    """Epoch seconds by which CloudWatch Logs has delivered what the containers of ``task`` wrote before they
    exited (``task`` normalized: ISO times; None: they exit now)."""
    now = time.time()
    exited = task and (task.get("executionStoppedAt") or task.get("stoppingAt") or task.get("stoppedAt"))
    # ECS's clock, not ours: a skewed one must not make anyone wait on a time that never comes.
    start = min(datetime.fromisoformat(exited).timestamp(), now) if exited else now
    return start + LogTail.delivery_lag
