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
    :param events_queue_url: In the triggerer: the SQS queue an EventBridge rule fills with ECS Task State Change
        events; when set, deferred tasks wait on events and poll only at the safety-net interval (docs/fargate.md).
    :param events_safety_interval: Seconds between a deferred task's DescribeTasks calls when it waits on events.
    """

    poll_interval: float = field(default=6.0, metadata={"example": "15"})
    log_lines_on_failure: int = field(default=20, metadata={"example": "50"})
    events_queue_url: str = field(
        default="",
        metadata={
            "example": "https://sqs.eu-west-1.amazonaws.com/123456789012/ecsops-task-events",
            "version_added": "0.2.0",
        },
    )
    events_safety_interval: float = field(
        default=300.0, metadata={"example": "600", "version_added": "0.2.0"}
    )

    @classmethod
    def from_airflow_conf(cls, **given: float | int | None) -> FargateSettings:
        """Read the ``[ecsops]`` section; ``given`` values that are not None win (the operator's arguments)."""
        return read_options(cls, "fargate_", **given)
