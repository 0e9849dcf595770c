"""The race harness's short mode end to end: real Airflow 3 scheduler, API server, DAG processor and Celery
workers on PostgreSQL and Redis, stopped by the autoscaler simulator. In the same run the unguarded fleet must
meet the race (a stop lands on a worker holding a message; SIGKILL after the stop timeout loses it) and the
guarded fleet, scaled in all the same, must lose nothing and never have a busy victim. A run that could not
show the exposure fails.

Airflow 3 only (the stack runs ``airflow api-server``); CI runs it once, on the 3.3.1 line, outside the matrix.
``ECSOPS_RACE_ARGS="--sabotage-guard"`` runs the guarded fleet without the guard: this test must fail then.
"""

from __future__ import annotations

import json
import os
import shlex
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
# Readiness 1-2.5 min (2.5 at load average 25 on 2 cores), up to 30 s to the next period, 2 min judged, 35 s
# settle: 5-8 min. Past this budget the run is stopped (SIGTERM: it tears its stacks down) and the test fails.
SHORT_BUDGET_SECONDS = 540


def test_short_race_unguarded_fleet_meets_the_race_and_guarded_fleet_loses_nothing(
    postgres_url, redis_url, capsys
):
    command = [
        sys.executable,
        "-m",
        "airflow_provider_ecsops.testing.race",
        "--mode",
        "short",
        "--out",
        str(OUT),
    ]
    extra = shlex.split(os.environ.get("ECSOPS_RACE_ARGS", ""))
    # The run writes under its lab's name: the mode's, unless ECSOPS_RACE_ARGS names another (--lab NAME).
    lab = extra[extra.index("--lab") + 1] if "--lab" in extra else "short"
    proc = subprocess.Popen(
        [*command, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=SHORT_BUDGET_SECONDS)
    except subprocess.TimeoutExpired:
        proc.terminate()  # not kill: the runner's SIGTERM handler stops every process of both stacks
        stdout, stderr = proc.communicate(timeout=60)
        pytest.fail(
            f"the short race ran past its {SHORT_BUDGET_SECONDS}s budget:\n{stdout}\n{stderr[-3000:]}"
        )
    with capsys.disabled():  # the table is the point of the run: show it even when the test passes
        print("\n" + stdout)
    assert proc.returncode == 0, stderr[-5000:]
    fleets = {r["fleet"]: r for r in json.loads((OUT / lab / "summary.json").read_text())}
    guarded, unguarded = fleets["on"], fleets["off"]
    # Four periods of eight DAGs were judged in each fleet.
    assert guarded["expected"] == unguarded["expected"] == 32
    # The exposure happened: a stop hit an unguarded worker holding a message, and SIGKILL lost it (lost: its
    # task instance failed without a completion record; stuck: its message stayed with the killed worker).
    assert unguarded["busy_at_sigterm"] >= 1, unguarded
    assert unguarded["lost"] + unguarded["stuck"] >= 1, unguarded
    # The guarded fleet was really scaled in (workers were stopped), and lost nothing.
    assert guarded["scale_ins"] >= 1 and guarded["sigterm"] >= 1, guarded
    assert (guarded["lost"], guarded["stuck"]) == (0, 0), guarded
    # Protection kept every worker holding a message out of the victims.
    assert guarded["busy_at_sigterm"] == 0, guarded
    assert guarded["completed"] >= 24, guarded
    for fleet in fleets.values():
        assert "<svg" in Path(fleet["html"]).read_text()
