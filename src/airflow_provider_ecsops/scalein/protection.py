"""ECS task scale-in protection for the task this process runs in: agent endpoint first, boto3 as fallback."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from functools import cached_property
from typing import Any

from airflow_provider_ecsops.aws_retry import SERVER_CODES, THROTTLING_CODES, backoff
from airflow_provider_ecsops.ecs_metadata import EcsIdentity

log = logging.getLogger(__name__)

# Error codes worth another attempt; anything else (AccessDeniedException, invalid parameters) is final.
RETRYABLE_CODES = THROTTLING_CODES | SERVER_CODES


class ProtectionError(RuntimeError):
    """Protection could not be set; the message names the cause and the fix."""


def on_ecs() -> bool:
    """Whether this process runs in an ECS task (the agent injects these variables)."""
    return bool(os.environ.get("ECS_AGENT_URI") or os.environ.get("ECS_CONTAINER_METADATA_URI_V4"))


class TaskProtection:
    """Sets and tracks scale-in protection of the current task.

    Not on ECS, every call is a no-op announced by one log line. The agent endpoint answers locally without
    credentials; the ``ecs:UpdateTaskProtection`` API (via the amazon provider's hook) is the fallback when the
    agent has no such endpoint (old agents) or cannot be reached.

    :param minutes: ``ExpiresInMinutes`` of each protection.
    :param attempts: attempts per call on throttling and server errors.
    :param aws_conn_id: Airflow connection for the API fallback; None = the task role.
    """

    def __init__(self, minutes: int = 60, attempts: int = 5, aws_conn_id: str | None = None) -> None:
        self.minutes = minutes
        self.attempts = attempts
        self.aws_conn_id = aws_conn_id
        self.agent_uri = os.environ.get("ECS_AGENT_URI", "")
        self.metadata_uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4", "")
        self.enabled = on_ecs()
        self.protected = False
        self.expires_at = 0.0  # monotonic
        if not self.enabled:
            log.info("ecsops scale-in: not running on ECS (no ECS_AGENT_URI), task protection is a no-op")

    @cached_property
    def identity(self) -> EcsIdentity:
        if not self.metadata_uri:
            raise ProtectionError(
                "ECS_CONTAINER_METADATA_URI_V4 is not set: cannot find the task ARN for the API"
            )
        return EcsIdentity.from_metadata(self.metadata_uri)

    @cached_property
    def _ecs(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from botocore.config import Config

        config = Config(retries={"max_attempts": self.attempts, "mode": "standard"})
        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="ecs", config=config).conn

    def seconds_left(self) -> float:
        return self.expires_at - time.monotonic() if self.protected else 0.0

    def set(self, enabled: bool) -> None:
        """Turn protection on (for ``minutes``) or off; raise :class:`ProtectionError` if it cannot be done."""
        if not self.enabled:
            return
        started = time.monotonic()
        via = "agent"
        try:
            self._via_agent(enabled)
        except _AgentUnavailable as exc:
            log.warning(
                "ecsops scale-in: agent endpoint unavailable (%s), using ecs:UpdateTaskProtection", exc
            )
            via = "api"
            self._via_api(enabled)
        self.protected = enabled
        self.expires_at = started + self.minutes * 60 if enabled else 0.0
        log.info("ecsops scale-in: protection %s via %s", "on" if enabled else "off", via)

    def _via_agent(self, enabled: bool) -> None:
        if not self.agent_uri:
            raise _AgentUnavailable("ECS_AGENT_URI is not set")
        body: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self.minutes
        delays = backoff(0.2, 5.0)
        for attempt in range(1, self.attempts + 1):
            status, answer = _put_json(f"{self.agent_uri}/task-protection/v1/state", body)
            if "protection" in answer:
                return
            if "failure" in answer:
                failure = answer["failure"]
                raise ProtectionError(
                    f"ECS refused scale-in protection for {failure.get('Arn')}: {failure.get('Reason')} "
                    f"{failure.get('Detail') or ''}".strip()
                )
            error = answer.get("error") or {}
            code = error.get("Code", f"HTTP {status}")
            if status == 404 and not error.get("Arn"):
                raise _AgentUnavailable(f"agent answered 404 for the protection endpoint: {error}")
            if code == "AccessDeniedException":
                raise ProtectionError(
                    "ECS denied scale-in protection (AccessDeniedException): give the task role "
                    f"ecs:UpdateTaskProtection on this task. Agent said: {error.get('Message')}"
                )
            if code not in RETRYABLE_CODES or attempt == self.attempts:
                raise ProtectionError(
                    f"scale-in protection failed after {attempt} attempt(s): {code}: {error.get('Message')}"
                )
            delay = next(delays)
            log.warning("ecsops scale-in: %s from the agent, retry %d in %.2fs", code, attempt, delay)
            time.sleep(delay)

    def _via_api(self, enabled: bool) -> None:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"protectionEnabled": enabled}
        if enabled:
            kwargs["expiresInMinutes"] = self.minutes
        try:
            answer = self._ecs.update_task_protection(
                cluster=self.identity.cluster, tasks=[self.identity.task_arn], **kwargs
            )
        except ClientError as exc:
            raise ProtectionError(
                f"ecs:UpdateTaskProtection failed: {exc}. The task role needs ecs:UpdateTaskProtection."
            ) from exc
        if answer.get("failures"):
            raise ProtectionError(f"ecs:UpdateTaskProtection reported failures: {answer['failures']}")


class _AgentUnavailable(Exception):
    pass


def _put_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except json.JSONDecodeError:
            return exc.code, {}
    except (urllib.error.URLError, OSError) as exc:
        raise _AgentUnavailable(str(exc)) from exc
