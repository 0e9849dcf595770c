"""``run_task_kwargs``: RunTask arguments the operator does not model, passed through as given.

Invariant: a pass-through argument never replaces one the operator sets (its run key, network, container
override, tags, capacity), and is checked against botocore's model of RunTask before any AWS call, at DAG parse
time unless it still holds a template (then at the start of ``execute``, after rendering). botocore is imported
inside :func:`check_run_task_kwargs` only, so a DAG that does not pass ``run_task_kwargs`` loads no AWS SDK
(tests/test_import_cost.py); one that does pays botocore's import once per parsing process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from airflow_provider_ecsops.fargate.validation import FargateConfigError, holds_template

# RunTask members the operator builds itself -> the operator argument to use instead.
MODELED = {
    "cluster": "cluster",
    "taskDefinition": "task_definition",
    "networkConfiguration": "subnets, security_groups and assign_public_ip",
    "launchType": "launch_type",
    "capacityProviderStrategy": "capacity_provider_strategy",
    "platformVersion": "platform_version",
    "propagateTags": "propagate_tags",
    "tags": "tags",
    "startedBy": None,  # the run key: the operator's idempotency rests on it
    "clientToken": None,
    "count": None,  # one task per task instance
}
# Members of RunTask's ``overrides`` the operator builds itself.
MODELED_OVERRIDES = {"containerOverrides": "command and environment", "cpu": "cpu", "memory": "memory"}
# "Task placement constraints/strategies are not supported for tasks hosted on Fargate" (ECS developer guide,
# "Amazon ECS task placement"); the operator only runs on Fargate capacity.
NOT_ON_FARGATE = ("placementConstraints", "placementStrategy")
# Fargate ephemeral storage: "The minimum supported value is 21 GiB and the maximum supported value is 200 GiB"
# (ECS API reference, EphemeralStorage).
EPHEMERAL_GIB = (21, 200)


def _fail(problem: str, fix: str) -> None:
    raise FargateConfigError(f"run_task_kwargs: {problem}. Fix: {fix}")


@cache
def _run_task_shape() -> Any:
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    return (
        ServiceModel(Loader().load_service_model("ecs", "service-2"), "ecs")
        .operation_model("RunTask")
        .input_shape
    )


def _check_not_modeled(kwargs: Mapping[str, Any]) -> None:
    for key, param in MODELED.items():
        if key in kwargs:
            fix = f"pass {param} to the operator" if param else "leave it out: the operator sets it"
            _fail(f"{key!r} is set by the operator", fix)
    for key in NOT_ON_FARGATE:
        if key in kwargs:
            _fail(f"{key!r} is not supported for tasks on Fargate", f"leave {key} out")
    overrides = kwargs.get("overrides")
    if isinstance(overrides, Mapping):
        for key, param in MODELED_OVERRIDES.items():
            if key in overrides:
                _fail(f"'overrides.{key}' is set by the operator", f"pass {param} to the operator")


def check_run_task_kwargs(kwargs: Any) -> None:
    """Check ``run_task_kwargs`` against what the operator sets and botocore's RunTask input shape."""
    if kwargs is None or holds_template(kwargs):
        return
    if not isinstance(kwargs, Mapping):
        _fail(
            f"must be a dict of RunTask arguments, got {type(kwargs).__name__}",
            "pass e.g. {'enableExecuteCommand': True}",
        )
    _check_not_modeled(kwargs)
    from botocore.validate import ParamValidator

    # The members RunTask requires, so only the pass-through's own problems are reported.
    report = ParamValidator().validate({"taskDefinition": "x", **kwargs}, _run_task_shape())
    if report.has_errors():
        _fail(
            "; ".join(report.generate_report().splitlines()),
            "use RunTask's member names and types (boto3 ECS.Client.run_task)",
        )
    size = kwargs.get("overrides", {}).get("ephemeralStorage", {}).get("sizeInGiB")
    if size is not None and not EPHEMERAL_GIB[0] <= size <= EPHEMERAL_GIB[1]:
        _fail(
            f"overrides.ephemeralStorage.sizeInGiB is {size}",
            f"pass {EPHEMERAL_GIB[0]} to {EPHEMERAL_GIB[1]} (GiB)",
        )


def merge(request: dict[str, Any], kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The RunTask request with the pass-through arguments added (``overrides`` merged member by member)."""
    if not kwargs:
        return request
    merged = {**request, **{k: v for k, v in kwargs.items() if k != "overrides"}}
    if "overrides" in kwargs:
        merged["overrides"] = {**request["overrides"], **kwargs["overrides"]}
    return merged
