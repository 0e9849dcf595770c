"""Airflow plugin (entry point ``airflow.plugins``): the scaled replication timetable, and the scale-in listener
(inert unless ``[ecsops] scalein_listener_enabled``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_ecsops.replication.timetable import OffsetIntervalTimetable
from airflow_provider_ecsops.scalein import listener as scalein_listener


class EcsOpsPlugin(AirflowPlugin):
    name = "ecsops"
    # The scheduler, DAG processor and API server deserialize time-scaled replication DAGs through this.
    timetables = [OffsetIntervalTimetable]
    # Task-level scale-in protection for setups whose Celery config cannot change; inert unless enabled.
    listeners = [scalein_listener]
