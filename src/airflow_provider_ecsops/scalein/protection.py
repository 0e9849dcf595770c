"""ECS task scale-in protection for the task this process runs in: agent endpoint first, the ECS API as fallback.

Invariant: :meth:`TaskProtection.set` raises only :class:`ProtectionError`, whose ``kind`` tells the caller what
to do (:data:`KINDS`), and returns or raises within :data:`CALL_BUDGET_SECONDS` (plus at most one HTTP timeout).
It blocks (HTTP waits, backoff sleeps), so call it from an I/O thread, never from the consumer's event loop. The
first API fallback of a process also imports boto3 and the amazon provider's hook (about a second in a worker,
which has Airflow imported already).

Retries follow what the agent really answers (its handler in aws/amazon-ecs-agent,
``agent/handlers/agentapi/taskprotection/v1/handlers``; Amazon ECS Developer Guide, "Task scale-in protection
endpoint"): ``{"protection": ...}`` on success; ``{"failure": {"Arn", "Reason", "Detail"}}`` when ECS refuses
(409 for ``DEPLOYMENT_BLOCKED``, ``TASK_STOPPING_OR_STOPPED`` and ``INVALID``, 404 for ``MISSING``);
``{"error": {"Arn", "Code", "Message"}}`` with the ECS API's status for API errors, 500 for SDK errors such as
``RequestCanceled``. A proxy or a restarting agent adds 5xx answers without that body, non-JSON bodies, resets,
refusals and timeouts. Throttling is the ECS API's answer relayed by the agent: it is retried at the agent and
not sent to the API. Agent trouble (any 5xx, ``RequestCanceled``, transport errors, non-JSON) is retried, then the
``ecs:UpdateTaskProtection`` API is tried with what time is left.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from functools import cached_property
from typing import Any

from airflow_provider_ecsops.aws_retry import (
    SERVER_CODES,
    THROTTLING_CODES,
    backoff,
    error_text,
    is_transient,
)
from airflow_provider_ecsops.ecs_metadata import EcsIdentity, MetadataError

log = logging.getLogger(__name__)

KINDS = frozenset({"retryable", "permanent", "config", "deployment_blocked"})
"""``retryable``: try again later (the guard backs off); ``permanent``: will not succeed until someone changes
something (permissions, the task); ``config``: this worker's setup cannot work (fail at start);
``deployment_blocked``: ECS refuses protection while the service's deployment is blocked (retry slowly)."""

AGENT_ATTEMPT_TIMEOUT_SECONDS = 2.0
"""Per HTTP attempt at the agent (connect and each read): a hanging agent costs at most this per attempt."""
AGENT_BUDGET_SECONDS = 5.0
"""Time for the agent's attempts and backoff, leaving the rest of the call's budget to the API fallback."""
CALL_BUDGET_SECONDS = 10.0
"""Total time of one :meth:`TaskProtection.set`; an attempt started before it ends may run one timeout beyond."""
PROTECTION_CALL_MAX_SECONDS = CALL_BUDGET_SECONDS + AGENT_ATTEMPT_TIMEOUT_SECONDS
"""The longest one :meth:`TaskProtection.set` takes: its budget plus an attempt started just before it ends."""
API_CONNECT_TIMEOUT_SECONDS = 1.0
API_READ_TIMEOUT_SECONDS = 2.0

# Error codes of the agent's ``error`` body worth another attempt at the agent before the API fallback.
AGENT_TRANSIENT_CODES = SERVER_CODES | {"RequestCanceled"}

DEPLOYMENT_BLOCKED_FIX = (
    "Fix: the service's deployment is blocked (new tasks fail to start or to turn healthy); fix or roll back "
    "the deployment (aws ecs describe-services: deployments, events). Protection is retried meanwhile"
)
ACCESS_DENIED_FIX = "Fix: give the task role ecs:UpdateTaskProtection on this task"
# ECS's failure reasons for UpdateTaskProtection (the agent's handler maps them to 409/404), with kind and fix.
FAILURE_REASONS = {
    "DEPLOYMENT_BLOCKED": ("deployment_blocked", DEPLOYMENT_BLOCKED_FIX),
    "TASK_STOPPING_OR_STOPPED": ("permanent", "Fix: none needed, ECS is stopping this task; stop consuming"),
    "INVALID": ("config", "Fix: run the worker as a task of an ECS service (protection applies only there)"),
    "TASK_NOT_VALID": (
        "config",
        "Fix: run the worker as a task of an ECS service (protection applies only there)",
    ),
    "MISSING": ("permanent", "Fix: check that this task still exists in its cluster"),
    "INVALID_PARAMETER": ("config", "Fix: set [ecsops] scalein_protection_minutes to 1-2880"),
}


