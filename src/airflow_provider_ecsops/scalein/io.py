"""The guard's I/O thread: protection, metadata, backlog and retire calls, one at a time, off the event loop.

Invariant: at most one call is in flight; a call never raises into the caller (every exception becomes a
classified :class:`Outcome`); outcomes wait in a queue until the consumer's loop collects them (``poll``), so
the guard's state only ever changes on the loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Error kinds (``ProtectionError.kind`` and the guard's own classification of the other errors).
RETRYABLE, PERMANENT, CONFIG, DEPLOYMENT_BLOCKED, LOCK_BUSY = (
    "retryable",
    "permanent",
    "config",
    "deployment_blocked",
    "lock_busy",
)


@dataclass(frozen=True)
class Outcome:
    """The result of one call: ``ok`` with ``value``, or an error of ``kind`` described by ``message``."""

    op: str
    ok: bool
    value: Any = None
    kind: str = ""
    message: str = ""


def classify(exc: BaseException) -> str:
    """The kind of an error from protection, metadata, backlog or retire.

    ``ProtectionError`` and ``MetadataError`` carry their own ``kind``; a configuration error is ``config``; a
    busy retire lock is ``lock_busy``; everything else (``BacklogError``, ``RetireError``, and anything
    unexpected) is retryable.
    """
    from airflow_provider_ecsops.scalein.errors import ConfigurationError, RetireLockBusy

    if isinstance(exc, ConfigurationError):
        return CONFIG
    if isinstance(exc, RetireLockBusy):
        return LOCK_BUSY
    kind = getattr(exc, "kind", "")
    return kind if isinstance(kind, str) and kind else RETRYABLE


class IoThread:
    """One daemon thread executing the guard's calls in order; ``submit`` refuses a second call in flight."""

    def __init__(self, name: str = "ecsops-scalein-io") -> None:
        self._calls: queue.SimpleQueue[tuple[str, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self.in_flight = ""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, op: str, call: Callable[[], Any]) -> None:
        """Run ``call`` on the thread; its outcome is returned by a later ``poll``."""
        if self.in_flight:
            raise RuntimeError(f"ecsops scale-in: {op} submitted while {self.in_flight} is in flight")
        self.in_flight = op
        self._calls.put((op, call))

    def poll(self) -> list[Outcome]:
        """Outcomes finished since the last poll (at most one, by the one-call rule)."""
        outcomes = []
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        if outcomes:
            self.in_flight = ""
        return outcomes

    def wait(self, timeout: float) -> list[Outcome]:
        """Block up to ``timeout`` for the call in flight (worker start only, before the loop runs)."""
        try:
            outcome = self._outcomes.get(timeout=timeout)
        except queue.Empty:
            return []
        self.in_flight = ""
        return [outcome]

    def close(self) -> None:
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            op, call = item
            try:
                outcome = Outcome(op, True, call())
            except BaseException as exc:  # nothing may escape: classified here, logged by the guard
                outcome = Outcome(op, False, kind=classify(exc), message=f"{type(exc).__name__}: {exc}")
            self._outcomes.put(outcome)
