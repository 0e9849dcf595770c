"""A Fargate task-lifecycle double for moto.

What it simulates: the ECS *task* operations RunTask, DescribeTasks, StopTask and ListTasks for Fargate, which
moto serves only partially (its tasks sit in RUNNING with PENDING containers forever, it ignores clientToken and
capacity provider strategies, and has no exit codes or stop codes). Everything else (clusters, task
definitions, VPCs, CloudWatch Logs, S3, ...) stays with moto.

How: a ``before-call`` handler on every botocore client. botocore has already validated and serialized the
request (so request shapes are the real API's) when the handler answers; each answer is validated against the
operation's output shape before it is returned, as botocore's Stubber does.

Behaviour:
- A task moves PROVISIONING -> PENDING -> RUNNING -> STOPPED on a clock, with durations, per-container exit
  codes, stop code, stopped reason and log lines taken from a :class:`TaskScript` (queue one per RunTask with
  :meth:`FargateDouble.script`, or set :attr:`FargateDouble.default_script`).
- Log lines are written to the task definition's awslogs group and stream (in moto's CloudWatch Logs) spread
  over the running period; by the time a task reads STOPPED, all its lines are there.
- RunTask is idempotent by clientToken per cluster, as ECS is; startedBy, tags, overrides, launch type or
  capacity provider strategy are kept and returned.
- StopTask stops at once with stop code UserInitiated and the caller's reason; running containers exit 143.
- Faults: :meth:`FargateDouble.fail` makes the next N calls of an operation raise an AWS error (throttling,
  5xx) or a connection error; :meth:`FargateDouble.run_failure` makes RunTask answer with a ``failures`` entry
  (e.g. capacity unavailable).
- Events: inside :meth:`FargateDouble.emitting_events`, each task's status changes are sent to moto's
  EventBridge (default bus) as ECS sends them: source ``aws.ecs``, detail-type ``ECS Task State Change``, the
  task in ``detail`` with timestamps as ISO strings and a ``version`` that grows with each change, the task ARN
  in ``resources`` (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html). They are
  sent within ``every`` seconds of the change (EventBridge's delivery is asynchronous); moto routes them through
  the rules to their targets (an SQS queue).
- :attr:`FargateDouble.calls` counts calls per operation, ``requests`` keeps each call's parameters, and
  ``described_arns`` counts task ARNs described.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.validate import validate_parameters

ACCOUNT_ID = "123456789012"
CAPACITY_UNAVAILABLE = (
    "Capacity is unavailable at this time. Please try again later or in a different availability zone"
)


@dataclass
class TaskScript:
    """How one simulated task behaves.

    :param provisioning: seconds in PROVISIONING.
    :param pending: seconds in PENDING (image pull).
    :param running: seconds in RUNNING before the essential container exits; ``None`` runs until stopped.
    :param exit_codes: exit code per container name; containers not named exit 0.
    :param stop_code: ECS stop code when the task stops by itself.
    :param stopped_reason: ECS stopped reason when the task stops by itself.
    :param fail_to_start: stop after PROVISIONING with TaskFailedToStart and this reason; no container runs.
    :param log_lines: lines the essential container writes, spread over the running period.
    """

    provisioning: float = 0.05
    pending: float = 0.05
    running: float | None = 0.2
    exit_codes: dict[str, int] = field(default_factory=dict)
    stop_code: str = "EssentialContainerExited"
    stopped_reason: str = "Essential container in task exited"
    fail_to_start: str | None = None
    log_lines: list[str] = field(default_factory=lambda: ["starting", "working", "done"])


@dataclass
class _Task:
    arn: str
    cluster_arn: str
    cluster: str
    region: str
    task_definition: dict
    params: dict
    script: TaskScript
    created: float
    stop_requested: float | None = None
    stop_reason: str = ""
    logs_written: int = 0
    emitted: str = ""  # the last status sent as an event
    version: int = 0  # the event detail's version: grows with each status change


def _ts(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class FargateDouble:
    """Serves ECS task operations for Fargate on a clock; see the module docstring.

    :param clock: seconds since the epoch; inject a fake clock to step time by hand.
    """

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.default_script = TaskScript()
        self.calls: Counter[str] = Counter()
        self.described_arns = 0
        self.requests: list[tuple[str, dict]] = []
        self._scripts: deque[TaskScript] = deque()
        self._faults: dict[str, deque[Exception | tuple[str, int, str]]] = {}
        self._run_failures: deque[str] = deque()
        self._tasks: dict[str, _Task] = {}
        self._tokens: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.RLock()

    # -- configuration -------------------------------------------------------------------------------------
    def script(self, *scripts: TaskScript) -> None:
        """Queue scripts for the next RunTask calls, one task each, in order."""
        self._scripts.extend(scripts)

    def fail(
        self, operation: str, code: str = "ThrottlingException", times: int = 1, status: int = 400
    ) -> None:
        """Make the next ``times`` calls of ``operation`` fail with AWS error ``code`` (``"connection"`` for a
        connection error)."""
        queue = self._faults.setdefault(operation, deque())
        for _ in range(times):
            if code == "connection":
                queue.append(EndpointConnectionError(endpoint_url="https://ecs.us-east-1.amazonaws.com"))
            else:
                queue.append((code, status, "Rate exceeded" if "Throttl" in code else f"simulated {code}"))

    def run_failure(self, reason: str = CAPACITY_UNAVAILABLE, times: int = 1) -> None:
        """Make the next ``times`` RunTask calls start nothing and answer with a ``failures`` entry."""
        self._run_failures.extend([reason] * times)

    def task_arns(self) -> list[str]:
        return list(self._tasks)

    def requests_of(self, operation: str) -> list[dict]:
        return [params for op, params in self.requests if op == operation]

    def status(self, task_arn: str) -> dict[str, Any]:
        """The task as DescribeTasks would show it now (without counting a call)."""
        with self._lock:
            return self._describe(self._tasks[task_arn])

    @contextlib.contextmanager
    def emitting_events(self, every: float = 0.1) -> Iterator[None]:
        """Send each task's status changes to moto's EventBridge while inside; see the module docstring."""
        stop = threading.Event()

        def emit() -> None:
            while not stop.wait(every):
                self.emit_due_events()

        thread = threading.Thread(target=emit, name="fargate-double-events", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.emit_due_events()

    def emit_due_events(self) -> int:
        """Send an ECS Task State Change event for every task whose status changed since its last one."""
        entries = []
        with self._lock:
            for task in self._tasks.values():
                status = self._phase(task)[0]
                if status == task.emitted:
                    continue
                task.emitted = status
                task.version += 1
                detail = _plain(
                    {**self._describe(task), "version": task.version, "updatedAt": _ts(self.clock())}
                )
                entries.append((task.region, task.arn, detail))
        for start in range(
            0, len(entries), 10
        ):  # PutEvents takes up to 10 entries (one region: tests use one)
            chunk = entries[start : start + 10]
            _moto_client("events", chunk[0][0]).put_events(
                Entries=[
                    {
                        "Source": "aws.ecs",
                        "DetailType": "ECS Task State Change",
                        "Detail": json.dumps(detail),
                        "Resources": [arn],
                    }
                    for _, arn, detail in chunk
                ]
            )
        return len(entries)

    # -- installation --------------------------------------------------------------------------------------
    def __enter__(self) -> FargateDouble:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)

    # -- request handling ----------------------------------------------------------------------------------
    def handle(self, operation: str, params: dict, model, region: str):
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return None  # not ours: moto answers
        with self._lock:
            self.calls[operation] += 1
            self.requests.append((operation, params))
            faults = self._faults.get(operation)
            if faults:
                fault = faults.popleft()
                if isinstance(fault, Exception):
                    raise fault
                code, status, message = fault
                return _response(status, {"Error": {"Code": code, "Message": message}})
            result = handler(params, region)
        if isinstance(result, tuple):
            code, message = result
            return _response(400, {"Error": {"Code": code, "Message": message}})
        validate_parameters(result, model.output_shape)
        return _response(200, result)

    def _op_RunTask(self, params: dict, region: str):
        ecs = _moto_client("ecs", region)
        cluster_name = params.get("cluster", "default").split("/")[-1]
        clusters = ecs.describe_clusters(clusters=[cluster_name])["clusters"]
        if not clusters or clusters[0]["status"] != "ACTIVE":
            return ("ClusterNotFoundException", "Cluster not found.")
        try:
            taskdef = ecs.describe_task_definition(taskDefinition=params["taskDefinition"])["taskDefinition"]
        except Exception:  # moto's own error for an unknown family or revision
            return ("ClientException", "Unable to describe task definition.")
        error = _check_run_params(params, taskdef)
        if error:
            return ("InvalidParameterException", error)
        token = params.get("clientToken")
        if token and (cluster_name, token) in self._tokens:
            return {
                "tasks": [self._describe(self._tasks[a]) for a in self._tokens[cluster_name, token]],
                "failures": [],
            }
        if self._run_failures:
            return {"tasks": [], "failures": [{"reason": self._run_failures.popleft()}]}
        arns = []
        for _ in range(params.get("count", 1)):
            task_id = uuid.uuid4().hex
            arn = f"arn:aws:ecs:{region}:{ACCOUNT_ID}:task/{cluster_name}/{task_id}"
            script = self._scripts.popleft() if self._scripts else self.default_script
            self._tasks[arn] = _Task(
                arn=arn,
                cluster_arn=clusters[0]["clusterArn"],
                cluster=cluster_name,
                region=region,
                task_definition=taskdef,
                params=params,
                script=script,
                created=self.clock(),
            )
            arns.append(arn)
        if token:
            self._tokens[cluster_name, token] = arns
        return {"tasks": [self._describe(self._tasks[a]) for a in arns], "failures": []}

    def _op_DescribeTasks(self, params: dict, region: str):
        if len(params["tasks"]) > 100:
            return ("InvalidParameterException", "Tasks cannot contain more than 100 items.")
        self.described_arns += len(params["tasks"])
        found, failures = [], []
        for ref in params["tasks"]:
            task = self._find(ref)
            if task is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(self._describe(task, include_tags="TAGS" in params.get("include", [])))
        return {"tasks": found, "failures": failures}

    def _op_StopTask(self, params: dict, region: str):
        task = self._find(params["task"])
        if task is None:
            return ("InvalidParameterException", "The referenced task was not found.")
        if task.stop_requested is None and self._phase(task)[0] != "STOPPED":
            task.stop_requested = self.clock()
            task.stop_reason = params.get("reason", "")
        return {"task": self._describe(task)}

    def _op_ListTasks(self, params: dict, region: str):
        cluster = params.get("cluster", "default").split("/")[-1]
        desired = params.get("desiredStatus", "RUNNING")
        arns = [
            t.arn
            for t in self._tasks.values()
            if t.cluster == cluster
            and ("startedBy" not in params or t.params.get("startedBy") == params["startedBy"])
            and ("family" not in params or t.task_definition["family"] == params["family"])
            and (self._phase(t)[0] == "STOPPED") == (desired == "STOPPED")
        ]
        return {"taskArns": arns}

    # -- the lifecycle -------------------------------------------------------------------------------------
    def _find(self, ref: str) -> _Task | None:
        if ref in self._tasks:
            return self._tasks[ref]
        return next((t for a, t in self._tasks.items() if a.endswith("/" + ref)), None)

    def _phase(self, task: _Task) -> tuple[str, dict[str, float | None]]:
        """The task's status now and the times of its transitions so far."""
        s = task.script
        now = self.clock()
        pending_at = task.created + s.provisioning
        times: dict[str, float | None] = {"created": task.created}
        started: float | None
        if s.fail_to_start is not None:
            natural_stop: float | None = pending_at
            started = None
        else:
            started = pending_at + s.pending
            natural_stop = None if s.running is None else started + s.running
        stop = natural_stop
        if task.stop_requested is not None and (stop is None or task.stop_requested < stop):
            stop = task.stop_requested
        if now < pending_at and (stop is None or now < stop):
            return "PROVISIONING", times
        if s.fail_to_start is None:
            times["pullStarted"] = pending_at
        if started is None or now < started:
            if stop is not None and now >= stop:
                times["stopped"] = stop
                return "STOPPED", times
            return "PENDING", times
        times["pullStopped"] = started
        if stop is not None and stop <= started:
            times["stopped"] = stop
            return "STOPPED", times
        times["started"] = started
        if stop is not None and now >= stop:
            times["stopped"] = stop
            return "STOPPED", times
        return "RUNNING", times

    @staticmethod
    def _containers(
        task: _Task, status: str, times: dict[str, float | None], user_stopped: bool
    ) -> list[dict[str, Any]]:
        """The task's containers as DescribeTasks shows them; exit codes once a started task stopped."""
        containers = []
        for cdef in task.task_definition["containerDefinitions"]:
            c: dict[str, Any] = {
                "containerArn": f"arn:aws:ecs:{task.region}:{ACCOUNT_ID}:container/{task.cluster}/"
                f"{task.arn.rsplit('/', 1)[-1]}/{cdef['name']}",
                "taskArn": task.arn,
                "name": cdef["name"],
                "image": cdef.get("image", ""),
                "lastStatus": {"PROVISIONING": "PENDING", "PENDING": "PENDING"}.get(status, status),
            }
            if status == "STOPPED" and "started" in times:
                c["exitCode"] = 143 if user_stopped else task.script.exit_codes.get(cdef["name"], 0)
                if c["exitCode"]:
                    c["reason"] = "Stopped by StopTask" if user_stopped else f"exit {c['exitCode']}"
            containers.append(c)
        return containers

    def _describe(self, task: _Task, include_tags: bool = False) -> dict[str, Any]:
        status, times = self._phase(task)
        self._write_logs(task, status, times)
        s = task.script
        td = task.task_definition
        stopped = status == "STOPPED"
        user_stopped = stopped and task.stop_requested is not None and times["stopped"] == task.stop_requested
        overrides = task.params.get("overrides", {})
        containers = self._containers(task, status, times, user_stopped)
        out: dict[str, Any] = {
            "taskArn": task.arn,
            "clusterArn": task.cluster_arn,
            "taskDefinitionArn": td["taskDefinitionArn"],
            "lastStatus": status,
            "desiredStatus": "STOPPED" if stopped or task.stop_requested else "RUNNING",
            "launchType": task.params.get("launchType", "FARGATE")
            if "capacityProviderStrategy" not in task.params
            else "FARGATE",
            "cpu": overrides.get("cpu", td.get("cpu")),
            "memory": overrides.get("memory", td.get("memory")),
            "containers": containers,
            "overrides": {"containerOverrides": overrides.get("containerOverrides", [])},
            "createdAt": _ts(times["created"]),
            "version": 1,
        }
        if "capacityProviderStrategy" in task.params:
            out["capacityProviderName"] = task.params["capacityProviderStrategy"][0]["capacityProvider"]
        if task.params.get("startedBy"):
            out["startedBy"] = task.params["startedBy"]
        if task.params.get("platformVersion"):
            out["platformVersion"] = task.params["platformVersion"]
        for key, name in (
            ("pullStarted", "pullStartedAt"),
            ("pullStopped", "pullStoppedAt"),
            ("started", "startedAt"),
        ):
            if key in times:
                out[name] = _ts(times[key])
        if stopped:
            out["stoppedAt"] = out["executionStoppedAt"] = out["stoppingAt"] = _ts(times["stopped"])
            if user_stopped:
                out["stopCode"], out["stoppedReason"] = (
                    "UserInitiated",
                    task.stop_reason or "Task stopped by user",
                )
            elif s.fail_to_start is not None:
                out["stopCode"], out["stoppedReason"] = "TaskFailedToStart", s.fail_to_start
            else:
                out["stopCode"], out["stoppedReason"] = s.stop_code, s.stopped_reason
        if include_tags:
            out["tags"] = task.params.get("tags", [])
        return {k: v for k, v in out.items() if v is not None}

    def _write_logs(self, task: _Task, status: str, times: dict) -> None:
        """Put the log lines due by now into the awslogs stream, so that readers see them arrive over time."""
        lines = task.script.log_lines
        if "started" not in times or task.logs_written >= len(lines):
            return
        essential = next(c for c in task.task_definition["containerDefinitions"] if c.get("essential", True))
        options = (essential.get("logConfiguration") or {}).get("options") or {}
        if (essential.get("logConfiguration") or {}).get("logDriver") != "awslogs":
            return
        if status == "STOPPED":
            due = len(lines)
        else:
            running = task.script.running or 1.0
            due = min(len(lines), int((self.clock() - times["started"]) / running * len(lines)) + 1)
        if due <= task.logs_written:
            return
        logs = _moto_client("logs", options.get("awslogs-region", task.region))
        stream = f"{options['awslogs-stream-prefix']}/{essential['name']}/{task.arn.rsplit('/', 1)[-1]}"
        group = options["awslogs-group"]
        if task.logs_written == 0:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        start_ms = int(times["started"] * 1000)
        events = [
            {"timestamp": start_ms + i, "message": line}
            for i, line in enumerate(lines[task.logs_written : due], start=task.logs_written)
        ]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        task.logs_written = due


