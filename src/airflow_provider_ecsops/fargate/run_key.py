"""The deterministic identity of one offloaded run, shared by every try of the same task instance.

The key goes into RunTask's ``startedBy`` (so the operator can find a running task again with ListTasks), into
its ``clientToken`` together with the try number that started the container (so a retried RunTask never starts
a second container, and a later try never gets an earlier try's container back by accident) and into a tag.
The try number is Airflow's own (``ti.try_number``), never a count of what ListTasks still shows: ECS lists
stopped tasks for about an hour but keeps a clientToken for 24 hours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

PREFIX = "ecsops-"


@dataclass(frozen=True)
class RunKey:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    clear_number: int

    #: The keys of the tags the operator puts on every task it starts (``tags()``); user tags cannot use them.
    RESERVED_TAG_KEYS: ClassVar[tuple[str, ...]] = (
        "ecsops:run-key",
        "airflow:dag_id",
        "airflow:task_id",
        "airflow:run_id",
    )

    @classmethod
    def from_context(cls, context, retries: int) -> RunKey:
        """Build the key of the running task instance.

        ``clear_number`` is ``max_tries - retries``: it stays the same across automatic retries and zombie
        retries, and grows when someone clears the task instance, so a deliberate clear runs a new container
        while a retry reattaches to (or reuses) the previous one. The try number is not part of the key.
        """
        ti = context["ti"]
        max_tries = getattr(ti, "max_tries", None)
        clear_number = max(0, max_tries - retries) if isinstance(max_tries, int) else 0
        map_index = getattr(ti, "map_index", -1)
        return cls(
            ti.dag_id, ti.task_id, context["run_id"], -1 if map_index is None else map_index, clear_number
        )

    @property
    def value(self) -> str:
        """``ecsops-`` and 32 hex digits: valid as startedBy (128 max) and within clientToken's 64 characters."""
        raw = "\n".join((self.dag_id, self.task_id, self.run_id, str(self.map_index), str(self.clear_number)))
        return PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def client_token(self, try_number: int) -> str:
        """RunTask's clientToken for the container that try ``try_number`` (1 first) of this key starts."""
        return f"{self.value}-{try_number}"

    def tags(self) -> list[dict[str, str]]:
        values = (self.value, self.dag_id[:256], self.task_id[:256], self.run_id[:256])  # ECS: 256 max
        return [{"key": k, "value": v} for k, v in zip(self.RESERVED_TAG_KEYS, values, strict=True)]

    def describe(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} run {self.run_id}"


def current_try(context) -> int:
    """The running try's number, 1 for the first (Airflow counts tries from 1 while a try runs)."""
    try_number = getattr(context["ti"], "try_number", None)
    return try_number if isinstance(try_number, int) and try_number > 0 else 1


def is_last_try(context, retries: int) -> bool:
    """Whether Airflow will not retry this try if it fails (as ``TaskInstance.is_eligible_to_retry`` decides)."""
    max_tries = getattr(context["ti"], "max_tries", None)
    return not retries or not isinstance(max_tries, int) or current_try(context) > max_tries
