"""The exact times a task instance was queued and started, from Airflow's REST API v2.

Airflow 3 tasks cannot see them otherwise: the Task SDK's context has no ``queued_dttm``, and its
``ti.start_date`` is the supervisor's clock *after* the execution API's start call returned (``supervisor.py``,
``_on_child_started``), while the metadata DB keeps the time sent in that call: under load the two differ by the
call's round trip (1.6 s seen on a loaded 2-core CI machine).

Invariant: a lookup never fails the heartbeat. It returns the times and the name of their source, or ``None``
and the reason (logged by the caller, who then uses the run-start bound). States: no connection configured (not
asked); answered (``queued_when`` set; ``start_date`` too once the task runs); unusable (connection missing,
refused, 401/403/404, ``queued_when`` null or unparsable).

The connection (``api_conn_id``) points at the API server: ``host`` is its URL (``http://airflow-api:8080``, or a
host name with ``schema``/``port``); ``password`` is a bearer token, or, with ``login`` set, the password traded
for a JWT at ``/auth/token`` (:meth:`airflow_provider_ecsops.airflow_api.HttpTransport.connect`). The token needs
read access to task instances of the heartbeat DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from airflow_provider_ecsops.heartbeat.masking import mask

# The lookup runs on every heartbeat task; a slow API must cost seconds, not the run's timeout.
API_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ApiTaskTimes:
    """The task instance's ``queued_when`` and ``start_date`` columns as the REST API answered them."""

    queued_when: datetime
    start_date: datetime | None


def api_task_times(api_conn_id: str, ti: Any) -> tuple[ApiTaskTimes | None, str]:
    """
    ``(times, source)`` of task instance ``ti`` from ``GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}``,
    or ``(None, reason)``.

    :param api_conn_id: Airflow connection to the API server (see the module docstring).
    :param ti: the running task instance (``dag_id``, ``run_id``, ``task_id``).
    """
    from airflow_provider_ecsops.compat import BaseHook

    source = f"REST API v2 queued_when (connection {api_conn_id})"
    secrets: list[str | None] = []
    try:
        conn = BaseHook.get_connection(api_conn_id)
        secrets = [conn.password]
        transport = _transport(conn)
        path = "/dags/{}/dagRuns/{}/taskInstances/{}".format(
            *(quote(str(part), safe="") for part in (ti.dag_id, ti.run_id, ti.task_id))
        )
        body = transport.get(path, {})
        queued_when = body.get("queued_when")
        if not queued_when:
            return None, f"{source}: the API answered queued_when={queued_when!r}"
        start_date = body.get("start_date")
        return ApiTaskTimes(
            datetime.fromisoformat(queued_when), datetime.fromisoformat(start_date) if start_date else None
        ), source
    except Exception as exc:  # any failure means "use the bound", never a failed heartbeat
        return None, mask(f"{source} failed: {type(exc).__name__}: {exc}", secrets)


def _transport(conn: Any) -> Any:
    from airflow_provider_ecsops.airflow_api import HttpTransport

    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}" + (f":{conn.port}" if conn.port else "")
    if conn.login:
        transport = HttpTransport.connect(host, username=conn.login, password=conn.password)
    else:
        transport = HttpTransport.connect(host, token=conn.password or None)
    transport.client.timeout = API_TIMEOUT_SECONDS
    return transport
