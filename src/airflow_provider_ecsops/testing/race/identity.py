"""Per-worker identity for processes that share one machine.

Airflow records a task's host with ``[core] hostname_callable``; every local worker would report the same
FQDN, so the harness points that option here and gives each worker its own name in ``ECSOPS_RACE_HOSTNAME``.
"""

from __future__ import annotations

import os
import socket

HOSTNAME_ENV = "ECSOPS_RACE_HOSTNAME"


def worker_hostname() -> str:
    """The worker's name from ``ECSOPS_RACE_HOSTNAME``; the machine's FQDN for every other process."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()
