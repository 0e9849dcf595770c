"""A lull in the race set's load: every DAG of the set paused for whole periods, then resumed on its own grid.

Real fleets see lulls (nights, weekends) longer than any scale-in window; the set's 10-minute cadence alone never
leaves a worker idle that long. During a lull the fleet can shrink; the burst after it shows what that costs.

Resuming is the awkward part. Without catchup, Airflow still creates a run for the ``next_dagrun`` it computed
while the DAG was paused (a slot inside the lull) the moment the DAG is unpaused, and the DAG processor keeps
recomputing that field from "the slot at or before now". So each DAG is unpaused exactly at its first slot after
the lull, with ``next_dagrun`` (and its interval and ``next_dagrun_create_after``) set to that slot in the same
statement: the scheduler then creates the run the grid asks for, and no run for a slot inside the lull. Lull slots
stay without a run: the report counts them as never scheduled (its "other" column), not as judged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from airflow_provider_ecsops.replication.schedule import RaceSchedule

PAUSE_SQL = "UPDATE dag SET is_paused = true WHERE dag_id = ANY(%s)"
RESUME_SQL = (
    "UPDATE dag SET is_paused = false, next_dagrun = %(slot)s, next_dagrun_data_interval_start = %(slot)s, "
    "next_dagrun_data_interval_end = %(slot)s, next_dagrun_create_after = %(slot)s WHERE dag_id = %(dag_id)s"
)


@dataclass(frozen=True)
class Lull:
    """Periods ``[first, first + length)`` of the judged window without load.

    :param first: index of the first quiet period (0 = the window's first).
    :param length: number of quiet periods.
    """

    first: int
    length: int

    @classmethod
    def parse(cls, text: str) -> Lull:
        """``FIRST:LENGTH`` (the command line's form), e.g. ``12:4``."""
        try:
            first, length = (int(part) for part in text.split(":"))
        except ValueError:
            raise ValueError(f"{text!r} is not FIRST:LENGTH. Fix: give periods, e.g. 12:4") from None
        if first < 1 or length < 1:
            raise ValueError(f"{text!r} needs FIRST >= 1 and LENGTH >= 1. Fix: e.g. 12:4")
        return cls(first, length)

    def warm_window(self, period_units: float) -> tuple[float, float]:
        """``(from, to)`` in units after slot zero for a scheduled minimum that warms the fleet for the morning:
        from a period before the lull ends (a worker's boot fits) to a period after (the first wave is in)."""
        end = (self.first + self.length) * period_units
        return end - period_units, end + period_units

    def plan(self, schedule: RaceSchedule, start: datetime) -> list[tuple[datetime, str, datetime | None]]:
        """``(when, dag_id, slot)`` actions in time order: a pause (slot ``None``) of every DAG half a scaled
        minute before the lull, and a resume of each at its first slot after it."""
        quiet_from = start + schedule.period * self.first
        resume_from = start + schedule.period * (self.first + self.length)
        actions: list[tuple[datetime, str, datetime | None]] = [
            (quiet_from - schedule.minute / 2, dag.dag_id, None) for dag in schedule.dags
        ]
        for dag in schedule.dags:
            slot = next(schedule.slots(dag, resume_from, resume_from + schedule.period))
            actions.append((slot, dag.dag_id, slot))
        return sorted(actions, key=lambda a: (a[0], a[1]))

    def run(
        self, schedule: RaceSchedule, start: datetime, dsn: str, stop: threading.Event, name: str
    ) -> None:
        """Carry out :meth:`plan` against the fleet's metadata DB (``dsn``, a libpq URL), printing when the lull
        begins and ends (``name``: the fleet's tag). A failure stops the whole run (``stop``): figures of a run
        whose lull did not happen would be read as a lull's."""
        import psycopg2

        plan = self.plan(schedule, start)
        try:
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            try:
                last_pause = max(i for i, (_, _, slot) in enumerate(plan) if slot is None)
                for i, (when, dag_id, slot) in enumerate(plan):
                    if stop.wait(max(0.0, (when - datetime.now(UTC)).total_seconds())):
                        return
                    with conn.cursor() as cur:
                        if slot is None:
                            cur.execute(PAUSE_SQL, ([dag_id],))
                        else:
                            cur.execute(RESUME_SQL, {"slot": slot, "dag_id": dag_id})
                        # A DAG the DB does not have: the lull would silently not happen.
                        if cur.rowcount != 1:
                            raise RuntimeError(f"{dag_id} is not in the metadata DB's dag table")
                    if i in (last_pause, len(plan) - 1):
                        what = (
                            "paused the set" if slot is None else "resumed the set, each DAG at its next slot"
                        )
                        print(f"[{name}] lull: {what} at {when:%H:%M:%S}", flush=True)
            finally:
                conn.close()
        except Exception as exc:
            print(f"[{name}] lull failed: {exc}; stopping the run", flush=True)
            stop.set()
