"""The scale-down race DAG set as one pure factory (no I/O, no AWS, no Airflow config reads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from airflow_provider_ecsops.replication.schedule import (
    FIELD_REPORT_START,
    RaceDag,
    RaceSchedule,
    field_report_ticks,
)

if TYPE_CHECKING:
    from airflow_provider_ecsops.compat import DAG

TASK_ID = "log_ticks"


def _timetable(race_schedule: RaceSchedule, dag: RaceDag):
    if race_schedule.uses_cron:
        from airflow_provider_ecsops.compat import CronTriggerTimetable

        # start_date is a pendulum datetime, so its tzinfo is a pendulum Timezone (typed as plain tzinfo).
        return CronTriggerTimetable(race_schedule.cron(dag), timezone=race_schedule.start_date.tzinfo)  # type: ignore[arg-type]
    from airflow_provider_ecsops.replication.timetable import OffsetIntervalTimetable

    return OffsetIntervalTimetable(
        race_schedule.epoch, race_schedule.minute * dag.start_minute, race_schedule.period
    )


def build_dags(
    race_schedule: RaceSchedule, *, queue: str | None, pool: str | None, owner: str, tags: Sequence[str]
) -> dict[str, DAG]:
    """DAGs of ``race_schedule``, by dag_id. See :func:`scaledown_race_dags` for the parameters."""
    from airflow_provider_ecsops.compat import DAG
    from airflow_provider_ecsops.replication.operator import RaceTickOperator

    task_args = {"owner": owner, "retries": 0}
    if queue:
        task_args["queue"] = queue
    if pool:
        task_args["pool"] = pool
    dags = {}
    for spec in race_schedule.dags:
        with DAG(
            dag_id=spec.dag_id,
            schedule=_timetable(race_schedule, spec),
            start_date=race_schedule.start_date,
            catchup=False,
            max_active_runs=1,
            max_active_tasks=1,
            default_args=task_args,
            tags=sorted({*tags, f"wave-{spec.wave.lower()}"}),
            description=f"scale-down race, wave {spec.wave}, starts at minute {spec.start_minute} of each period",
        ) as dag:
            RaceTickOperator(task_id=TASK_ID, race_schedule=race_schedule)
        dags[spec.dag_id] = dag
    return dags


def scaledown_race_dags(
    prefix: str = "scaledown_race",
    *,
    period_minutes: int = 10,
    offsets: Sequence[int] = (2, 3, 4, 5),
    tick_seconds: float = 10,
    duration_rule: Callable[[int], int] = field_report_ticks,
    time_scale: float = 1.0,
    queue: str | None = None,
    pool: str | None = None,
    owner: str = "airflow",
    start_date: datetime = FIELD_REPORT_START,
    tags: Sequence[str] = ("ecsops", "scaledown-race"),
) -> dict[str, DAG]:
    """The eight DAGs of the field report's scale-down race, by dag_id.

    Wave A (``<prefix>_a1``..``_a4``) starts every period; wave B (``<prefix>_b<offset>``) starts ``offset``
    minutes after wave A's longest run (see :mod:`~airflow_provider_ecsops.replication.schedule`).

    :param prefix: dag_id prefix.
    :param period_minutes: minutes between two runs of a DAG.
    :param offsets: wave B offsets in minutes after wave A's longest run.
    :param tick_seconds: seconds between two log lines.
    :param duration_rule: ticks of a run as a function of its minute of the hour.
    :param time_scale: factor on every duration; ``0.1`` turns a minute into 6 s (uses a plugin timetable).
    :param queue: Celery queue of the tasks (default queue when ``None``).
    :param pool: pool of the tasks (default pool when ``None``).
    :param owner: task owner.
    :param start_date: timezone-aware start date.
    :param tags: DAG tags; a ``wave-a``/``wave-b`` tag is added.
    """
    race_schedule = RaceSchedule(
        prefix=prefix,
        period_minutes=period_minutes,
        offsets=offsets,
        tick_seconds=tick_seconds,
        duration_rule=duration_rule,
        time_scale=time_scale,
        start_date=start_date,
    )
    return build_dags(race_schedule, queue=queue, pool=pool, owner=owner, tags=tags)
