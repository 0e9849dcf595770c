"""Observations of the race set through Airflow's REST API (:mod:`airflow_provider_ecsops.airflow_api`).

Completion records are fetched only for failed task instances, where they decide lost versus failed: one call
each.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from airflow_provider_ecsops.airflow_api import NotFound, Transport, pages
from airflow_provider_ecsops.replication.observations import (
    RECORD_KEY,
    Observation,
    decode_record,
    observation,
)


def observations_from_api(
    transport: Transport, dag_ids: Iterable[str], task_id: str, since: str | None = None
) -> list[Observation]:
    """Observations of ``dag_ids`` read through the REST API.

    :param transport: :class:`HttpTransport` or :class:`MwaaTransport`.
    :param dag_ids: DAGs of the set.
    :param task_id: the set's task.
    :param since: ISO time; only runs with a logical date at or after it are read.
    """
    api = transport.api
    window = {api.since_param: since}
    ti_params = {**window, "task_id": task_id} if api.filters_task_id else window
    result = []
    for dag_id in dag_ids:
        runs = list(pages(transport, f"/dags/{dag_id}/dagRuns", "dag_runs", window))
        tis = {
            ti["dag_run_id"]: ti
            for ti in pages(transport, f"/dags/{dag_id}/dagRuns/~/taskInstances", "task_instances", ti_params)
            if ti["task_id"] == task_id
        }
        for run in runs:
            ti = tis.get(run["dag_run_id"], {})
            record = None
            if ti.get("state") == "failed":
                record = _record(transport, dag_id, run["dag_run_id"], task_id)
            slot = run.get("logical_date") or run.get("execution_date") or run.get("run_after")
            result.append(observation(dag_id, run["dag_run_id"], slot, run.get("state"), ti, record))
    return result


def _record(transport: Transport, dag_id: str, run_id: str, task_id: str) -> dict | None:
    path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{RECORD_KEY}"
    try:
        return decode_record(transport.get(path, {}).get("value"))
    except NotFound:  # no XCom: exactly "no completion record"
        return None
