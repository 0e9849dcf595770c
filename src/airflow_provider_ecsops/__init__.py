"""Airflow on AWS, done right: Fargate offload, heartbeat canaries, scale-in-safe Celery workers on ECS.

Public names are imported lazily so that ``import airflow_provider_ecsops`` stays cheap for DAG parsing.
"""

from __future__ import annotations

from airflow_provider_ecsops._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "FargateOffloadOperator": "fargate.operator",
    "heartbeat_dag": "heartbeat.dag",
    "scaledown_race_dags": "replication.dags",
}

__all__ = ["__version__", *_EXPORTS]
__getattr__ = lazy_getattr(__name__, _EXPORTS)
