"""The fleet driven the way a team would deploy it: the demand metric (``scalein.demand``, the publisher's
``DemandPerWorker``) under Application Auto Scaling's target-tracking semantics, with the ECS service scheduler
in between, on the DAG set's scaled clock (one *unit* = one scaled minute = one metric period).

Model (Application Auto Scaling user guide, "How target tracking scaling works" and the
``TargetTrackingScalingPolicyConfiguration`` API reference):

- **Metric**: once per period the publisher's reading (the same ``MetadbDemand`` query, concurrency 1) becomes
  one datapoint, ``DemandPerWorker`` = RequiredWorkers / max(desiredCount, 1); target 1.0.
- **Alarms** (AAS creates them): *high* when the last ``high_periods`` (3) datapoints are all above the target;
  *low* when the last ``low_periods`` (15) are all below 90 % of it. There is no low alarm with ``DisableScaleIn``.
- **Scaling**: desired = clamp(ceil(desiredCount x metric / target), min, max). Scale-out cooldown: within it a
  scale-out happens only if it is larger than the previous one's desired count. Scale-in cooldown blocks
  scale-ins only; a scale-out is never blocked by it.
- **Self-retire** (guarded fleet): scale-in is disabled in the policy; the workers run with
  ``scalein_self_retire`` against the fake agent's service, lowering desiredCount by one and exiting once they
  have run no task for ``retire_idle_units`` (default 15: the policy's own scale-in pace, as in production).
- **Scheduled minimums** (``--prewarm``, the policy's ``ScheduledMinimum``): when ``prewarm_window`` opens the
  scalable target's MinCapacity becomes ``prewarm_workers`` and desiredCount rises to it if below ("if current
  capacity is less than the specified minimum capacity, Application Auto Scaling scales out to the specified
  minimum capacity", user guide, "How scheduled scaling works"); when it closes MinCapacity is the floor again and
  nothing else changes. The fake service's MinCapacity is what a retiring worker reads as its floor.
- **ECS service scheduler**, every tick: fewer running tasks than desiredCount -> launch; more (a policy
  scale-in, or a retiring worker that has not exited yet) for ``ecs_reaction_units`` -> SIGTERM a random
  unprotected task, SIGKILL after the stop timeout (``Autoscaler``'s victim choice and escalation).

:class:`TargetTracking` is the pure rule (unit-tested without the stack); :class:`TargetTrackingAutoscaler`
drives a :class:`~airflow_provider_ecsops.testing.race.stack.RaceStack` with it and has ``Autoscaler``'s interface.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from airflow_provider_ecsops.scalein.demand import MetadbDemand, read_demand
from airflow_provider_ecsops.scalein.demand_publish import demand_per_worker
from airflow_provider_ecsops.testing.fake_ecs_agent import FakeService
from airflow_provider_ecsops.testing.race.autoscaler import Autoscaler

SERVICE = "race-workers"


@dataclass
class TargetTracking:
    """Application Auto Scaling's target tracking of one metric for one scalable target (pure, clock given).

    :param min_capacity: floor of the desired count.
    :param max_capacity: ceiling of the desired count.
    :param disable_scale_in: ``DisableScaleIn`` (no low alarm).
    :param scale_out_cooldown: seconds, see the module docstring.
    :param scale_in_cooldown: seconds.
    :param target: the target value.
    :param high_periods: datapoints above the target before scaling out.
    :param low_periods: datapoints below ``low_ratio`` x target before scaling in.
    :param low_ratio: the low alarm's share of the target.
    """

    min_capacity: int
    max_capacity: int
    disable_scale_in: bool
    scale_out_cooldown: float
    scale_in_cooldown: float
    target: float = 1.0
    high_periods: int = 3
    low_periods: int = 15
    low_ratio: float = 0.9
    datapoints: list[float] = field(default_factory=list)
    last_out: tuple[float, int] | None = None  # (time, desired) of the last scale-out
    last_in_at: float | None = None

    def _wanted(self, desired: int, metric: float) -> int:
        # The 1e-9 keeps float noise (3 x 0.333...) from adding a whole task.
        wanted = math.ceil(desired * metric / self.target - 1e-9)
        return min(max(wanted, self.min_capacity), self.max_capacity)

    def evaluate(self, now: float, metric: float, desired: int) -> int:
        """Add one period's datapoint; return the desired count after the alarms' actions (maybe unchanged)."""
        self.datapoints = [*self.datapoints[-max(self.high_periods, self.low_periods) + 1 :], metric]
        recent_high = self.datapoints[-self.high_periods :]
        recent_low = self.datapoints[-self.low_periods :]
        wanted = self._wanted(desired, metric)
        if len(recent_high) == self.high_periods and all(v > self.target for v in recent_high):
            cooling = self.last_out is not None and now - self.last_out[0] < self.scale_out_cooldown
            if wanted > desired and not (
                cooling and self.last_out is not None and wanted <= self.last_out[1]
            ):
                self.last_out = (now, wanted)
                return wanted
        elif (
            not self.disable_scale_in
            and len(recent_low) == self.low_periods
            and all(v < self.target * self.low_ratio for v in recent_low)
            and not (self.last_in_at is not None and now - self.last_in_at < self.scale_in_cooldown)
            and wanted < desired
        ):
            self.last_in_at = now
            return wanted
        return desired


@dataclass
class TargetTrackingAutoscaler(Autoscaler):
    """The fleet under the target-tracking policy (``Autoscaler``'s interface: ``run``, ``stats``, ``close``).

    :param scale_out_cooldown_units: scale-out cooldown, scaled minutes (``ScalingPolicy`` default: 1).
    :param scale_in_cooldown_units: scale-in cooldown, scaled minutes (default 5).
    :param ecs_reaction_units: how long the service scheduler lets running tasks exceed desiredCount.
    :param retire_idle_units: a self-retiring worker's ``scalein_retire_idle_seconds``, in units.
    :param prewarm_workers: MinCapacity during ``prewarm_window`` (0: no scheduled minimum).
    :param prewarm_window: ``(from, to)`` in units after slot zero: the two scheduled actions' times.
    """

    scale_out_cooldown_units: float = 1
    scale_in_cooldown_units: float = 5
    ecs_reaction_units: float = 0.5
    retire_idle_units: float = 15
    prewarm_workers: int = 0
    prewarm_window: tuple[float, float] | None = None
    excess_since: float | None = None
    rule: TargetTracking = field(init=False)
    self_retire: bool = field(init=False)
    demand: MetadbDemand = field(init=False)
    service: FakeService = field(init=False)

    def __post_init__(self) -> None:
        if self.prewarm_workers and not (
            self.prewarm_window and self.min_workers < self.prewarm_workers <= self.max_workers
        ):
            raise ValueError(
                f"prewarm_workers: {self.prewarm_workers} needs a window and a value in "
                f"{self.min_workers + 1}..{self.max_workers}. Fix: a lull to warm before, and a value in range"
            )
        super().__post_init__()
        self.self_retire = self.stack.guarded
        self.rule = TargetTracking(
            self.min_workers,
            self.max_workers,
            disable_scale_in=self.self_retire,
            scale_out_cooldown=self.scale_out_cooldown_units * self.unit_seconds,
            scale_in_cooldown=self.scale_in_cooldown_units * self.unit_seconds,
        )
        self.demand = MetadbDemand(self.stack.db_url)
        self._event(
            "policy_config",
            disable_scale_in=self.rule.disable_scale_in,
            self_retire=self.self_retire,
            retire_idle_units=self.retire_idle_units,
            prewarm_workers=self.prewarm_workers,
            prewarm_window=self.prewarm_window,
        )
        self.service = self.stack.agent.add_service(SERVICE, self.max_workers, min_capacity=self.min_workers)
        if self.self_retire:
            self.stack.worker_env.update(
                {
                    "AIRFLOW__ECSOPS__SCALEIN_SELF_RETIRE": "True",
                    "AIRFLOW__ECSOPS__SCALEIN_SERVICE": SERVICE,
                    "AIRFLOW__ECSOPS__SCALEIN_RETIRE_IDLE_SECONDS": repr(
                        self.retire_idle_units * self.unit_seconds
                    ),
                    # boto3 needs a region and some credentials to sign; the fake agent checks neither.
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                }
            )

    def period(self, now: float) -> None:
        """One metric period: the publisher's datapoint, then the policy's action on desiredCount."""
        try:
            # The fleet's own queue (the DAGs' default queue), as a team's publisher names its fleet's queues.
            demand = read_demand(self.demand, [self.stack.queue], concurrency=1)
        except Exception as exc:  # an outage publishes nothing: the alarms see a missing datapoint
            self._event("metric_missing", error=str(exc).splitlines()[0])
            return
        desired = self.service.desired_count
        metric = demand_per_worker(demand, desired)
        wanted = self.rule.evaluate(now, metric, desired)
        self._event("datapoint", metric=round(metric, 3), required=demand.required_workers, desired=desired)
        if wanted != desired:
            self.service.desired_count = wanted
            self.stats["scale_ins"] += wanted < desired
            self._event("policy", desired=wanted, previous=desired)

    def scheduled_minimum(self, units: float) -> None:
        """Carry out the scheduled actions due ``units`` after slot zero (each once, in time order)."""
        if not self.prewarm_window:
            return
        start, end = self.prewarm_window
        minimum = self.prewarm_workers if start <= units < end else self.min_workers
        if minimum == self.rule.min_capacity or units < start:
            return
        self.rule.min_capacity = self.service.min_capacity = minimum
        desired = self.service.desired_count
        if desired < minimum:
            self.service.desired_count = minimum
        self._event(
            "scheduled_minimum", min_capacity=minimum, desired=max(desired, minimum), previous=desired
        )

    def step(self, now: float) -> None:
        """One tick of the ECS service scheduler: launch up to desiredCount, stop the excess, escalate."""
        # Only the workers call the fake's UpdateService (the policy sets desiredCount directly).
        self.stats["self_retires"] = self.service.update_count
        for worker in self.stack.workers:  # exits nobody asked for: self-retire (or a crash)
            if worker.sigterm_at is None and worker.exited_at is None and not worker.alive:
                worker.exited_at = now
                self._event("exited", worker=worker.name, self_retired=True, code=worker.proc.returncode)
        up, desired = len(self.up), self.service.desired_count
        for _ in range(desired - up):
            self.launch(f"service scheduler: desiredCount {desired}, running {up}")
        if up > desired:
            self.excess_since = self.excess_since or now
            if now - self.excess_since >= self.ecs_reaction_units * self.unit_seconds and self._stop_one(
                now, held_only=False
            ):
                self.excess_since = None
        else:
            self.excess_since = None
        self._escalate(now)

    def run(self, begin: float, deadline: float, stop: threading.Event) -> None:
        """Warm fleet at the maximum (as ``Autoscaler``), then a metric period every unit and a scheduler
        tick every ``tick`` from ``begin`` until ``deadline`` or ``stop``."""
        self.step(time.monotonic())
        if stop.wait(max(0.0, begin - time.monotonic())):
            return
        next_period = time.monotonic()
        while time.monotonic() < deadline and not stop.wait(self.tick):
            now = time.monotonic()
            self.scheduled_minimum((now - begin) / self.unit_seconds)
            if now >= next_period:
                self.period(now)
                next_period += self.unit_seconds
            self.step(now)
