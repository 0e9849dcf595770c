"""An autoscaler simulator that behaves like MWAA's worker auto scaling on ECS (field report
``mwaa-autoscaling-race.txt``), on the DAG set's scaled clock (one *unit* = one scaled minute).

Model, checked every ``tick``:

- **Load** = task instances ``queued`` or ``running`` in the metadata DB (MWAA's QueuedTasks + RunningTasks).
- **Scale out**: a worker serves ``concurrency`` tasks, so the wanted fleet is
  ``clamp(ceil(load / concurrency), min, max)``; when it exceeds the workers that are up and not slated to stop,
  new workers are launched at once (their boot time is the real ``airflow celery worker`` start-up).
- **Scale in**: once load has been zero for ``idle_units`` (MWAA: 2), the fleet is scaled in to the minimum: for
  each worker above it one stop is scheduled, landing in the window ``delay_units`` (2-5) after the decision.
  The decision is not revisited when new work arrives meanwhile; that is the race.
- **Victims** are chosen when a stop lands, the way ECS does: among running workers whose ECS task is *not*
  scale-in protected (read from the fake agent); ECS documents no other rule among those (AZ balance aside).
  ``victims="random"``: the stop lands at a uniform draw in the window and picks a uniform (seeded) candidate.
  ``victims="adversarial"``, ECS's legal worst case: the stop lands at the first moment of the window when an
  unprotected worker runs a task instance (the field report's "task lands on a container slated for removal",
  once it has started) and picks such a worker; with none by the window's end it picks a uniform candidate.
  If every candidate is protected the stop waits and is retried each tick; a later scale-out cancels waiting
  stops (the service's desired count went up again).
- **Stop**: SIGTERM to the worker's main process (what ECS sends to the container), SIGKILL to its whole process
  group once the stop timeout (Fargate: at most 120 s, scaled) has passed.
"""

from __future__ import annotations

import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_ecsops.testing.race.stack import RaceStack, Worker, kill_group

LOAD_SQL = "SELECT count(*) FROM task_instance WHERE state IN ('queued', 'running')"
RUNNING_SQL = "SELECT count(*) FROM task_instance WHERE state = 'running' AND hostname = %s"
RUNNING_RUNS_SQL = (
    "SELECT dr.logical_date, ti.start_date FROM task_instance ti"
    " JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
    " WHERE ti.state = 'running' AND ti.hostname = %s"
)
# Seconds a victim's task must have left beyond the stop timeout, so the SIGKILL surely lands on it (the DB's
# start_date precedes the task's first tick, which only makes the margin larger).
KILL_MARGIN_SECONDS = 1.0
VICTIMS = ("random", "adversarial")


@dataclass
class Stop:
    """One scale-in stop: due from ``earliest``, landed (counted as waiting) from ``latest``."""

    earliest: float
    latest: float


