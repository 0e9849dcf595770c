"""Fargate offload: run heavy work as ECS Fargate tasks and only wait on the Airflow side."""

from __future__ import annotations

from airflow_provider_ecsops._lazy import lazy_getattr

_EXPORTS = {"FargateOffloadOperator": "operator", "FargateTaskTrigger": "trigger"}

__all__ = list(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
