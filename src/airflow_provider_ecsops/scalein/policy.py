"""Scaling policy as code: the Application Auto Scaling resources that scale a worker service out on demand.

A scalable target (the service's ``ecs:service:DesiredCount``, min/max capacity) and a **target-tracking**
policy on the publisher's ``DemandPerWorker`` (= RequiredWorkers / DesiredWorkers, ``scalein.demand_publish``)
with target 1.0: Application Auto Scaling sets desired = ceil(desired x metric / target) = RequiredWorkers.

Invariant: with ``self_retire`` on, the policy has ``DisableScaleIn``: it only ever raises desiredCount, and
scale-in is decided only by an idle, released, unprotected worker lowering desiredCount by one (scalein.retire);
the policy's own scale-in would pick victims ECS-side, which is the race. Without self-retire the policy scales
in too (ECS then stops only unprotected tasks, under the guard). One definition renders both as CloudFormation
JSON (:meth:`ScalingPolicy.cloudformation`) and as boto3 keyword arguments (:meth:`ScalingPolicy.boto3_calls`).

Target tracking reacts to demand after its high alarm (3 one-minute datapoints) plus a worker's boot, so the
first wave after a night waits for both. **Scheduled minimums** (:class:`ScheduledMinimum`, scheduled actions
on the scalable target) warm the fleet before a known start of the day: at its time a scheduled action sets
MinCapacity, and "if current capacity is less than the specified minimum capacity, Application Auto Scaling
scales out to the specified minimum capacity" (Application Auto Scaling user guide, "How scheduled scaling
works"). Self-retire never goes below the target's MinCapacity (``scalein.retire``), so a raised minimum holds
until a later scheduled minimum sets it back: every raise needs that return, or the fleet stays warm forever.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ecsops.scalein.demand_publish import DEFAULT_NAMESPACE, TRACKED_METRIC
from airflow_provider_ecsops.scalein.errors import ConfigurationError

SCALABLE_DIMENSION = "ecs:service:DesiredCount"
# PutScheduledAction's Schedule forms (API reference): cron with 6 fields, rate, or a one-time at().
SCHEDULE_FORMS = re.compile(
    r"cron\((\S+ ){5}\S+\)|rate\([1-9]\d* (minute|hour|day)s?\)|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)"
)


@dataclass(frozen=True)
class ScheduledMinimum:
    """A scheduled action setting the scalable target's MinCapacity (MaxCapacity unchanged).

    :param schedule: ``cron(minutes hours day-of-month month day-of-week year)``, ``rate(...)`` or ``at(...)``.
    :param min_capacity: the MinCapacity from then on.
    :param timezone: IANA time zone of the schedule (Application Auto Scaling's default is UTC).
    """

    schedule: str
    min_capacity: int
    timezone: str = "UTC"

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> ScheduledMinimum:
        """``SCHEDULE=MIN`` (the command line's form), e.g. ``cron(50 6 ? * MON-FRI *)=4``."""
        schedule, _, minimum = text.rpartition("=")
        if not schedule or not minimum.isdigit():
            raise ConfigurationError(
                f"[ecsops] scaling policy scheduled_minimums: {text!r} is not SCHEDULE=MIN. "
                "Fix: e.g. 'cron(50 6 ? * MON-FRI *)=4'"
            )
        return cls(schedule.strip(), int(minimum), timezone)

    def problem(self, max_capacity: int) -> str | None:
        """Why Application Auto Scaling would refuse this action under ``max_capacity``, or None."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if not SCHEDULE_FORMS.fullmatch(self.schedule):
            return (
                f"{self.schedule!r} is not a schedule expression. Fix: cron() with 6 fields, "
                "e.g. 'cron(50 6 ? * MON-FRI *)', or rate() / at()"
            )
        if not 1 <= self.min_capacity <= max_capacity:
            return (
                f"{self.min_capacity} at {self.schedule} is outside 1..max_capacity {max_capacity} (target "
                "tracking cannot scale out of 0). Fix: a minimum in that range"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"timezone {self.timezone!r} is not an IANA time zone. Fix: e.g. Europe/Berlin or UTC"
        return None

    def action(self, index: int) -> dict[str, Any]:
        """The action's fields shared by CloudFormation's ``ScheduledActions`` and ``put_scheduled_action``."""
        return {
            # Names may not hold ':', '/' or '|' (API reference), which the schedule has: number them.
            "ScheduledActionName": f"ecsops-min-{index}-to-{self.min_capacity}",
            "Schedule": self.schedule,
            "Timezone": self.timezone,
            "ScalableTargetAction": {"MinCapacity": self.min_capacity},
        }


@dataclass(frozen=True)
class ScalingPolicy:
    """The scale-out policy of one worker service.

    :param cluster: ECS cluster name.
    :param service: ECS service name of the workers.
    :param fleet: the publisher's ``Fleet`` dimension (``ECSOPS_DEMAND_FLEET``).
    :param min_capacity: floor of desiredCount (>= 1: target tracking scales a multiple of the current count).
    :param max_capacity: ceiling of desiredCount.
    :param self_retire: the workers run with ``scalein_self_retire = True``: the policy never scales in.
    :param scale_out_cooldown: seconds after a scale-out before the next scale-out may add more capacity
        (Application Auto Scaling counts the capacity added meanwhile; a launching worker takes this long).
    :param scale_in_cooldown: seconds between scale-ins (unused with ``self_retire``).
    :param target: the DemandPerWorker to hold; 1.0 = exactly the required workers, below 1 keeps headroom.
    :param namespace: the publisher's CloudWatch namespace.
    :param dimensions: the publisher's extra dimensions.
    :param name: policy name.
    :param scheduled_minimums: MinCapacity changes on a schedule (warm the fleet before the day).
    """

    cluster: str
    service: str
    fleet: str
    min_capacity: int = 1
    max_capacity: int = 10
    self_retire: bool = True
    scale_out_cooldown: int = 60
    scale_in_cooldown: int = 300
    target: float = 1.0
    namespace: str = DEFAULT_NAMESPACE
    dimensions: dict[str, str] = field(default_factory=dict)
    name: str = "ecsops-demand-target-tracking"
    scheduled_minimums: tuple[ScheduledMinimum, ...] = ()

    def __post_init__(self) -> None:
        problems = [
            (not (self.cluster and self.service and self.fleet), "cluster, service, fleet: all are needed"),
            (
                self.min_capacity < 1,
                "min_capacity: below 1; target tracking cannot scale out of 0. Fix: >= 1",
            ),
            (self.max_capacity < self.min_capacity, "max_capacity: below min_capacity. Fix: raise it"),
            (min(self.scale_out_cooldown, self.scale_in_cooldown) < 0, "cooldowns: negative. Fix: >= 0"),
            (self.target <= 0, "target: must be > 0. Fix: 1.0 (exactly the required workers)"),
            *((True, f"scheduled_minimums: {problem}") for problem in self._schedule_problems()),
        ]
        for bad, message in problems:
            if bad:
                raise ConfigurationError(f"[ecsops] scaling policy {message}")

    def _schedule_problems(self) -> list[str]:
        """What is wrong with the scheduled minimums: each action's problem, and a raise never set back."""
        problems = [p for p in (m.problem(self.max_capacity) for m in self.scheduled_minimums) if p]
        raised = [m for m in self.scheduled_minimums if m.min_capacity > self.min_capacity]
        if raised and all(m.min_capacity > self.min_capacity for m in self.scheduled_minimums):
            problems.append(
                f"MinCapacity is raised to {raised[0].min_capacity} and never set back to {self.min_capacity}. "
                f"Fix: add one at the day's end, e.g. 'cron(0 19 ? * MON-FRI *)={self.min_capacity}'"
            )
        return problems

    @property
    def resource_id(self) -> str:
        return f"service/{self.cluster}/{self.service}"

    def target_tracking_configuration(self) -> dict[str, Any]:
        """``TargetTrackingScalingPolicyConfiguration``: identical in CloudFormation and the API."""
        dimensions = [{"Name": "Fleet", "Value": self.fleet}] + [
            {"Name": k, "Value": v} for k, v in self.dimensions.items()
        ]
        return {
            "TargetValue": self.target,
            "DisableScaleIn": self.self_retire,
            "ScaleOutCooldown": self.scale_out_cooldown,
            "ScaleInCooldown": self.scale_in_cooldown,
            "CustomizedMetricSpecification": {
                "MetricName": TRACKED_METRIC,
                "Namespace": self.namespace,
                "Dimensions": dimensions,
                "Statistic": "Average",
            },
        }

    def _target(self) -> dict[str, Any]:
        return {
            "ServiceNamespace": "ecs",
            "ResourceId": self.resource_id,
            "ScalableDimension": SCALABLE_DIMENSION,
            "MinCapacity": self.min_capacity,
            "MaxCapacity": self.max_capacity,
        }

    def boto3_calls(self) -> list[tuple[str, dict[str, Any]]]:
        """``(method, kwargs)`` of the application-autoscaling client, to call in this order:
        ``register_scalable_target``, ``put_scaling_policy``, one ``put_scheduled_action`` per minimum."""
        target = self._target()
        ids = {k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        return [
            ("register_scalable_target", target),
            (
                "put_scaling_policy",
                {
                    "PolicyName": self.name,
                    "PolicyType": "TargetTrackingScaling",
                    **ids,
                    "TargetTrackingScalingPolicyConfiguration": self.target_tracking_configuration(),
                },
            ),
            *(
                ("put_scheduled_action", {**ids, **minimum.action(i)})
                for i, minimum in enumerate(self.scheduled_minimums, 1)
            ),
        ]

    def cloudformation(self) -> dict[str, Any]:
        """A CloudFormation template with the scalable target and the policy (the ECS service must exist)."""
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"Scale-out on demand for the Celery fleet {self.fleet} (airflow-provider-ecsops)",
            "Resources": {
                "WorkerScalableTarget": {
                    "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                    "Properties": self._target()
                    | (
                        {"ScheduledActions": [m.action(i) for i, m in enumerate(self.scheduled_minimums, 1)]}
                        if self.scheduled_minimums
                        else {}
                    ),
                },
                "WorkerDemandPolicy": {
                    "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                    "Properties": {
                        "PolicyName": self.name,
                        "PolicyType": "TargetTrackingScaling",
                        "ScalingTargetId": {"Ref": "WorkerScalableTarget"},
                        "TargetTrackingScalingPolicyConfiguration": self.target_tracking_configuration(),
                    },
                },
            },
        }


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_ecsops.scalein.policy``: print the CloudFormation template (or the boto3
    calls) of a policy; one line and exit 2 on a bad option."""
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.scalein.policy")
    p.add_argument("--cluster", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--fleet", help="the publisher's Fleet dimension (default: the service)")
    p.add_argument("--min", type=int, default=1)
    p.add_argument("--max", type=int, default=10)
    p.add_argument("--no-self-retire", action="store_true", help="let the policy scale in as well")
    p.add_argument(
        "--scheduled-min",
        action="append",
        default=[],
        metavar="SCHEDULE=MIN",
        help="set MinCapacity on a schedule, e.g. 'cron(50 6 ? * MON-FRI *)=4' (repeat; one must set it back)",
    )
    p.add_argument("--timezone", default="UTC", help="time zone of the --scheduled-min schedules")
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    p.add_argument("--format", choices=("cloudformation", "boto3"), default="cloudformation")
    args = p.parse_args(argv)
    try:
        policy = ScalingPolicy(
            args.cluster,
            args.service,
            args.fleet or args.service,
            args.min,
            args.max,
            self_retire=not args.no_self_retire,
            namespace=args.namespace,
            scheduled_minimums=tuple(ScheduledMinimum.parse(m, args.timezone) for m in args.scheduled_min),
        )
    except ConfigurationError as exc:
        print(f"scalein.policy: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            policy.cloudformation() if args.format == "cloudformation" else policy.boto3_calls(), indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