def route_task_events(region: str, name: str = "ecsops-task-events") -> str:
    """Create, in moto, the SQS queue and the EventBridge rule (the documented pattern, the queue as its target)
    that event-driven waiting reads; returns the queue URL."""
    from airflow_provider_ecsops.fargate.events import RULE_PATTERN

    _cache_jsonpath_parsers()
    sqs = _moto_client("sqs", region)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = _moto_client("events", region)
    events.put_rule(Name=name, EventPattern=json.dumps(RULE_PATTERN))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def _cache_jsonpath_parsers() -> None:
    """moto renders each event for each target through 8 jsonpath expressions whose parsers it builds anew every
    time (a yacc table, about 0.05 to 0.4 s each): 500 events would take minutes. Parsing a fixed expression is
    pure, so the parsed expressions are cached; what moto delivers is unchanged."""
    import functools

    import jsonpath_ng.ext

    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=64)(jsonpath_ng.ext.parse)


def _plain(value: Any) -> Any:
    """A described task as an event's JSON detail has it: timestamps as ISO 8601 strings in UTC."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _check_run_params(params: dict, taskdef: dict) -> str | None:
    """The InvalidParameterException ECS would answer with, if any."""
    if "launchType" in params and "capacityProviderStrategy" in params:
        return "Specifying both a launch type and capacity provider strategy is not supported."
    if taskdef.get("networkMode") == "awsvpc":
        vpc = (params.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if not vpc or not vpc.get("subnets"):
            return "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    names = {c["name"] for c in taskdef["containerDefinitions"]}
    for override in (params.get("overrides") or {}).get("containerOverrides", []):
        if override.get("name") not in names:
            return f"Override for container named {override.get('name')} is not a container in the TaskDefinition."
    return None


def _response(status: int, body: dict) -> tuple[AWSResponse, dict]:
    body.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())})
    return AWSResponse("https://ecs.amazonaws.com/", status, {}, None), body


_moto_clients: dict[tuple[str, str, str | None], Any] = {}


def _moto_client(service: str, region: str):
    """A client answered by moto: in-process under ``mock_aws``, or the moto server at ``AWS_ENDPOINT_URL``."""
    import os

    import boto3

    key = (service, region, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _moto_clients:
        _moto_clients[key] = boto3.client(
            service,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    return _moto_clients[key]


_ACTIVE: list[FargateDouble] = []


def _before_call(model, params, request_signer, **kwargs):
    if not _ACTIVE or model.service_model.service_name != "ecs":
        return None
    api_params = json.loads(params["body"] or b"{}") if params.get("body") else {}
    return _ACTIVE[-1].handle(model.name, api_params, model, request_signer.region_name)


# Registered once for every botocore session created from now on (as moto registers its own stubber); it is
# inert until a FargateDouble is entered.
botocore.handlers.BUILTIN_HANDLERS.append(("before-call.ecs", _before_call))
