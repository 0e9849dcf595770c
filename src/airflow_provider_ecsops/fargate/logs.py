"""Reading a Fargate container's awslogs stream from CloudWatch Logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_ecsops.aws_retry import is_transient


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

    def read_new(self, limit: int = 100_000) -> list[str]:
        """New lines since the last call (all lines on the first call), up to ``limit``.

        A stream that does not exist yet, or a transient error, yields nothing now and is tried again later.
        """
        lines: list[str] = []
        while len(lines) < limit:
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
                raise
            lines.extend(e["message"].rstrip("\n") for e in page["events"])
            token = page.get("nextForwardToken")
            if not page["events"] or token == self._token:
                self._token = token or self._token
                return lines
            self._token = token
        return lines
