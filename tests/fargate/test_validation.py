"""Bad input fails at construction (DAG parse time), naming the parameter and the fix, with no AWS call.

The tables hold each bad input with the message it must get (the parameter, a piece of the problem and a piece
of the fix) and the good edge cases that must pass: ECS's documented limits on both sides of each bound.
"""

from __future__ import annotations

import math

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
SPOT = {"capacityProvider": "FARGATE_SPOT", "weight": 1}


def _bad(override, param, problem, fix):
    return pytest.param(override, param, problem, fix, id=f"{param}: {problem}"[:80])


BAD_INPUT = [
    # names
    _bad({"cluster": ""}, "cluster", "non-empty string", "name or ARN"),
    _bad({"cluster": None}, "cluster", "non-empty string", "name or ARN"),
    _bad({"cluster": 7}, "cluster", "non-empty string, got 7", "name or ARN"),
    _bad({"cluster": "etl cluster"}, "cluster", "is not a cluster name", "'etl'"),
    _bad({"cluster": "x" * 256}, "cluster", "is not a cluster name", "'etl'"),
    _bad({"cluster": "arn:aws:ecs:us-east-1:12345:cluster/etl"}, "cluster", "cluster ARN", "cluster/etl'"),
    _bad({"task_definition": "etl job"}, "task_definition", "family, family:revision", "'etl:7'"),
    _bad({"task_definition": "etl:latest"}, "task_definition", "family, family:revision", "'etl:7'"),
    _bad({"task_definition": "e" * 256}, "task_definition", "family, family:revision", "'etl:7'"),
    _bad({"task_definition": ["etl"]}, "task_definition", "non-empty string", "definition name or ARN"),
    _bad({"task_definition": "  "}, "task_definition", "non-empty string", "definition name or ARN"),
    _bad({"container_name": ""}, "container_name", "is not a container name", "only essential one"),
    _bad({"container_name": "my container"}, "container_name", "is not a container name", "pass the name"),
    _bad({"container_name": "c" * 256}, "container_name", "is not a container name", "pass the name"),
    _bad({"container_name": 3}, "container_name", "3 is not a container name", "pass the name"),
    # command
    _bad({"command": "python job.py"}, "command", "got the string", "command=['python', 'job.py']"),
    _bad({"command": "['python', 'job.py']"}, "command", "the text of a list", "render_template_as_native_obj"),
    _bad({"command": '["printf", "%s|", ""]'}, "command", "the text of a list", "render_template_as_native_obj"),
    _bad({"command": ["python", 3]}, "command", "strings only, got [3]", "['python', 'etl.py']"),
    _bad({"command": ["python", None]}, "command", "strings only, got [None]", "['python', 'etl.py']"),
    _bad({"command": []}, "command", "empty list", "pass None to run the image's own command"),
    _bad({"command": ("python",) * 0}, "command", "empty list", "pass None"),
    _bad({"command": {"python": "job.py"}}, "command", "list of strings, got dict", "['python', 'etl.py']"),
    _bad({"command": 42}, "command", "list of strings, got int", "['python', 'etl.py']"),
    _bad({"command": ["echo", "x" * 9000]}, "command", "override of about", "S3 or SSM Parameter Store"),
    # network
    _bad({"subnets": None}, "subnets", "is required", "subnets=['subnet-0abc..."),
    _bad({"subnets": []}, "subnets", "is empty", "at least one"),
    _bad({"subnets": "subnet-1"}, "subnets", "list of strings, got str", "subnets=['subnet-0abc..."),
    _bad({"subnets": [f"subnet-{i:x}" for i in range(17)]}, "subnets", "at most 16", "pass at most 16"),
    _bad({"subnets": ["subnet-1", "subnet-1"]}, "subnets", "lists an ID twice", "each ID once"),
    _bad({"subnets": ["sg-1"]}, "subnets", "'sg-1' is not a subnet ID", "IDs like"),
    _bad({"subnets": ["subnet-XYZ"]}, "subnets", "is not a subnet ID", "IDs like"),
    _bad({"subnets": [""]}, "subnets", "'' is not a subnet ID", "IDs like"),
    _bad({"subnets": [7]}, "subnets", "strings only, got [7]", "subnets="),
    _bad({"security_groups": [f"sg-{i}" for i in range(6)]}, "security_groups", "at most 5", "at most 5"),
    _bad({"security_groups": "sg-1"}, "security_groups", "list of strings, got str", "['sg-0abc...']"),
    _bad({"security_groups": ["subnet-1"]}, "security_groups", "is not a security group ID", "IDs like"),
    _bad({"security_groups": ["sg-1", "sg-1"]}, "security_groups", "lists an ID twice", "each ID once"),
    _bad({"assign_public_ip": "yes"}, "assign_public_ip", "True or False, got str", "assign_public_ip=True"),
    _bad({"assign_public_ip": 1}, "assign_public_ip", "True or False, got int", "assign_public_ip=True"),
    _bad({"assign_public_ip": None}, "assign_public_ip", "True or False", "assign_public_ip=True"),
    # environment
    _bad({"environment": {"N": 1}}, "environment", "these are not: {'N': 'int'}", "str(...)"),
    _bad({"environment": {1: "x"}}, "environment", "these are not", "str(...)"),
    _bad({"environment": ["A=1"]}, "environment", "dict of str to str, got list", "{'STAGE': 'prod'}"),
    _bad({"environment": {"": "x"}}, "environment", "names [''] are empty", "'STAGE'"),
    _bad({"environment": {"A=B": "x"}}, "environment", "hold '='", "'STAGE'"),
    _bad({"environment": {"BIG": "x" * 8200}}, "environment", "override of about", "S3 or SSM Parameter Store"),
    # task size
    _bad({"cpu": 300}, "cpu", "not a Fargate CPU size", "1024 = 1 vCPU"),
    _bad({"cpu": 1024.5}, "cpu", "whole number, got float 1024.5", "cpu=1024"),
    _bad({"cpu": 1024.0}, "cpu", "whole number, got float", "cpu=1024"),
    _bad({"cpu": True}, "cpu", "whole number, got bool", "cpu=1024"),
    _bad({"cpu": "lots"}, "cpu", "whole number, got str", "cpu=1024"),
    _bad({"cpu": "1 vCPU"}, "cpu", "whole number", "cpu=1024"),
    _bad({"cpu": -256}, "cpu", "-256 is not a Fargate CPU size", "1024 = 1 vCPU"),
    _bad({"cpu": 0}, "cpu", "0 is not a Fargate CPU size", "(1024 = 1 vCPU)"),
    _bad({"cpu": math.nan}, "cpu", "whole number, got float nan", "cpu=1024"),
    _bad({"memory": 1000}, "memory", "not a Fargate memory size", "512, 1024, 2048"),
    _bad({"memory": 2048.5}, "memory", "whole number, got float", "memory=2048"),
    _bad({"memory": math.inf}, "memory", "whole number, got float inf", "memory=2048"),
    _bad({"cpu": 256, "memory": 4096}, "memory", "does not go with cpu=256", "between 512 and 2048"),
    _bad({"cpu": 512, "memory": 512}, "memory", "does not go with cpu=512", "between 1024 and 4096"),
    _bad({"cpu": 4096, "memory": 31744}, "memory", "31744 MiB is not a Fargate memory size", "512, 1024"),
    _bad({"cpu": 8192, "memory": 18432}, "memory", "does not go with cpu=8192", "between 16384 and 61440"),
    _bad({"cpu": 16384, "memory": 126976}, "memory", "not a Fargate memory size", "Fargate table"),
    _bad({"cpu": 16384, "memory": 36864}, "memory", "does not go with cpu=16384", "between 32768 and 122880"),
    # tags
    _bad({"tags": {"aws:owner": "x"}}, "tags", "starts with 'aws:'", "fix the key"),
    _bad({"tags": {"AWS:owner": "x"}}, "tags", "starts with 'aws:'", "fix the key"),
    _bad({"tags": {"owner": "aws:me"}}, "tags", "value of 'owner' starts with 'aws:'", "fix the value"),
    _bad({"tags": {"ecsops:run-key": "x"}}, "tags", "is reserved", "the operator sets this one"),
    _bad({"tags": {f"k{i}": "v" for i in range(47)}}, "tags", "has 47 tags", "at most 46"),
    _bad({"tags": {"team": 7}}, "tags", "must be a string, got 7", "str(...)"),
    _bad({"tags": {"team": None}}, "tags", "must be a string, got None", "str(...)"),
    _bad({"tags": {"k" * 129: "v"}}, "tags", "1 to 128 characters, has 129", "fix the key"),
    _bad({"tags": {"": "v"}}, "tags", "1 to 128 characters, has 0", "fix the key"),
    _bad({"tags": {"team": "v" * 257}}, "tags", "0 to 256 characters, has 257", "fix the value"),
    _bad({"tags": {"team#1": "v"}}, "tags", "holds '#'; ECS allows letters, numbers, spaces", "fix the key"),
    _bad({"tags": {"team": "a,b"}}, "tags", "holds ','", "fix the value of 'team'"),
    _bad({"tags": {"team": "line\nbreak"}}, "tags", "holds '\\n'", "fix the value"),
    _bad({"tags": {"team": "tab\there"}}, "tags", "holds '\\t'", "fix the value"),
    _bad({"tags": {"team": "x*"}}, "tags", "holds '*'", "fix the value"),
    _bad({"tags": {7: "v"}}, "tags", "key 7 must be a string", "str(7)"),
    _bad({"tags": [("team", "data")]}, "tags", "dict of str to str, got list", "tags={'team': 'data'}"),
    # capacity
    _bad({"launch_type": "EC2"}, "launch_type", "not a Fargate launch type", "launch_type='FARGATE'"),
    _bad({"launch_type": "fargate"}, "launch_type", "not a Fargate launch type", "launch_type='FARGATE'"),
    _bad(
        {"launch_type": "FARGATE", "capacity_provider_strategy": [SPOT]},
        "launch_type",
        "cannot be combined",
        "launch_type=None",
    ),
    _bad({"capacity_provider_strategy": [{"capacityProvider": "my-asg"}]}, "capacity_provider_strategy", "does not name FARGATE", "FARGATE_SPOT"),
    _bad({"capacity_provider_strategy": []}, "capacity_provider_strategy", "list of 1 to 6 dicts", "FARGATE_SPOT"),
    _bad({"capacity_provider_strategy": SPOT}, "capacity_provider_strategy", "list of 1 to 6 dicts", "FARGATE_SPOT"),
    _bad({"capacity_provider_strategy": "FARGATE_SPOT"}, "capacity_provider_strategy", "list of 1 to 6", "[{'capacityProvider'"),
    _bad({"capacity_provider_strategy": [SPOT] * 7}, "capacity_provider_strategy", "list of 1 to 6 dicts", "FARGATE_SPOT"),
    _bad({"capacity_provider_strategy": [{**SPOT, "weight": 1001}]}, "capacity_provider_strategy", "weight of FARGATE_SPOT is 1001", "from 0 to 1000"),
    _bad({"capacity_provider_strategy": [{**SPOT, "weight": -1}]}, "capacity_provider_strategy", "weight of FARGATE_SPOT is -1", "from 0 to 1000"),
    _bad({"capacity_provider_strategy": [{**SPOT, "weight": 1.5}]}, "capacity_provider_strategy", "weight of FARGATE_SPOT is 1.5", "an int weight"),
    _bad({"capacity_provider_strategy": [{**SPOT, "weight": True}]}, "capacity_provider_strategy", "weight of FARGATE_SPOT is True", "an int weight"),
    _bad({"capacity_provider_strategy": [{**SPOT, "base": 100001}]}, "capacity_provider_strategy", "base of FARGATE_SPOT is 100001", "from 0 to 100000"),
    _bad({"capacity_provider_strategy": [{**SPOT, "base": -1}]}, "capacity_provider_strategy", "base of FARGATE_SPOT is -1", "from 0 to 100000"),
    _bad({"capacity_provider_strategy": [{**SPOT, "base": "1"}]}, "capacity_provider_strategy", "base of FARGATE_SPOT is '1'", "an int base"),
    _bad({"capacity_provider_strategy": [{**SPOT, "Weight": 1}]}, "capacity_provider_strategy", "unknown keys ['Weight']", "capacityProvider, weight and base"),
    _bad({"capacity_provider_strategy": [SPOT, SPOT]}, "capacity_provider_strategy", "names a capacity provider twice", "each capacity provider once"),
    _bad(
        {"capacity_provider_strategy": [{**SPOT, "base": 1}, {"capacityProvider": "FARGATE", "weight": 1, "base": 1}]},
        "capacity_provider_strategy",
        "base on more than one",
        "one capacity provider only",
    ),
    _bad(
        {"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 0}, {"capacityProvider": "FARGATE"}]},
        "capacity_provider_strategy",
        "every capacity provider weight 0",
        "a weight above 0",
    ),
    _bad({"capacity_provider_strategy": ["FARGATE_SPOT"]}, "capacity_provider_strategy", "does not name FARGATE", "'weight': 1"),
    # scalar options
    _bad({"propagate_tags": "SERVICE"}, "propagate_tags", "'SERVICE' is not valid for RunTask", "TASK_DEFINITION"),
    _bad({"propagate_tags": True}, "propagate_tags", "True is not valid for RunTask", "TASK_DEFINITION"),
    _bad({"platform_version": "1.4"}, "platform_version", "not a Fargate platform version", "'1.4.0'"),
    _bad({"platform_version": "latest"}, "platform_version", "not a Fargate platform version", "'LATEST'"),
    _bad({"platform_version": 1.4}, "platform_version", "1.4 is not a Fargate platform version", "'LATEST'"),
    _bad({"aws_conn_id": ""}, "aws_conn_id", "connection id or None, got ''", "aws_conn_id='aws_default'"),
    _bad({"aws_conn_id": 5}, "aws_conn_id", "connection id or None, got 5", "aws_conn_id='aws_default'"),
    _bad({"region_name": "us_east_1"}, "region_name", "not an AWS region name", "'us-east-1'"),
    _bad({"region_name": "US-EAST-1"}, "region_name", "not an AWS region name", "'us-east-1'"),
    _bad({"region_name": ""}, "region_name", "not an AWS region name", "None for the connection's"),
    # flags: bool means bool
    _bad({"stop_on_kill": "false"}, "stop_on_kill", "True or False, got str 'false'", "stop_on_kill=False"),
    _bad({"stop_on_kill": 0}, "stop_on_kill", "True or False, got int 0", "stop_on_kill=False"),
    _bad({"stop_on_kill": None}, "stop_on_kill", "True or False, got NoneType", "stop_on_kill=True"),
    _bad({"stop_on_failure": "no"}, "stop_on_failure", "True or False, got str 'no'", "stop_on_failure=False"),
    _bad({"rerun_failed_on_retry": "no"}, "rerun_failed_on_retry", "True or False, got str", "=False"),
    _bad({"rerun_failed_on_retry": 1}, "rerun_failed_on_retry", "True or False, got int", "=True"),
    _bad({"deferrable": "true"}, "deferrable", "True or False, got str 'true'", "deferrable=True"),
    _bad({"deferrable": 1}, "deferrable", "True or False, got int", "deferrable=True"),
    # numbers
    _bad({"poll_interval": 0}, "poll_interval", "finite number above 0, got 0", "poll_interval=6"),
    _bad({"poll_interval": -1}, "poll_interval", "finite number above 0, got -1", "poll_interval=6"),
    _bad({"poll_interval": math.nan}, "poll_interval", "finite number above 0, got nan", "poll_interval=6"),
    _bad({"poll_interval": math.inf}, "poll_interval", "finite number above 0, got inf", "poll_interval=6"),
    _bad({"poll_interval": "6"}, "poll_interval", "must be a number, got str '6'", "poll_interval=6"),
    _bad({"poll_interval": True}, "poll_interval", "must be a number, got bool", "poll_interval=6"),
    _bad({"run_task_timeout": -1}, "run_task_timeout", "0 or more, got -1", "run_task_timeout=600"),
    _bad({"run_task_timeout": math.nan}, "run_task_timeout", "finite number 0 or more, got nan", "=600"),
    _bad({"run_task_timeout": math.inf}, "run_task_timeout", "finite number 0 or more, got inf", "=600"),
    _bad({"run_task_timeout": None}, "run_task_timeout", "must be a number, got NoneType", "=600"),
    _bad({"run_task_timeout": "600"}, "run_task_timeout", "must be a number, got str", "=600"),
    _bad({"log_lines_on_failure": -1}, "log_lines_on_failure", "0 or more, got -1", "log_lines_on_failure=20"),
    _bad({"log_lines_on_failure": 2.5}, "log_lines_on_failure", "whole number, got float 2.5", "=20"),
    _bad({"log_lines_on_failure": "20"}, "log_lines_on_failure", "whole number, got str", "=20"),
    _bad({"log_lines_on_failure": False}, "log_lines_on_failure", "whole number, got bool", "=20"),
    # exit codes
    _bad({"skip_on_exit_code": ["1"]}, "skip_on_exit_code", "int or a list of ints, got ['1']", "=99"),
    _bad({"skip_on_exit_code": "99"}, "skip_on_exit_code", "int or a list of ints, got '99'", "=99"),
    _bad({"skip_on_exit_code": 1.5}, "skip_on_exit_code", "int or a list of ints, got 1.5", "=99"),
    _bad({"skip_on_exit_code": True}, "skip_on_exit_code", "int or a list of ints, got True", "=99"),
    _bad({"skip_on_exit_code": 0}, "skip_on_exit_code", "0 is not a failing exit code", "e.g. 99"),
    _bad({"skip_on_exit_code": [256]}, "skip_on_exit_code", "256 is not a failing exit code (1 to 255)", "99"),
    _bad({"skip_on_exit_code": -1}, "skip_on_exit_code", "-1 is not a failing exit code", "99"),
    # run_task_kwargs: the pass-through
    _bad({"run_task_kwargs": {"enableExecCommand": True}}, "run_task_kwargs", 'Unknown parameter in input: "enableExecCommand"', "RunTask's member names"),
    _bad({"run_task_kwargs": {"enableExecuteCommand": "yes"}}, "run_task_kwargs", "Invalid type for parameter enableExecuteCommand", "and types"),
    _bad({"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": "50"}}}}, "run_task_kwargs", "overrides.ephemeralStorage.sizeInGiB", "and types"),
    _bad({"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": 20}}}}, "run_task_kwargs", "sizeInGiB is 20", "21 to 200"),
    _bad({"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": 201}}}}, "run_task_kwargs", "sizeInGiB is 201", "21 to 200"),
    _bad({"run_task_kwargs": {"overrides": {"containerOverrides": []}}}, "run_task_kwargs", "'overrides.containerOverrides' is set by the operator", "pass command and environment"),
    _bad({"run_task_kwargs": {"overrides": {"cpu": "1024"}}}, "run_task_kwargs", "'overrides.cpu' is set by the operator", "pass cpu"),
    _bad({"run_task_kwargs": {"startedBy": "me"}}, "run_task_kwargs", "'startedBy' is set by the operator", "leave it out"),
    _bad({"run_task_kwargs": {"clientToken": "t"}}, "run_task_kwargs", "'clientToken' is set by the operator", "leave it out"),
    _bad({"run_task_kwargs": {"count": 2}}, "run_task_kwargs", "'count' is set by the operator", "leave it out"),
    _bad({"run_task_kwargs": {"tags": []}}, "run_task_kwargs", "'tags' is set by the operator", "pass tags to the operator"),
    _bad({"run_task_kwargs": {"networkConfiguration": {}}}, "run_task_kwargs", "is set by the operator", "pass subnets, security_groups"),
    _bad({"run_task_kwargs": {"launchType": "EC2"}}, "run_task_kwargs", "'launchType' is set", "pass launch_type"),
    _bad({"run_task_kwargs": {"placementConstraints": [{"type": "distinctInstance"}]}}, "run_task_kwargs", "not supported for tasks on Fargate", "leave placementConstraints out"),
    _bad({"run_task_kwargs": {"placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}}, "run_task_kwargs", "not supported for tasks on Fargate", "leave placementStrategy out"),
    _bad({"run_task_kwargs": [("enableExecuteCommand", True)]}, "run_task_kwargs", "dict of RunTask arguments, got list", "{'enableExecuteCommand': True}"),
    _bad({"run_task_kwargs": {"volumeConfigurations": [{"name": "data", "managedEBSVolume": {"roleArn": "r", "sizeInGiB": "x"}}]}}, "run_task_kwargs", "volumeConfigurations[0].managedEBSVolume.sizeInGiB", "and types"),
]  # fmt: skip

GOOD_EDGE_CASES = [
    {"cpu": 256, "memory": 512},
    {"cpu": 256, "memory": 2048},
    {"cpu": 4096, "memory": 30720},
    {"cpu": 8192, "memory": 61440},
    {"cpu": 16384, "memory": 122880},
    {"cpu": "1024", "memory": "2048"},
    {"memory": 122880},
    {"command": ["printf", "%s|", ""]},
    {"command": ["sh", "-c", "echo 'a b' | tr a-z A-Z"]},
    {"command": ["python", "{{ params.script }}"]},
    {"command": "{{ params.cmd }}"},
    {"subnets": [f"subnet-{i:x}" for i in range(16)], "security_groups": [f"sg-{i}" for i in range(5)]},
    {"subnets": "{{ var.json.etl_subnets }}", "security_groups": ["{{ var.value.sg }}"]},
    {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/etl_2"},
    {"cluster": "c" * 255, "container_name": "n" * 255},
    {"task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:7"},
    {"task_definition": "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/etl"},
    {"tags": {"k" * 128: "v" * 256, "team": "", "a b+c-d=e.f_g:h/i@j": "Ünïcödé 数据 +-=._:/@"}},
    {"tags": {f"k{i}": "v" for i in range(46)}},
    {"tags": {"team": "{{ params.team }}"}},
    {"environment": {"EMPTY": "", "JSON": '{"a": 1}', "STAGE": "{{ params.stage }}"}},
    {"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1000, "base": 100000}]},
    {"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 0}]},
    {
        "capacity_provider_strategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 4},
        ]
    },
    {"capacity_provider_strategy": "{{ var.json.capacity }}"},
    {"platform_version": "LATEST", "propagate_tags": "NONE", "region_name": "us-gov-west-1"},
    {"platform_version": "1.4.0", "propagate_tags": "TASK_DEFINITION", "region_name": "ap-southeast-5"},
    {"poll_interval": 0.01, "run_task_timeout": 0, "log_lines_on_failure": 0},
    {"aws_conn_id": None, "region_name": None, "deferrable": None},
    {"stop_on_kill": False, "rerun_failed_on_retry": False, "deferrable": True, "assign_public_ip": True},
    {"skip_on_exit_code": [1, 255]},
    {"skip_on_exit_code": {99, 100}},
    {"skip_on_exit_code": 99},
    {"run_task_kwargs": {"enableExecuteCommand": True, "enableECSManagedTags": True, "group": "etl"}},
    {"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": 21}, "taskRoleArn": "arn:role"}}},
    {"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": 200}}}},
    {"run_task_kwargs": {"overrides": {"ephemeralStorage": {"sizeInGiB": "{{ params.disk }}"}}}},
    {"run_task_kwargs": {"volumeConfigurations": [{"name": "data", "managedEBSVolume": {"roleArn": "r"}}]}},
]


