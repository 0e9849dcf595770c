"""Settings of the Fargate offload operator, read from the ``[ecsops]`` section (``AIRFLOW__ECSOPS__FARGATE_*``).

The operator's ``poll_interval`` and ``log_lines_on_failure`` arguments win over these when given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_ecsops.config_options import read_options


@dataclass(frozen=True)
class FargateSettings:
    """Every ``fargate_*`` option with its default: the one definition of these options, which the provider
    info's ``[ecsops]`` section is generated from (``config_options``).

    :param poll_interval: Seconds between batched DescribeTasks calls of the shared trigger poller.
    :param log_lines_on_failure: How many of the container's last log lines a failure message carries.
    """

    poll_interval: float = field(default=6.0, metadata={"example": "15"})
    log_lines_on_failure: int = field(default=20, metadata={"example": "50"})

    @classmethod
    def from_airflow_conf(cls, **given: float | int | None) -> FargateSettings:
        """Read the ``[ecsops]`` section; ``given`` values that are not None win (the operator's arguments)."""
        return read_options(cls, "fargate_", **given)
