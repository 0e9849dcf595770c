"""The race harness's short mode end to end: real Airflow 3 scheduler, API server, DAG processor and Celery
workers on PostgreSQL and Redis, stopped by the autoscaler simulator; the guarded fleet must lose nothing.

Airflow 3 only (the stack runs ``airflow api-server``); CI runs it once, on the 3.3.1 line, outside the matrix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.capabilities import AIRFLOW_HAS_API_V2

pytestmark = pytest.mark.skipif(
    not AIRFLOW_HAS_API_V2, reason="the race stack runs Airflow 3's api-server; CI runs it on the 3.3.1 line"
)
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "race"
SHORT_BUDGET_SECONDS = 540  # the whole CI budget is 10 minutes


def test_short_race_guarded_fleet_loses_nothing(postgres_url, redis_url, capsys):
    command = [sys.executable, "-m", "airflow_provider_ecsops.testing.race", "--mode", "short"]
    done = subprocess.run(
        [*command, "--out", str(OUT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SHORT_BUDGET_SECONDS,
    )
    with capsys.disabled():  # the table is the point of the run: show it even when the test passes
        print("\n" + done.stdout)
    assert done.returncode == 0, done.stderr[-5000:]
    fleets = {r["fleet"]: r for r in json.loads((OUT / "short" / "summary.json").read_text())}
    guarded, unguarded = fleets["on"], fleets["off"]
    # Four periods of eight DAGs were judged in each fleet.
    assert guarded["expected"] == unguarded["expected"] == 32
    # The guarded fleet was really scaled in (workers were stopped), and lost nothing.
    assert guarded["scale_ins"] >= 1 and guarded["sigterm"] >= 1, guarded
    assert (guarded["lost"], guarded["stuck"]) == (0, 0), guarded
    assert guarded["completed"] >= 24, guarded
    # Protection kept every busy worker out of the victims.
    assert guarded["busy_at_sigterm"] == 0, guarded
    for fleet in fleets.values():
        assert "<svg" in Path(fleet["html"]).read_text()
