"""
Parse cost of the replication set: ``example_dags/scaledown_race.py`` through Airflow's own DagBag, against the
field report's design (eight hand-written DAG files, each a PythonOperator on a cron string) parsed the same way.

Both sides are parsed by ``DagBag`` in the same process, after one warm-up, so imports of Airflow itself are
not counted; the ratio printed is factory / baseline (target: at most 1.5, i.e. the factory costs no more than
half again the hand-copied files). Also prints whether parsing imported any AWS SDK module (it must not).

    $(scripts/venv.sh af2)/bin/python bench/replication_parse.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The field report's DAG, moved to today's imports and schedule argument; only dag_id and cron vary.
IMPORTS = {
    2: "from airflow import DAG\nfrom airflow.operators.python import PythonOperator",
    3: "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.python import PythonOperator",
}
BASELINE = """
import logging
import time as t
from datetime import datetime, timedelta

import pendulum
{imports}

local_tz = pendulum.timezone("Europe/London")
default_args = {{"owner": "airflow", "start_date": datetime(2021, 2, 25, tzinfo=local_tz), "retries": 0,
                "retry_delay": timedelta(minutes=2)}}
dag = DAG("{dag_id}", catchup=False, max_active_runs=1, default_args=default_args, schedule="{cron}",
          max_active_tasks=1)


def dummy_callable(**kwargs):
    execution = int(int(t.strftime("%M")) / 10)
    for i in range(1, 13 - execution):
        t.sleep(10)
        logging.info(f"Task is still running, time elapsed is {{i * 10}} seconds")


PythonOperator(task_id="test_task_1", python_callable=dummy_callable, dag=dag)
"""
CRONS = ["*/10 * * * *"] * 4 + [f"{m}-59/10 * * * *" for m in (4, 5, 6, 7)]


def parse_seconds(folder: str, runs: int) -> tuple[float, int]:
    from airflow.models.dagbag import DagBag

    DagBag(dag_folder=folder)  # warm-up: module caches, plugins (examples are off by env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        bag = DagBag(dag_folder=folder)
        times.append(time.perf_counter() - start)
    assert not bag.import_errors, bag.import_errors
    return statistics.median(times), len(bag.dags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ecsops-bench-replication-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

    import airflow

    imports = IMPORTS[int(airflow.__version__.split(".")[0])]
    baseline_dir = tempfile.mkdtemp(prefix="ecsops-bench-baseline-dags-")
    for i, cron in enumerate(CRONS, 1):
        source = BASELINE.format(dag_id=f"test_dag_{i}", cron=cron, imports=imports)
        Path(baseline_dir, f"test_dag_{i}.py").write_text(source)
    factory_dir = tempfile.mkdtemp(prefix="ecsops-bench-factory-dags-")
    Path(factory_dir, "scaledown_race.py").write_text(
        (ROOT / "example_dags" / "scaledown_race.py").read_text()
    )

    base_s, base_n = parse_seconds(baseline_dir, runs)
    fact_s, fact_n = parse_seconds(factory_dir, runs)
    aws = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "aiobotocore"))
    print(f"Airflow {airflow.__version__}, median of {runs} DagBag parses")
    print(f"baseline (8 hand-written files): {base_s * 1000:8.1f} ms for {base_n} DAGs")
    print(f"factory  (1 example file):       {fact_s * 1000:8.1f} ms for {fact_n} DAGs")
    print(f"ratio factory / baseline: {fact_s / base_s:.2f} (target <= 1.5)")
    print(f"AWS SDK modules imported while parsing: {aws or 'none'}")


if __name__ == "__main__":
    main()
