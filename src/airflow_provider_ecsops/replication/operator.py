"""The set's only task: log a line every tick for as long as the duration rule says, then leave a record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_ecsops.compat import BaseOperator
from airflow_provider_ecsops.replication.evidence import completion_record

if TYPE_CHECKING:
    from airflow_provider_ecsops.compat import Context
    from airflow_provider_ecsops.replication.schedule import RaceSchedule


def scheduled_time(context: Context) -> datetime:
    """The slot a run stands for: its logical date, or ``run_after`` for an Airflow 3 run without one."""
    dag_run = context["dag_run"]
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    return logical_date or dag_run.run_after


class RaceTickOperator(BaseOperator):
    """Logs ``Task is still running`` every (scaled) tick, then returns its completion record (the XCom).

    The sleep is the workload: like the field report's DAGs, the task occupies a worker slot and does nothing
    else, so the only way it can fail is by losing its worker.

    :param race_schedule: the set's timing; gives the tick length and the ticks for the run's minute.
    """

    ui_color = "#f0d9b5"

    def __init__(self, *, race_schedule: RaceSchedule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.race_schedule = race_schedule

    def execute(self, context: Context) -> dict:
        slot = scheduled_time(context)
        expected = self.race_schedule.ticks_at(slot)
        tick = self.race_schedule.tick.total_seconds()
        start = datetime.now(UTC)
        began = time.monotonic()
        for i in range(1, expected + 1):
            # Sleep to absolute tick boundaries so a slow log call does not stretch the run.
            time.sleep(max(0.0, began + i * tick - time.monotonic()))
            self.log.info(
                "Task is still running, time elapsed is %g seconds (tick %d/%d)", i * tick, i, expected
            )
        record = completion_record(slot, start, datetime.now(UTC), expected)
        self.log.info("completion record: %s", record)
        return record
