"""A fake ECS agent and ECS/Application Auto Scaling control plane on loopback, for the scale-in work.

What it simulates, over real HTTP:

- the ECS agent's task scale-in protection endpoint ``PUT``/``GET {ECS_AGENT_URI}/task-protection/v1/state``
  with the agent's body shapes and status codes (Amazon ECS Developer Guide, "Task scale-in protection endpoint";
  the agent's handler ``agent/handlers/agentapi/taskprotection/v1/handlers`` in aws/amazon-ecs-agent): success
  ``200 {"protection": {"ExpirationDate", "ProtectionEnabled", "TaskArn"}}``, failure
  ``{"failure": {"Arn", "Detail", "Reason"}}`` (409 for ``DEPLOYMENT_BLOCKED``/``TASK_STOPPING_OR_STOPPED``/
  ``INVALID``, 404 for ``MISSING``) and error ``{"error": {"Arn", "Code", "Message"}}`` with the ECS API's status
  (400 for ``ThrottlingException`` and ``AccessDeniedException``, 500 for ``ServerException`` and for SDK errors
  such as ``RequestCanceled``);
- the task metadata endpoint v4 (``{ECS_CONTAINER_METADATA_URI_V4}/task`` with ``Cluster``, ``TaskARN``,
  ``KnownStatus`` and ``DesiredStatus``, and ``{ECS_CONTAINER_METADATA_URI_V4}`` with container metadata);
- the control-plane calls boto3 makes for the fallback and for self-retire (moto implements none of the first
  two): ``ecs.UpdateTaskProtection``, ``ecs.GetTaskProtection``, ``ecs.DescribeServices``, ``ecs.UpdateService``
  and ``application-autoscaling.DescribeScalableTargets``, spoken in the awsJson1_1 protocol. Each request is
  validated against botocore's input shape and each response against the output shape, so request shapes
  stay real. Point boto3 at it with ``AWS_ENDPOINT_URL_ECS`` / ``AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING``.

Three listeners, so that the agent can go down while the control plane stays up: ``url`` (control plane and the
``/_fake`` endpoints), the agent (``ECS_AGENT_URI`` of every task) and the metadata endpoint
(``ECS_CONTAINER_METADATA_URI_V4``); each listener also routes the others' paths. Several tasks share one
server; each gets its own URIs under a per-task path prefix.

Fault injection, from Python (or over HTTP: ``POST /_fake/faults`` with the same arguments as JSON,
``POST /_fake/restart``, ``POST /_fake/desired_status``):

- ``inject_fault(code, times=1, task_arn=None, message="", endpoint="protection")``: the next ``times`` calls
  of ``endpoint`` (of ``task_arn``, or any task) answer with ``code``. ``endpoint`` is ``"agent"`` (the agent's
  protection endpoint), ``"api"`` (``UpdateTaskProtection``/``GetTaskProtection``), ``"protection"`` (either)
  or ``"metadata"``. Codes: the ECS error codes of :data:`ERROR_STATUS` (``ThrottlingException``,
  ``AccessDeniedException``, ``ServerException``, ``RequestCanceled``, as the agent's ``error`` body or the API's
  error), the failure reasons of :data:`FAILURE_STATUS` (``DEPLOYMENT_BLOCKED``, ...: the agent's ``failure``
  body, the API's ``failures``), and the wire faults of :data:`WIRE_FAULTS` (agent and metadata only):
  ``"hanging"`` (accept, read the request, never answer), ``"reset"`` (close with RST), ``"empty-503"``,
  ``"html-502"`` (a proxy's page), ``"non-json-200"``, and for the metadata endpoint also ``"error-500"``.
- ``stop_endpoint(name)`` / ``start_endpoint(name)``: close or reopen listener ``"agent"`` or ``"metadata"`` on
  the same port (connections are refused meanwhile); ``restart_agent(down_seconds)`` closes both and reopens
  them after ``down_seconds``, as an agent restart does.
- ``set_desired_status(task_arn, "STOPPED")``: what the metadata endpoint reports once ECS chose to stop a task.

``GET /_fake/state`` returns which tasks are protected now, the services and the history of calls (protection
calls, faults taken: ``{"call": "fault", "via": "agent"|"api"|"metadata", "code"}``). It does not simulate IAM,
expiry on a wall clock other than the local one, or eventual consistency of ``DescribeServices``.

Standalone: ``python -m airflow_provider_ecsops.testing.fake_ecs_agent --port 51678 --task-arn ARN [...]``.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
_AAS_TARGET = "AnyScaleFrontendService."
ERROR_STATUS = {
    "ThrottlingException": 400,
    "AccessDeniedException": 400,
    "ServerException": 500,
    "RequestCanceled": 500,
}
"""ECS error codes and the status the agent relays them with (SDK errors like ``RequestCanceled``: 500)."""
FAILURE_STATUS = {"DEPLOYMENT_BLOCKED": 409, "TASK_STOPPING_OR_STOPPED": 409, "INVALID": 409, "MISSING": 404}
"""ECS failure reasons of UpdateTaskProtection and the agent's status for each (its ``getStatusCodeForFailure``)."""
WIRE_FAULTS = {
    "empty-503": (503, b"", "text/plain"),
    "html-502": (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    "non-json-200": (200, b"OK", "text/plain"),
    "error-500": (500, b"internal error", "text/plain"),
    "hanging": (0, b"", ""),
    "reset": (0, b"", ""),
}
"""Answers no agent documents but a proxy, a restarting agent or a network gives: (status, body, content type)."""
ENDPOINTS = ("agent", "api", "protection", "metadata")
HANG_SECONDS = 30.0


@dataclass
class _Fault:
    code: str
    times: int
    task_arn: str | None
    message: str
    endpoint: str = "protection"

    def applies(self, task_arn: str, endpoint: str) -> bool:
        if self.times <= 0 or self.task_arn not in (None, task_arn):
            return False
        if self.endpoint == "protection":
            return endpoint in ("agent", "api") and not (endpoint == "api" and self.code in WIRE_FAULTS)
        return self.endpoint == endpoint


@dataclass(frozen=True)
class _Wire:
    """A reply the handler writes as is (or not at all: ``hanging``, ``reset``)."""

    fault: str


@dataclass
class FakeService:
    """An ECS service of the fake control plane with its App Auto Scaling target."""

    cluster: str
    name: str
    desired_count: int
    min_capacity: int | None = None
    max_capacity: int | None = None
    update_count: int = 0


@dataclass
class _Task:
    arn: str
    key: str
    protected_until: datetime | None = None
    desired_status: str = "RUNNING"


@dataclass
class FakeEcsAgent:
    """The fake agent/metadata/control-plane server; a context manager serving on loopback ports.

    :param cluster: cluster ARN reported by the metadata endpoint.
    :param port: port of the control plane (``url``) on 127.0.0.1; 0 picks a free one.
    :param agent_port: port of the agent's endpoint; 0 picks a free one.
    :param metadata_port: port of the metadata endpoint; 0 picks a free one.
    """

    cluster: str = "arn:aws:ecs:us-east-1:123456789012:cluster/ecsops"
    port: int = 0
    agent_port: int = 0
    metadata_port: int = 0
    tasks: dict[str, _Task] = field(default_factory=dict)
    services: dict[str, FakeService] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _servers: dict[str, ThreadingHTTPServer] = field(default_factory=dict)
    _ports: dict[str, int] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # -- identities, faults, observable state -------------------------------------------------------------------
    def add_task(self, task_arn: str | None = None) -> dict[str, str]:
        """Register a task; return the environment a container of it would see, plus its ARN."""
        with self._lock:
            arn = task_arn or f"{self.cluster.replace(':cluster/', ':task/')}/{uuid.uuid4().hex}"
            key = uuid.uuid4().hex[:12]
            self.tasks[arn] = _Task(arn=arn, key=key)
        return {
            "ECS_AGENT_URI": f"{self.endpoint_url('agent')}/api/{key}",
            "ECS_CONTAINER_METADATA_URI_V4": f"{self.endpoint_url('metadata')}/v4/{key}",
            "ECSOPS_FAKE_TASK_ARN": arn,  # not an ECS variable: lets a harness map processes to tasks
            # Not ECS's either: the API fallback (ecs:UpdateTaskProtection, self-retire's calls) reaches this
            # fake's control plane, never AWS, whatever a test forgets to set.
            "AWS_ENDPOINT_URL_ECS": self.url,
            "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING": self.url,
        }

    def add_service(self, name: str, desired_count: int, min_capacity: int | None = None) -> FakeService:
        """Create a service; with ``min_capacity`` it also gets an App Auto Scaling scalable target."""
        with self._lock:
            service = FakeService(self.cluster, name, desired_count, min_capacity, max(desired_count, 10))
            self.services[name] = service
            return service

    def inject_fault(
        self,
        code: str,
        times: int = 1,
        task_arn: str | None = None,
        message: str = "",
        endpoint: str = "protection",
    ) -> None:
        """Make the next ``times`` calls of ``endpoint`` (of ``task_arn``, or any) answer with ``code``.

        :param code: a key of :data:`ERROR_STATUS`, :data:`FAILURE_STATUS` or :data:`WIRE_FAULTS`.
        :param endpoint: one of :data:`ENDPOINTS` (see the module docstring).
        """
        known = code in ERROR_STATUS or code in FAILURE_STATUS or code in WIRE_FAULTS
        assert known and endpoint in ENDPOINTS, f"unknown fault {code!r} or endpoint {endpoint!r}"
        with self._lock:
            self._faults.append(
                _Fault(code, times, task_arn, message or f"{code} injected by the fake", endpoint)
            )

    def clear_faults(self) -> None:
        """End every injected fault now (the endpoints answer normally from the next request)."""
        with self._lock:
            self._faults.clear()

    def set_desired_status(self, task_arn: str, status: str) -> None:
        """What the metadata endpoint reports as the task's ``DesiredStatus`` (ECS sets STOPPED to stop it)."""
        with self._lock:
            self.tasks[task_arn].desired_status = status

    def protected_tasks(self) -> list[str]:
        """ARNs of the tasks whose scale-in protection is on right now."""
        now = datetime.now(UTC)
        with self._lock:
            return sorted(t.arn for t in self.tasks.values() if t.protected_until and t.protected_until > now)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "protected": self.protected_tasks(),
                "services": {
                    n: {
                        "desiredCount": s.desired_count,
                        "minCapacity": s.min_capacity,
                        "updates": s.update_count,
                    }
                    for n, s in self.services.items()
                },
                "history": list(self.history),
            }

    # -- servers --------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The control plane (``AWS_ENDPOINT_URL_ECS``) and ``/_fake`` endpoints."""
        return self.endpoint_url("control")

    def endpoint_url(self, name: str) -> str:
        """Base URL of listener ``control``, ``agent`` or ``metadata`` (also while it is stopped)."""
        assert name in self._ports, "start the fake first"
        return f"http://127.0.0.1:{self._ports[name]}"

    def start(self) -> FakeEcsAgent:
        self._stopping.clear()
        for name, port in (
            ("control", self.port),
            ("agent", self.agent_port),
            ("metadata", self.metadata_port),
        ):
            self._listen(name, port)
        return self

    def _listen(self, name: str, port: int) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        server.daemon_threads = True
        self._servers[name] = server
        self._ports[name] = server.server_address[1]
        threading.Thread(target=server.serve_forever, name=f"fake-ecs-{name}", daemon=True).start()

    def stop_endpoint(self, name: str) -> None:
        """Close listener ``agent`` or ``metadata``: connections to its port are refused until restarted."""
        server = self._servers.pop(name, None)
        if server:
            server.shutdown()
            server.server_close()

    def start_endpoint(self, name: str) -> None:
        """Reopen a stopped listener on the same port."""
        if name not in self._servers:
            self._listen(name, self._ports[name])

    def restart_agent(self, down_seconds: float, endpoints: tuple[str, ...] = ("agent", "metadata")) -> None:
        """Refuse connections to ``endpoints`` from now on for ``down_seconds``, then serve them again."""
        for name in endpoints:
            self.stop_endpoint(name)
        self._record(call="agent_down", via="agent", seconds=down_seconds)

        def back() -> None:
            if not self._stopping.wait(down_seconds):
                for name in endpoints:
                    self.start_endpoint(name)
                self._record(call="agent_up", via="agent")

        threading.Thread(target=back, name="fake-ecs-restart", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers and pending restarts
        for name in list(self._servers):
            self.stop_endpoint(name)

    def __enter__(self) -> FakeEcsAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------------------------
    def _record(self, **event: Any) -> None:
        with self._lock:
            self.history.append({"time": time.time(), **event})

    def _take_fault(self, task_arn: str, endpoint: str) -> _Fault | None:
        for fault in self._faults:
            if fault.applies(task_arn, endpoint):
                fault.times -= 1
                self._record(call="fault", via=endpoint, task=task_arn, code=fault.code)
                return fault
        return None

    def _protection(self, task: _Task) -> dict[str, Any]:
        now = datetime.now(UTC)
        until = task.protected_until if task.protected_until and task.protected_until > now else None
        return {
            "TaskArn": task.arn,
            "ProtectionEnabled": until is not None,
            "ExpirationDate": until.isoformat().replace("+00:00", "Z") if until else None,
        }

    def set_protection(self, task_arn: str, enabled: bool, expires_in_minutes: int, via: str) -> None:
        task = self.tasks[task_arn]
        task.protected_until = datetime.now(UTC) + timedelta(minutes=expires_in_minutes) if enabled else None
        self._record(call="UpdateTaskProtection", via=via, task=task_arn, enabled=enabled)

    def agent_call(self, key: str, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | _Wire:
        """The agent endpoint's answer to ``method`` on ``/task-protection/v1/state`` of task ``key``."""
        with self._lock:
            task = next((t for t in self.tasks.values() if t.key == key), None)
            if task is None:
                return 404, {"error": {"Code": "ResourceNotFoundException", "Message": "unknown task"}}
            fault = self._take_fault(task.arn, "agent")
            if fault and fault.code in WIRE_FAULTS:
                return _Wire(fault.code)
            if fault and fault.code in FAILURE_STATUS:
                failure = {"Arn": task.arn, "Reason": fault.code, "Detail": None}
                return FAILURE_STATUS[fault.code], {"failure": failure}
            if fault:
                body_error = {"Arn": task.arn, "Code": fault.code, "Message": fault.message}
                return ERROR_STATUS[fault.code], {"error": body_error}
            if method == "GET":
                return 200, {"protection": self._protection(task)}
            if not isinstance(body.get("ProtectionEnabled"), bool):
                return 400, {"error": {"Code": "InvalidParameterException", "Message": "ProtectionEnabled"}}
            minutes = body.get("ExpiresInMinutes", 120)
            if not isinstance(minutes, int) or not 1 <= minutes <= 2880:
                reason = f"ExpiresInMinutes must be 1-2880, got {minutes!r}"
                return 200, {"failure": {"Arn": task.arn, "Reason": "INVALID_PARAMETER", "Detail": reason}}
            self.set_protection(task.arn, body["ProtectionEnabled"], minutes, via="agent")
            return 200, {"protection": self._protection(task)}

    def metadata(self, key: str, path: str) -> tuple[int, dict[str, Any]] | _Wire:
        with self._lock:
            task = next((t for t in self.tasks.values() if t.key == key), None)
            if task is None:
                return 404, {}
            fault = self._take_fault(task.arn, "metadata")
            if fault:
                return _Wire(fault.code)
            if path == "/task":
                return 200, {
                    "Cluster": self.cluster,
                    "TaskARN": task.arn,
                    "Family": "airflow-worker",
                    "Revision": "1",
                    "DesiredStatus": task.desired_status,
                    "KnownStatus": "RUNNING",
                }
        return 200, {"DockerId": key, "Name": "worker", "Labels": {"com.amazonaws.ecs.task-arn": task.arn}}

    def api_call(self, target: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one control-plane call, validated against botocore's model in both directions."""
        service_name, operation = (
            ("ecs", target[len(_ECS_TARGET) :])
            if target.startswith(_ECS_TARGET)
            else ("application-autoscaling", target[len(_AAS_TARGET) :])
        )
        model = _operation_model(service_name, operation)
        error = _validate(params, model.input_shape)
        if error:
            return 400, {"__type": "InvalidParameterException", "message": error}
        with self._lock:
            if operation in ("UpdateTaskProtection", "GetTaskProtection"):
                fault = next((f for arn in params["tasks"] if (f := self._take_fault(arn, "api"))), None)
                if fault and fault.code in FAILURE_STATUS:
                    response = {
                        "protectedTasks": [],
                        "failures": [{"arn": a, "reason": fault.code} for a in params["tasks"]],
                    }
                    return 200, _json_ready(response)
                if fault:
                    return ERROR_STATUS[fault.code], {"__type": fault.code, "message": fault.message}
            response = getattr(self, f"_api_{operation}")(params)
        problem = _validate(response, model.output_shape)
        assert not problem, f"fake {operation} response does not match botocore's output shape: {problem}"
        return 200, _json_ready(response)

    def _api_UpdateTaskProtection(self, params: dict[str, Any]) -> dict[str, Any]:
        for arn in params["tasks"]:
            self.set_protection(
                arn, params["protectionEnabled"], params.get("expiresInMinutes", 120), via="api"
            )
        return self._api_GetTaskProtection(params, record=False)

    def _api_GetTaskProtection(self, params: dict[str, Any], record: bool = True) -> dict[str, Any]:
        if record:
            self._record(call="GetTaskProtection", via="api")
        found = [self._protection(self.tasks[a]) for a in params.get("tasks", []) if a in self.tasks]
        return {
            "protectedTasks": [
                {"taskArn": p["TaskArn"], "protectionEnabled": p["ProtectionEnabled"]}
                | (
                    {"expirationDate": datetime.fromisoformat(p["ExpirationDate"])}
                    if p["ExpirationDate"]
                    else {}
                )
                for p in found
            ],
            "failures": [
                {"arn": a, "reason": "TASK_NOT_VALID"} for a in params.get("tasks", []) if a not in self.tasks
            ],
        }

    def _api_DescribeServices(self, params: dict[str, Any]) -> dict[str, Any]:
        self._record(call="DescribeServices", via="api")
        found = [
            self.services[n.rsplit("/", 1)[-1]]
            for n in params["services"]
            if n.rsplit("/", 1)[-1] in self.services
        ]
        return {
            "services": [
                {
                    "serviceName": s.name,
                    "clusterArn": s.cluster,
                    "desiredCount": s.desired_count,
                    "status": "ACTIVE",
                }
                for s in found
            ],
            "failures": [],
        }

    def _api_UpdateService(self, params: dict[str, Any]) -> dict[str, Any]:
        service = self.services[params["service"].rsplit("/", 1)[-1]]
        if "desiredCount" in params:
            service.desired_count = params["desiredCount"]
            service.update_count += 1
        self._record(
            call="UpdateService", via="api", service=service.name, desiredCount=service.desired_count
        )
        return {"service": {"serviceName": service.name, "desiredCount": service.desired_count}}

    def _api_DescribeScalableTargets(self, params: dict[str, Any]) -> dict[str, Any]:
        self._record(call="DescribeScalableTargets", via="api")
        wanted = set(params.get("ResourceIds", []))
        targets = [
            {
                "ServiceNamespace": "ecs",
                "ResourceId": f"service/{s.cluster.rsplit('/', 1)[-1]}/{s.name}",
                "ScalableDimension": "ecs:service:DesiredCount",
                "MinCapacity": s.min_capacity,
                "MaxCapacity": s.max_capacity,
                "RoleARN": "arn:aws:iam::123456789012:role/aas",
                "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
            }
            for s in self.services.values()
            if s.min_capacity is not None
        ]
        return {"ScalableTargets": [t for t in targets if not wanted or t["ResourceId"] in wanted]}


def _operation_model(service_name: str, operation: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(service_name).operation_model(operation)


def _validate(params: dict[str, Any], shape) -> str:
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def _control_call(fake: FakeEcsAgent, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any] | None:
    """The tests' own endpoints (``/_fake/...``): state, fault injection, new tasks and services."""
    if path == "/_fake/state":
        return 200, fake.state()
    if path == "/_fake/faults" and method == "POST":
        fake.inject_fault(
            body["code"],
            body.get("times", 1),
            body.get("task_arn"),
            body.get("message", ""),
            body.get("endpoint", "protection"),
        )
        return 200, {"ok": True}
    if path == "/_fake/restart" and method == "POST":
        fake.restart_agent(body["down_seconds"], tuple(body.get("endpoints", ("agent", "metadata"))))
        return 200, {"ok": True}
    if path == "/_fake/desired_status" and method == "POST":
        fake.set_desired_status(body["task_arn"], body["status"])
        return 200, {"ok": True}
    if path == "/_fake/tasks" and method == "POST":
        return 200, fake.add_task(body.get("task_arn"))
    if path == "/_fake/services" and method == "POST":
        fake.add_service(body["name"], body["desired_count"], body.get("min_capacity"))
        return 200, fake.state()["services"]
    return None


def _agent_call(
    fake: FakeEcsAgent, method: str, path: str, body: dict[str, Any]
) -> tuple[int, Any] | _Wire | None:
    """The ECS agent's endpoints: task scale-in protection and the task metadata (v4)."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "api" and path.endswith("/task-protection/v1/state"):
        return fake.agent_call(parts[2], method, body)
    if len(parts) >= 3 and parts[1] == "v4":
        return fake.metadata(parts[2], "/" + "/".join(parts[3:]) if len(parts) > 3 else "")
    return None


def _answer(
    fake: FakeEcsAgent, method: str, path: str, target: str, body: dict[str, Any]
) -> tuple[int, Any] | tuple[int, Any, str] | _Wire:
    """What the fake answers to one request: the tests' endpoints, the agent's, else the control plane."""
    reply = _control_call(fake, method, path, body) or _agent_call(fake, method, path, body)
    if reply is not None:
        return reply
    if method == "POST" and target.startswith((_ECS_TARGET, _AAS_TARGET)):
        return (*fake.api_call(target, body), "application/x-amz-json-1.1")
    return 404, {"error": {"Code": "NotFound", "Message": path}}


def _send_wire(handler: BaseHTTPRequestHandler, fake: FakeEcsAgent, wire: _Wire) -> None:
    handler.close_connection = True
    if wire.fault == "hanging":  # the request was read; the answer never comes
        fake._stopping.wait(HANG_SECONDS)
    elif wire.fault == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    else:
        handler._send_raw(*WIRE_FAULTS[wire.fault])  # type: ignore[attr-defined]


def _handler_for(fake: FakeEcsAgent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}") if length else {}

        def _send(self, status: int, payload: dict[str, Any], content_type: str = "application/json") -> None:
            self._send_raw(status, json.dumps(payload).encode(), content_type)

        def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            try:
                body = self._body()
            except json.JSONDecodeError:
                return self._send(
                    400, {"error": {"Code": "InvalidParameterException", "Message": "bad JSON"}}
                )
            reply = _answer(fake, method, self.path, self.headers.get("X-Amz-Target", ""), body)
            if isinstance(reply, _Wire):
                return _send_wire(self, fake, reply)
            return self._send(*reply)

        def do_GET(self) -> None:
            self._route("GET")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=51678, help="control plane and /_fake endpoints")
    parser.add_argument("--agent-port", type=int, default=0, help="ECS_AGENT_URI's port; 0 = a free one")
    parser.add_argument(
        "--metadata-port", type=int, default=0, help="the metadata endpoint's; 0 = a free one"
    )
    parser.add_argument(
        "--task-arn", action="append", default=[], help="a task identity to serve; repeatable"
    )
    parser.add_argument("--service", action="append", default=[], help="NAME:DESIRED[:MIN]; repeatable")
    args = parser.parse_args(argv)
    fake = FakeEcsAgent(port=args.port, agent_port=args.agent_port, metadata_port=args.metadata_port).start()
    for spec in args.service:
        name, desired, *minimum = spec.split(":")
        fake.add_service(name, int(desired), int(minimum[0]) if minimum else None)
    for arn in args.task_arn:
        print(json.dumps({"task_arn": arn, **fake.add_task(arn)}), flush=True)
    print(f"fake ECS agent and control plane on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
