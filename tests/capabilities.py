"""What the installed Airflow and botocore can do, for tests that need a feature some supported lines lack.

Each flag tests the capability itself, never a version number: features do not move in step with majors (the
provider CLI hook arrived in Airflow 3.1, not 3.0; InvokeRestApi in botocore 1.35.74, pinned from MWAA 2.11.0 on).
"""

from __future__ import annotations

import importlib.util

import botocore.session
from airflow import plugins_manager
from airflow.providers_manager import ProvidersManager


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


# Airflow's REST API v2, served by the FastAPI API server (Airflow 3); Airflow 2's webserver serves v1.
AIRFLOW_HAS_API_V2 = _has_module("airflow.api_fastapi")

# Tasks run by the Task SDK's task runner (Airflow 3), which turns every task error, AirflowTaskTimeout
# included, into a task state; Airflow 2's dag.test() lets a BaseException such as AirflowTaskTimeout through.
AIRFLOW_HAS_TASK_SDK = _has_module("airflow.sdk.execution_time.task_runner")

# Plugin timetables listed by get_timetables_plugins() (3.1+); before, initialize_timetables_plugins() fills
# plugins_manager.timetable_classes.
AIRFLOW_LISTS_TIMETABLE_PLUGINS = hasattr(plugins_manager, "get_timetables_plugins")

BOTOCORE_HAS_INVOKE_REST_API = (
    "InvokeRestApi" in botocore.session.get_session().get_service_model("mwaa").operation_names
)

# Provider CLI commands (the ``cli`` key of the provider info, ``airflow ecsops ...``): Airflow 3.1+.
AIRFLOW_HAS_PROVIDER_CLI = hasattr(ProvidersManager, "cli_command_functions")
