"""Who this process is on ECS: the task metadata endpoint v4 (``$ECS_CONTAINER_METADATA_URI_V4/task``)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class EcsIdentity:
    """The ECS task this process runs in.

    :param cluster: cluster ARN.
    :param task_arn: ARN of this task.
    """

    cluster: str
    task_arn: str

    @classmethod
    def from_metadata(cls, metadata_uri: str, timeout: float = 2.0) -> EcsIdentity:
        """Read the identity from the metadata endpoint v4 at ``metadata_uri`` (the agent's env value)."""
        with urllib.request.urlopen(f"{metadata_uri.rstrip('/')}/task", timeout=timeout) as response:
            task = json.load(response)
        return cls(cluster=task["Cluster"], task_arn=task["TaskARN"])
