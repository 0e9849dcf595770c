"""Bad input fails at construction (DAG parse time), naming the parameter and the fix, with no AWS call."""

from __future__ import annotations

import pytest

from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator
from airflow_provider_ecsops.fargate.validation import FargateConfigError

GOOD = {
    "task_id": "t",
    "cluster": "etl",
    "task_definition": "etl-job:3",
    "subnets": ["subnet-1"],
    "command": ["python", "job.py"],
}

BAD_INPUT = [
    ({"command": "python job.py"}, "command", "['python', 'job.py']"),
    ({"command": ["python", 3]}, "command", "non-empty strings"),
    ({"subnets": None}, "subnets", "is required"),
    ({"subnets": []}, "subnets", "at least one"),
    ({"subnets": "subnet-1"}, "subnets", "list of strings"),
    ({"subnets": [f"subnet-{i}" for i in range(17)]}, "subnets", "at most 16"),
    ({"security_groups": [f"sg-{i}" for i in range(6)]}, "security_groups", "at most 5"),
    ({"cpu": 300}, "cpu", "not a Fargate CPU size"),
    ({"cpu": 256, "memory": 4096}, "memory", "for cpu=256 use memory between 512 and 2048"),
    ({"memory": 1000}, "memory", "not a Fargate memory size"),
    ({"cpu": "lots"}, "cpu", "whole number"),
    ({"tags": {"aws:owner": "x"}}, "tags", "reserved"),
    ({"tags": {"ecsops:run-key": "x"}}, "tags", "reserved"),
    ({"tags": {f"k{i}": "v" for i in range(47)}}, "tags", "at most 46"),
    ({"tags": {"team": 7}}, "tags", "str(...)"),
    ({"tags": {"k" * 129: "v"}}, "tags", "1 to 128"),
    ({"environment": {"N": 1}}, "environment", "str(...)"),
    ({"environment": ["A=1"]}, "environment", "dict of str to str"),
    ({"launch_type": "EC2"}, "launch_type", "launch_type='FARGATE'"),
    (
        {"launch_type": "FARGATE", "capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT"}]},
        "launch_type",
        "launch_type=None",
    ),
    (
        {"capacity_provider_strategy": [{"capacityProvider": "my-asg"}]},
        "capacity_provider_strategy",
        "FARGATE_SPOT",
    ),
    ({"propagate_tags": "SERVICE"}, "propagate_tags", "TASK_DEFINITION"),
    ({"assign_public_ip": "yes"}, "assign_public_ip", "True or False"),
    ({"poll_interval": 0}, "poll_interval", "positive"),
    ({"skip_on_exit_code": ["1"]}, "skip_on_exit_code", "list of ints"),
    ({"task_definition": "etl job"}, "task_definition", "family, family:revision or task definition ARN"),
    ({"cluster": ""}, "cluster", "non-empty string"),
]


@pytest.mark.parametrize(
    ("override", "param", "fix"), BAD_INPUT, ids=[f"{p}-{i}" for i, (_, p, _) in enumerate(BAD_INPUT)]
)
def test_bad_input_names_parameter_and_fix(override, param, fix):
    with pytest.raises(FargateConfigError) as err:
        FargateOffloadOperator(**{**GOOD, **override})
    message = str(err.value)
    assert message.startswith(f"{param}:"), message
    assert "Fix:" in message and fix in message, message


@pytest.mark.parametrize(
    "override",
    [
        {"cpu": 1024, "memory": 4096},
        {"cpu": 16384, "memory": 122880},
        {"task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:7"},
        {"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]},
        {"subnets": "{{ var.json.etl_subnets }}", "command": "{{ params.cmd }}"},
        {"skip_on_exit_code": 99},
    ],
)
def test_good_input_is_accepted(override):
    FargateOffloadOperator(**{**GOOD, **override})


def test_templated_values_are_checked_after_rendering(make_operator, context):
    op = make_operator(command="{{ params.cmd }}")
    op.command = "python job.py"  # what a template rendering to a plain string would leave
    with pytest.raises(FargateConfigError, match=r"^command:"):
        op.execute(context)


def test_every_tag_key_the_operator_sets_is_refused_as_a_user_tag():
    from airflow_provider_ecsops.fargate.run_key import RunKey

    own_keys = [tag["key"] for tag in RunKey("d", "t", "r", -1, 0).tags()]
    assert own_keys
    for key in own_keys:
        with pytest.raises(FargateConfigError, match=f"key '{key}' is reserved"):
            FargateOffloadOperator(**{**GOOD, "tags": {key: "x"}})
