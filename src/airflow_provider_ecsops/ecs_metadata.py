"""Who this process is on ECS, and whether ECS is stopping it: the task metadata endpoint v4.

The ECS agent sets ``ECS_CONTAINER_METADATA_URI_V4`` in every container; ``GET ${ECS_CONTAINER_METADATA_URI_V4}/task``
answers the task's metadata as JSON, among it ``Cluster``, ``TaskARN``, ``KnownStatus`` and ``DesiredStatus``
(Amazon ECS Developer Guide, "Amazon ECS task metadata endpoint version 4" and its "task metadata JSON response").
The endpoint is served by the agent, so it is down while the agent restarts.

Invariant: every read here raises only :class:`MetadataError` (classified) on an unreachable, hanging or garbled
endpoint, never ``URLError``/``OSError`` (which Celery would take for a broker connection error) or
``JSONDecodeError``.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class MetadataError(ValueError):
    """The task metadata endpoint could not be read.

    A ``ValueError`` (never an ``OSError``) so that callers which tolerate a bad value keep working.

    :param kind: ``retryable`` (refused, timed out, 5xx, not JSON: the agent is restarting or busy) or
        ``permanent`` (4xx, or the answer lacks the field).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class EcsIdentity:
    """The ECS task this process runs in.

    :param cluster: cluster ARN.
    :param task_arn: ARN of this task.
    """

    cluster: str
    task_arn: str

    @property
    def region(self) -> str:
        """The task's region, from its ARN (``arn:aws:ecs:REGION:ACCOUNT:task/...``)."""
        return self.task_arn.split(":")[3]

    @classmethod
    def from_metadata(cls, metadata_uri: str, timeout: float = 2.0) -> EcsIdentity:
        """Read the identity from the metadata endpoint v4 at ``metadata_uri`` (the agent's env value).

        :raises MetadataError: the endpoint is unreachable, hangs beyond ``timeout`` or answers no identity.
        """
        task = task_metadata(metadata_uri, timeout)
        return cls(cluster=_field(task, "Cluster"), task_arn=_field(task, "TaskARN"))


def task_desired_status(metadata_uri: str, timeout: float = 2.0) -> str:
    """``DesiredStatus`` of this task (``RUNNING``, or ``STOPPED`` once ECS has chosen to stop it).

    ECS sets the desired status to ``STOPPED`` when it picks the task for scale-in or a deployment, before the
    container receives SIGTERM.

    :raises MetadataError: see :func:`task_metadata`.
    """
    return _field(task_metadata(metadata_uri, timeout), "DesiredStatus")


def task_metadata(metadata_uri: str, timeout: float = 2.0) -> dict[str, Any]:
    """The task metadata JSON of ``GET {metadata_uri}/task``.

    :param timeout: seconds for the connection and for each read; a hanging endpoint fails after it.
    :raises MetadataError: ``retryable`` when refused, reset, timed out, answered 5xx or not a JSON object;
        ``permanent`` on a 4xx answer.
    """
    url = f"{metadata_uri.rstrip('/')}/task"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        kind = "retryable" if exc.code >= 500 else "permanent"
        raise MetadataError(f"task metadata endpoint {url} answered HTTP {exc.code}", kind) from exc
    # URLError (refused, DNS), socket timeouts and resets are OSErrors; a connection closed mid-answer is an
    # HTTPException.
    except (OSError, http.client.HTTPException) as exc:
        raise MetadataError(f"task metadata endpoint {url} unreachable: {exc}", "retryable") from exc
    try:
        task = json.loads(raw)
    except ValueError as exc:
        raise MetadataError(
            f"task metadata endpoint {url} answered no JSON: {raw[:80]!r}", "retryable"
        ) from exc
    if not isinstance(task, dict):
        raise MetadataError(
            f"task metadata endpoint {url} answered no JSON object: {raw[:80]!r}", "retryable"
        )
    return task


def _field(task: dict[str, Any], name: str) -> str:
    value = task.get(name)
    if not isinstance(value, str):
        raise MetadataError(f"task metadata has no {name!r}: keys {sorted(task)}", "permanent")
    return value
