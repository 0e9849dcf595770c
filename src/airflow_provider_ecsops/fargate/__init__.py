"""Fargate offload: run heavy work as ECS Fargate tasks and only wait on the Airflow side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_ecsops._lazy import lazy_getattr

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each name on first use
    from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator
    from airflow_provider_ecsops.fargate.trigger import FargateTaskTrigger

_EXPORTS = {"FargateOffloadOperator": "operator", "FargateTaskTrigger": "trigger"}

__all__ = list(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
