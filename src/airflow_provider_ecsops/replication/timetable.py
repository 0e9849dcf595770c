"""A trigger timetable firing at ``epoch + offset + k * period``: sub-minute, offset grids cron cannot express.

Register it with a plugin (``timetables = [OffsetIntervalTimetable]``) so the scheduler and the DAG processor
can deserialize DAGs that use it; the package's ``EcsOpsPlugin`` does that.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.timetables.base import DagRunInfo, DataInterval, Timetable
from pendulum import DateTime, instance, now

from airflow_provider_ecsops.replication.schedule import plain_utc

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction


class OffsetIntervalTimetable(Timetable):
    """Runs at exact instants ``epoch + offset + k * period`` (data interval of zero length, like cron triggers).

    Without catchup it behaves like ``CronTriggerTimetable``: the next run is the latest of the slot after the
    last run, the slot at or before now, and the first slot at or after the DAG's start.

    :param epoch: timezone-aware origin of the grid.
    :param offset: shift of every slot from the grid origin.
    :param period: time between two slots.
    """

    def __init__(self, epoch: datetime, offset: timedelta, period: timedelta) -> None:
        if epoch.tzinfo is None:
            raise ValueError("epoch: must be timezone-aware")
        if period <= timedelta(0):
            raise ValueError(f"period: {period!r} must be positive")
        self.epoch = plain_utc(epoch)
        self.offset = offset
        self.period = period
        self.description = f"every {period.total_seconds():g}s at +{offset.total_seconds():g}s"

    @property
    def summary(self) -> str:
        return self.description

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OffsetIntervalTimetable):
            return NotImplemented
        return (self.epoch, self.offset, self.period) == (other.epoch, other.offset, other.period)

    def __hash__(self) -> int:
        return hash((self.epoch, self.offset, self.period))

    def serialize(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch.isoformat(),
            "offset": self.offset.total_seconds(),
            "period": self.period.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> OffsetIntervalTimetable:
        return cls(
            datetime.fromisoformat(data["epoch"]),
            timedelta(seconds=data["offset"]),
            timedelta(seconds=data["period"]),
        )

    def _align_to_next(self, when: datetime) -> datetime:
        origin = self.epoch + self.offset
        k = math.ceil((plain_utc(when) - origin) / self.period)
        return origin + self.period * k

    def _align_to_prev(self, when: datetime) -> datetime:
        origin = self.epoch + self.offset
        k = math.floor((plain_utc(when) - origin) / self.period)
        return origin + self.period * k

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        candidates: list[datetime] = []
        if last_automated_data_interval is not None:
            candidates.append(
                self._align_to_next(last_automated_data_interval.end + timedelta(microseconds=1))
            )
        if restriction.earliest is not None:
            candidates.append(self._align_to_next(restriction.earliest))
        if not restriction.catchup:
            candidates.append(self._align_to_prev(now("UTC")))
        if not candidates:
            candidates.append(self._align_to_next(self.epoch))
        next_start = max(candidates)
        if restriction.latest is not None and next_start > restriction.latest:
            return None
        return DagRunInfo.exact(instance(next_start))
