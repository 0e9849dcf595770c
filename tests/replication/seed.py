"""Write one period of the set into the configured Airflow metadata DB through Airflow itself.

Every run is a real ``dag.test()`` run of a time-scaled DAG (real DagRun, TaskInstance and XCom rows); the
failure shapes are then given to chosen task instances through the ORM, the way the scheduler leaves them:

* ``b2`` lost: failed by the heartbeat timeout after starting on its worker, its completion record never written;
* ``b3`` stuck: queued half an hour ago and never picked up;
* ``a2`` stuck: failed by ``task_queued_timeout`` without ever starting;
* ``a3`` running: started a second ago;
* ``a4`` failed after its body finished (record present);
* ``b5`` never scheduled: no run at all.

Run in-process (:func:`seed`) or as ``python -m tests.replication.seed`` (prints the plan as JSON) against
whatever ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` points at.
"""

from __future__ import annotations

import json
import math
import os
import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum

from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.evidence import worker_hostname
from airflow_provider_ecsops.replication.schedule import RaceSchedule
from airflow_provider_ecsops.testing.dag_runs import run_dag

PREFIX = "ecsops_seed"
TIME_SCALE = 1 / 60  # a minute lasts 1 s, a period 10 s, a tick 1/6 s
EXAMPLE = Path(__file__).parents[2] / "example_dags" / "scaledown_race.py"
EXPECTED = {
    f"{PREFIX}_a1": "completed",
    f"{PREFIX}_a2": "stuck",
    f"{PREFIX}_a3": "running",
    f"{PREFIX}_a4": "failed",
    f"{PREFIX}_b2": "lost",
    f"{PREFIX}_b3": "stuck",
    f"{PREFIX}_b4": "completed",
    f"{PREFIX}_b5": "never_scheduled",
}


def seed_schedule(start_date: datetime) -> RaceSchedule:
    return RaceSchedule(prefix=PREFIX, time_scale=TIME_SCALE, start_date=start_date)


def example_dags(start_date: datetime) -> dict:
    """The example DAG file's set, time-scaled under :data:`PREFIX`, as Airflow's DAG bag will parse it.

    The env vars stay set: on Airflow 3 ``dag.test()`` re-parses the DAG folder and must find the same DAGs.
    """
    os.environ.update(
        ECSOPS_RACE_PREFIX=PREFIX,
        ECSOPS_RACE_TIME_SCALE=str(TIME_SCALE),
        ECSOPS_RACE_START_DATE=start_date.isoformat(),
    )
    namespace = runpy.run_path(str(EXAMPLE))
    return {k: v for k, v in namespace.items() if k.startswith(PREFIX)}


def _reshape(dag_id: str, run_id: str, **changes) -> None:
    """Give the run's task instance the state the scheduler would leave; optionally drop its record."""
    from airflow import settings
    from airflow.models.dagrun import DagRun

    keep_record = changes.pop("keep_record", False)
    run_state = changes.pop("run_state", None)
    session = settings.Session()
    try:
        dag_run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one()
        ti = dag_run.get_task_instance(TASK_ID, session=session)
        for name, value in changes.items():
            setattr(ti, name, value)
        if run_state:
            dag_run.state = run_state
        if not keep_record:
            from airflow.models import xcom

            # The ORM model is XComModel where the SDK's XCom took the name (3.0+), XCom before.
            (xcom.XComModel if hasattr(xcom, "XComModel") else xcom.XCom).clear(
                dag_id=dag_id, task_id=TASK_ID, run_id=run_id, session=session
            )
        session.commit()
    finally:
        session.close()


def anchor(latest: datetime) -> tuple[RaceSchedule, datetime]:
    """The seed's schedule and the start of its seeded period: the last whole period before ``latest``.

    Airflow creates no task instance for a logical date before the task's start_date, so the schedule starts
    at the top of the hour of ``latest`` minus a period: the seeded period then never starts at the epoch,
    where every time scale has a slot (a wrong ``--time-scale`` would meet one seeded run there).
    """
    period = seed_schedule(latest).period
    race_schedule = seed_schedule(pendulum.instance(latest - period).start_of("hour"))
    k = math.floor((latest - race_schedule.epoch) / period)
    return race_schedule, race_schedule.epoch + period * k


def seed() -> dict:
    """Seed one period whose slots all lie at least a minute in the past; return the plan (JSON-ready)."""
    race_schedule, base = anchor(datetime.now(UTC) - timedelta(seconds=60))
    start_date = race_schedule.start_date
    dags = example_dags(start_date)
    run_ids = {}
    for spec in race_schedule.dags:
        if EXPECTED[spec.dag_id] == "never_scheduled":
            continue
        slot = pendulum.instance(base + race_schedule.minute * spec.start_minute)
        run_ids[spec.dag_id] = run_dag(dags[spec.dag_id], logical_date=slot).run_id
    now = datetime.now(UTC)
    never = {"start_date": None, "end_date": None, "hostname": "", "pid": None}
    _reshape(f"{PREFIX}_a2", run_ids[f"{PREFIX}_a2"], state="failed", **never)
    _reshape(
        f"{PREFIX}_a3",
        run_ids[f"{PREFIX}_a3"],
        state="running",
        run_state="running",
        start_date=now - timedelta(seconds=1),
        end_date=None,
    )
    _reshape(f"{PREFIX}_a4", run_ids[f"{PREFIX}_a4"], state="failed", keep_record=True)
    # Airflow 2's dag.test() leaves start_date empty; a worker that started the task would have set it.
    _reshape(
        f"{PREFIX}_b2",
        run_ids[f"{PREFIX}_b2"],
        state="failed",
        start_date=now - timedelta(seconds=3),
        end_date=now - timedelta(seconds=2),
        hostname=worker_hostname(),
        pid=os.getpid(),
    )
    _reshape(
        f"{PREFIX}_b3",
        run_ids[f"{PREFIX}_b3"],
        state="queued",
        run_state="running",
        queued_dttm=now - timedelta(minutes=30),
        **never,
    )
    return {
        "start_date": start_date.isoformat(),
        "since": base.isoformat(),
        "until": (base + race_schedule.period - timedelta(microseconds=1)).isoformat(),
        "now": now.isoformat(),
        "expected": EXPECTED,
        "run_ids": run_ids,
    }


if __name__ == "__main__":
    print("SEED-PLAN " + json.dumps(seed()))