class ProtectionError(RuntimeError):
    """Protection could not be set; the message names the cause and the fix.

    :param kind: one of :data:`KINDS`.
    """

    def __init__(self, message: str, kind: str) -> None:
        assert kind in KINDS, kind
        super().__init__(message)
        self.kind = kind


def on_ecs() -> bool:
    """Whether this process runs in an ECS task (the agent injects these variables)."""
    return bool(os.environ.get("ECS_AGENT_URI") or os.environ.get("ECS_CONTAINER_METADATA_URI_V4"))


class TaskProtection:
    """Sets and tracks scale-in protection of the current task.

    Not on ECS, every call is a no-op announced by one log line. The agent endpoint answers locally without
    credentials; the ``ecs:UpdateTaskProtection`` API (via the amazon provider's hook, in the task's own region)
    is the fallback when the agent has no such endpoint (old agents) or keeps failing. The task's identity, which
    the API needs, is read from the metadata endpoint once and kept, so the fallback also works while the agent
    (which serves the metadata endpoint too) restarts.

    :param minutes: ``ExpiresInMinutes`` of each protection.
    :param attempts: attempts at the agent per call (each bounded by the call's time budget).
    :param aws_conn_id: Airflow connection for the API fallback; None = the task role.
    :param budget: seconds one :meth:`set` may take (:data:`CALL_BUDGET_SECONDS`).
    """

    def __init__(
        self,
        minutes: int = 60,
        attempts: int = 5,
        aws_conn_id: str | None = None,
        budget: float = CALL_BUDGET_SECONDS,
    ) -> None:
        self.minutes = minutes
        self.attempts = attempts
        self.aws_conn_id = aws_conn_id
        self.budget = budget
        self.agent_uri = os.environ.get("ECS_AGENT_URI", "")
        self.metadata_uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4", "")
        self.enabled = on_ecs()
        self.protected = False
        self.expires_at = 0.0  # monotonic
        if not self.enabled:
            log.info("ecsops scale-in: not running on ECS (no ECS_AGENT_URI), task protection is a no-op")

    @cached_property
    def identity(self) -> EcsIdentity:
        """This task's cluster and ARN (read once; raises :class:`ProtectionError` until it could be read)."""
        if not self.metadata_uri:
            raise ProtectionError(
                "ECS_CONTAINER_METADATA_URI_V4: not set, so the task ARN for ecs:UpdateTaskProtection is unknown. "
                "Fix: run on an ECS agent that sets it (agent 1.39+, Fargate 1.4+)",
                "config",
            )
        try:
            return EcsIdentity.from_metadata(self.metadata_uri, timeout=AGENT_ATTEMPT_TIMEOUT_SECONDS)
        except MetadataError as exc:
            raise ProtectionError(
                f"task metadata: {exc}. Fix: none if the ECS agent is restarting; protection is retried",
                "retryable" if exc.kind == "retryable" else "permanent",
            ) from exc

    @cached_property
    def _ecs(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from botocore.config import Config

        # One attempt per client call: set() retries itself within its budget.
        config = Config(
            connect_timeout=API_CONNECT_TIMEOUT_SECONDS,
            read_timeout=API_READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        hook = AwsBaseHook(
            aws_conn_id=self.aws_conn_id, client_type="ecs", region_name=self.identity.region, config=config
        )
        return hook.conn

    def seconds_left(self) -> float:
        return self.expires_at - time.monotonic() if self.protected else 0.0

    def set(self, enabled: bool) -> None:
        """Turn protection on (for ``minutes``) or off; raise :class:`ProtectionError` if it cannot be done."""
        if not self.enabled:
            return
        started = time.monotonic()
        deadline = started + self.budget
        via = "agent"
        try:
            try:
                self._via_agent(enabled, min(deadline, started + AGENT_BUDGET_SECONDS))
            except _AgentUnavailable as exc:
                log.info(
                    "ecsops scale-in: agent endpoint unavailable (%s), using ecs:UpdateTaskProtection", exc
                )
                via = "api"
                self._via_api(enabled, deadline)
        except ProtectionError:
            raise
        except Exception as exc:  # the contract: nothing else may reach Celery's timer or bootstep
            raise ProtectionError(
                f"scale-in protection: unexpected {type(exc).__name__}: {exc}. Fix: report this; protection "
                "is retried",
                "retryable",
            ) from exc
        self.protected = enabled
        self.expires_at = started + self.minutes * 60 if enabled else 0.0
        log.info("ecsops scale-in: protection %s via %s", "on" if enabled else "off", via)
        self._prepare_fallback()

    def _prepare_fallback(self) -> None:
        """Read the identity and build the API client while the agent answers, after a call succeeded.

        Why: the fallback is needed when the agent restarts or hangs (it also serves the metadata endpoint),
        and building the client (provider hook, boto3 session) took seconds of a failing call's budget on a
        loaded worker. Failures here are logged and retried by the fallback itself.
        """
        if "_ecs" in self.__dict__ or not self.metadata_uri:
            return
        try:
            self._ecs  # noqa: B018 - cached_property: reading it reads the identity and builds the client
        except ProtectionError as exc:
            log.info("ecsops scale-in: task identity not read yet (%s)", exc)
        except Exception as exc:  # the fallback builds it again when needed, and classifies what fails then
            log.info("ecsops scale-in: API fallback client not built yet (%s: %s)", type(exc).__name__, exc)

    def _via_agent(self, enabled: bool, deadline: float) -> None:
        if not self.agent_uri:
            raise _AgentUnavailable("ECS_AGENT_URI is not set")
        body: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self.minutes
        url = f"{self.agent_uri}/task-protection/v1/state"
        delays = backoff(0.2, 2.0)
        problem, throttled, attempt = "", False, 0
        while attempt < self.attempts and (remaining := deadline - time.monotonic()) > 0:
            attempt += 1
            try:
                status, answer = _put_json(url, body, min(AGENT_ATTEMPT_TIMEOUT_SECONDS, remaining))
            except _AgentTransient as exc:
                problem, throttled = str(exc), False
            else:
                verdict = _agent_verdict(status, answer)
                if verdict is None:
                    return
                problem, throttled = verdict
            delay = min(next(delays), max(0.0, deadline - time.monotonic()))
            if attempt < self.attempts and delay > 0:
                # DEBUG: a failed call's error names the last problem, and the guard logs it (ERROR once a minute).
                log.debug("ecsops scale-in: %s from the agent, retry %d in %.2fs", problem, attempt, delay)
                time.sleep(delay)
        if throttled:
            raise ProtectionError(
                f"scale-in protection failed after {attempt} attempt(s): {problem}. Fix: none needed if rare "
                "(ECS API throttling); protection is retried",
                "retryable",
            )
        raise _AgentUnavailable(f"{problem} after {attempt} attempt(s)")

    def _via_api(self, enabled: bool, deadline: float) -> None:
        kwargs: dict[str, Any] = {"protectionEnabled": enabled}
        if enabled:
            kwargs["expiresInMinutes"] = self.minutes
        delays = backoff(0.5, 2.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self._ecs.update_task_protection(
                    cluster=self.identity.cluster, tasks=[self.identity.task_arn], **kwargs
                )
            except ProtectionError:
                raise
            except Exception as exc:
                problem = _api_problem(exc)
            else:
                failures = answer.get("failures") or []
                if failures:
                    failure = failures[0]
                    raise _failure_error(failure.get("arn"), failure.get("reason"), failure.get("detail"))
                return
            delay = next(delays)
            if time.monotonic() + delay >= deadline:
                raise ProtectionError(
                    f"ecs:UpdateTaskProtection failed after {attempt} attempt(s): {problem}. Fix: none needed "
                    "if it passes (throttling or an ECS outage); protection is retried",
                    "retryable",
                )
            log.debug("ecsops scale-in: %s from the ECS API, retry %d in %.2fs", problem, attempt, delay)
            time.sleep(delay)


def _api_problem(exc: Exception) -> str:
    """The text of a transient API error worth another attempt; raise :class:`ProtectionError` for the rest."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        raise ProtectionError(
            f"ecs:UpdateTaskProtection: no AWS credentials ({exc}) and the agent endpoint is unusable. "
            "Fix: give the ECS task a task role (or set [ecsops] scalein_aws_conn_id)",
            "config",
        ) from exc
    if isinstance(exc, NoRegionError):
        raise ProtectionError(
            "ecs:UpdateTaskProtection: no AWS region and the agent endpoint is unusable. "
            "Fix: set AWS_DEFAULT_REGION (or the region of [ecsops] scalein_aws_conn_id)",
            "config",
        ) from exc
    if is_transient(exc):
        return error_text(exc)
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "AccessDeniedException":
        raise ProtectionError(
            f"ecs:UpdateTaskProtection denied ({error_text(exc)}). {ACCESS_DENIED_FIX}", "permanent"
        ) from exc
    if isinstance(exc, ClientError):
        raise ProtectionError(
            f"ecs:UpdateTaskProtection failed: {error_text(exc)}. Fix: check the task role and "
            "[ecsops] scalein_aws_conn_id",
            "permanent",
        ) from exc
    raise exc


class _AgentUnavailable(Exception):
    """The agent cannot set protection (missing endpoint, or failing beyond retries): use the API."""


class _AgentTransient(Exception):
    """One attempt at the agent got no usable answer (refused, reset, timed out)."""


def _agent_verdict(status: int, answer: dict[str, Any] | None) -> tuple[str, bool] | None:
    """None on success, or (problem, throttled) for an answer worth another attempt; raise for final ones."""
    if answer is None:
        return f"HTTP {status} without a JSON body", False
    if status == 200 and "protection" in answer:
        return None
    if isinstance(answer.get("failure"), dict):
        failure = answer["failure"]
        raise _failure_error(failure.get("Arn"), failure.get("Reason"), failure.get("Detail"))
    error: dict[str, Any] = answer["error"] if isinstance(answer.get("error"), dict) else {}
    code = error.get("Code") or f"HTTP {status}"
    problem = f"{code}: {error.get('Message')}"
    if status == 404 and not error.get("Arn"):
        raise _AgentUnavailable(f"agent answered 404 for the protection endpoint: {error}")
    if code == "AccessDeniedException":
        raise ProtectionError(
            f"ECS denied scale-in protection (AccessDeniedException: {error.get('Message')}). {ACCESS_DENIED_FIX}",
            "permanent",
        )
    if code in THROTTLING_CODES:
        return problem, True
    if status >= 500 or code in AGENT_TRANSIENT_CODES or not error:
        return problem, False
    raise ProtectionError(
        f"scale-in protection refused by the agent: {problem} (HTTP {status}). Fix: report this; the request "
        "is the documented one",
        "permanent",
    )


def _failure_error(arn: str | None, reason: str | None, detail: str | None) -> ProtectionError:
    kind, fix = FAILURE_REASONS.get(reason or "", ("permanent", "Fix: see ECS's API failure reasons"))
    return ProtectionError(
        f"ECS refused scale-in protection for {arn}: {reason} {detail or ''}".rstrip() + f". {fix}", kind
    )


def _put_json(url: str, body: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any] | None]:
    """Status and JSON object of the answer (None when the body is not one); raise :class:`_AgentTransient`."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
    # URLError (refused), socket timeouts and resets are OSErrors; a connection closed mid-answer is an
    # HTTPException.
    except (OSError, http.client.HTTPException) as exc:
        raise _AgentTransient(f"{type(exc).__name__}: {exc}") from exc
    try:
        answer = json.loads(raw)
    except ValueError:
        return status, None
    return status, answer if isinstance(answer, dict) else None
