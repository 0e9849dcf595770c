"""Airflow plugin (entry point ``airflow.plugins``): registers the package's listeners, inert unless enabled."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class EcsOpsPlugin(AirflowPlugin):
    name = "ecsops"
