"""Reading a Fargate container's awslogs stream from CloudWatch Logs.

Invariant: logs never decide the verdict, and each line reaches the task log once. A stream that does not exist
yet and transient errors (throttling: a warning in the log) are retried at the next read; any other error (e.g.
AccessDenied on logs:GetLogEvents) ends reading with a warning that the operator puts into the task log and the
XCom. CloudWatch Logs delivery lags the container (the awslogs driver buffers, PutLogEvents batches), so after
the container exits :meth:`LogTail.drain` keeps reading until :attr:`LogTail.delivery_lag` seconds past the exit
and a read that brings nothing.

States of a tail: *following* (each read continues at GetLogEvents' ``nextForwardToken``), *drained* (settled
past the exit, nothing more to come), *stopped* (a permanent read error). In deferrable mode the trigger follows
and drains in the triggerer, so the lines reach the task log while the task waits (on Airflow 3 the triggerer's
log for the task, which the UI shows; on Airflow 2.10+ the triggerer's task log handler), and hands the tail over
in its event (:meth:`LogTail.handoff`: the forward token, the last lines, the warning, whether it drained): the
worker reads nothing more after a drain, else continues at that token with one read.

Why one GetLogEvents per stream and not FilterLogEvents over up to 100 streams (CloudWatch Logs API reference):
GetLogEvents returns a ``nextForwardToken`` ("the token for the next set of items in the forward direction"; at
the end of the stream the same token comes back), a cursor that resumes exactly where the last read stopped and
can be handed from the triggerer to the worker. FilterLogEvents can batch streams (``logStreamNames``, one log
group) but has no forward cursor: its ``nextToken`` pages one query, so following means re-querying from a
``startTime`` and de-duplicating by ``eventId``, and a line that becomes visible late with an earlier timestamp
than the cursor is lost; its default quota is also 5 transactions per second per account and Region (AWS
knowledge center, "How do I determine throttling in my CloudWatch logs?"), shared with every console log search,
against GetLogEvents' 25 (CloudWatch Logs quotas). The reads of all triggers of a triggerer are instead spaced by
one :class:`ReadBudget` (default 10 reads per second, below that quota), so N triggers cost at most that rate: at
N=500 and a 6 s interval each stream is read about every 50 s while it runs, and drained in full at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
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
    :param token: the forward token to continue at (a handed-over tail's); None reads from the head.
    """

    def __init__(self, client, location: LogLocation, token: str | None = None) -> None:
        self.client = client
        self.location = location
        self.token = token
        self.error: str | None = None  # set by a permanent read error; reading stops
        # The last transient error (throttling, 5xx), cleared by a good read.
        self.transient: str | None = None

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
            if self.token:
                kwargs["nextToken"] = self.token
            try:
                page = self.client.get_log_events(**kwargs)
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if is_transient(exc):
                    self.transient = error_text(exc)
                elif code != "ResourceNotFoundException":
                    self.error = error_text(exc)
                return lines
            self.transient = None
            lines.extend(e["message"].rstrip("\n") for e in page["events"])
            token = page.get("nextForwardToken")
            if not page["events"] or token == self.token:
                self.token = token or self.token
                return lines
            self.token = token
        return lines


