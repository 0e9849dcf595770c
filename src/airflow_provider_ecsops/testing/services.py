"""Local services the tests talk to: PostgreSQL, Redis and RabbitMQ on loopback.

A service that is down is started with the machine's own command; one that cannot be started fails the test
loudly, never skips it.
"""

from __future__ import annotations

import glob
import os
import shlex
import socket
import subprocess
import time

_START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect {pg_version} main start",
    "redis": (
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
    "rabbitmq": "rabbitmq-server -detached",
}
PORTS = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672}


def _is_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def ensure_service(name: str, wait_seconds: float = 60) -> None:
    """Make sure ``name`` listens on its loopback port, starting it if needed; raise if it cannot be had."""
    port = PORTS[name]
    if _is_up(port):
        return
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    command = _START[name].format(pg_version=versions[-1] if versions else "15")
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if _is_up(port):
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"{name} is not listening on 127.0.0.1:{port} and `{command}` did not bring it up "
        f"(exit {result.returncode}): {result.stderr.strip()[-500:]}"
    )