@pytest.mark.parametrize(("override", "param", "problem", "fix"), BAD_INPUT)
def test_bad_input_is_refused_at_construction_naming_the_parameter_and_the_fix(override, param, problem, fix):
    with pytest.raises(FargateConfigError) as err:
        FargateOffloadOperator(**{**GOOD, **override})
    message = str(err.value)
    assert message.startswith(f"{param}: ") and "\n" not in message, message
    stated, _, fixed = message.partition(". Fix: ")
    assert problem in stated and fix in fixed, message


@pytest.mark.parametrize("override", GOOD_EDGE_CASES, ids=[str(sorted(o))[:60] for o in GOOD_EDGE_CASES])
def test_good_edge_case_is_accepted(override):
    FargateOffloadOperator(**{**GOOD, **override})


def test_the_tables_are_as_big_as_the_issue_asks():
    assert len(BAD_INPUT) >= 80 and len(GOOD_EDGE_CASES) >= 20
    assert len({str(case.values[0]) for case in BAD_INPUT}) == len(BAD_INPUT)  # no case twice


def _no_aws(monkeypatch):
    """Any AWS call from here on fails the test: validation must come first."""
    from airflow_provider_ecsops.fargate.hook import FargateHook

    def refuse(*args, **kwargs):
        raise AssertionError("an AWS call was made before the arguments were checked")

    for name in (
        "describe_task_definition",
        "describe_tasks",
        "describe_task",
        "find_running_tasks",
        "run_task",
    ):
        monkeypatch.setattr(FargateHook, name, refuse)


