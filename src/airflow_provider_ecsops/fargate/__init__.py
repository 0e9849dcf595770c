"""Fargate offload: run heavy work as ECS Fargate tasks and only wait on the Airflow side."""

from __future__ import annotations

from typing import Any

__all__ = ["FargateOffloadOperator", "FargateTaskTrigger"]


def __getattr__(name: str) -> Any:
    if name == "FargateOffloadOperator":
        from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator

        return FargateOffloadOperator
    if name == "FargateTaskTrigger":
        from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger

        return FargateTaskTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
