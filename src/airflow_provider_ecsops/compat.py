"""Airflow import paths in one place, chosen by what the running Airflow has, not by its major version.

``from airflow_provider_ecsops.compat import BaseOperator`` resolves to the first module of that name's candidate
list (newest home first) that has it on the running Airflow: ``airflow.sdk`` on 3.x, the ``airflow.models`` path
on 2.10+. Names do not move in step with majors (the exceptions, ``BaseHook`` and ``CronTriggerTimetable`` reached
``airflow.sdk`` only in 3.1; on 3.0 they live at their Airflow 2 paths), so each name is looked up where it is.
Names resolve lazily, on first use, and once: importing this module is free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> candidate modules, newest home first; the first that has the name wins. Mirrors
# apache-airflow-providers-common-compat's table, which the 2.10 constraints' common-compat (1.2.x) lacks.
_PATHS: dict[str, tuple[str, ...]] = {
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
    "conf": ("airflow.configuration",),
    "PythonOperator": ("airflow.providers.standard.operators.python", "airflow.operators.python"),
    "EmptyOperator": ("airflow.providers.standard.operators.empty", "airflow.operators.empty"),
    # The SDK one is a plain record; the core one builds a cron description (cron_descriptor) per instance.
    "CronTriggerTimetable": ("airflow.sdk", "airflow.timetables.trigger"),
}

if TYPE_CHECKING:  # what type checkers see: the Airflow 3.1+ homes (the runtime lookup is below)
    from airflow.configuration import conf
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import (
        DAG,
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        Context,
        CronTriggerTimetable,
        get_current_context,
    )
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.types import TaskInstanceKey

# Spelled out for type checkers; tests/test_compat.py ties it to _PATHS and the TYPE_CHECKING block.
__all__ = [
    "AIRFLOW_V_3",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "Context",
    "CronTriggerTimetable",
    "EmptyOperator",
    "PythonOperator",
    "TaskDeferred",
    "TaskInstanceKey",
    "XCom",
    "conf",
    "get_current_context",
]


def _airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


# Only for behaviour that differs by major (e.g. a triggerer with or without metadata DB access), never for
# where a name lives.
AIRFLOW_V_3 = _airflow_major() >= 3


def resolve(name: str) -> tuple[str, Any]:
    """The first candidate module that has ``name`` on the running Airflow, and the object found there.

    :param name: a key of the compat table.
    """
    for module in _PATHS[name]:
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError as missing:
            if missing.name is None or not (module + ".").startswith(missing.name + "."):
                raise  # the module exists but something it imports does not: a real error, not "not here"
            continue
        if hasattr(found, name):
            return module, getattr(found, name)
    from airflow import __version__

    raise ImportError(
        f"{name}: not found in any of {', '.join(_PATHS[name])} on Airflow {__version__}. "
        "Fix: install a supported Airflow (2.10 to 3.x) or add its module to compat._PATHS."
    )


def __getattr__(name: str) -> Any:
    if name not in _PATHS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = resolve(name)[1]
    globals()[name] = value  # resolve once
    return value
