"""Airflow on AWS, done right: Fargate offload, heartbeat canaries, scale-in-safe Celery workers on ECS.

Public names are imported lazily so that ``import airflow_provider_ecsops`` stays cheap for DAG parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_ecsops._lazy import lazy_getattr

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each name on first use
    from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator
    from airflow_provider_ecsops.heartbeat.dag import heartbeat_dag
    from airflow_provider_ecsops.replication.dags import scaledown_race_dags

__version__ = "0.1.0"

_EXPORTS = {
    "FargateOffloadOperator": "fargate.operator",
    "heartbeat_dag": "heartbeat.dag",
    "scaledown_race_dags": "replication.dags",
}

__all__ = ["__version__", *_EXPORTS]
__getattr__ = lazy_getattr(__name__, _EXPORTS)
