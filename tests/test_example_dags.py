"""The example DAG files import through Airflow's own DAG bag with their defaults, as a deployment parses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def test_every_example_dag_file_parses_with_its_defaults():
    # A fresh process without the ECSOPS_RACE_* settings other tests use: scaledown_race.py at time_scale=1 builds
    # cron timetables, the mode a real deployment runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSOPS_RACE_")}
    code = (
        "from airflow_provider_ecsops.testing.dag_runs import dag_bag\n"
        f"bag = dag_bag({str(EXAMPLES)!r})\n"
        "print('IMPORT-ERRORS', dict(bag.import_errors))\n"
        "print('DAGS', sorted(bag.dag_ids))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines() if " " in line}
    assert lines["IMPORT-ERRORS"] == "{}"
    dag_ids = eval(lines["DAGS"])
    assert {"fargate_offload", "ecsops_heartbeat", "scaledown_race_a1", "scaledown_race_b5"} <= set(dag_ids)
