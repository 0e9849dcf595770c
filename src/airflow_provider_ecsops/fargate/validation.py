"""Checks of the operator's arguments, made at construction (DAG parse) time with no AWS call.

Invariant: every argument is checked for type, range and characters as the ECS API reference documents them
before the operator makes any AWS call, so nothing can fail after RunTask because of an argument. A value that
is still a Jinja template (or a list or dict holding templates) is checked again after rendering, at the start
of ``execute``. Every error reads ``param: problem. Fix: ...``.
"""

from __future__ import annotations

import ast
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_ecsops.fargate.run_key import RunKey

# Valid Fargate task sizes: cpu units -> memory MiB (Amazon ECS developer guide, "Task CPU and memory").
FARGATE_SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}
# ECS allows 50 tags per task, the operator's own included.
MAX_USER_TAGS = 50 - len(RunKey.RESERVED_TAG_KEYS)
CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
# RunTask: "A total of 8192 characters are allowed for overrides. This limit includes the JSON formatting
# characters of the override structure."
MAX_OVERRIDES_CHARS = 8192
# Cluster, task definition family and container names: "Up to 255 letters (uppercase and lowercase), numbers,
# underscores, and hyphens are allowed."
_NAME = r"[A-Za-z0-9_-]{1,255}"
_CLUSTER = re.compile(rf"^(arn:aws[\w-]*:ecs:[a-z0-9-]+:\d{{12}}:cluster/)?{_NAME}$")
_TASK_DEFINITION = re.compile(rf"^(arn:aws[\w-]*:ecs:[a-z0-9-]+:\d{{12}}:task-definition/)?{_NAME}(:\d+)?$")
_CONTAINER = re.compile(rf"^{_NAME}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{1,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{1,17}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_PLATFORM_VERSION = re.compile(r"^(LATEST|\d+\.\d+\.\d+)$")
# Tag keys and values: "letters, numbers, and spaces representable in UTF-8, and + - = . _ : / @".
_TAG_PUNCTUATION = frozenset("+-=._:/@")


class FargateConfigError(ValueError):
    """An argument of FargateOffloadOperator that cannot work; the message names the parameter and the fix."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def holds_template(value: Any) -> bool:
    """True if ``value`` is a template or a list/dict with a template anywhere inside (keys included)."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(holds_template(k) or holds_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_template(v) for v in value)
    return False


def _fail(param: str, problem: str, fix: str) -> None:
    raise FargateConfigError(f"{param}: {problem}. Fix: {fix}")


def check_arguments(args: Mapping[str, Any]) -> None:
    """Check every argument of the operator; values that are still templates are skipped until rendered."""
    _check_names(args["cluster"], args["task_definition"], args["container_name"])
    _check_command(args["command"])
    _check_network(args["subnets"], args["security_groups"])
    _check_environment(args["environment"])
    check_size(args["cpu"], args["memory"])
    check_tags(args["tags"])
    _check_capacity(args["launch_type"], args["capacity_provider_strategy"])
    _check_choices(args)
    _check_flags(args)
    _check_numbers(args)
    _check_overrides_size(args["command"], args["environment"], args["cpu"], args["memory"])


# -- names ---------------------------------------------------------------------------------------------------
def _check_names(cluster: Any, task_definition: Any, container_name: Any) -> None:
    for param, value in (("cluster", cluster), ("task_definition", task_definition)):
        if not isinstance(value, str) or not value.strip():
            _fail(
                param,
                f"must be a non-empty string, got {value!r}",
                f"pass the ECS {param.replace('_', ' ')} name or ARN",
            )
    if not is_template(cluster) and not _CLUSTER.match(cluster):
        _fail(
            "cluster",
            f"{cluster!r} is not a cluster name (up to 255 letters, numbers, '-' and '_') or cluster ARN",
            "pass e.g. 'etl' or 'arn:aws:ecs:us-east-1:123456789012:cluster/etl'",
        )
    if not is_template(task_definition) and not _TASK_DEFINITION.match(task_definition):
        _fail(
            "task_definition",
            f"{task_definition!r} is not a family, family:revision or task definition ARN",
            "pass e.g. 'etl', 'etl:7' or 'arn:aws:ecs:us-east-1:123456789012:task-definition/etl:7'",
        )
    if container_name is None or is_template(container_name):
        return
    if not isinstance(container_name, str) or not _CONTAINER.match(container_name):
        _fail(
            "container_name",
            f"{container_name!r} is not a container name (up to 255 letters, numbers, '-' and '_')",
            "pass the name of a container of the task definition, or None for its only essential one",
        )


# -- lists of strings ----------------------------------------------------------------------------------------
def _list_of_str(param: str, value: Any, example: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(
            param,
            f"must be a list of strings, got {type(value).__name__} {value!r}",
            f"pass {param}={example}",
        )
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        _fail(param, f"must hold strings only, got {bad!r}", f"pass {param}={example}")
    return list(value)


def _rendered_list(value: str) -> list[Any] | None:
    """The list a string spells (what a template rendering a list leaves without native rendering), or None."""
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return parsed if isinstance(parsed, list) else None


def _check_command(command: Any) -> None:
    if command is None or is_template(command):
        return
    if isinstance(command, str):
        spelled = _rendered_list(command)
        if spelled is not None:
            _fail(
                "command",
                f"is the string {command!r}, the text of a list (a template renders to a string)",
                "set render_template_as_native_obj=True on the DAG so the template renders to a list, "
                "or template each item: command=['python', '{{ params.script }}']",
            )
        _fail(
            "command",
            f"must be a list of strings, got the string {command!r}",
            f"pass command={command.split()!r}, or ['sh', '-c', {command!r}] for shell syntax",
        )
    if not _list_of_str("command", command, "['python', 'etl.py']"):
        _fail("command", "is an empty list", "pass None to run the image's own command, or the command")
    # Empty strings are valid arguments (e.g. ['printf', '%s|', '']).


def _check_ids(param: str, value: Any, pattern: re.Pattern[str], limit: int, example: str) -> None:
    for item in _list_of_str(param, value, example):
        if not is_template(item) and not pattern.match(item):
            _fail(param, f"{item!r} is not a {param[:-1].replace('_', ' ')} ID", f"pass IDs like {example}")
    if len(value) > limit:
        _fail(param, f"has {len(value)} entries, ECS allows at most {limit}", f"pass at most {limit}")
    if len(set(value)) != len(value):
        _fail(param, f"lists an ID twice: {list(value)!r}", "list each ID once")


def _check_network(subnets: Any, security_groups: Any) -> None:
    if subnets is None:
        _fail("subnets", "is required", "pass subnets=['subnet-0abc...', 'subnet-0def...']")
    if not is_template(subnets):
        if not isinstance(subnets, str) and isinstance(subnets, Sequence) and not subnets:
            _fail("subnets", "is empty", "pass at least one, e.g. subnets=['subnet-0abc...']")
        _check_ids("subnets", subnets, _SUBNET, 16, "['subnet-0abc...', 'subnet-0def...']")
    if security_groups is not None and not is_template(security_groups):
        _check_ids("security_groups", security_groups, _SECURITY_GROUP, 5, "['sg-0abc...']")


# -- dicts -----------------------------------------------------------------------------------------------------
def _check_environment(env: Any) -> None:
    if env is None or is_template(env):
        return
    if not isinstance(env, Mapping):
        _fail(
            "environment",
            f"must be a dict of str to str, got {type(env).__name__}",
            "pass environment={'STAGE': 'prod'}",
        )
    bad = {k: type(v).__name__ for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        _fail(
            "environment",
            f"names and values must be strings; these are not: {bad}",
            "convert them with str(...)",
        )
    names = [k for k in env if not is_template(k) and (not k or "=" in k or "\0" in k)]
    if names:
        _fail(
            "environment",
            f"names {names!r} are empty or hold '=' or NUL, which no environment variable name can",
            "use names like 'STAGE'",
        )


def _tag_text_problem(text: str, limit: int, minimum: int) -> str | None:
    if not minimum <= len(text) <= limit:
        return f"must have {minimum} to {limit} characters, has {len(text)}"
    odd = sorted(
        {c for c in text if not (c.isalnum() or c in _TAG_PUNCTUATION or unicodedata.category(c) == "Zs")}
    )
    if odd:
        return f"holds {''.join(odd)!r}; ECS allows letters, numbers, spaces and + - = . _ : / @"
    if text.lower().startswith("aws:"):
        return "starts with 'aws:', which is reserved for AWS"
    return None


def check_tags(tags: Any) -> None:
    if tags is None or is_template(tags):
        return
    if not isinstance(tags, Mapping):
        _fail(
            "tags", f"must be a dict of str to str, got {type(tags).__name__}", "pass tags={'team': 'data'}"
        )
    if len(tags) > MAX_USER_TAGS:
        _fail(
            "tags",
            f"has {len(tags)} tags; ECS allows 50 and the operator adds {len(RunKey.RESERVED_TAG_KEYS)}",
            f"pass at most {MAX_USER_TAGS}",
        )
    for key, value in tags.items():
        if not isinstance(key, str):
            _fail("tags", f"key {key!r} must be a string", f"pass str({key!r}) as the key")
        if key in RunKey.RESERVED_TAG_KEYS:
            _fail("tags", f"key {key!r} is reserved", "choose another key (the operator sets this one)")
        problem = None if is_template(key) else _tag_text_problem(key, 128, 1)
        if problem:
            _fail("tags", f"key {key!r} {problem}", "fix the key")
        if not isinstance(value, str):
            _fail("tags", f"value of {key!r} must be a string, got {value!r}", f"pass str(...) for {key!r}")
        problem = None if is_template(value) else _tag_text_problem(value, 256, 0)
        if problem:
            _fail("tags", f"value of {key!r} {problem}", f"fix the value of {key!r}")


# -- task size -------------------------------------------------------------------------------------------------
def _units(param: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    _fail(
        param,
        f"must be a whole number, got {type(value).__name__} {value!r}",
        f"pass {param} as an int in the units ECS uses, e.g. cpu=1024 (1 vCPU), memory=2048 (MiB)",
    )
    raise AssertionError("unreachable")  # _fail raises; this keeps the return type honest


def check_size(cpu: Any, memory: Any) -> None:
    """Check task-level cpu (units) and memory (MiB) overrides against the valid Fargate sizes."""
    values = {
        param: _units(param, value)
        for param, value in (("cpu", cpu), ("memory", memory))
        if value is not None and not is_template(value)
    }
    if "cpu" in values and values["cpu"] not in FARGATE_SIZES:
        _fail(
            "cpu",
            f"{values['cpu']} is not a Fargate CPU size",
            f"use one of {sorted(FARGATE_SIZES)} (1024 = 1 vCPU)",
        )
    if "memory" in values and not any(values["memory"] in m for m in FARGATE_SIZES.values()):
        _fail(
            "memory",
            f"{values['memory']} MiB is not a Fargate memory size",
            "use a size from the Fargate table, e.g. 512, 1024, 2048 ...",
        )
    if len(values) == 2 and values["memory"] not in FARGATE_SIZES[values["cpu"]]:
        allowed = FARGATE_SIZES[values["cpu"]]
        _fail(
            "memory",
            f"{values['memory']} MiB does not go with cpu={values['cpu']} on Fargate",
            f"for cpu={values['cpu']} use memory between {allowed[0]} and {allowed[-1]} MiB "
            f"({', '.join(map(str, allowed[:4]))}{' ...' if len(allowed) > 4 else ''})",
        )


def _check_overrides_size(command: Any, environment: Any, cpu: Any, memory: Any) -> None:
    if holds_template([command, environment, cpu, memory]):
        return
    variables = [{"name": k, "value": v} for k, v in (environment or {}).items()]
    override = {"name": "x" * 255, "command": command or [], "environment": variables}
    size = len(json.dumps({"containerOverrides": [override], "cpu": str(cpu), "memory": str(memory)}))
    if size > MAX_OVERRIDES_CHARS:
        # Name the bigger of the two, the one to move out.
        param = "environment" if len(json.dumps(variables)) > len(json.dumps(command)) else "command"
        _fail(
            param,
            f"command and environment make a RunTask override of about {size} characters; ECS allows "
            f"{MAX_OVERRIDES_CHARS}",
            "pass large inputs through S3 or SSM Parameter Store and give the container their names",
        )


# -- capacity ----------------------------------------------------------------------------------------------------
def _check_capacity(launch_type: Any, strategy: Any) -> None:
    """Fargate either by launch type or by a FARGATE/FARGATE_SPOT capacity provider strategy, never both."""
    if strategy is None or is_template(strategy):
        if launch_type not in ("FARGATE", None):
            _fail(
                "launch_type",
                f"{launch_type!r} is not a Fargate launch type",
                "use launch_type='FARGATE' (or a capacity_provider_strategy for FARGATE_SPOT)",
            )
        return
    if launch_type is not None:
        _fail(
            "launch_type",
            "cannot be combined with capacity_provider_strategy",
            "pass launch_type=None when you set capacity_provider_strategy",
        )
    if (
        isinstance(strategy, (str, Mapping))
        or not isinstance(strategy, Sequence)
        or not 1 <= len(strategy) <= 6
    ):
        _fail(
            "capacity_provider_strategy",
            f"must be a list of 1 to 6 dicts, got {strategy!r}",
            "pass [{'capacityProvider': 'FARGATE_SPOT', 'weight': 1}]",
        )
    for item in strategy:
        if not holds_template(item):
            _check_strategy_item(item)
    _check_strategy_totals([i for i in strategy if not holds_template(i)])


def _check_strategy_item(item: Any) -> None:
    param = "capacity_provider_strategy"
    if not isinstance(item, Mapping) or item.get("capacityProvider") not in CAPACITY_PROVIDERS:
        _fail(
            param,
            f"entry {item!r} does not name FARGATE or FARGATE_SPOT",
            "use {'capacityProvider': 'FARGATE_SPOT', 'weight': 1}",
        )
    unknown = sorted(set(item) - {"capacityProvider", "weight", "base"})
    if unknown:
        _fail(
            param, f"entry {item!r} has unknown keys {unknown}", "use only capacityProvider, weight and base"
        )
    for key, top in (("weight", 1000), ("base", 100000)):
        value = item.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            _fail(
                param,
                f"{key} of {item['capacityProvider']} is {value!r}",
                f"pass an int {key} from 0 to {top}",
            )


def _check_strategy_totals(items: list[Mapping[str, Any]]) -> None:
    param = "capacity_provider_strategy"
    names = [i["capacityProvider"] for i in items]
    if len(set(names)) != len(names):
        _fail(param, f"names a capacity provider twice: {names}", "list each capacity provider once")
    if sum(1 for i in items if "base" in i) > 1:
        _fail(param, "sets base on more than one capacity provider", "set base on one capacity provider only")
    if len(items) > 1 and not any(i.get("weight", 0) > 0 for i in items):
        _fail(
            param,
            "gives every capacity provider weight 0",
            "give at least one capacity provider a weight above 0",
        )


# -- scalar options ------------------------------------------------------------------------------------------------
def _check_choices(args: Mapping[str, Any]) -> None:
    if args["propagate_tags"] not in (None, "TASK_DEFINITION", "NONE"):
        _fail(
            "propagate_tags",
            f"{args['propagate_tags']!r} is not valid for RunTask",
            "use 'TASK_DEFINITION', 'NONE' or None",
        )
    version = args["platform_version"]
    if version is not None and not is_template(version) and not _PLATFORM_VERSION.match(str(version)):
        _fail(
            "platform_version",
            f"{version!r} is not a Fargate platform version",
            "pass 'LATEST' or e.g. '1.4.0'",
        )
    conn = args["aws_conn_id"]
    if conn is not None and (not isinstance(conn, str) or not conn.strip()):
        _fail(
            "aws_conn_id",
            f"must be a connection id or None, got {conn!r}",
            "pass e.g. aws_conn_id='aws_default'",
        )
    region = args["region_name"]
    if region is not None and (not isinstance(region, str) or not _REGION.match(region)):
        _fail(
            "region_name",
            f"{region!r} is not an AWS region name",
            "pass e.g. 'us-east-1', or None for the connection's",
        )


def _check_flags(args: Mapping[str, Any]) -> None:
    for param in (
        "assign_public_ip",
        "stop_on_kill",
        "stop_on_failure",
        "rerun_failed_on_retry",
        "deferrable",
    ):
        value = args[param]
        if not isinstance(value, bool) and not (value is None and param == "deferrable"):
            _fail(
                param,
                f"must be True or False, got {type(value).__name__} {value!r}",
                f"pass {param}=True or {param}=False",
            )


def _number(param: str, value: Any, *, integer: bool, positive: bool, example: str) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if integer else "a number"
        _fail(param, f"must be {kind}, got {type(value).__name__} {value!r}", f"pass e.g. {param}={example}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        _fail(param, f"must be a finite number {bound}, got {value!r}", f"pass e.g. {param}={example}")


def _check_numbers(args: Mapping[str, Any]) -> None:
    if args["poll_interval"] is not None:
        _number("poll_interval", args["poll_interval"], integer=False, positive=True, example="6")
    if args["log_lines_on_failure"] is not None:
        _number(
            "log_lines_on_failure", args["log_lines_on_failure"], integer=True, positive=False, example="20"
        )
    _number("run_task_timeout", args["run_task_timeout"], integer=False, positive=False, example="600")


def exit_codes(value: Any) -> list[int]:
    """``skip_on_exit_code`` as a list of ints: one code or a collection of codes, each 1 to 255."""
    codes = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if codes is None:
        return []
    if isinstance(codes, (str, Mapping)) or not isinstance(codes, (Sequence, set, frozenset)):
        _fail(
            "skip_on_exit_code",
            f"must be an int or a list of ints, got {value!r}",
            "pass e.g. skip_on_exit_code=99",
        )
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int):
            _fail(
                "skip_on_exit_code",
                f"must be an int or a list of ints, got {value!r}",
                "pass e.g. skip_on_exit_code=99",
            )
        if not 1 <= code <= 255:
            _fail(
                "skip_on_exit_code",
                f"{code} is not a failing exit code (1 to 255)",
                "pass the code your container exits with to mean skip, e.g. 99",
            )
    return list(codes)
