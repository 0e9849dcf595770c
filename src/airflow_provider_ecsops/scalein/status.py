"""The guard's status file and its health check: ``python -m airflow_provider_ecsops.scalein.status``.

The file (``scalein_status_file``) is a small JSON object rewritten atomically (write, then rename) on every
state change and at least every ten ticks: ``{"state", "protected", "consuming", "policy", "reason", "since",
"updated"}`` with epoch seconds. The check exits 0 when the file is fresh and the worker is neither paused
because protection fails nor consuming unprotected; else 1. Either way it prints one line, for an ECS
container health check (``CMD-SHELL, python -m airflow_provider_ecsops.scalein.status --max-age 60``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

DEFAULT_MAX_AGE = 60.0


def write_status(path: str, status: dict[str, Any]) -> None:
    """Replace ``path`` with ``status`` as JSON, atomically (a reader sees the old or the new file)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".ecsops-scalein-", dir=directory)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(status, out)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def health(status: dict[str, Any], now: float, max_age: float) -> tuple[bool, str]:
    """Whether ``status`` is healthy at ``now``, and the one line saying so."""
    summary = (
        f"state={status.get('state')} protected={status.get('protected')} "
        f"consuming={status.get('consuming')} policy={status.get('policy')}"
    )
    age = now - float(status.get("updated", 0))
    if age > max_age:
        return False, f"unhealthy: status is {age:.0f}s old (max {max_age:.0f}s): {summary}"
    if status.get("consuming") and not status.get("protected"):
        return False, f"unhealthy: consuming while unprotected ({status.get('reason')}): {summary}"
    if status.get("state") == "waiting" and status.get("reason"):
        return False, f"unhealthy: paused, protection fails ({status.get('reason')}): {summary}"
    return True, f"healthy: {summary}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Health of the ecsops scale-in guard, from its status file.")
    parser.add_argument(
        "--file",
        default="",
        help="status file; default: $AIRFLOW__ECSOPS__SCALEIN_STATUS_FILE or its default",
    )
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE, help="seconds; older is unhealthy")
    args = parser.parse_args(argv)
    path = args.file or _configured_path()
    try:
        with open(path) as source:
            status = json.load(source)
    except (OSError, ValueError) as exc:
        print(f"unhealthy: cannot read the status file {path}: {exc}")
        return 1
    ok, line = health(status, time.time(), args.max_age)
    print(line)
    return 0 if ok else 1


def _configured_path() -> str:
    # The environment, not airflow.cfg: a health check runs every few seconds and must not import Airflow.
    from airflow_provider_ecsops.scalein.settings import ScaleInSettings

    return os.environ.get("AIRFLOW__ECSOPS__SCALEIN_STATUS_FILE") or ScaleInSettings.status_file


if __name__ == "__main__":
    sys.exit(main())
