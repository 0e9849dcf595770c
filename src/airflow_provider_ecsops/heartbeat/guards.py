"""Build-time checks that a heartbeat can finish inside its own schedule, with errors that name the fix."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_ecsops.heartbeat.probes import Probe

MODES = ("single", "parallel")
# One task per probe plus a verdict task costs scheduler round trips: the ECS field report saw a 4-task
# heartbeat of few-second probes take 75 s under scheduler load, the worst run on record (a loaded local
# scheduler's worst was 31.7 s, docs/heartbeat.md). The minimum is the shortest whole-minute schedule whose
# default timeout (80 %) is at least twice that worst run: 4 min (192 s >= 150 s; 3 min gives 144 s).
PARALLEL_MIN_INTERVAL = timedelta(minutes=4)
# priority -> (priority_weight, weight_rule). Normal lets a saturated cluster delay the heartbeat, which
# is the point: the canary then reports what every other DAG is living through.
PRIORITIES = {"normal": (1, "absolute"), "high": (1000, "absolute")}
DEFAULT_TIMEOUT_FRACTION = 0.8
_CRON_SAMPLES = 60


@dataclass(frozen=True)
class HeartbeatPlan:
    """What the guards derived: the schedule's shortest interval, the run timeout and the priority."""

    interval: timedelta
    timeout: timedelta
    priority_weight: int
    weight_rule: str


def schedule_interval(schedule: Any) -> timedelta:
    """
    The shortest gap between two runs of ``schedule`` (a ``timedelta`` or cron expression/preset),
    computed from the expression alone.
    """
    if isinstance(schedule, timedelta):
        interval = schedule
    elif isinstance(schedule, str) and schedule not in ("@once", "@continuous"):
        from croniter import croniter

        try:
            fires = croniter(schedule, datetime(2024, 1, 1))
        except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
            raise ValueError(
                f"heartbeat_dag: schedule={schedule!r} is not a valid cron expression: {exc}"
            ) from None
        times = [fires.get_next(datetime) for _ in range(_CRON_SAMPLES)]
        interval = min(b - a for a, b in itertools.pairwise(times))
    else:
        raise ValueError(
            f"heartbeat_dag: schedule={schedule!r} must be a timedelta or a cron expression: "
            "a heartbeat has to run on a fixed cadence for missing data to mean 'down'."
        )
    if interval <= timedelta(0):
        raise ValueError(f"heartbeat_dag: schedule={schedule!r} must have a positive interval.")
    return interval


def check_heartbeat(
    *,
    schedule: Any,
    probes: Sequence[Probe],
    mode: str,
    queues: Sequence[str],
    timeout: timedelta | None,
    priority: str,
    task_overhead: timedelta,
    dag_kwargs: Mapping[str, Any],
) -> HeartbeatPlan:
    """
    Validate a heartbeat's configuration; raise ``ValueError`` naming the parameter and the fix.

    :param task_overhead: assumed scheduling + pickup time of one task under load; each sequential task
        stage adds it to the time a run needs.
    """
    if mode not in MODES:
        raise ValueError(f"heartbeat_dag: mode={mode!r} must be one of {MODES}.")
    if priority not in PRIORITIES:
        raise ValueError(f"heartbeat_dag: priority={priority!r} must be one of {tuple(PRIORITIES)}.")
    _check_probes(probes)
    _check_queues(queues)
    _check_dag_kwargs(dag_kwargs)

    interval = schedule_interval(schedule)
    timeout = interval * DEFAULT_TIMEOUT_FRACTION if timeout is None else timeout
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        raise ValueError(f"heartbeat_dag: timeout={timeout!r} must be a positive timedelta.")
    if timeout >= interval:
        raise ValueError(
            f"heartbeat_dag: timeout={timeout} must be shorter than the schedule interval ({interval}) so a run "
            f"ends (and reports) before the next is due; e.g. timeout=timedelta(seconds={int(interval.total_seconds() * DEFAULT_TIMEOUT_FRACTION)})."
        )
    if mode == "parallel" and interval < PARALLEL_MIN_INTERVAL:
        raise ValueError(
            f"heartbeat_dag: mode='parallel' cannot complete reliably every {interval}: one task per probe plus "
            f"a verdict task costs scheduler round trips (a 4-task heartbeat took 75 s under load). "
            f"Use mode='single' or a schedule of at least {PARALLEL_MIN_INTERVAL}."
        )
    stages = 1 if mode == "single" and not queues else 2
    budget = timeout - stages * task_overhead
    for probe in probes:
        if timedelta(seconds=probe.timeout) > budget:
            raise ValueError(
                f"heartbeat_dag: probe {probe.name!r} timeout={probe.timeout:g}s does not fit: timeout {timeout} "
                f"minus {stages} task stage(s) x task_overhead {task_overhead} leaves {budget}. "
                "Lower the probe's timeout or lengthen the schedule."
            )
    weight, rule = PRIORITIES[priority]
    return HeartbeatPlan(interval=interval, timeout=timeout, priority_weight=weight, weight_rule=rule)


def _check_probes(probes: Sequence[Probe]) -> None:
    if not probes or not all(isinstance(p, Probe) for p in probes):
        raise ValueError(
            "heartbeat_dag: probes must be a non-empty list of Probe objects (e.g. TcpProbe(...))."
        )
    names = [p.name for p in probes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"heartbeat_dag: probe names {duplicates} repeat; give each probe a distinct name=.")


def _check_queues(queues: Sequence[str]) -> None:
    if isinstance(queues, str):
        raise ValueError(
            f"heartbeat_dag: queues={queues!r} must be a list of queue names, e.g. [{queues!r}]."
        )
    if any(not isinstance(q, str) or not q for q in queues) or len(set(queues)) != len(queues):
        raise ValueError(f"heartbeat_dag: queues={list(queues)!r} must be distinct, non-empty queue names.")


def _check_dag_kwargs(dag_kwargs: Mapping[str, Any]) -> None:
    if dag_kwargs.get("catchup", False):
        raise ValueError(
            "heartbeat_dag: catchup=True would replay missed heartbeats as stale green runs; leave catchup=False."
        )
    if dag_kwargs.get("max_active_runs", 1) != 1:
        raise ValueError("heartbeat_dag: max_active_runs must be 1: overlapping heartbeats hide a stuck run.")
    if "dagrun_timeout" in dag_kwargs:
        raise ValueError(
            "heartbeat_dag: pass timeout= instead of dagrun_timeout=; it sets both the run and task timeouts."
        )
