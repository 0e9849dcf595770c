"""Kept for work in progress: use ``airflow_provider_ecsops.testing.dag_runs`` directly."""

from airflow_provider_ecsops.testing.dag_runs import register_dag, run_dag

__all__ = ["register_dag", "run_dag"]
