"""Airflow 2 / Airflow 3 import paths in one place.

``from airflow_provider_ecsops.compat import BaseOperator`` resolves to ``airflow.sdk`` on Airflow 3 and to the
``airflow.models`` path on Airflow 2.10+. Names resolve lazily, on first use, so importing this module is free.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (Airflow 3 module, Airflow 2 module); mirrors apache-airflow-providers-common-compat's table, which
# the 2.10 constraints' common-compat (1.2.x) does not ship yet.
_PATHS: dict[str, tuple[str, str]] = {
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "BaseOperatorLink": ("airflow.sdk", "airflow.models.baseoperatorlink"),
    "DAG": ("airflow.sdk", "airflow.models.dag"),
    "Context": ("airflow.sdk", "airflow.utils.context"),
    "get_current_context": ("airflow.sdk", "airflow.operators.python"),
    "XCom": ("airflow.sdk.execution_time.xcom", "airflow.models.xcom"),
    "TaskInstanceKey": ("airflow.sdk.types", "airflow.models.taskinstancekey"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowTaskTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "conf": ("airflow.configuration", "airflow.configuration"),
    "PythonOperator": ("airflow.providers.standard.operators.python", "airflow.operators.python"),
    "EmptyOperator": ("airflow.providers.standard.operators.empty", "airflow.operators.empty"),
    # The SDK one is a plain record; the core one builds a cron description (cron_descriptor) per instance.
    "CronTriggerTimetable": ("airflow.sdk", "airflow.timetables.trigger"),
}

__all__ = ["AIRFLOW_V_3", *_PATHS]


def _airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


AIRFLOW_V_3 = _airflow_major() >= 3


def __getattr__(name: str) -> Any:
    paths = _PATHS.get(name)
    if paths is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = paths[0] if AIRFLOW_V_3 else paths[1]
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolve once
    return value
