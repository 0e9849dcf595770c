from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FAKE_TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/ecsops-race/0123456789abcdef0123456789abcdef"
CONTAINER_PATH = "/v4/0123456789abcdef-1234567890"
STUCK_AFTER = timedelta(minutes=10)  # the seeded "running" run stays running for the whole session


class _TaskMetadata(BaseHTTPRequestHandler):
    """The ECS agent's task metadata endpoint v4, ``GET ${ECS_CONTAINER_METADATA_URI_V4}/task`` only."""

    def do_GET(self):
        if self.path != f"{CONTAINER_PATH}/task":
            self.send_error(404)
            return
        body = json.dumps(
            {"Cluster": "ecsops-race", "TaskARN": FAKE_TASK_ARN, "Family": "airflow-worker"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def ecs_metadata_url():
    """URL of a local task metadata endpoint v4 serving :data:`FAKE_TASK_ARN`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TaskMetadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{CONTAINER_PATH}"
    server.shutdown()


@pytest.fixture
def on_ecs(monkeypatch, ecs_metadata_url):
    """This process looks like an ECS container: ``ECS_CONTAINER_METADATA_URI_V4`` points at the fake agent."""
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_url)
    return ecs_metadata_url


@pytest.fixture(scope="session")
def sqlite_plan(ecs_metadata_url):
    """One period of the set written into the test run's SQLite metadata DB by Airflow itself (``seed.py``)."""
    from airflow_provider_ecsops.compat import conf
    from tests.replication.seed import seed

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_url)
        plan = seed()
    return {**plan, "url": conf.get("database", "sql_alchemy_conn")}


def judge(plan: dict, observations):
    """Classify ``observations`` over the seeded period, at the seed's "now"."""
    import pendulum

    from airflow_provider_ecsops.replication.classify import classify
    from tests.replication.seed import seed_schedule

    return classify(
        seed_schedule(pendulum.parse(plan["start_date"])),
        observations,
        since=datetime.fromisoformat(plan["since"]),
        until=datetime.fromisoformat(plan["until"]),
        now=datetime.fromisoformat(plan["now"]),
        stuck_after=STUCK_AFTER,
    )
