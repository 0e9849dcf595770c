"""Classify every expected slot of the set from the observations, and count incidence per DAG and per offset.

Classes:

* ``completed``: the task instance succeeded.
* ``lost``: the task started on a worker, then failed (or was failed by the heartbeat timeout) without leaving
  its completion record, or is still ``running`` well past its expected end; attributed to that worker.
* ``stuck``: never picked up: queued, scheduled or requeued for longer than ``stuck_after``, or failed without
  ever starting (the scheduler's ``task_queued_timeout``).
* ``failed``: failed although the body finished and left its record (not the race; shown apart).
* ``never_scheduled``: no DAG run exists for the slot.
* ``running``: in flight at report time, not yet classifiable.

Incidence = (lost + stuck) / judged slots, where judged are the slots that were scheduled (a DAG run exists)
and have settled (not ``running``). With no judged slot the incidence is ``None`` ("n/a"), never 0: an empty
observation is not a clean one. :func:`check_observed` turns "no run of the set on its slots" into an error
naming the likely cause, for the callers that must not print a report about nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from airflow_provider_ecsops.replication.observations import Observation
from airflow_provider_ecsops.replication.schedule import RaceDag, RaceSchedule

CLASSES = ("completed", "lost", "stuck", "failed", "never_scheduled", "running")
INCIDENT_CLASSES = ("lost", "stuck")
WAITING_STATES = {
    None,
    "none",
    "scheduled",
    "queued",
    "up_for_retry",
    "up_for_reschedule",
    "restarting",
    "deferred",
}
FAILED_STATES = {"failed", "upstream_failed"}


@dataclass(frozen=True)
class SlotResult:
    """The verdict on one expected slot.

    :param dag: the set's DAG.
    :param slot: scheduled time (UTC).
    :param cls: one of :data:`CLASSES`.
    :param reason: why, in words.
    :param observation: what the metadata showed (``None`` when never scheduled).
    :param worker: host the run is attributed to.
    :param ecs_task_arn: ECS task of that host, from this or another record of the same host.
    :param expected_seconds: how long the run should take.
    """

    dag: RaceDag
    slot: datetime
    cls: str
    reason: str
    observation: Observation | None
    worker: str | None
    ecs_task_arn: str | None
    expected_seconds: float


@dataclass
class Tally:
    """Counts of classes for one group (a DAG, an offset, or the whole set)."""

    counts: Counter = field(default_factory=Counter)

    def add(self, cls: str) -> None:
        self.counts[cls] += 1

    @property
    def expected(self) -> int:
        return sum(self.counts.values())

    @property
    def judged(self) -> int:
        """Slots that were scheduled and have settled: the incidence's denominator."""
        return self.expected - self.counts["running"] - self.counts["never_scheduled"]

    @property
    def incidents(self) -> int:
        return sum(self.counts[c] for c in INCIDENT_CLASSES)

    @property
    def incidence(self) -> float | None:
        """(lost + stuck) / judged, ``None`` when nothing was judged."""
        return self.incidents / self.judged if self.judged else None

    def as_dict(self) -> dict:
        incidence = self.incidence
        return {
            "expected": self.expected,
            **{c: self.counts[c] for c in CLASSES},
            "judged": self.judged,
            "incidence": None if incidence is None else round(incidence, 4),
        }


class NoMatchingRun(LookupError):
    """No run of the set lies on an expected slot of the window: a report would read as all clear."""


