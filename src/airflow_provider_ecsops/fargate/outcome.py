"""The one completion logic of both modes: what a stopped ECS task means for the Airflow task.

Success iff every essential container exited 0; non-essential sidecars are ignored. Everything else becomes a
failure message with exit codes, stop code, stopped reason, a retryability verdict and the last log lines.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Stop codes (and stopped reasons) that describe the platform, not the workload: a new container may succeed.
RETRYABLE_STOP_CODES = {
    "TaskFailedToStart": "the task failed to start",
    "SpotInterruption": "Fargate Spot reclaimed the capacity",
    "TerminationNotice": "AWS terminated the task (maintenance or termination notice)",
    "ServiceSchedulerInitiated": "the ECS scheduler stopped the task",
}
RETRYABLE_REASON_MARKERS = (
    "Capacity is unavailable",
    "ResourceInitializationError",
    "Timeout waiting for network",
)


def normalize_task(task: dict[str, Any]) -> dict[str, Any]:
    """A described ECS task as plain JSON (timestamps as ISO strings), the same in both modes."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(task)


def _seconds(task: dict[str, Any], start: str, *ends: str) -> float | None:
    if not task.get(start):
        return None
    end = next((task[e] for e in ends if task.get(e)), None)
    if end is None:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(task[start])).total_seconds(), 3)


@dataclass
class TaskOutcome:
    task_arn: str
    verdict: str  # "success", "skipped" or "failed"
    exit_codes: dict[str, int | None]
    stop_code: str | None
    stopped_reason: str | None
    retryable: bool
    explanation: str
    pending_seconds: float | None = None
    running_seconds: float | None = None
    vcpu_seconds: float | None = None
    gb_seconds: float | None = None
    reused: bool = False
    log_warning: str | None = None  # why the container's logs could not be read, if they could not
    log_tail: list[str] = field(default_factory=list)

    @classmethod
    def from_task(
        cls, task: dict[str, Any], essential: Sequence[str], skip_on_exit_code: Collection[int] = ()
    ) -> TaskOutcome:
        """Judge a STOPPED task (normalized with :func:`normalize_task`)."""
        exit_codes = {c["name"]: c.get("exitCode") for c in task.get("containers", [])}
        essential_codes = {name: exit_codes.get(name) for name in essential}
        stop_code, reason = task.get("stopCode"), task.get("stoppedReason")
        if all(code == 0 for code in essential_codes.values()):
            verdict, explanation = "success", "every essential container exited 0"
        elif (
            essential_codes
            and all(c in skip_on_exit_code for c in essential_codes.values() if c != 0)
            and all(c is not None for c in essential_codes.values())
        ):
            verdict, explanation = "skipped", f"exit codes {essential_codes} are in skip_on_exit_code"
        else:
            verdict = "failed"
            bad = {n: c for n, c in essential_codes.items() if c != 0}
            explanation = ", ".join(
                f"essential container {n!r} {'did not run (no exit code)' if c is None else f'exited {c}'}"
                for n, c in bad.items()
            )
        retryable = verdict == "failed" and (
            stop_code in RETRYABLE_STOP_CODES or any(m in (reason or "") for m in RETRYABLE_REASON_MARKERS)
        )
        billed = _seconds(task, "pullStartedAt", "stoppedAt", "executionStoppedAt") or _seconds(
            task, "createdAt", "stoppedAt"
        )
        cpu, memory = task.get("cpu"), task.get("memory")
        return cls(
            task_arn=task["taskArn"],
            verdict=verdict,
            exit_codes=exit_codes,
            stop_code=stop_code,
            stopped_reason=reason,
            retryable=retryable,
            explanation=explanation,
            pending_seconds=_seconds(task, "createdAt", "startedAt"),
            running_seconds=_seconds(task, "startedAt", "executionStoppedAt", "stoppedAt"),
            vcpu_seconds=round(int(cpu) / 1024 * billed, 3) if cpu and billed is not None else None,
            gb_seconds=round(int(memory) / 1024 * billed, 3) if memory and billed is not None else None,
        )

    def stop_summary(self) -> str:
        """What ECS said about the stop, with the retry verdict, e.g. for a Spot interruption."""
        parts = [f"stop code {self.stop_code or 'none'}"]
        if self.stopped_reason:
            parts.append(f"reason: {self.stopped_reason}")
        if self.stop_code == "UserInitiated":
            parts.append("stopped by a StopTask call (the reason above names who, where AWS tells)")
        if self.retryable:
            why = RETRYABLE_STOP_CODES.get(self.stop_code or "", "a transient platform error")
            parts.append(f"retryable: {why}; a retry starts a fresh container")
        return "; ".join(parts)

    def failure_message(self) -> str:
        lines = [
            f"ECS task {self.task_arn} failed: {self.explanation}.",
            f"Exit codes: {self.exit_codes}; {self.stop_summary()}.",
        ]
        if self.log_tail:
            lines.append(f"Last {len(self.log_tail)} log lines:")
            lines.extend(f"    {line}" for line in self.log_tail)
        else:
            lines.append("No container log lines were found.")
        if self.log_warning:
            lines.append(f"Logs: {self.log_warning}.")
        return "\n".join(lines)

    def xcom(self) -> dict[str, Any]:
        """The XCom return value (everything but the log tail)."""
        data = asdict(self)
        data.pop("log_tail")
        data.pop("explanation")
        return data
