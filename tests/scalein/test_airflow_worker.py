"""``airflow celery worker`` itself picks the guard up through ``[celery] celery_config_options``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scalein.helpers import FAST_SETTINGS, wait_until


def _celery_executor_import_error() -> str:
    try:
        import airflow.providers.celery.executors.celery_executor_utils  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return ""


@pytest.mark.skipif(
    bool(_celery_executor_import_error()),
    reason=f"Airflow's Celery executor does not import with this Celery: {_celery_executor_import_error()}",
)
def test_airflow_celery_worker_runs_the_guard(fake_agent, broker, tmp_path: Path):
    env = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        # Airflow 2 refuses the Celery executor on the test's SQLite DB; starting a worker does not need more.
        "_AIRFLOW__SKIP_DATABASE_EXECUTOR_COMPATIBILITY_CHECK": "1",
        **os.environ,
        **FAST_SETTINGS,
        **fake_agent.add_task(),
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": (
            "airflow_provider_ecsops.scalein.celery_config.SCALEIN_CELERY_CONFIG"
        ),
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": broker,
    }
    log_path = tmp_path / "airflow-worker.log"
    airflow = str(Path(sys.executable).with_name("airflow"))
    command = [airflow, "celery", "worker", "--queues", "ecsops-scalein-af", "--concurrency", "1"]
    with log_path.open("wb") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # `airflow celery worker` imports all of Airflow and the Celery provider before the consumer starts: over a
        # minute on Airflow 2 at load 20 (seen: 90 s ran out on 2.10.1 and 2.11.0 there). A worker that died fails
        # at once; either way the failure shows the worker's log.
        try:
            wait_until(
                lambda: (
                    worker.poll() is not None
                    or "guard on: policy pause, queues ['ecsops-scalein-af']" in log_path.read_text()
                ),
                240,
                "the guard",
            )
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
            wait_until(lambda: fake_agent.protected_tasks() == [], 30, "the idle worker's release")
        except AssertionError as failed:
            raise AssertionError(f"{failed}; worker log (end):\n{log_path.read_text()[-3000:]}") from None
        assert [e["enabled"] for e in fake_agent.state()["history"]] == [True, False]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
