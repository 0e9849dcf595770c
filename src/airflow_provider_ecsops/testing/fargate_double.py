"""A Fargate task-lifecycle double for moto.

What it simulates: the ECS *task* operations RunTask, DescribeTasks, StopTask and ListTasks for Fargate, which
moto serves only partially (its tasks sit in RUNNING with PENDING containers forever, it ignores clientToken and
capacity provider strategies, and has no exit codes or stop codes). Everything else (clusters, task
definitions, VPCs, CloudWatch Logs, S3, ...) stays with moto.

How: a ``before-call`` handler on every botocore client. botocore has already validated and serialized the
request (so request shapes are the real API's) when the handler answers; each answer is validated against the
operation's output shape before it is returned, as botocore's Stubber does.

Behaviour:
- A task moves PROVISIONING -> PENDING -> RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED on a
  clock, with durations, per-container exit codes, stop code, stopped reason and log lines taken from a
  :class:`TaskScript` (queue one per RunTask with :meth:`FargateDouble.script`, or set
  :attr:`FargateDouble.default_script`). Once the essential container has exited (or StopTask was called) the
  desiredStatus is STOPPED while lastStatus passes the three stopping states for ``TaskScript.stopping``
  seconds; the containers already show their exit codes then. (Task lifecycle:
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html)
- DescribeTasks is eventually consistent right after RunTask: its first ``TaskScript.invisible`` answers about
  a new task are MISSING (a count, not a time, so that a loaded machine cannot skip the scenario), and ListTasks
  omits the task meanwhile ("The Amazon ECS API follows an eventual consistency
  model", RunTask API reference; boto/boto3 #842, #3393). :attr:`FargateDouble.missing_answers` counts them.
- Stopped tasks stay listed and describable for :attr:`FargateDouble.stopped_retention` seconds (an hour;
  ListTasks API reference: "stopped tasks appear in the returned results for at least one hour"); after that
  ListTasks omits them and DescribeTasks answers MISSING.
- ListTasks filters as its API reference states: "When you specify startedBy as the filter, it must be the only
  filter that you use" (any other filter beside it is an InvalidParameterException); the default desiredStatus
  filter is RUNNING, so without one only tasks whose desired status is RUNNING are listed.
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html)
- RunTask is idempotent by clientToken per cluster for :attr:`FargateDouble.token_ttl` seconds (24 hours), as
  ECS is: the same token with the same parameters returns the original tasks, the same token with other
  parameters is a ConflictException whose ``resourceIds`` are the original task ARNs.
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html#RunTaskIdempotency);
  startedBy, tags, overrides, launch type or capacity provider strategy are kept and returned.
- StopTask stops the containers at once (they exit 143) with stop code UserInitiated and the caller's reason;
  the task then passes the stopping states like any other.
- Log lines are written to the task definition's awslogs group and stream (in moto's CloudWatch Logs) spread
  over the running period, each :attr:`FargateDouble.log_lag` seconds after the container wrote it: CloudWatch
  Logs delivery is not immediate (the awslogs driver buffers and PutLogEvents batches; "the log events ...
  might not be immediately available", GetLogEvents/FilterLogEvents behave alike), so lines can arrive after
  the task reads STOPPED. Lines become visible on any ECS or CloudWatch Logs call made through botocore.
- Faults: :meth:`FargateDouble.fail` makes the next N calls of an ECS or CloudWatch Logs operation (e.g.
  ``GetLogEvents`` with AccessDeniedException) raise an AWS error (throttling, 5xx) or a connection error; :meth:`FargateDouble.run_failure` makes RunTask answer with a ``failures`` entry
  (e.g. capacity unavailable).
- Events: inside :meth:`FargateDouble.emitting_events`, each task's status changes are sent to moto's
  EventBridge (default bus) as ECS sends them: source ``aws.ecs``, detail-type ``ECS Task State Change``, the
  task in ``detail`` with timestamps as ISO strings and a ``version`` that grows with each change, the task ARN
  in ``resources`` (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html). They are
  sent within ``every`` seconds of the change (EventBridge's delivery is asynchronous); moto routes them through
  the rules to their targets (an SQS queue). An entry PutEvents refuses (``FailedEntryCount``) is sent again
  at the next emission with the same ``version``: ECS may send an event more than once, and "duplicate events
  have the same version in the detail object" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
  ecs_cwe_events.html).
- :attr:`FargateDouble.calls` counts calls per operation (CloudWatch Logs ones included), ``requests`` keeps
  each call's parameters, ``described_arns`` counts task ARNs described, and ``reads_in_flight`` counts the
  GetLogEvents calls made after a container exited while some of its lines had not reached CloudWatch yet
  (the calls a drain needs: a test of late lines asserts there was one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.validate import validate_parameters

log = logging.getLogger(__name__)

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
    :param stopping: seconds from the container's exit to STOPPED, spread evenly over DEACTIVATING, STOPPING and
        DEPROVISIONING (Fargate takes tens of seconds; a small default keeps tests fast).
    :param invisible: how many DescribeTasks answers about the new task are MISSING (ListTasks omits it meanwhile).
    """

    provisioning: float = 0.05
    pending: float = 0.05
    running: float | None = 0.2
    exit_codes: dict[str, int] = field(default_factory=dict)
    stop_code: str = "EssentialContainerExited"
    stopped_reason: str = "Essential container in task exited"
    fail_to_start: str | None = None
    log_lines: list[str] = field(default_factory=lambda: ["starting", "working", "done"])
    stopping: float = 0.06
    invisible: int = 0


