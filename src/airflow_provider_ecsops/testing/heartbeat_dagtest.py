"""
Run an in-memory DAG with ``dag.test()`` on Airflow 2 and Airflow 3 alike (tests and benchmarks).

Airflow 3.3's ``dag.test()`` only runs a DAG that it finds in a DAG bundle on disk: it parses the bundle to
serialize the DAG into the metadata DB before creating the run. For a DAG built inside a test, this writes a
three-line DAG file into a temporary folder that re-exports the very DAG object (the bundle is parsed in this
process), and configures ``[dag_processor] dag_bundle_config_list`` with a local bundle of that folder for the
call. Nothing is simulated: the run, its task
instances, XComs and the task code are Airflow's own, executed from the in-memory DAG as ``dag.test()`` does.
On Airflow 2 it simply calls ``dag.test()``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_ecsops.compat import AIRFLOW_V_3

_DAGS: dict[str, Any] = {}
_BUNDLES_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"


def run_dag_test(dag: Any, **test_kwargs: Any) -> Any:
    """
    ``dag.test(**test_kwargs)`` for a DAG that may exist only in memory; returns the DAG run.

    :param dag: the DAG to run.
    :param test_kwargs: passed to ``dag.test()``.
    """
    if not AIRFLOW_V_3:
        return dag.test(**test_kwargs)
    _DAGS[dag.dag_id] = dag
    saved = os.environ.get(_BUNDLES_ENV)
    with tempfile.TemporaryDirectory(prefix="ecsops-heartbeat-dags-") as folder:
        Path(folder, f"{dag.dag_id}.py").write_text(
            "# Airflow DAG file re-exporting an in-memory DAG for dag.test()\n"
            "from airflow_provider_ecsops.testing.heartbeat_dagtest import _DAGS\n"
            f"dag = _DAGS[{dag.dag_id!r}]\n"
        )
        bundle = {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": folder},
        }
        os.environ[_BUNDLES_ENV] = json.dumps([bundle])
        try:
            return dag.test(**test_kwargs)
        finally:
            if saved is None:
                os.environ.pop(_BUNDLES_ENV, None)
            else:
                os.environ[_BUNDLES_ENV] = saved
            _DAGS.pop(dag.dag_id, None)