@dataclass
class Autoscaler:
    """The simulator for one fleet.

    :param stack: the fleet's stack (launches workers, holds the fake agent and the DB URL).
    :param unit_seconds: one scaled minute, in seconds.
    :param stop_timeout_seconds: scaled seconds between SIGTERM and SIGKILL.
    :param seed: seed of the victim and delay draws.
    :param events_path: JSON-lines file of every decision, launch and stop.
    :param concurrency: task slots per worker.
    :param victims: ``random`` or ``adversarial`` (see the module docstring).
    :param run_seconds: expected length of a run by its logical date (the set's schedule); with it, an
        adversarial victim is one whose running task outlives the stop timeout, so its SIGKILL loses the run.
    :param min_workers: floor of the fleet (field report: 1).
    :param max_workers: ceiling of the fleet (field report: 4).
    :param idle_units: idle time before scaling in (MWAA: 2 minutes).
    :param delay_units: window in which a scale-in stop lands (MWAA: 2-5 minutes).
    :param tick: seconds between two checks.
    """

    stack: RaceStack
    unit_seconds: float
    stop_timeout_seconds: float
    seed: int
    events_path: Path
    concurrency: int = 1
    victims: str = "random"
    run_seconds: Callable[[datetime], float] | None = None
    min_workers: int = 1
    max_workers: int = 4
    idle_units: float = 2
    delay_units: tuple[float, float] = (2, 5)
    tick: float = 0.25
    rng: random.Random = field(init=False)
    stops: list[Stop] = field(default_factory=list)
    last_busy: float = field(default_factory=time.monotonic)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "launched": 0,
            "scale_ins": 0,
            "sigterm": 0,
            "sigkill": 0,
            "busy_at_sigterm": 0,
            "self_retires": 0,  # UpdateService calls of workers lowering desiredCount themselves
        }
    )

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._db = self._connect()

    def _connect(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.stack.db_url.replace("+psycopg2", ""))
        conn.autocommit = True
        return conn

    def _event(self, action: str, **details: Any) -> None:
        with self.events_path.open("a") as f:
            f.write(json.dumps({"time": time.time(), "action": action, **details}) + "\n")

    def _rows(self, sql: str, *params: Any) -> list[tuple]:
        import psycopg2

        try:
            return self._fetch(sql, params)
        except psycopg2.OperationalError as exc:  # a dropped connection must not end the run: reconnect once
            self._event("db_reconnect", error=str(exc).splitlines()[0])
            self._db = self._connect()
            return self._fetch(sql, params)

    def _query(self, sql: str, *params: Any) -> int:
        return self._rows(sql, *params)[0][0]

    def _fetch(self, sql: str, params: tuple) -> list[tuple]:
        with self._db.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _outlives_stop(self, worker: Worker) -> bool:
        """Whether ``worker`` runs a task instance with more than the stop timeout (and a margin) left."""
        if self.run_seconds is None:
            return bool(self._query(RUNNING_SQL, worker.name))
        wall = datetime.now(UTC)
        return any(
            self.run_seconds(logical_date) - (wall - started).total_seconds()
            > self.stop_timeout_seconds + KILL_MARGIN_SECONDS
            for logical_date, started in self._rows(RUNNING_RUNS_SQL, worker.name)
            if logical_date is not None and started is not None
        )

    @property
    def up(self) -> list[Worker]:
        """Workers running and not yet told to stop."""
        return [w for w in self.stack.workers if w.alive and w.sigterm_at is None]

    def launch(self, why: str) -> None:
        worker = self.stack.launch_worker()
        self.stats["launched"] += 1
        self._event("launch", worker=worker.name, task_arn=worker.task_arn, why=why)

    def waiting(self, now: float) -> list[Stop]:
        """Stops that have landed and found no victim yet."""
        return [s for s in self.stops if s.latest <= now]

    def step(self, now: float) -> None:
        """One check: scale out, decide and land scale-in stops, escalate stop timeouts."""
        load = self._query(LOAD_SQL)
        if load:
            self.last_busy = now
        for stop in sorted(self.stops, key=lambda s: s.latest):
            if stop.earliest <= now and self._stop_one(now, held_only=now < stop.latest):
                self.stops.remove(stop)
        waiting = self.waiting(now)
        wanted = min(max(math.ceil(load / self.concurrency), self.min_workers), self.max_workers)
        if wanted > len(self.up) - len(waiting):
            if waiting:
                self._event("cancel_waiting_stops", count=len(waiting))
                self.stops = [s for s in self.stops if s not in waiting]
            for _ in range(wanted - len(self.up)):
                self.launch(f"scale out: load {load}")
        elif not self.stops and now - self.last_busy >= self.idle_units * self.unit_seconds:
            excess = len(self.up) - self.min_workers
            if excess > 0:
                self.stops = [self._schedule(now) for _ in range(excess)]
                self.stats["scale_ins"] += 1
                self._event(
                    "scale_in",
                    stops=excess,
                    victims=self.victims,
                    land_in=[[round(s.earliest - now, 2), round(s.latest - now, 2)] for s in self.stops],
                )
        self._escalate(now)

    def _schedule(self, now: float) -> Stop:
        first, last = (now + d * self.unit_seconds for d in self.delay_units)
        if self.victims == "adversarial":
            return Stop(first, last)
        lands = self.rng.uniform(first, last)
        return Stop(lands, lands)

    def _stop_one(self, now: float, held_only: bool) -> bool:
        protected = set(self.stack.agent.state()["protected"])
        candidates = [w for w in self.up if w.task_arn not in protected]
        if len(self.up) <= self.min_workers or not candidates:
            return False
        # Adversarial: a worker whose running task instance outlives the stop timeout (the SIGKILL then loses
        # it for sure); a message held but not yet started may still be restored by Celery's warm shutdown
        # (seen on Redis), and a task about to end may finish within the stop timeout (seen: 2 of 3 victims).
        busy = [w for w in candidates if self._outlives_stop(w)] if self.victims == "adversarial" else []
        if not busy and held_only:
            return False
        victim = self.rng.choice(busy or candidates)
        held = victim.held()
        victim.sigterm_at = now
        victim.proc.send_signal(signal.SIGTERM)
        running = self._query(RUNNING_SQL, victim.name)
        self.stats["sigterm"] += 1
        self.stats["busy_at_sigterm"] += bool(held or running)
        self._event(
            "sigterm",
            worker=victim.name,
            held_messages=held,
            running_tasks=running,
            protected_skipped=len(protected),
        )
        return True

    def _escalate(self, now: float) -> None:
        for worker in self.stack.workers:
            if worker.sigterm_at is None or worker.exited_at is not None:
                continue
            if not worker.alive:
                worker.exited_at = now
                self._event("exited", worker=worker.name, after=round(now - worker.sigterm_at, 2))
            elif worker.sigkill_at is None and now - worker.sigterm_at >= self.stop_timeout_seconds:
                worker.sigkill_at = now
                kill_group(worker.proc, signal.SIGKILL)
                self.stats["sigkill"] += 1
                self._event("sigkill", worker=worker.name)

    def warm_up(self) -> None:
        """Start a warm fleet at the maximum, before the first slot.

        Boot and first task of a worker take 20-40 s here (ten scaled minutes), so the run starts in the steady
        state of the field report (a fleet that has just served a busy period) in both fleets alike, not in a
        cold start that hides the idle windows.
        """
        while len(self.up) < self.max_workers:
            self.launch("warm-up")

    def run(self, begin: float, deadline: float, stop: threading.Event) -> None:
        """Scale the warm fleet from ``begin`` until ``deadline`` or ``stop``.

        :param begin: monotonic time of the first slot.
        :param deadline: monotonic time to stop at.
        :param stop: set to stop early.
        """
        if stop.wait(max(0.0, begin - time.monotonic())):
            return
        self.last_busy = time.monotonic()
        while time.monotonic() < deadline and not stop.wait(self.tick):
            self.step(time.monotonic())

    def close(self) -> None:
        self._db.close()
