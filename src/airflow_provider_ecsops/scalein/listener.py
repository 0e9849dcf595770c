"""Task-level protection as an Airflow listener, for setups where the Celery config cannot be changed.

Registered by the package's plugin and inert unless ``[ecsops] scalein_listener_enabled`` is true. It runs in the
task's own process (Airflow 2 and 3), so the tasks of one container share a small registry of running task
processes under a file lock: the first task to start protects the ECS task, the last one to finish releases it.

Weaker than the worker guard: protection starts when the task starts running, not when its message is received,
and it is not renewed, so set ``scalein_protection_minutes`` above the longest task (at most 2880).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

from airflow_provider_ecsops.scalein.protection import ProtectionError, TaskProtection
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

log = logging.getLogger(__name__)

REGISTRY = Path(tempfile.gettempdir()) / "ecsops-scalein-running"


@cache
def _settings() -> ScaleInSettings:
    return ScaleInSettings.from_airflow_conf()


@contextmanager
def _running_tasks() -> Iterator[set[int]]:
    """The pids of this container's running task processes, locked for the body and saved after it."""
    REGISTRY.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{REGISTRY}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = REGISTRY.read_text() if REGISTRY.exists() else ""
        pids = {int(p) for p in text.split() if _alive(int(p))}
        yield pids
        REGISTRY.write_text(" ".join(map(str, sorted(pids))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _protect(enabled: bool) -> None:
    settings = _settings()
    try:
        TaskProtection(settings.protection_minutes, settings.api_attempts, settings.aws_conn_id or None).set(
            enabled
        )
    except ProtectionError as exc:
        log.error("ecsops scale-in listener: %s", exc)


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    if not _settings().listener_enabled:
        return
    with _running_tasks() as pids:
        pids.add(os.getpid())
        _protect(True)  # every start renews, so a long-running neighbour cannot outlive the expiry unnoticed


def _finished() -> None:
    if not _settings().listener_enabled:
        return
    with _running_tasks() as pids:
        pids.discard(os.getpid())
        if not pids:
            _protect(False)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _finished()


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any) -> None:
    _finished()