@pytest.mark.parametrize(
    ("rendered", "fix"),
    [
        ("python job.py", "pass command=['python', 'job.py']"),
        ("['python', 'job.py']", "set render_template_as_native_obj=True on the DAG"),
    ],
)
def test_a_template_that_renders_to_a_bad_command_is_refused_before_any_aws_call(
    context, monkeypatch, rendered, fix
):
    op = FargateOffloadOperator(**{**GOOD, "command": "{{ params.cmd }}"})
    op.command = rendered  # what rendering the template left
    _no_aws(monkeypatch)
    with pytest.raises(FargateConfigError, match=r"^command: ") as err:
        op.execute(context)
    assert fix in str(err.value)


@pytest.mark.parametrize(
    ("field", "rendered", "param"),
    [
        ("tags", {"team": "a,b"}, "tags"),
        ("cpu", "1024.5", "cpu"),
        ("capacity_provider_strategy", [{"capacityProvider": "FARGATE_SPOT", "weight": 5000}], "capacity_provider_strategy"),
        ("run_task_kwargs", {"overrides": {"ephemeralStorage": {"sizeInGiB": "fifty"}}}, "run_task_kwargs"),
    ],
)  # fmt: skip
def test_every_templated_field_is_checked_again_after_rendering(
    make_operator, context, monkeypatch, field, rendered, param
):
    op = make_operator()
    setattr(op, field, rendered)
    _no_aws(monkeypatch)
    with pytest.raises(FargateConfigError, match=f"^{param}: "):
        op.execute(context)


