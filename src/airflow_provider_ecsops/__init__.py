"""Airflow on AWS, done right: Fargate offload, heartbeat canaries, scale-in-safe Celery workers on ECS.

Public names are imported lazily so that ``import airflow_provider_ecsops`` stays cheap for DAG parsing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "FargateOffloadOperator": "airflow_provider_ecsops.fargate.operator",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
