"""OpenLineage parent run context for the container, when apache-airflow-providers-openlineage is installed.

Invariant: a container started for a task instance gets that try's OpenLineage parent run in its environment
(``OPENLINEAGE_PARENT_ID`` = ``namespace/job/run_id``, the form OpenLineage's integrations such as dbt-ol and
Spark read, the discrete ``OPENLINEAGE_PARENT_JOB_NAMESPACE`` / ``_JOB_NAME`` / ``_RUN_ID``, and the
``OPENLINEAGE_ROOT_PARENT_ID`` of the DAG run where the provider has it), built by the provider's own macros
(``macros.OpenLineagePlugin.lineage_*``) so the ids match the events the provider emits. States: provider absent
or OpenLineage disabled -> nothing added; the macros fail -> a warning, nothing added (lineage never fails a
task).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def parent_run_environment(ti: Any) -> dict[str, str]:
    """The OpenLineage parent run variables for the container of ``ti``'s try, or {} (see the module)."""
    try:
        from airflow.providers.openlineage import conf
        from airflow.providers.openlineage.plugins import macros
    except ImportError:
        return {}
    try:
        if conf.is_disabled():
            return {}
        env = {
            "OPENLINEAGE_PARENT_ID": macros.lineage_parent_id(ti),
            "OPENLINEAGE_PARENT_JOB_NAMESPACE": macros.lineage_job_namespace(),
            "OPENLINEAGE_PARENT_JOB_NAME": macros.lineage_job_name(ti),
            "OPENLINEAGE_PARENT_RUN_ID": macros.lineage_run_id(ti),
        }
        root = getattr(macros, "lineage_root_parent_id", None)  # provider 2.x; 1.x has no root macros
        if root is not None:
            env["OPENLINEAGE_ROOT_PARENT_ID"] = root(ti)
    except Exception as exc:  # the container runs the same without lineage
        log.warning("OpenLineage parent run not passed to the container: %s", exc)
        return {}
    return {k: str(v) for k, v in env.items()}