def test_an_empty_argument_in_the_command_reaches_run_task_unchanged(make_operator, context, aws):
    make_operator(command=["printf", "%s|", ""]).execute(context)
    (request,) = aws.fargate.requests_of("RunTask")
    assert request["overrides"]["containerOverrides"][0]["command"] == ["printf", "%s|", ""]


def test_pass_through_arguments_reach_run_task_beside_the_operators_own(make_operator, context, aws):
    make_operator(
        cpu=1024,
        memory=2048,
        run_task_kwargs={
            "enableExecuteCommand": True,
            "enableECSManagedTags": True,
            "overrides": {"ephemeralStorage": {"sizeInGiB": 50}},
        },
    ).execute(context)
    (request,) = aws.fargate.requests_of("RunTask")
    assert request["enableExecuteCommand"] is True and request["enableECSManagedTags"] is True
    assert request["overrides"]["ephemeralStorage"] == {"sizeInGiB": 50}
    assert request["overrides"]["cpu"] == "1024" and request["overrides"]["containerOverrides"]
    assert request["startedBy"] and request["networkConfiguration"]["awsvpcConfiguration"]["subnets"]


def test_every_tag_key_the_operator_sets_is_refused_as_a_user_tag():
    from airflow_provider_ecsops.fargate.run_key import RunKey

    own_keys = [tag["key"] for tag in RunKey("d", "t", "r", -1, 0).tags()]
    assert own_keys
    for key in own_keys:
        with pytest.raises(FargateConfigError, match=f"key '{key}' is reserved"):
            FargateOffloadOperator(**{**GOOD, "tags": {key: "x"}})
