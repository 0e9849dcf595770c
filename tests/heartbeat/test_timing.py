"""Delay measurement from the fields each Airflow line puts in the task context."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from airflow_provider_ecsops.heartbeat.timing import task_timing

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def context(ti, dag_run, queue="default"):
    return {"ti": ti, "dag_run": dag_run, "task": SimpleNamespace(queue=queue)}


def test_airflow2_scheduled_run_uses_queued_dttm_and_interval_end():
    ti = SimpleNamespace(
        task_id="probes", start_date=T0 + timedelta(seconds=9), queued_dttm=T0 + timedelta(seconds=7)
    )
    run = SimpleNamespace(
        run_type=SimpleNamespace(value="scheduled"),
        data_interval_end=T0,
        queued_at=T0,
        logical_date=T0 - timedelta(minutes=1),
        start_date=T0 + timedelta(seconds=1),
    )
    timing = task_timing(context(ti, run, queue="gpu"))
    assert (timing.queue, timing.schedule_delay, timing.pickup_delay) == ("gpu", 9.0, 2.0)
    assert (timing.start_basis, timing.schedule_basis, timing.pickup_basis) == (
        "ti.start_date",
        "dag_run.data_interval_end",
        "ti.queued_dttm",
    )


def test_airflow2_manual_run_uses_queued_at():
    ti = SimpleNamespace(
        task_id="probes", start_date=T0 + timedelta(seconds=3), queued_dttm=T0 + timedelta(seconds=2)
    )
    run = SimpleNamespace(
        run_type="manual",
        data_interval_end=T0 + timedelta(hours=1),
        queued_at=T0,
        logical_date=T0,
        start_date=T0,
    )
    timing = task_timing(context(ti, run))
    assert (timing.schedule_delay, timing.schedule_basis) == (3.0, "dag_run.queued_at")


def test_airflow3_runtime_ti_has_no_queued_dttm():
    # The Task SDK's RuntimeTaskInstance and DagRun carry no queued_dttm / queued_at.
    ti = SimpleNamespace(task_id="queue_gpu", start_date=T0 + timedelta(seconds=5))
    run = SimpleNamespace(
        run_type="scheduled",
        run_after=T0,
        start_date=T0 + timedelta(seconds=1),
        data_interval_end=T0 - timedelta(hours=1),
        logical_date=T0,
    )
    timing = task_timing(context(ti, run))
    assert (timing.schedule_delay, timing.schedule_basis) == (5.0, "dag_run.run_after")
    assert (timing.pickup_delay, timing.pickup_basis) == (4.0, "dag_run.start_date")


def test_unset_start_date_falls_back_to_execute_clock():
    ti = SimpleNamespace(task_id="t", start_date=None, queued_dttm=None)
    now = datetime.now(UTC)
    run = SimpleNamespace(
        run_type="manual", queued_at=None, logical_date=now - timedelta(seconds=30), start_date=now
    )
    timing = task_timing(context(ti, run))
    assert timing.start_basis == "execute() clock"
    assert 30 <= timing.schedule_delay < 60
    assert timing.schedule_basis == "dag_run.logical_date"
    assert 0 <= timing.pickup_delay < 30


class TaskInstanceApi(BaseHTTPRequestHandler):
    """
    Airflow's REST API v2 as the heartbeat uses it, after its reference
    (https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html): ``POST /auth/token``
    trades a user and password for ``{"access_token": ...}``; ``GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}
    /taskInstances/{task_id}`` answers the task instance with ``queued_when`` and ``start_date`` (ISO 8601, null
    until queued / started), 401 without a valid bearer token. ``server.queued_when`` and ``server.start_date``
    are what it answers; ``server.paths`` what it saw.
    """

    def do_POST(self) -> None:
        self._answer(200, {"access_token": "jwt-from-login"})

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.headers.get("Authorization") not in ("Bearer tok-1234", "Bearer jwt-from-login"):
            return self._answer(401, {"detail": "Not authenticated"})
        self._answer(
            200,
            {
                "task_id": self.path.rsplit("/", 1)[-1],
                "queued_when": self.server.queued_when,
                "start_date": self.server.start_date,
            },
        )

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def api_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TaskInstanceApi)
    server.paths, server.queued_when = [], (T0 + timedelta(seconds=3.5)).isoformat().replace("+00:00", "Z")
    # The DB's start, a second before the context's: the Task SDK takes its start after the start call returned.
    server.start_date = (T0 + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def airflow3_context():
    ti = SimpleNamespace(
        task_id="queue_gpu",
        dag_id="hb",
        run_id="scheduled__2026-01-01T12:00:00+00:00",
        start_date=T0 + timedelta(seconds=5),
    )
    run = SimpleNamespace(run_type="scheduled", run_after=T0, start_date=T0 + timedelta(seconds=1))
    return context(ti, run)


@pytest.mark.parametrize(
    "conn",
    [
        {"conn_type": "http", "host": "http://127.0.0.1:{port}", "password": "tok-1234"},
        {"conn_type": "http", "host": "127.0.0.1", "port": "{port}", "login": "hb", "password": "pw-5678"},
    ],
    ids=["bearer token", "login traded for a JWT"],
)
def test_airflow3_pickup_delay_is_exact_from_the_rest_api_queued_time(api_server, monkeypatch, conn):
    port = api_server.server_address[1]
    conn = {k: v.format(port=port) for k, v in conn.items()}
    monkeypatch.setenv("AIRFLOW_CONN_HB_API", json.dumps(conn))
    timing = task_timing(airflow3_context(), api_conn_id="hb_api")
    assert (timing.pickup_delay, timing.pickup_basis) == (0.5, "REST API v2 queued_when (connection hb_api)")
    assert (timing.schedule_delay, timing.start_basis) == (4.0, "REST API v2 start_date")
    assert api_server.paths == [
        "/api/v2/dags/hb/dagRuns/scheduled__2026-01-01T12%3A00%3A00%2B00%3A00/taskInstances/queue_gpu"
    ]


def test_airflow3_without_a_start_date_from_the_api_the_context_start_is_used(api_server, monkeypatch):
    port = api_server.server_address[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_HB_API",
        json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}", "password": "tok-1234"}),
    )
    api_server.start_date = None
    timing = task_timing(airflow3_context(), api_conn_id="hb_api")
    assert (timing.pickup_delay, timing.schedule_delay, timing.start_basis) == (1.5, 5.0, "ti.start_date")


@pytest.mark.parametrize(
    ("conn", "queued_when", "reason"),
    [
        (
            {"conn_type": "http", "host": "http://127.0.0.1:{port}", "password": "wrong-token"},
            "x",
            "401 Unauthorized",
        ),
        (
            {"conn_type": "http", "host": "http://127.0.0.1:{port}", "password": "tok-1234"},
            None,
            "queued_when=None",
        ),
        ({"conn_type": "http", "host": "http://127.0.0.1:1", "password": "tok-1234"}, "x", "ConnectError"),
        (None, "x", "hb_api"),
    ],
    ids=["token refused", "not queued", "api down", "no such connection"],
)
def test_airflow3_pickup_delay_falls_back_to_the_bound_and_logs_why(
    api_server, monkeypatch, caplog, conn, queued_when, reason
):
    if conn:
        port = api_server.server_address[1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_HB_API", json.dumps({k: v.format(port=port) for k, v in conn.items()})
        )
    api_server.queued_when = queued_when
    with caplog.at_level(logging.WARNING, logger="airflow_provider_ecsops.heartbeat.timing"):
        timing = task_timing(airflow3_context(), api_conn_id="hb_api")
    assert (timing.pickup_delay, timing.pickup_basis) == (4.0, "dag_run.start_date")
    (warning,) = [
        r.getMessage() for r in caplog.records if r.name == "airflow_provider_ecsops.heartbeat.timing"
    ]
    assert "PickupDelay falls back to the bound from dag_run.start_date: REST API v2 queued_when" in warning
    assert reason in warning
    assert "wrong-token" not in warning


def test_without_a_connection_the_api_is_not_asked(api_server):
    timing = task_timing(airflow3_context())
    assert timing.pickup_basis == "dag_run.start_date" and api_server.paths == []
