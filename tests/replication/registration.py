"""Register the offset timetable with Airflow's plugin registry in this process, as a plugin would.

Serializing a DAG that uses a custom timetable (``dag.test()`` on Airflow 3, the DAG processor, the scheduler)
needs it registered by a plugin (``timetables = [...]``). Once the package plugin lists it this is a no-op.
"""

from __future__ import annotations

from airflow_provider_ecsops.compat import AIRFLOW_V_3
from airflow_provider_ecsops.replication.timetable import OffsetIntervalTimetable

NAME = f"{OffsetIntervalTimetable.__module__}.{OffsetIntervalTimetable.__qualname__}"


def registered() -> dict:
    """The process's registry of plugin timetables (qualname -> class)."""
    from airflow import plugins_manager

    if AIRFLOW_V_3:
        return plugins_manager.get_timetables_plugins()  # cached: the dict is the registry
    plugins_manager.initialize_timetables_plugins()
    if plugins_manager.timetable_classes is None:
        plugins_manager.timetable_classes = {}
    return plugins_manager.timetable_classes


def register_timetable() -> None:
    registered().setdefault(NAME, OffsetIntervalTimetable)
