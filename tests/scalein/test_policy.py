"""The scale-out policy: linted as CloudFormation, applied to moto's Application Auto Scaling."""

from __future__ import annotations

import json

import boto3
import pytest

from airflow_provider_ecsops.scalein import policy as policy_module
from airflow_provider_ecsops.scalein.errors import ConfigurationError
from airflow_provider_ecsops.scalein.policy import ScalingPolicy, ScheduledMinimum
from tests.scalein.helpers import moto_worker_service

REGION = "eu-west-1"
# A working day: warm to 4 workers ten minutes before 07:00 on weekdays, back to the floor after the first wave.
DAY = (
    ScheduledMinimum("cron(50 6 ? * MON-FRI *)", 4, "Europe/Berlin"),
    ScheduledMinimum("cron(30 7 ? * MON-FRI *)", 1, "Europe/Berlin"),
)


def _policy(**overrides) -> ScalingPolicy:
    return ScalingPolicy(**({"cluster": "airflow", "service": "workers", "fleet": "workers"} | overrides))


def test_the_cloudformation_templates_pass_cfn_lint_and_a_broken_one_does_not():
    """One lint run (cfn-lint loads its schemas per run): both variants, plus a copy of the policy without its
    target value and of the scalable target with a scheduled minimum that is no number, which must be the only
    resources flagged (so the lint can fail)."""
    from cfnlint.api import lint

    resources = {}
    for suffix, self_retire, day in (("Retire", True, DAY), ("PolicyScalesIn", False, ())):
        policy = _policy(
            service=f"workers-{suffix}",
            self_retire=self_retire,
            dimensions={"Environment": "prod"},
            scheduled_minimums=day,
        )
        template = policy.cloudformation()
        for name, resource in template["Resources"].items():
            if "ScalingTargetId" in resource["Properties"]:
                resource["Properties"]["ScalingTargetId"] = {"Ref": f"WorkerScalableTarget{suffix}"}
            resources[name + suffix] = resource
    assert (
        resources["WorkerScalableTargetRetire"]["Properties"]["ScheduledActions"][0]["Schedule"]
        == DAY[0].schedule
    )
    broken = json.loads(json.dumps(resources["WorkerDemandPolicyRetire"]))
    del broken["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
    resources["Broken"] = broken
    broken_action = json.loads(json.dumps(resources["WorkerScalableTargetRetire"]))
    broken_action["Properties"]["ScheduledActions"][0]["ScalableTargetAction"]["MinCapacity"] = "four"
    broken_action["Properties"]["ResourceId"] = (
        "service/airflow/workers-BrokenAction"  # one target per service
    )
    resources["BrokenAction"] = broken_action
    matches = lint(json.dumps(template | {"Resources": resources}), regions=[REGION])
    assert matches, "cfn-lint flagged nothing, not even the policy without TargetValue"
    assert {m.path[1] for m in matches} == {"Broken", "BrokenAction"}, [str(m) for m in matches]


def test_with_self_retire_the_policy_only_scales_out_on_the_demand_metric():
    configuration = _policy(self_retire=True).target_tracking_configuration()
    assert configuration["DisableScaleIn"] is True
    assert configuration["TargetValue"] == 1.0
    assert configuration["CustomizedMetricSpecification"]["MetricName"] == "DemandPerWorker"
    assert _policy(self_retire=False).target_tracking_configuration()["DisableScaleIn"] is False


def test_the_boto3_calls_register_the_target_and_policy_in_motos_application_auto_scaling(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    policy = _policy(min_capacity=1, max_capacity=12, scale_out_cooldown=90, scheduled_minimums=DAY)
    actions = []
    with mock_aws():
        moto_worker_service(REGION, desired=2)
        client = boto3.client("application-autoscaling", region_name=REGION)
        for method, kwargs in policy.boto3_calls():
            getattr(client, method)(**kwargs)
            if method == "put_scheduled_action":
                # Read back right after its put: moto before 5.1 (MWAA 2.10.3's pin) keeps one action per
                # target, replacing it whatever its name; AWS keys them by name, as moto does since.
                actions += client.describe_scheduled_actions(
                    ServiceNamespace="ecs", ScheduledActionNames=[kwargs["ScheduledActionName"]]
                )["ScheduledActions"]
        target = client.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        stored = client.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in target] == [
        ("service/airflow/workers", 1, 12)
    ]
    assert len(stored) == 1 and stored[0]["PolicyType"] == "TargetTrackingScaling"
    assert stored[0]["TargetTrackingScalingPolicyConfiguration"] == policy.target_tracking_configuration()
    assert [
        (
            a["ScheduledActionName"],
            a["ResourceId"],
            a["Schedule"],
            a["Timezone"],
            a["ScalableTargetAction"]["MinCapacity"],
        )
        for a in actions
    ] == [
        ("ecsops-min-1-to-4", "service/airflow/workers", "cron(50 6 ? * MON-FRI *)", "Europe/Berlin", 4),
        ("ecsops-min-2-to-1", "service/airflow/workers", "cron(30 7 ? * MON-FRI *)", "Europe/Berlin", 1),
    ]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"min_capacity": 0}, "min_capacity: below 1; target tracking cannot scale out of 0. Fix: >= 1"),
        ({"min_capacity": 3, "max_capacity": 2}, "max_capacity: below min_capacity. Fix: raise it"),
        ({"scale_out_cooldown": -1}, "cooldowns: negative. Fix: >= 0"),
        ({"target": 0}, "target: must be > 0. Fix: 1.0 (exactly the required workers)"),
        (
            {"scheduled_minimums": (ScheduledMinimum("cron(50 6 * * MON-FRI)", 4), DAY[1])},
            "scheduled_minimums: 'cron(50 6 * * MON-FRI)' is not a schedule expression. Fix: cron() with 6 "
            "fields, e.g. 'cron(50 6 ? * MON-FRI *)', or rate() / at()",
        ),
        (
            {"scheduled_minimums": (ScheduledMinimum("rate(1 day)", 11), DAY[1])},
            "scheduled_minimums: 11 at rate(1 day) is outside 1..max_capacity 10 (target tracking cannot scale "
            "out of 0). Fix: a minimum in that range",
        ),
        (
            {"scheduled_minimums": (ScheduledMinimum("rate(1 day)", 2, "Mars/Olympus"), DAY[1])},
            "scheduled_minimums: timezone 'Mars/Olympus' is not an IANA time zone. Fix: e.g. Europe/Berlin or UTC",
        ),
        (
            {"scheduled_minimums": DAY[:1]},
            "scheduled_minimums: MinCapacity is raised to 4 and never set back to 1. Fix: add one at the day's "
            "end, e.g. 'cron(0 19 ? * MON-FRI *)=1'",
        ),
    ],
)
def test_a_policy_that_cannot_work_is_refused_with_one_line(overrides, line):
    with pytest.raises(ConfigurationError) as failure:
        _policy(**overrides)
    assert str(failure.value) == f"[ecsops] scaling policy {line}"


def test_the_module_prints_the_template_and_refuses_bad_options_in_one_line(capsys):
    assert policy_module.main(["--cluster", "c", "--service", "s", "--max", "4"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert template["Resources"]["WorkerScalableTarget"]["Properties"]["MaxCapacity"] == 4
    assert policy_module.main(["--cluster", "c", "--service", "s", "--min", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    day = ["--scheduled-min", "cron(50 6 ? * MON-FRI *)=4", "--scheduled-min", "cron(30 7 ? * MON-FRI *)=1"]
    assert policy_module.main(["--cluster", "c", "--service", "s", *day, "--format", "boto3"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [method for method, _ in calls] == [
        "register_scalable_target",
        "put_scaling_policy",
        "put_scheduled_action",
        "put_scheduled_action",
    ]
    assert policy_module.main(["--cluster", "c", "--service", "s", "--scheduled-min", "at 7 am"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'at 7 am' is not SCHEDULE=MIN" in err
