"""Checks of the operator's arguments, made at construction (DAG parse) time with no AWS call.

A value that is still a Jinja template is checked again after rendering. Every error names the parameter and
the fix.
"""

from __future__ import annotations

import re
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
_TASK_DEFINITION = re.compile(
    r"^(arn:aws[\w-]*:ecs:[\w-]+:\d{12}:task-definition/)?[A-Za-z0-9_-]{1,255}(:\d+)?$"
)


class FargateConfigError(ValueError):
    """An argument of FargateOffloadOperator that cannot work; the message names the parameter and the fix."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _fail(param: str, problem: str, fix: str) -> None:
    raise FargateConfigError(f"{param}: {problem}. Fix: {fix}")


def _str_list(param: str, value: Any, example: str, *, required: bool, limit: int | None = None) -> None:
    if value is None or is_template(value):
        if required and value is None:
            _fail(param, "is required", f"pass {param}={example}")
        return
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(
            param,
            f"must be a list of strings, got {type(value).__name__} {value!r}",
            f"pass {param}={example}",
        )
    if required and not value:
        _fail(param, "is empty", f"pass at least one, e.g. {param}={example}")
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        _fail(param, f"must hold non-empty strings only, got {bad!r}", f"pass {param}={example}")
    if limit is not None and len(value) > limit:
        _fail(param, f"has {len(value)} entries, ECS allows at most {limit}", f"pass at most {limit}")


def check_size(cpu: Any, memory: Any) -> None:
    """Check task-level cpu (units) and memory (MiB) overrides against the valid Fargate sizes."""
    values = {}
    for param, value in (("cpu", cpu), ("memory", memory)):
        if value is None or is_template(value):
            continue
        try:
            values[param] = int(value)
        except (TypeError, ValueError):
            _fail(
                param,
                f"must be a whole number, got {value!r}",
                f"pass {param} in units ECS uses, e.g. cpu=1024, memory=2048",
            )
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
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            _fail("tags", f"key {key!r} must be a string of 1 to 128 characters", "shorten or fix the key")
        if key.lower().startswith("aws:") or key in RunKey.RESERVED_TAG_KEYS:
            _fail(
                "tags",
                f"key {key!r} is reserved",
                "choose another key (aws: and the operator's own keys are reserved)",
            )
        if not isinstance(value, str) or len(value) > 256:
            _fail(
                "tags",
                f"value of {key!r} must be a string of at most 256 characters",
                f"pass str(...) for {key!r}, at most 256 characters",
            )


def check_arguments(args: Mapping[str, Any]) -> None:
    """Check every argument the operator validates; skip values that are still templates."""
    _check_names(args["cluster"], args["task_definition"])
    _check_command(args["command"])
    _str_list("subnets", args["subnets"], "['subnet-0abc...', 'subnet-0def...']", required=True, limit=16)
    _str_list("security_groups", args["security_groups"], "['sg-0abc...']", required=False, limit=5)
    _check_environment(args["environment"])
    check_size(args["cpu"], args["memory"])
    check_tags(args["tags"])
    _check_capacity(args["launch_type"], args["capacity_provider_strategy"])
    _check_run_options(args)


def _check_names(cluster: Any, task_definition: Any) -> None:
    for param, value in (("cluster", cluster), ("task_definition", task_definition)):
        if not isinstance(value, str) or not value.strip():
            _fail(
                param,
                f"must be a non-empty string, got {value!r}",
                f"pass the ECS {param.replace('_', ' ')} name or ARN",
            )
    if not is_template(task_definition) and not _TASK_DEFINITION.match(task_definition):
        _fail(
            "task_definition",
            f"{task_definition!r} is not a family, family:revision or task definition ARN",
            "pass e.g. 'etl', 'etl:7' or 'arn:aws:ecs:us-east-1:123456789012:task-definition/etl:7'",
        )


def _check_command(command: Any) -> None:
    if isinstance(command, str) and not is_template(command):
        _fail(
            "command",
            f"must be a list of strings, got the string {command!r}",
            f"pass command={command.split()!r}, or ['sh', '-c', {command!r}] for shell syntax",
        )
    _str_list("command", command, "['python', 'etl.py']", required=False)


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
    if not isinstance(strategy, Sequence) or not strategy:
        _fail(
            "capacity_provider_strategy",
            "must be a non-empty list of dicts",
            "pass [{'capacityProvider': 'FARGATE_SPOT', 'weight': 1}]",
        )
    for item in strategy:
        if not isinstance(item, Mapping) or item.get("capacityProvider") not in CAPACITY_PROVIDERS:
            _fail(
                "capacity_provider_strategy",
                f"entry {item!r} does not name FARGATE or FARGATE_SPOT",
                "use {'capacityProvider': 'FARGATE_SPOT', 'weight': 1}",
            )


def _check_run_options(args: Mapping[str, Any]) -> None:
    if args["propagate_tags"] not in (None, "TASK_DEFINITION", "NONE"):
        _fail(
            "propagate_tags",
            f"{args['propagate_tags']!r} is not valid for RunTask",
            "use 'TASK_DEFINITION', 'NONE' or None",
        )
    if not isinstance(args["assign_public_ip"], bool):
        _fail(
            "assign_public_ip",
            f"must be True or False, got {args['assign_public_ip']!r}",
            "pass assign_public_ip=True for a public subnet without NAT",
        )
    interval = args["poll_interval"]
    if interval is not None and (not isinstance(interval, (int, float)) or interval <= 0):
        _fail(
            "poll_interval",
            f"must be a positive number of seconds, got {args['poll_interval']!r}",
            "pass e.g. poll_interval=6",
        )
    codes = args["skip_on_exit_code"]
    if codes is not None and not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        _fail(
            "skip_on_exit_code",
            f"must be an int or a list of ints, got {codes!r}",
            "pass e.g. skip_on_exit_code=99",
        )
