"""Settings of the scale-in guard, read from the ``[ecsops]`` section (``AIRFLOW__ECSOPS__SCALEIN_*``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from airflow_provider_ecsops.config_options import read_options

BACKLOG_SOURCES = ("broker", "metadb", "rest_api")
UNPROTECTED_POLICIES = ("pause", "consume")
LAPSE_MARGIN_SECONDS = 60.0
"""Protection counts as lapsed this long before ECS lets it expire (a quarter of protections shorter than 4 min)."""


@dataclass(frozen=True)
class ScaleInSettings:
    """Every ``scalein_*`` option with its default: the one definition of these options, which the provider
    info's ``[ecsops]`` section is generated from (``config_options``). URLs and the token can carry
    credentials: they are ``sensitive`` (masked by ``airflow config list``).

    :param protection_minutes: ``ExpiresInMinutes`` of each protection (1-2880).
    :param renew_before_minutes: renew a busy worker's protection this long before it expires.
    :param idle_grace_seconds: how long a worker must be idle before it pauses consuming (so short gaps
        between tasks cost nothing).
    :param idle_verify_seconds: how long a paused, idle worker waits for late messages before releasing.
    :param tick_seconds: interval of the guard's checks (idleness, renewal, backlog while released).
    :param api_attempts: attempts per protection call on throttling or server errors (exponential backoff).
    :param self_retire: lower the service's desiredCount by one and exit when idle and the backlog is zero.
    :param retire_idle_seconds: how long a worker must have run no task before it self-retires. The default,
        15 minutes, is the pace of Application Auto Scaling's own target-tracking scale-in (15 one-minute
        datapoints below the target), so turning the policy's scale-in over to the workers does not make the
        fleet shrink faster (and boot again at the next burst) than the policy would have.
    :param service: ECS service name of the workers (needed for self-retire).
    :param min_workers: floor for self-retire; empty means the App Auto Scaling minimum (or 1 without a target).
    :param retire_lock_url: ``redis://`` or ``postgresql://`` URL of the retire lock; empty = the broker if
        Redis, else the metadata DB if PostgreSQL.
    :param backlog_source: ``broker``, ``metadb`` or ``rest_api``.
    :param backlog_url: broker URL, SQLAlchemy URL or Airflow API base URL; empty = the broker / metadata DB.
    :param backlog_api_token: bearer token for the ``rest_api`` source.
    :param stop_timeout_seconds: the task definition's ``stopTimeout`` (Fargate: at most 120).
    :param stop_margin_seconds: seconds before SIGKILL at which still-running tasks are given up.
    :param listener_enabled: turn on the task-level Airflow listener alternative.
    :param aws_conn_id: Airflow connection for the boto3 calls; empty = the task role (default chain).
    :param unprotected_policy: ``pause`` (consume only while protected; the default, nothing is lost) or
        ``consume`` (availability first: keep consuming unprotected, with an ERROR line a minute).
    :param status_file: JSON status file for a container health check (``scalein.status``); ``off`` = none.
    """

    protection_minutes: int = field(default=60, metadata={"example": "120"})
    renew_before_minutes: int = field(default=10, metadata={"example": "15"})
    idle_grace_seconds: float = field(default=5.0, metadata={"example": "10"})
    idle_verify_seconds: float = field(default=20.0, metadata={"example": "30"})
    tick_seconds: float = field(default=1.0, metadata={"example": "2"})
    api_attempts: int = field(default=5, metadata={"example": "8"})
    self_retire: bool = field(default=False, metadata={"example": "True"})
    retire_idle_seconds: float = field(default=900.0, metadata={"example": "300"})
    service: str = field(default="", metadata={"example": "airflow-workers"})
    min_workers: str = field(default="", metadata={"example": "2"})
    retire_lock_url: str = field(default="", metadata={"example": "redis://redis:6379/3", "sensitive": True})
    backlog_source: str = field(default="broker", metadata={"example": "metadb"})
    backlog_url: str = field(
        default="", metadata={"example": "postgresql+psycopg2://airflow@db/airflow", "sensitive": True}
    )
    backlog_api_token: str = field(default="", metadata={"example": "eyJ...", "sensitive": True})
    stop_timeout_seconds: float = field(default=120.0, metadata={"example": "120"})
    stop_margin_seconds: float = field(default=10.0, metadata={"example": "15"})
    listener_enabled: bool = field(default=False, metadata={"example": "True"})
    aws_conn_id: str = field(default="", metadata={"example": "aws_default"})
    unprotected_policy: str = field(default="pause", metadata={"example": "consume"})
    status_file: str = field(
        default="/tmp/ecsops-scalein-status.json", metadata={"example": "/run/ecsops/scalein-status.json"}
    )

    def __post_init__(self) -> None:
        if not 1 <= self.protection_minutes <= 2880:
            raise ValueError(
                f"[ecsops] scalein_protection_minutes must be 1-2880 (ECS limit), got {self.protection_minutes}"
            )
        if self.renew_before_minutes >= self.protection_minutes:
            raise ValueError(
                f"[ecsops] scalein_renew_before_minutes: {self.renew_before_minutes} is not below "
                f"scalein_protection_minutes ({self.protection_minutes}), so every tick would renew. "
                "Fix: lower it (default 10 of 60)"
            )
        if self.renew_before_minutes * 60 < self.lapse_margin_seconds + self.renewal_headroom_seconds:
            raise ValueError(
                f"[ecsops] scalein_renew_before_minutes: {self.renew_before_minutes} min leaves a renewal less "
                f"than {self.renewal_headroom_seconds:.0f} s before the protection counts as lapsed "
                f"({self.lapse_margin_seconds:.0f} s before it expires), so a busy worker would stop consuming at "
                "renewals. Fix: set scalein_protection_minutes to 2 "
                "or more and scalein_renew_before_minutes to at least 1 (or 2 once protection is 4+ minutes)"
            )
        if self.backlog_source not in BACKLOG_SOURCES:
            raise ValueError(
                f"[ecsops] scalein_backlog_source must be one of {', '.join(BACKLOG_SOURCES)}, "
                f"got {self.backlog_source!r}"
            )
        if self.unprotected_policy not in UNPROTECTED_POLICIES:
            raise ValueError(
                f"[ecsops] scalein_unprotected_policy: must be pause or consume, got {self.unprotected_policy!r}. "
                "Fix: set it to pause (the default) or consume"
            )
        if self.self_retire and not self.service:
            raise ValueError(
                "[ecsops] scalein_self_retire needs scalein_service (the workers' ECS service name)"
            )
        if not 0 <= self.retire_idle_seconds < math.inf:
            raise ValueError(
                f"[ecsops] scalein_retire_idle_seconds: {self.retire_idle_seconds} is not a duration. "
                "Fix: set it to 0 or more seconds (default 900, target tracking's scale-in pace)"
            )
        if self.stop_margin_seconds >= self.stop_timeout_seconds:
            raise ValueError(
                "[ecsops] scalein_stop_margin_seconds must be below scalein_stop_timeout_seconds"
            )

    @property
    def lapse_margin_seconds(self) -> float:
        """See :data:`LAPSE_MARGIN_SECONDS`."""
        return min(LAPSE_MARGIN_SECONDS, self.protection_minutes * 15.0)

    @property
    def renewal_headroom_seconds(self) -> float:
        """What a renewal needs before the lapse margin: the longest protection call and a tick."""
        from airflow_provider_ecsops.scalein.protection import PROTECTION_CALL_MAX_SECONDS

        return PROTECTION_CALL_MAX_SECONDS + self.tick_seconds

    @classmethod
    def from_airflow_conf(cls) -> ScaleInSettings:
        """Read the ``[ecsops]`` section, falling back to the defaults above."""
        return read_options(cls, "scalein_")
