"""What happened to the workers, from the race lab's event log, for the report's stop markers.

The log (``events.jsonl``, written by :mod:`airflow_provider_ecsops.testing.race.autoscaler`) holds one JSON
object per line: ``{"time": <epoch seconds>, "action": ..., "worker": <hostname>, ...}``. The report keeps the
actions about one worker: ``launch`` (with ``task_arn``), ``sigterm`` (with ``running_tasks``), ``sigkill`` and
``exited`` (with ``after``, seconds since the SIGTERM); fleet-wide actions (``scale_in``...) carry no worker.
The worker name is the hostname Airflow records for the task, so markers land in the lane of its runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

ACTIONS = ("launch", "sigterm", "sigkill", "exited")


@dataclass(frozen=True)
class WorkerEvent:
    """One thing that happened to one worker.

    :param worker: the worker's hostname.
    :param action: one of :data:`ACTIONS`.
    :param at: when (UTC).
    :param detail: the log's other fields, in words (``2 running tasks``, ``after 3.2 s``...).
    """

    worker: str
    action: str
    at: datetime
    detail: str


def _detail(entry: dict) -> str:
    if entry["action"] == "sigterm" and "running_tasks" in entry:
        return f"{entry['running_tasks']} running task(s) at SIGTERM"
    if entry["action"] == "exited" and "after" in entry:
        return f"exited {float(entry['after']):.1f} s after SIGTERM"
    if entry["action"] == "launch":
        return entry.get("why", "")
    return ""


def read_events(path: str) -> list[WorkerEvent]:
    """The worker events of the log at ``path``, in time order.

    :param path: an ``events.jsonl`` of the race lab.
    :raises ValueError: a line is not a JSON object with ``time`` and ``action``.
    """
    events = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                action, at = entry["action"], datetime.fromtimestamp(float(entry["time"]), UTC)
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"line {number} is not an event ({type(err).__name__}: {err})") from None
            if action in ACTIONS and entry.get("worker"):
                events.append(WorkerEvent(str(entry["worker"]), action, at, _detail(entry)))
    return sorted(events, key=lambda e: e.at)
