"""``dag.test()`` of one time-scaled DAG of the set: it ticks for its minute and leaves its completion record."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow_provider_ecsops.compat import conf
from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.observations import observations_from_db
from airflow_provider_ecsops.testing.dag_runs import run_dag
from tests.replication.helpers import FAKE_TASK_ARN
from tests.replication.seed import PREFIX, example_dags, seed_schedule


def test_time_scaled_dag_ticks_for_its_minute_and_records_its_worker(on_ecs, capfd):
    start = pendulum.now("UTC").start_of("hour").subtract(hours=1)
    race_schedule = seed_schedule(start)  # a minute lasts 1 s, a tick 1/6 s
    spec = race_schedule.find(f"{PREFIX}_b5")
    slot = pendulum.instance(race_schedule.first_slot(spec) + race_schedule.period * 5)
    assert race_schedule.minute_of_hour(slot) == 57
    assert race_schedule.ticks_at(slot) == 7

    dag_run = run_dag(example_dags(start)[spec.dag_id], logical_date=slot)

    assert dag_run.state == "success"
    out = "".join(capfd.readouterr())
    assert "Task is still running, time elapsed is 1.16667 seconds (tick 7/7)" in out
    assert "tick 8/" not in out
    (obs,) = [
        o
        for o in observations_from_db(conf.get("database", "sql_alchemy_conn"), [spec.dag_id], TASK_ID)
        if o.run_id == dag_run.run_id
    ]
    record = obs.record
    assert record is not None, "the completion record is the run's XCom return value"
    assert record["ticks"] == 7
    assert record["slot"] == slot.isoformat()
    assert record["ecs_task_arn"] == FAKE_TASK_ARN
    assert (record["hostname"], record["pid"]) == (obs.hostname, obs.pid)
    elapsed = pendulum.parse(record["end"]) - pendulum.parse(record["start"])
    assert timedelta(seconds=7 / 6) <= elapsed < timedelta(seconds=7 / 6 + 3)


def test_ecs_task_arn_is_read_from_the_metadata_endpoint_and_absent_off_ecs(monkeypatch, ecs_metadata_url):
    import socket

    from airflow_provider_ecsops.replication.evidence import ecs_task_arn

    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_url)
    assert ecs_task_arn() == FAKE_TASK_ARN
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4")
    assert ecs_task_arn() is None
    with socket.socket() as closed:  # a port nothing listens on: the record goes without the ARN
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv(
            "ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{closed.getsockname()[1]}/v4/x"
        )
        assert ecs_task_arn() is None
