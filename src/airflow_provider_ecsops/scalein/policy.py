"""Scaling policy as code: the Application Auto Scaling resources that scale a worker service out on demand.

A scalable target (the service's ``ecs:service:DesiredCount``, min/max capacity) and a **target-tracking**
policy on the publisher's ``DemandPerWorker`` (= RequiredWorkers / DesiredWorkers, ``scalein.demand_publish``)
with target 1.0: Application Auto Scaling sets desired = ceil(desired x metric / target) = RequiredWorkers.

Invariant: with ``self_retire`` on, the policy has ``DisableScaleIn``: it only ever raises desiredCount, and
scale-in is decided only by an idle, released, unprotected worker lowering desiredCount by one (scalein.retire);
the policy's own scale-in would pick victims ECS-side, which is the race. Without self-retire the policy scales
in too (ECS then stops only unprotected tasks, under the guard). One definition renders both as CloudFormation
JSON (:meth:`ScalingPolicy.cloudformation`) and as boto3 keyword arguments (:meth:`ScalingPolicy.boto3_calls`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ecsops.scalein.demand_publish import DEFAULT_NAMESPACE, TRACKED_METRIC
from airflow_provider_ecsops.scalein.errors import ConfigurationError

SCALABLE_DIMENSION = "ecs:service:DesiredCount"


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
        ]
        for bad, message in problems:
            if bad:
                raise ConfigurationError(f"[ecsops] scaling policy {message}")

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

    def boto3_calls(self) -> dict[str, dict[str, Any]]:
        """``{"register_scalable_target": kwargs, "put_scaling_policy": kwargs}``, to call in that order."""
        target = self._target()
        return {
            "register_scalable_target": target,
            "put_scaling_policy": {
                "PolicyName": self.name,
                "PolicyType": "TargetTrackingScaling",
                **{k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")},
                "TargetTrackingScalingPolicyConfiguration": self.target_tracking_configuration(),
            },
        }

    def cloudformation(self) -> dict[str, Any]:
        """A CloudFormation template with the scalable target and the policy (the ECS service must exist)."""
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"Scale-out on demand for the Celery fleet {self.fleet} (airflow-provider-ecsops)",
            "Resources": {
                "WorkerScalableTarget": {
                    "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                    "Properties": self._target(),
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