class LogTail:
    """Copies a container's new log lines into a logger as they arrive and keeps the last ones.

    :param reader: the stream to follow.
    :param log: where the lines go (the task log in the worker, the triggerer's log in a trigger).
    :param keep: how many last lines to keep for a failure message.
    :param pause: seconds between reads while draining.
    :param handed: a :meth:`handoff` to continue from (its reader carries the token).
    """

    #: Seconds after the container's exit by which CloudWatch Logs has delivered its last lines.
    delivery_lag: ClassVar[float] = 5.0
    #: Longest line a handoff carries (it is stored with the trigger event in the metadata database).
    handoff_line_chars: ClassVar[int] = 2000

    def __init__(
        self,
        reader: LogReader,
        log: logging.Logger | Any,
        keep: int,
        pause: float,
        handed: dict[str, Any] | None = None,
    ) -> None:
        self.reader = reader
        self.log = log
        self.lines: deque[str] = deque((handed or {}).get("lines", []), maxlen=max(keep, 1))
        self.pause = pause
        self.warning: str | None = (handed or {}).get("warning")
        self.read_count = (handed or {}).get("read", 0)  # lines copied so far, by every holder of the tail
        # The stream was read past CloudWatch's delivery lag after the container stopped: nothing more comes.
        self.drained: bool = bool((handed or {}).get("drained"))
        self._warned_transient = False
        if self.warning:
            reader.error = self.warning  # the trigger already found the stream unreadable: no further calls

    def read(self) -> int:
        """Copy the lines written since the last read; returns how many."""
        if self.reader.error:
            return 0
        lines = self.reader.read_new()
        container = self.reader.location.stream.split("/")[-2]
        for line in lines:
            self.log.info("[%s] %s", container, line)
        self.lines.extend(lines)
        self.read_count += len(lines)
        if self.reader.transient and not self._warned_transient:
            self._warned_transient = True  # once per tail: throttling recurs, and the next read catches up
            self.log.warning(
                "Logs: reading %s failed for now (%s); trying again at the next read",
                self.reader.location.stream,
                self.reader.transient,
            )
        if self.reader.error and self.warning is None:
            self.warning = (
                f"could not read the container's log stream {self.reader.location.stream} "
                f"({self.reader.error}); the result does not depend on it. "
                "Fix: allow logs:GetLogEvents on the log group"
            )
            self.log.warning("Logs: %s", self.warning)
        return len(lines)

    def drain_step(self, settled: float) -> float | None:
        """One read of a drain towards ``settled`` (epoch seconds); returns the seconds to wait before the next
        read, or None when the drain is over: settled and a read brought nothing, or reading stopped. A read
        that failed for now (throttling) is not "nothing": it is tried again, for one more delivery lag at most
        (a drain must end)."""
        brought = self.read()
        now = time.time()
        if self.reader.error:
            return None
        retrying = self.reader.transient is not None and now < settled + self.delivery_lag
        if not brought and now >= settled and not retrying:
            self.drained = self.reader.transient is None
            return None
        return min(self.pause, max(0.0, settled - now)) or self.pause

    def drain(self, task: dict[str, Any] | None) -> None:
        """Read until CloudWatch has delivered the lines of the stopped ``task`` (normalized; None: now) and a
        read brings nothing."""
        settled = settled_at(task)
        while (wait := self.drain_step(settled)) is not None:
            time.sleep(wait)

    def handoff(self) -> dict[str, Any]:
        """Plain JSON for the worker to continue this tail: forward token, last lines, warning, count, and
        whether it was drained (then the worker needs no read)."""
        cap = self.handoff_line_chars
        return {
            "token": self.reader.token,
            "lines": [line if len(line) <= cap else line[:cap] + " [...]" for line in self.lines],
            "warning": self.warning,
            "read": self.read_count,
            "drained": self.drained,
        }


class ReadBudget:
    """Spaces the log reads of every trigger on one event loop to at most :attr:`rate` per second, oldest
    request first (GetLogEvents' quota is per account and Region, not per stream)."""

    rate: ClassVar[float] = 10.0
    _budgets: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadBudget]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._next = 0.0  # event-loop time of the next free slot

    @classmethod
    def of_this_loop(cls) -> ReadBudget:
        loop = asyncio.get_running_loop()
        budget = cls._budgets.get(loop)
        if budget is None:
            budget = cls._budgets[loop] = cls()
        return budget

    def take(self) -> float:
        """Reserve the next read slot; returns the seconds to wait for it."""
        now = asyncio.get_running_loop().time()
        at = max(now, self._next)
        self._next = at + 1 / self.rate
        return at - now


def settled_at(task: dict[str, Any] | None) -> float:
    """Epoch seconds by which CloudWatch Logs has delivered what the containers of ``task`` wrote before they
    exited (``task`` normalized: ISO times; None: they exit now)."""
    now = time.time()
    exited = task and (task.get("executionStoppedAt") or task.get("stoppingAt") or task.get("stoppedAt"))
    # ECS's clock, not ours: a skewed one must not make anyone wait on a time that never comes.
    start = min(datetime.fromisoformat(exited).timestamp(), now) if exited else now
    return start + LogTail.delivery_lag
