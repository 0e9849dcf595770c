"""Settings of the scale-in guard, read from the ``[ecsops]`` section (``AIRFLOW__ECSOPS__SCALEIN_*``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

BACKLOG_SOURCES = ("broker", "metadb", "rest_api")


@dataclass(frozen=True)
class ScaleInSettings:
    """Every ``scalein_*`` option with its default; the README's scale-in section documents each one.

    :param protection_minutes: ``ExpiresInMinutes`` of each protection (1-2880).
    :param renew_before_minutes: renew a busy worker's protection this long before it expires.
    :param idle_grace_seconds: how long a worker must be idle before it pauses consuming (so short gaps
        between tasks cost nothing).
    :param idle_verify_seconds: how long a paused, idle worker waits for late messages before releasing.
    :param tick_seconds: interval of the guard's checks (idleness, renewal, backlog while released).
    :param api_attempts: attempts per protection call on throttling or server errors (exponential backoff).
    :param self_retire: lower the service's desiredCount by one and exit when idle and the backlog is zero.
    :param service: ECS service name of the workers (needed for self-retire).
    :param min_workers: floor for self-retire; empty means the App Auto Scaling minimum (or 1 without a target).
    :param retire_lock_url: ``redis://`` or ``postgresql://`` URL of the retire lock; empty = the broker if Redis.
    :param backlog_source: ``broker``, ``metadb`` or ``rest_api``.
    :param backlog_url: broker URL, SQLAlchemy URL or Airflow API base URL; empty = the broker / metadata DB.
    :param backlog_api_token: bearer token for the ``rest_api`` source.
    :param stop_timeout_seconds: the task definition's ``stopTimeout`` (Fargate: at most 120).
    :param stop_margin_seconds: seconds before SIGKILL at which still-running tasks are given up.
    :param listener_enabled: turn on the task-level Airflow listener alternative.
    :param aws_conn_id: Airflow connection for the boto3 calls; empty = the task role (default chain).
    """

    protection_minutes: int = 60
    renew_before_minutes: int = 10
    idle_grace_seconds: float = 5.0
    idle_verify_seconds: float = 20.0
    tick_seconds: float = 1.0
    api_attempts: int = 5
    self_retire: bool = False
    service: str = ""
    min_workers: str = ""
    retire_lock_url: str = ""
    backlog_source: str = "broker"
    backlog_url: str = ""
    backlog_api_token: str = ""
    stop_timeout_seconds: float = 120.0
    stop_margin_seconds: float = 10.0
    listener_enabled: bool = False
    aws_conn_id: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.protection_minutes <= 2880:
            raise ValueError(
                f"[ecsops] scalein_protection_minutes must be 1-2880 (ECS limit), got {self.protection_minutes}"
            )
        if self.renew_before_minutes >= self.protection_minutes:
            raise ValueError(
                "[ecsops] scalein_renew_before_minutes must be below scalein_protection_minutes, "
                f"got {self.renew_before_minutes} >= {self.protection_minutes}"
            )
        if self.backlog_source not in BACKLOG_SOURCES:
            raise ValueError(
                f"[ecsops] scalein_backlog_source must be one of {', '.join(BACKLOG_SOURCES)}, "
                f"got {self.backlog_source!r}"
            )
        if self.self_retire and not self.service:
            raise ValueError(
                "[ecsops] scalein_self_retire needs scalein_service (the workers' ECS service name)"
            )
        if self.stop_margin_seconds >= self.stop_timeout_seconds:
            raise ValueError(
                "[ecsops] scalein_stop_margin_seconds must be below scalein_stop_timeout_seconds"
            )

    @classmethod
    def from_airflow_conf(cls) -> ScaleInSettings:
        """Read the ``[ecsops]`` section, falling back to the defaults above."""
        from airflow_provider_ecsops.compat import conf

        values = {}
        for f in fields(cls):
            key, default = f"scalein_{f.name}", f.default
            if isinstance(default, bool):
                values[f.name] = conf.getboolean("ecsops", key, fallback=default)
            elif isinstance(default, int):
                values[f.name] = conf.getint("ecsops", key, fallback=default)
            elif isinstance(default, float):
                values[f.name] = conf.getfloat("ecsops", key, fallback=default)
            else:  # an option registered with an empty default may come back as None
                values[f.name] = conf.get("ecsops", key, fallback=default) or default
        return cls(**values)
