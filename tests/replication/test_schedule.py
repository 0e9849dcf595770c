"""The set's schedule: derivation table, duration rule, time scale, and agreement with Airflow's timetables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import pytest

from airflow_provider_ecsops.replication.dags import TASK_ID, scaledown_race_dags
from airflow_provider_ecsops.replication.schedule import RaceSchedule, field_report_ticks
from airflow_provider_ecsops.replication.timetable import OffsetIntervalTimetable

# (dag_id suffix, wave, offset, start minute, cron) for the field report's defaults.
DEFAULT_TABLE = [
    ("a1", "A", None, 0, "*/10 * * * *"),
    ("a2", "A", None, 0, "*/10 * * * *"),
    ("a3", "A", None, 0, "*/10 * * * *"),
    ("a4", "A", None, 0, "*/10 * * * *"),
    ("b2", "B", 2, 4, "4-59/10 * * * *"),
    ("b3", "B", 3, 5, "5-59/10 * * * *"),
    ("b4", "B", 4, 6, "6-59/10 * * * *"),
    ("b5", "B", 5, 7, "7-59/10 * * * *"),
]


def _rows(race_schedule: RaceSchedule) -> list[tuple]:
    return [
        (r["dag_id"].rsplit("_", 1)[1], r["wave"], r["offset"], r["start_minute"], r["schedule"])
        for r in race_schedule.table()
    ]


def test_default_derivation_is_the_field_reports_schedule():
    race_schedule = RaceSchedule()
    assert race_schedule.wave_a_longest_minutes == 2  # 12 ticks of 10 s at minute 0
    assert _rows(race_schedule) == DEFAULT_TABLE


@pytest.mark.parametrize(
    ("params", "longest", "expected"),
    [
        # 6 ticks of 10 s at most => 1 minute; wave B at 1+1, 1+3 in a 15-minute period.
        (
            {"period_minutes": 15, "offsets": (1, 3), "duration_rule": lambda m: 6},
            1,
            [("b1", "B", 1, 2, "2-59/15 * * * *"), ("b3", "B", 3, 4, "4-59/15 * * * *")],
        ),
        # 5 s ticks halve the runs: 60 s => 1 minute.
        (
            {"tick_seconds": 5, "offsets": (2,)},
            1,
            [("b2", "B", 2, 3, "3-59/10 * * * *")],
        ),
        # 20-minute period; 13 ticks of 10 s = 130 s => 3 minutes.
        (
            {"period_minutes": 20, "offsets": (0, 10), "duration_rule": lambda m: 13},
            3,
            [("b0", "B", 0, 3, "3-59/20 * * * *"), ("b10", "B", 10, 13, "13-59/20 * * * *")],
        ),
    ],
)
def test_derivation_follows_period_tick_rule_and_offsets(params, longest, expected):
    race_schedule = RaceSchedule(**params)
    assert race_schedule.wave_a_longest_minutes == longest
    rows = _rows(race_schedule)
    assert rows[4:] == expected
    assert all(row[4] == f"*/{race_schedule.period_minutes} * * * *" for row in rows[:4])


@pytest.mark.parametrize(("minute", "ticks"), [(0, 12), (15, 11), (59, 7)])
def test_duration_rule_at_minutes_0_15_59(minute, ticks):
    assert field_report_ticks(minute) == ticks
    at = pendulum.datetime(2026, 3, 1, 9, minute, tz="Europe/London")
    assert RaceSchedule().ticks_at(at) == ticks
    assert RaceSchedule().tick * RaceSchedule().ticks_at(at) == timedelta(seconds=10 * ticks)


def test_time_scale_turns_minutes_into_seconds():
    start = pendulum.datetime(2026, 3, 1, 9, 30, tz="Europe/London")
    race_schedule = RaceSchedule(time_scale=0.1, start_date=start)
    assert (race_schedule.minute, race_schedule.period, race_schedule.tick) == (
        timedelta(seconds=6),
        timedelta(seconds=60),
        timedelta(seconds=1),
    )
    assert not race_schedule.uses_cron
    b2 = race_schedule.find("scaledown_race_b2")
    # The scaled clock's hours start at 09:00 London; b2 starts 4 scaled minutes (24 s) into each period.
    slots = list(race_schedule.slots(b2, start, start + timedelta(minutes=3)))
    epoch = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert slots[0] == epoch + timedelta(seconds=30 * 60 + 24)  # first slot at or after start_date
    assert [s - slots[0] for s in slots] == [timedelta(seconds=60 * i) for i in range(len(slots))]
    # Scaled minute of the hour, hence the duration: 6 s per minute, 360 s per hour.
    assert race_schedule.minute_of_hour(epoch + timedelta(seconds=6 * 15 + 3)) == 15
    assert race_schedule.ticks_at(epoch + timedelta(seconds=360 + 6 * 59)) == 7


def scheduler_view(dag):
    """The DAG as the scheduler gets it: serialized by the DAG processor, deserialized."""
    try:  # Airflow 3
        from airflow.serialization.serialized_objects import DagSerialization as Serialization
    except ImportError:  # Airflow 2
        from airflow.serialization.serialized_objects import SerializedDAG as Serialization

    return Serialization.from_dict(Serialization.to_dict(dag))


@pytest.mark.parametrize("time_scale", [1.0, 0.1])
def test_pure_slots_equal_what_airflows_scheduler_would_create(time_scale):
    """The report's expected slots are exactly the runs the scheduler's timetables create (catchup on)."""
    from airflow.timetables.base import TimeRestriction

    start = pendulum.datetime(2026, 3, 1, 9, 0, tz="Europe/London")
    race_schedule = RaceSchedule(time_scale=time_scale, start_date=start)
    dags = scaledown_race_dags(time_scale=time_scale, start_date=start)
    horizon = start + race_schedule.period * 7
    for spec in race_schedule.dags:
        timetable = scheduler_view(dags[spec.dag_id]).timetable
        restriction = TimeRestriction(earliest=start, latest=horizon, catchup=True)
        fired, last = [], None
        while (
            info := timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        ) is not None:
            fired.append(info.run_after)
            last = info.data_interval
        assert fired == list(race_schedule.slots(spec, start, horizon)), spec.dag_id
        assert len(fired) == 7 + (spec.start_minute == 0)


def test_dags_carry_the_required_settings():
    dags = scaledown_race_dags(prefix="qa", queue="race", pool="race_pool", owner="qa-team", tags=("qa",))
    assert sorted(dags) == [f"qa_{s}" for s in ("a1", "a2", "a3", "a4", "b2", "b3", "b4", "b5")]
    for dag in dags.values():
        assert (dag.max_active_runs, dag.max_active_tasks, dag.catchup) == (1, 1, False)
        assert dag.start_date.tzinfo is not None
        (task,) = dag.tasks
        assert (task.task_id, task.retries, task.queue, task.pool, task.owner) == (
            TASK_ID,
            0,
            "race",
            "race_pool",
            "qa-team",
        )
    assert set(dags["qa_a1"].tags) == {"qa", "wave-a"}
    assert set(dags["qa_b5"].tags) == {"qa", "wave-b"}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"offsets": (2, 9)}, "offsets"),
        ({"offsets": (2, 2)}, "offsets"),
        ({"period_minutes": 7.5}, "period_minutes"),
        ({"time_scale": 0}, "time_scale"),
        ({"tick_seconds": 0}, "tick_seconds"),
        ({"start_date": datetime(2026, 1, 1)}, "start_date"),
        ({"duration_rule": lambda m: -1}, "duration_rule"),
        ({"prefix": "bad prefix!"}, "prefix"),
    ],
)
def test_bad_parameters_fail_at_construction_naming_the_parameter(params, names):
    with pytest.raises(ValueError, match=rf"^{names}:"):
        scaledown_race_dags(**params)


def test_offset_timetable_round_trips_and_skips_to_now_without_catchup():
    from airflow.timetables.base import TimeRestriction

    epoch = pendulum.datetime(2026, 1, 1, tz="UTC")
    timetable = OffsetIntervalTimetable(epoch, timedelta(seconds=24), timedelta(seconds=60))
    assert OffsetIntervalTimetable.deserialize(timetable.serialize()) == timetable
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=epoch, latest=None, catchup=False),
    )
    now = datetime.now(UTC)
    # Like CronTriggerTimetable: the slot at or before now, never a stale one from the start date.
    assert now - timedelta(seconds=60) < info.run_after <= now
    assert (info.run_after - epoch).total_seconds() % 60 == 24
    assert info.data_interval.start == info.data_interval.end == info.run_after


def test_scaled_dag_survives_airflow_serialization():
    """What the DAG processor stores is what the scheduler gets back: same timetable, same next slot."""
    from airflow.timetables.base import TimeRestriction

    start = pendulum.datetime(2026, 3, 1, 9, 0, tz="UTC")
    dag = scaledown_race_dags(time_scale=0.1, start_date=start)["scaledown_race_b3"]
    restored = scheduler_view(dag)
    assert restored.timetable == dag.timetable
    restriction = TimeRestriction(earliest=start, latest=None, catchup=True)
    info = restored.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info.run_after == start + timedelta(seconds=5 * 6)
