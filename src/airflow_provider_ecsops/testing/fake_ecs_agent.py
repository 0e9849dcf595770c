"""A fake ECS agent and ECS/Application Auto Scaling control plane on loopback, for the scale-in work.

What it simulates, over real HTTP:

- the ECS agent's task scale-in protection endpoint ``PUT``/``GET {ECS_AGENT_URI}/task-protection/v1/state``
  with the agent's body shapes: success ``{"protection": {...}}``, failure ``{"failure": {...}}`` and error
  ``{"error": {"Code": ...}}``;
- the task metadata endpoint v4 (``{ECS_CONTAINER_METADATA_URI_V4}/task`` with ``Cluster`` and ``TaskARN``, and
  ``{ECS_CONTAINER_METADATA_URI_V4}`` with container metadata);
- the control-plane calls boto3 makes for the fallback and for self-retire (moto implements none of the first
  two): ``ecs.UpdateTaskProtection``, ``ecs.GetTaskProtection``, ``ecs.DescribeServices``, ``ecs.UpdateService``
  and ``application-autoscaling.DescribeScalableTargets``, spoken in the awsJson1_1 protocol. Each request is
  validated against botocore's input shape and each response against the output shape, so request shapes
  stay real. Point boto3 at it with ``AWS_ENDPOINT_URL_ECS`` / ``AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING``.

Several tasks share one server; each gets its own ``ECS_AGENT_URI`` and ``ECS_CONTAINER_METADATA_URI_V4`` under
a per-task path prefix. Faults (throttling, access denied) can be injected per task, from Python or over HTTP
(``POST /_fake/faults``), tasks and services added (``POST /_fake/tasks``, ``POST /_fake/services``);
``GET /_fake/state`` returns which tasks are protected now, the services and the
history of calls. It does not simulate IAM, expiry on a wall clock other than the local one, or eventual
consistency of ``DescribeServices``.

Standalone: ``python -m airflow_provider_ecsops.testing.fake_ecs_agent --port 51678 --task-arn ARN [...]``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
_AAS_TARGET = "AnyScaleFrontendService."
_FAULT_STATUS = {"ThrottlingException": 429, "AccessDeniedException": 400, "ServerException": 500}


@dataclass
class _Fault:
    code: str
    times: int
    task_arn: str | None
    message: str


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


@dataclass
class FakeEcsAgent:
    """The fake agent/metadata/control-plane server; a context manager serving on a loopback port.

    :param cluster: cluster ARN reported by the metadata endpoint.
    :param port: port to bind on 127.0.0.1; 0 picks a free one.
    """

    cluster: str = "arn:aws:ecs:us-east-1:123456789012:cluster/ecsops"
    port: int = 0
    tasks: dict[str, _Task] = field(default_factory=dict)
    services: dict[str, FakeService] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

    # -- identities, faults, observable state -------------------------------------------------------------------
    def add_task(self, task_arn: str | None = None) -> dict[str, str]:
        """Register a task; return the environment a container of it would see, plus its ARN."""
        with self._lock:
            arn = task_arn or f"{self.cluster.replace(':cluster/', ':task/')}/{uuid.uuid4().hex}"
            key = uuid.uuid4().hex[:12]
            self.tasks[arn] = _Task(arn=arn, key=key)
        return {
            "ECS_AGENT_URI": f"{self.url}/api/{key}",
            "ECS_CONTAINER_METADATA_URI_V4": f"{self.url}/v4/{key}",
            "ECSOPS_FAKE_TASK_ARN": arn,  # not an ECS variable: lets a harness map processes to tasks
        }

    def add_service(self, name: str, desired_count: int, min_capacity: int | None = None) -> FakeService:
        """Create a service; with ``min_capacity`` it also gets an App Auto Scaling scalable target."""
        with self._lock:
            service = FakeService(self.cluster, name, desired_count, min_capacity, max(desired_count, 10))
            self.services[name] = service
            return service

    def inject_fault(self, code: str, times: int = 1, task_arn: str | None = None, message: str = "") -> None:
        """Make the next ``times`` protection calls (of ``task_arn``, or any) answer with error ``code``."""
        with self._lock:
            self._faults.append(_Fault(code, times, task_arn, message or f"{code} injected by the fake"))

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

    # -- server ---------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeEcsAgent:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-ecs-agent", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeEcsAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------------------------
    def _record(self, **event: Any) -> None:
        self.history.append({"time": time.time(), **event})

    def _take_fault(self, task_arn: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.task_arn in (None, task_arn):
                fault.times -= 1
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

    def agent_call(self, key: str, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The agent endpoint's answer to ``method`` on ``/task-protection/v1/state`` of task ``key``."""
        with self._lock:
            task = next((t for t in self.tasks.values() if t.key == key), None)
            if task is None:
                return 404, {"error": {"Code": "ResourceNotFoundException", "Message": "unknown task"}}
            fault = self._take_fault(task.arn)
            if fault:
                self._record(call="fault", via="agent", task=task.arn, code=fault.code)
                body_error = {"Arn": task.arn, "Code": fault.code, "Message": fault.message}
                return _FAULT_STATUS.get(fault.code, 500), {"error": body_error}
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

    def metadata(self, key: str, path: str) -> tuple[int, dict[str, Any]]:
        task = next((t for t in self.tasks.values() if t.key == key), None)
        if task is None:
            return 404, {}
        if path == "/task":
            return 200, {
                "Cluster": self.cluster,
                "TaskARN": task.arn,
                "Family": "airflow-worker",
                "Revision": "1",
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
                fault = next((f for arn in params["tasks"] if (f := self._take_fault(arn))), None)
                if fault:
                    self._record(call="fault", via="api", code=fault.code)
                    return _FAULT_STATUS.get(fault.code, 500), {
                        "__type": fault.code,
                        "message": fault.message,
                    }
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
        fake.inject_fault(body["code"], body.get("times", 1), body.get("task_arn"))
        return 200, {"ok": True}
    if path == "/_fake/tasks" and method == "POST":
        return 200, fake.add_task(body.get("task_arn"))
    if path == "/_fake/services" and method == "POST":
        fake.add_service(body["name"], body["desired_count"], body.get("min_capacity"))
        return 200, fake.state()["services"]
    return None


def _agent_call(fake: FakeEcsAgent, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any] | None:
    """The ECS agent's endpoints: task scale-in protection and the task metadata (v4)."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "api" and path.endswith("/task-protection/v1/state"):
        return fake.agent_call(parts[2], method, body)
    if len(parts) >= 3 and parts[1] == "v4":
        return fake.metadata(parts[2], "/" + "/".join(parts[3:]) if len(parts) > 3 else "")
    return None


def _handler_for(fake: FakeEcsAgent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}") if length else {}

        def _send(self, status: int, payload: dict[str, Any], content_type: str = "application/json") -> None:
            data = json.dumps(payload).encode()
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
            reply = _control_call(fake, method, self.path, body) or _agent_call(fake, method, self.path, body)
            if reply is not None:
                return self._send(*reply)
            target = self.headers.get("X-Amz-Target", "")
            if method == "POST" and target.startswith((_ECS_TARGET, _AAS_TARGET)):
                return self._send(*fake.api_call(target, body), content_type="application/x-amz-json-1.1")
            return self._send(404, {"error": {"Code": "NotFound", "Message": self.path}})

        def do_GET(self) -> None:
            self._route("GET")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=51678)
    parser.add_argument(
        "--task-arn", action="append", default=[], help="a task identity to serve; repeatable"
    )
    parser.add_argument("--service", action="append", default=[], help="NAME:DESIRED[:MIN]; repeatable")
    args = parser.parse_args(argv)
    fake = FakeEcsAgent(port=args.port).start()
    for spec in args.service:
        name, desired, *minimum = spec.split(":")
        fake.add_service(name, int(desired), int(minimum[0]) if minimum else None)
    for arn in args.task_arn:
        print(json.dumps({"task_arn": arn, **fake.add_task(arn)}), flush=True)
    print(f"fake ECS agent and control plane on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