def duration(value: timedelta) -> str:
    """``value`` rounded for people: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    seconds = value.total_seconds()
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _verdict(obs: Observation | None, expected_end: datetime, now: datetime, stuck_after: timedelta):
    if obs is None:
        return "never_scheduled", "no DAG run for this slot"
    state = obs.state
    if state == "success":
        return "completed", "task succeeded"
    if state in FAILED_STATES:
        if obs.record is not None:
            return "failed", "failed after its body finished (completion record present)"
        if obs.start is None:
            return "stuck", "failed without ever starting (queued timeout)"
        return "lost", f"{state} on {obs.hostname or 'an unknown worker'} without a completion record"
    if state == "running":
        if now - expected_end > stuck_after:
            overrun = duration(now - expected_end)
            return "lost", f"still running {overrun} past its expected end, no completion record"
        return "running", "running"
    if state in WAITING_STATES or obs.run_state == "queued":
        waiting_since = obs.queued_at or obs.slot
        if now - waiting_since > stuck_after:
            requeued = " (requeued)" if (obs.try_number or 0) > 1 else ""
            return "stuck", f"{state or 'no task instance'}{requeued} for {duration(now - waiting_since)}"
        return "running", f"{state or 'waiting'} since {waiting_since.isoformat(timespec='seconds')}"
    return "failed", f"ended in state {state}"


def classify(
    race_schedule: RaceSchedule,
    observations: Iterable[Observation],
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    stuck_after: timedelta | None = None,
) -> list[SlotResult]:
    """Verdicts on every slot of the set in ``[since, until]``.

    :param race_schedule: the set's timing (gives the expected slots).
    :param observations: runs read from a source.
    :param since: first slot considered (default: the earliest observed run of the set).
    :param until: last slot considered (default: ``now - stuck_after``, so that slots still due are left out).
    :param now: the report's "now" (default: current time).
    :param stuck_after: how long waiting or overrunning counts as stuck or lost (default: one period).
    """
    now = now or datetime.now(UTC)
    stuck_after = stuck_after if stuck_after is not None else race_schedule.period
    by_slot = {(o.dag_id, _key(o.slot)): o for o in observations}
    if since is None:
        ours = [o.slot for o in by_slot.values() if o.dag_id in {d.dag_id for d in race_schedule.dags}]
        if not ours:
            raise NoMatchingRun(no_run_of_the_set(race_schedule, ()))
        since = min(ours)
    until = until or now - stuck_after
    arn_by_host = {
        o.record["hostname"]: o.record["ecs_task_arn"]
        for o in by_slot.values()
        if o.record and o.record.get("ecs_task_arn")
    }
    results = []
    for dag in race_schedule.dags:
        for slot in race_schedule.slots(dag, since, until):
            obs = by_slot.get((dag.dag_id, _key(slot)))
            expected = race_schedule.tick * race_schedule.ticks_at(slot)
            expected_end = ((obs.start if obs else None) or slot) + expected
            cls, reason = _verdict(obs, expected_end, now, stuck_after)
            record = (obs.record if obs else None) or {}
            worker = (obs.hostname if obs else None) or record.get("hostname")
            arn = record.get("ecs_task_arn") or arn_by_host.get(worker)
            results.append(
                SlotResult(
                    dag=dag,
                    slot=slot,
                    cls=cls,
                    reason=reason,
                    observation=obs,
                    worker=worker,
                    ecs_task_arn=arn,
                    expected_seconds=expected.total_seconds(),
                )
            )
    return results


def _key(when: datetime) -> str:
    # Sources differ in sub-millisecond precision and timezone spelling; slots are whole milliseconds.
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def tallies(results: Iterable[SlotResult]) -> dict[str, dict[str, Tally]]:
    """Tallies by DAG, by offset (``A`` for wave A, else ``+<n>m``) and for the whole set (``all``)."""
    groups: dict[str, dict[str, Tally]] = {"dag": {}, "offset": {}, "all": {"all": Tally()}}
    for r in results:
        offset = "A" if r.dag.offset is None else f"+{r.dag.offset}m"
        for group, key in (("dag", r.dag.dag_id), ("offset", offset), ("all", "all")):
            groups[group].setdefault(key, Tally()).add(r.cls)
    return groups


def check_observed(
    race_schedule: RaceSchedule,
    observations: Iterable[Observation],
    results: Iterable[SlotResult],
    since: datetime,
    until: datetime,
    known_dag_ids: Iterable[str] = (),
) -> None:
    """Raise :class:`NoMatchingRun`, naming the likely cause, when no result rests on an observed run.

    :param race_schedule: the set as the report was told it is.
    :param observations: what the source returned for the set's DAGs.
    :param results: :func:`classify`'s verdicts.
    :param since: start of the window judged.
    :param until: end of the window judged.
    :param known_dag_ids: dag_ids that have runs in the source (suggests the right prefix), if known.
    """
    results = list(results)
    if any(r.observation is not None for r in results):
        return
    ours = sorted(
        (o for o in observations if o.dag_id in {d.dag_id for d in race_schedule.dags}), key=lambda o: o.slot
    )
    if not ours:
        raise NoMatchingRun(no_run_of_the_set(race_schedule, known_dag_ids))
    inside = [o for o in ours if since <= o.slot <= until]
    if not inside:
        raise NoMatchingRun(
            f"since/until: none of the set's {len(ours)} runs ({_at(ours[0].slot)} .. {_at(ours[-1].slot)}) "
            f"lies in the window {_at(since)} .. {_at(until)}. Fix: widen --since/--until to cover them"
        )
    sample = inside[0]
    slots = [r.slot for r in results if r.dag.dag_id == sample.dag_id]
    expected = (
        f"its slots in the window are {', '.join(_at(s) for s in slots[:3])}"
        if slots
        else f"the set as given has no slot of it in the window (period {duration(race_schedule.period)})"
    )
    raise NoMatchingRun(
        f"time-scale: {len(inside)} runs of the set lie in the window but none on an expected slot "
        f"({sample.dag_id} ran for {_at(sample.slot)}, {expected}): the set parameters differ from the DAG "
        "file's, or the runs were triggered by hand. Fix: give the DAG file's --time-scale, --period-minutes, "
        "--offsets and --start-date"
    )


def no_run_of_the_set(race_schedule: RaceSchedule, known_dag_ids: Iterable[str]) -> str:
    """The error for a source without any run of the set, with the prefixes it does have runs of."""
    names = f"{race_schedule.dags[0].dag_id} .. {race_schedule.dags[-1].dag_id}"
    prefixes = sorted({m.group(1) for d in known_dag_ids if (m := re.fullmatch(r"(.+)_a[1-9]", d))})
    hint = f"; the source has runs of prefix {', '.join(prefixes)}" if prefixes else ""
    return (
        f"prefix: no run of {names} in the source{hint}. Fix: give the --prefix (and --offsets) the DAG file "
        "uses, and check the source is the right installation"
    )


def _at(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")