STOPPING_STATES = ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
_CONTAINER_STATUS = {"PROVISIONING": "PENDING"}
# ListTasks' filters (cluster only scopes the call): startedBy must be alone among them.
LIST_FILTERS = frozenset(
    {"containerInstance", "family", "startedBy", "serviceName", "desiredStatus", "launchType"}
)


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
    missing_left: int = 0


def _ts(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class FargateDouble:
    """Serves ECS task operations for Fargate on a clock; see the module docstring.

    :param clock: seconds since the epoch; inject a fake clock to step time by hand (or :meth:`advance`).
    """

    stopped_retention: float = 3600.0
    token_ttl: float = 24 * 3600.0

    def __init__(self, clock=time.time) -> None:
        self._base_clock = clock
        self._offset = 0.0
        self.log_lag = 0.0
        self._writing_logs = False
        self.missing_answers = 0
        self.reads_in_flight = 0  # GetLogEvents calls made while an exited container's lines were in flight
        self.default_script = TaskScript()
        self.calls: Counter[str] = Counter()
        self.described_arns = 0
        self.requests: list[tuple[str, dict]] = []
        self._scripts: deque[TaskScript] = deque()
        self._faults: dict[str, deque[Exception | tuple[str, int, str]]] = {}
        self._run_failures: deque[str] = deque()
        self._tasks: dict[str, _Task] = {}
        self._tokens: dict[tuple[str, str], tuple[float, dict, list[str]]] = {}
        self._lock = threading.RLock()

    def clock(self) -> float:
        return self._base_clock() + self._offset

    # -- configuration -------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the double's clock forward, e.g. past the hour stopped tasks stay listed."""
        self._offset += seconds

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

    def finish(self, task_arn: str) -> None:
        """End a running task's workload now: its essential container exits as if its script's ``running`` had
        been this long (a test's control of when the work is done; its lines are all written by then)."""
        with self._lock:
            task = self._tasks[task_arn]
            started = self._phase(task)[1].get("started")
            if started is not None:
                task.script = dataclasses.replace(task.script, running=self.clock() - started)

    def heal(self, operation: str) -> None:
        """Drop the faults still queued for ``operation``."""
        self._faults.pop(operation, None)

    def run_failure(self, reason: str = CAPACITY_UNAVAILABLE, times: int = 1) -> None:
        """Make the next ``times`` RunTask calls start nothing and answer with a ``failures`` entry."""
        self._run_failures.extend([reason] * times)

    def task_arns(self) -> list[str]:
        return list(self._tasks)

    def requests_of(self, operation: str) -> list[dict]:
        return [params for op, params in self.requests if op == operation]

    def _fault(self, operation: str):
        """The injected error response for this call of ``operation``, if one is queued."""
        faults = self._faults.get(operation)
        if not faults:
            return None
        fault = faults.popleft()
        if isinstance(fault, Exception):
            raise fault
        code, status, message = fault
        return _response(status, {"Error": {"Code": code, "Message": message}})

    def handle_logs(self, operation: str, params: dict):
        """A CloudWatch Logs call: deliver the lines due, then an injected fault or None (moto answers)."""
        with self._lock:
            if self._writing_logs:  # our own PutLogEvents call
                return None
            self.deliver_logs()
            self.calls[operation] += 1
            self.requests.append((operation, params))
            if operation == "GetLogEvents" and any(
                "stopping" in self._phase(t)[1] and t.logs_written < len(t.script.log_lines)
                for t in self._tasks.values()
            ):
                self.reads_in_flight += 1
            return self._fault(operation)

    def deliver_logs(self) -> None:
        """Write every task's log lines that have reached CloudWatch by now."""
        with self._lock:
            if self._writing_logs:  # our own PutLogEvents call
                return
            for task in self._tasks.values():
                self._write_logs(task, self._phase(task)[1])

    def status(self, task_arn: str, tags: bool = False) -> dict[str, Any]:
        """The task as DescribeTasks would show it now (without counting a call); ``tags`` as with
        ``include=["TAGS"]``."""
        with self._lock:
            return self._describe(self._tasks[task_arn], include_tags=tags)

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
        """Send an ECS Task State Change event for every task whose status changed since its last one.

        An entry EventBridge refuses (``FailedEntryCount``, per entry ``ErrorCode``) or a PutEvents call that
        fails (logged) is sent again at the next call with the same ``version``; returns how many were sent.
        """
        entries = []
        with self._lock:
            for task in self._tasks.values():
                status = self._phase(task)[0]
                if status == task.emitted:
                    continue
                before = (task.emitted, task.version)
                task.emitted = status
                task.version += 1
                detail = _plain(
                    {**self._describe(task), "version": task.version, "updatedAt": _ts(self.clock())}
                )
                entries.append((task, before, detail))
        refused: list[tuple[Any, Any]] = []
        for start in range(
            0, len(entries), 10
        ):  # PutEvents takes up to 10 entries (one region: tests use one)
            chunk = entries[start : start + 10]
            try:
                answer = _moto_client("events", chunk[0][0].region).put_events(
                    Entries=[
                        {
                            "Source": "aws.ecs",
                            "DetailType": "ECS Task State Change",
                            "Detail": json.dumps(detail),
                            "Resources": [task.arn],
                        }
                        for task, _, detail in chunk
                    ]
                )
            except Exception as exc:  # a moto server that failed: logged, and the events go out next time
                log.warning(
                    "fargate double: PutEvents failed (%s); %d events are sent again", exc, len(chunk)
                )
                refused.extend((task, before) for task, before, _ in chunk)
                continue
            if answer.get("FailedEntryCount"):
                results = answer.get("Entries") or []
                refused.extend(
                    (task, before)
                    for (task, before, _), result in zip(chunk, results, strict=False)
                    if result.get("ErrorCode")
                )
        with self._lock:
            for task, (emitted, version) in refused:
                task.emitted, task.version = (
                    emitted,
                    version,
                )  # sent again at the next call, as the same event
        return len(entries) - len(refused)

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
            fault = self._fault(operation)
            if fault is not None:
                return fault
            result = handler(params, region)
        if isinstance(result, tuple):
            code, message, *extra = result
            return _response(
                400, {"Error": {"Code": code, "Message": message}, **(extra[0] if extra else {})}
            )
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
        remembered = self._tokens.get((cluster_name, token)) if token else None
        if remembered and self.clock() - remembered[0] < self.token_ttl:
            _, first_params, token_arns = remembered
            if _without_token(first_params) != _without_token(params):
                return (
                    "ConflictException",
                    "The specified client token has already been used in a different RunTask request.",
                    {"resourceIds": token_arns},
                )
            return {"tasks": [self._describe(self._tasks[a]) for a in token_arns], "failures": []}
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
                missing_left=script.invisible,
            )
            arns.append(arn)
        if token:
            self._tokens[cluster_name, token] = (self.clock(), params, arns)
        return {"tasks": [self._describe(self._tasks[a]) for a in arns], "failures": []}

    def _op_DescribeTasks(self, params: dict, region: str):
        if len(params["tasks"]) > 100:
            return ("InvalidParameterException", "Tasks cannot contain more than 100 items.")
        self.described_arns += len(params["tasks"])
        found, failures = [], []
        for ref in params["tasks"]:
            task = self._find(ref)
            if task is None or not self._visible(task):
                self.missing_answers += 1
                if task is not None and task.missing_left:
                    task.missing_left -= 1
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(self._describe(task, include_tags="TAGS" in params.get("include", [])))
        return {"tasks": found, "failures": failures}

    def _op_StopTask(self, params: dict, region: str):
        task = self._find(params["task"])
        if task is None:
            return ("InvalidParameterException", "The referenced task was not found.")
        if task.stop_requested is None and "stopping" not in self._phase(task)[1]:
            task.stop_requested = self.clock()
            task.stop_reason = params.get("reason", "")
        return {"task": self._describe(task)}

    def _op_ListTasks(self, params: dict, region: str):
        others = LIST_FILTERS & set(params) - {"startedBy"}
        if "startedBy" in params and others:
            return (
                "InvalidParameterException",
                f"startedBy must be the only filter when it is specified; also given: {', '.join(sorted(others))}",
            )
        cluster = params.get("cluster", "default").split("/")[-1]
        desired = params.get("desiredStatus", "RUNNING")
        arns = [
            t.arn
            for t in self._tasks.values()
            if t.cluster == cluster
            and self._visible(t)
            and ("startedBy" not in params or t.params.get("startedBy") == params["startedBy"])
            and ("family" not in params or t.task_definition["family"] == params["family"])
            and self._desired(t) == desired
        ]
        return {"taskArns": arns}

    # -- the lifecycle -------------------------------------------------------------------------------------
    def _find(self, ref: str) -> _Task | None:
        if ref in self._tasks:
            return self._tasks[ref]
        return next((t for a, t in self._tasks.items() if a.endswith("/" + ref)), None)

    def _visible(self, task: _Task) -> bool:
        """Whether ECS shows the task: not right after RunTask, nor an hour after it stopped."""
        now = self.clock()
        if task.missing_left:
            return False
        status, times = self._phase(task)
        return status != "STOPPED" or now - cast(float, times["stopped"]) < self.stopped_retention

    def _desired(self, task: _Task) -> str:
        times = self._phase(task)[1]
        return "STOPPED" if "stopping" in times or task.stop_requested is not None else "RUNNING"

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
                return self._stopping(task, now, stop, times)
            return "PENDING", times
        times["pullStopped"] = started
        if stop is not None and stop <= started:
            return self._stopping(task, now, stop, times)
        times["started"] = started
        if stop is not None and now >= stop:
            return self._stopping(task, now, stop, times)
        return "RUNNING", times

    @staticmethod
    def _stopping(
        task: _Task, now: float, exited: float, times: dict[str, float | None]
    ) -> tuple[str, dict[str, float | None]]:
        """After the containers exited: the three stopping states, then STOPPED."""
        times["stopping"] = exited
        elapsed, duration = now - exited, task.script.stopping
        if elapsed >= duration:
            times["stopped"] = exited + duration
            return "STOPPED", times
        return STOPPING_STATES[min(2, int(elapsed / duration * 3))], times

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
                "lastStatus": "STOPPED" if "stopping" in times else _CONTAINER_STATUS.get(status, status),
            }
            if "stopping" in times and "started" in times:
                c["exitCode"] = 143 if user_stopped else task.script.exit_codes.get(cdef["name"], 0)
                if c["exitCode"]:
                    c["reason"] = "Stopped by StopTask" if user_stopped else f"exit {c['exitCode']}"
            containers.append(c)
        return containers

    def _describe(self, task: _Task, include_tags: bool = False) -> dict[str, Any]:
        status, times = self._phase(task)
        self._write_logs(task, times)
        s = task.script
        td = task.task_definition
        stopping = "stopping" in times  # the containers have exited: a stopping state or STOPPED
        user_stopped = (
            stopping and task.stop_requested is not None and times["stopping"] == task.stop_requested
        )
        overrides = task.params.get("overrides", {})
        containers = self._containers(task, status, times, user_stopped)
        out: dict[str, Any] = {
            "taskArn": task.arn,
            "clusterArn": task.cluster_arn,
            "taskDefinitionArn": td["taskDefinitionArn"],
            "lastStatus": status,
            "desiredStatus": self._desired(task),
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
        if stopping:
            out["executionStoppedAt"] = out["stoppingAt"] = _ts(times["stopping"])
            out["stoppedAt"] = _ts(times.get("stopped"))
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

    def _write_logs(self, task: _Task, times: dict) -> None:
        """Put the log lines due by now into the awslogs stream, so that readers see them arrive over time."""
        lines = task.script.log_lines
        if "started" not in times or task.logs_written >= len(lines):
            return
        essential = next(c for c in task.task_definition["containerDefinitions"] if c.get("essential", True))
        options = (essential.get("logConfiguration") or {}).get("options") or {}
        if (essential.get("logConfiguration") or {}).get("logDriver") != "awslogs":
            return
        written_by = self.clock() - self.log_lag  # what the container wrote by then has reached CloudWatch
        if "stopping" in times and written_by >= cast(float, times["stopping"]):
            due = len(lines)
        elif written_by < cast(float, times["started"]):
            return
        else:
            running = task.script.running or 1.0
            due = min(
                len(lines), int((written_by - cast(float, times["started"])) / running * len(lines)) + 1
            )
        if due <= task.logs_written:
            return
        logs = _moto_client("logs", options.get("awslogs-region", task.region))
        self._writing_logs = True
        try:
            self._put_lines(logs, task, options, essential["name"], times, due)
        finally:
            self._writing_logs = False

    def _put_lines(self, logs, task: _Task, options: dict, container: str, times: dict, due: int) -> None:
        lines = task.script.log_lines
        stream = f"{options['awslogs-stream-prefix']}/{container}/{task.arn.rsplit('/', 1)[-1]}"
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


def _without_token(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "clientToken"}


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
    if not _ACTIVE:
        return None
    if model.service_model.service_name not in ("ecs", "logs"):
        return None
    api_params = json.loads(params["body"] or b"{}") if params.get("body") else {}
    if model.service_model.service_name == "logs":
        # Lines whose delivery lag has passed arrive first.
        return _ACTIVE[-1].handle_logs(model.name, api_params)
    return _ACTIVE[-1].handle(model.name, api_params, model, request_signer.region_name)


# Registered once for every botocore session created from now on (as moto registers its own stubber); it is
# inert until a FargateDouble is entered.
botocore.handlers.BUILTIN_HANDLERS.append(("before-call.ecs", _before_call))
botocore.handlers.BUILTIN_HANDLERS.append(("before-call.logs", _before_call))
