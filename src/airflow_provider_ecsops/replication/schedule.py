"""The scale-down race set's schedule, as pure data: which DAG starts when and ticks how long.

Derivation (field report ``mwaa-autoscaling-race.txt``, defaults in brackets):

* Wave A: four DAGs start at minute 0 of every period [10 min], i.e. ``*/10``.
* Each run ticks ``duration_rule(minute_of_hour)`` times, ``tick_seconds`` [10 s] apart; the field report's
  rule is ``len(range(1, 13 - minute // 10))``: 12 ticks (120 s) at minute 0 down to 7 ticks (70 s) at 50.
* Wave A's longest run, rounded up to whole minutes, is ``ceil(max ticks * tick / 60)`` [2 min].
* Wave B: one DAG per offset [2, 3, 4, 5]; it starts ``longest + offset`` minutes into each period
  [4, 5, 6, 7 => ``4-59/10`` ... ``7-59/10``], i.e. 2-3, 3-4, 4-5, 5-6 minutes after wave A has finished.

Time scale: ``time_scale`` multiplies every duration. At ``0.1`` a minute lasts 6 s, a period 60 s and a
tick 1 s; the "minute of the hour" is then counted on that scaled clock, whose hours start at ``start_date``'s
hour in its timezone. Cron cannot express sub-minute slots, so scaled (or non-60-dividing) periods use
:class:`~airflow_provider_ecsops.replication.timetable.OffsetIntervalTimetable`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pendulum

WAVE_A_SIZE = 4
MIN_TIME_SCALE = 1 / 60  # a scaled minute shorter than 1 s is below the scheduler's loop granularity
FIELD_REPORT_START = pendulum.datetime(2021, 2, 25, tz="Europe/London")


def plain_utc(when: datetime) -> datetime:
    """``when`` as a stdlib UTC datetime: pendulum differences (Intervals) cannot be divided by timedeltas."""
    when = when.astimezone(UTC)
    return datetime.combine(when.date(), when.time(), UTC)


def field_report_ticks(minute: int) -> int:
    """Ticks of one run started at ``minute`` of the hour: the field report's ``range(1, 13 - minute // 10)``.

    :param minute: minute of the hour (0-59) the run was scheduled for.
    """
    return len(range(1, 13 - minute // 10))


@dataclass(frozen=True)
class RaceDag:
    """One DAG of the set.

    :param dag_id: the DAG's id.
    :param wave: ``"A"`` (every period) or ``"B"`` (after wave A has finished).
    :param offset: minutes after wave A's longest run (``None`` for wave A).
    :param start_minute: minute of each period at which it starts.
    """

    dag_id: str
    wave: str
    offset: int | None
    start_minute: int


@dataclass(frozen=True)
class RaceSchedule:
    """The set's timing, shared by the DAG factory and the race report.

    :param prefix: dag_id prefix; DAGs are ``<prefix>_a1``..``_a4`` and ``<prefix>_b<offset>``.
    :param period_minutes: minutes between two starts of the same DAG.
    :param offsets: wave B offsets, in minutes after wave A's longest run.
    :param tick_seconds: seconds between two log lines of a run.
    :param duration_rule: ticks of a run as a function of its (scaled) minute of the hour.
    :param time_scale: factor applied to every duration (``0.1``: a minute lasts 6 s).
    :param start_date: timezone-aware (pendulum) start; its hour, in its timezone, anchors the scaled clock.
    """

    prefix: str = "scaledown_race"
    period_minutes: int = 10
    offsets: Sequence[int] = (2, 3, 4, 5)
    tick_seconds: float = 10
    duration_rule: Callable[[int], int] = field_report_ticks
    time_scale: float = 1.0
    start_date: datetime = FIELD_REPORT_START
    dags: tuple[RaceDag, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "offsets", tuple(self.offsets))
        longest = self.wave_a_longest_minutes
        dags = [RaceDag(f"{self.prefix}_a{i}", "A", None, 0) for i in range(1, WAVE_A_SIZE + 1)]
        for offset in self.offsets:
            start = longest + offset
            if start >= self.period_minutes:
                raise ValueError(
                    f"offsets: wave B offset {offset} starts at minute {start} (wave A's longest run is "
                    f"{longest} min), not inside the {self.period_minutes}-minute period. Fix: use "
                    f"smaller offsets or a larger period_minutes"
                )
            dags.append(RaceDag(f"{self.prefix}_b{offset}", "B", offset, start))
        object.__setattr__(self, "dags", tuple(dags))

    def _validate(self) -> None:
        if not self.prefix or not self.prefix.replace("_", "").replace("-", "").isalnum():
            raise ValueError(
                f"prefix: {self.prefix!r} is not a dag_id prefix. Fix: use letters, digits, _ and -"
            )
        if not isinstance(self.period_minutes, int) or not 1 <= self.period_minutes <= 60:
            raise ValueError(
                f"period_minutes: {self.period_minutes!r} is out of range. Fix: give an int from 1 to 60"
            )
        if not self.offsets or len(set(self.offsets)) != len(self.offsets):
            raise ValueError(f"offsets: {self.offsets!r} is empty or repeats. Fix: give distinct minutes")
        if any(not isinstance(o, int) or o < 0 for o in self.offsets):
            raise ValueError(
                f"offsets: {self.offsets!r} has a negative or fractional minute. Fix: give whole minutes >= 0"
            )
        if not self.tick_seconds > 0:
            raise ValueError(f"tick_seconds: {self.tick_seconds!r} is not positive. Fix: give seconds > 0")
        if not MIN_TIME_SCALE <= self.time_scale <= 1:
            raise ValueError(
                f"time_scale: {self.time_scale!r} is out of range. Fix: give 1/60 (a minute lasts 1 s) to 1 (real time)"
            )
        if not isinstance(self.start_date, datetime) or self.start_date.tzinfo is None:
            raise ValueError(
                "start_date: is naive. Fix: give a timezone-aware date, e.g. pendulum.datetime(2021, 2, 25, tz='UTC')"
            )
        for minute in range(60):
            ticks = self.duration_rule(minute)
            if not isinstance(ticks, int) or ticks < 0:
                raise ValueError(
                    f"duration_rule: returned {ticks!r} for minute {minute}. Fix: return whole ticks >= 0"
                )

    @property
    def wave_a_minutes(self) -> list[int]:
        """Minutes of the hour at which wave A starts."""
        return list(range(0, 60, self.period_minutes))

    @property
    def wave_a_longest_minutes(self) -> int:
        """Wave A's longest run in whole minutes (rounded up); wave B's offsets count from there."""
        longest = max(self.duration_rule(m) for m in self.wave_a_minutes) * self.tick_seconds
        return math.ceil(longest / 60)

    @property
    def minute(self) -> timedelta:
        """Length of one (scaled) minute."""
        return timedelta(seconds=60 * self.time_scale)

    @property
    def tick(self) -> timedelta:
        """Length of one (scaled) tick."""
        return timedelta(seconds=self.tick_seconds * self.time_scale)

    @property
    def period(self) -> timedelta:
        return self.minute * self.period_minutes

    @property
    def uses_cron(self) -> bool:
        """Whether cron can express the schedule: real time and a period that divides the hour."""
        return self.time_scale == 1 and 60 % self.period_minutes == 0

    def cron(self, dag: RaceDag) -> str:
        """Cron expression of ``dag`` (only when :attr:`uses_cron`)."""
        if not self.uses_cron:
            raise ValueError("cron: the schedule is time-scaled or its period does not divide the hour")
        if dag.start_minute == 0:
            return f"*/{self.period_minutes} * * * *"
        return f"{dag.start_minute}-59/{self.period_minutes} * * * *"

    @property
    def epoch(self) -> datetime:
        """Hour at or before ``start_date`` (in its timezone), in UTC, from which scaled minutes are counted.

        Arithmetic happens in UTC: aware datetimes sharing a tzinfo subtract as wall clocks across DST.
        """
        return plain_utc(self.start_date.replace(minute=0, second=0, microsecond=0))

    def minute_of_hour(self, when: datetime) -> int:
        """Scaled minute of the hour of ``when`` (equal to ``when.minute`` at time_scale 1)."""
        elapsed = plain_utc(when) - self.epoch
        return int(elapsed // self.minute) % 60

    def ticks_at(self, when: datetime) -> int:
        """Number of ticks of a run scheduled at ``when``."""
        return self.duration_rule(self.minute_of_hour(when))

    def first_slot(self, dag: RaceDag) -> datetime:
        """The grid origin of ``dag``: ``epoch + start_minute`` (scaled minutes)."""
        return self.epoch + self.minute * dag.start_minute

    def slots(self, dag: RaceDag, since: datetime, until: datetime) -> Iterator[datetime]:
        """Scheduled start times of ``dag`` in ``[since, until]``.

        Both cron and the offset timetable fire at ``epoch + start_minute + k * period`` (scaled minutes).
        """
        first = self.first_slot(dag)
        since = max(plain_utc(since), plain_utc(self.start_date))
        until = plain_utc(until)
        k = max(0, math.ceil((since - first) / self.period))
        slot = first + self.period * k
        while slot <= until:
            yield slot
            slot += self.period

    def table(self) -> list[dict]:
        """The derivation as rows: dag_id, wave, offset, start minute, schedule, duration at that minute."""
        rows = []
        for dag in self.dags:
            ticks = self.duration_rule(dag.start_minute)
            schedule = (
                self.cron(dag)
                if self.uses_cron
                else f"every {self.period.total_seconds():g}s from +{(self.minute * dag.start_minute).total_seconds():g}s"
            )
            rows.append(
                {
                    "dag_id": dag.dag_id,
                    "wave": dag.wave,
                    "offset": dag.offset,
                    "start_minute": dag.start_minute,
                    "schedule": schedule,
                    "run_seconds_at_start": (self.tick * ticks).total_seconds(),
                }
            )
        return rows

    def find(self, dag_id: str) -> RaceDag:
        for dag in self.dags:
            if dag.dag_id == dag_id:
                return dag
        raise KeyError(dag_id)
