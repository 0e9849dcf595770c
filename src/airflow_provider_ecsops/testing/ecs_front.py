"""The Fargate double over HTTP, for processes other than the one that holds it (a real Airflow's task processes
and triggerer).

Invariant: every process sees one ECS. :class:`EcsFront` listens on loopback; a client whose ``AWS_ENDPOINT_URL``
points at it gets the double's answers for the ECS task operations it serves (RunTask, DescribeTasks, StopTask,
ListTasks) and moto's for everything else, forwarded unchanged to the moto server of ``local_aws(server=True)``.
A CloudWatch Logs call first delivers the log lines due (the double writes them into moto's CloudWatch Logs) and
may get the double's injected fault. Answers are the JSON protocol's: timestamps as epoch seconds, errors as
``{"__type": code, "message": ...}``.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_ecsops.testing.fargate_double import FargateDouble

_TARGET = re.compile(r"^(?P<prefix>[A-Za-z0-9_]+)\.(?P<op>[A-Za-z]+)$")
_REGION = re.compile(r"Credential=[^/]+/\d+/(?P<region>[a-z0-9-]+)/")
_ECS, _LOGS = "AmazonEC2ContainerServiceV20141113", "Logs_20140328"


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


class EcsFront:
    """Serves ``fargate`` for other processes; a context manager.

    :param fargate: the double (entered, in this process).
    :param moto_url: the moto server that answers everything else.
    """

    def __init__(self, fargate: FargateDouble, moto_url: str) -> None:
        import botocore.session

        self.fargate = fargate
        self.moto = urlsplit(moto_url)
        self._ecs_model = botocore.session.get_session().get_service_model("ecs")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ecs-front", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> EcsFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, target: str, body: bytes, authorization: str) -> tuple[int, bytes] | None:
        """The double's answer to a JSON-protocol call, or None when moto answers it."""
        match = _TARGET.match(target)
        if not match or match["prefix"] not in (_ECS, _LOGS):
            return None
        params = json.loads(body or b"{}")
        scope = _REGION.search(authorization)
        region = scope["region"] if scope else "us-east-1"
        if match["prefix"] == _LOGS:
            answered = self.fargate.handle_logs(match["op"], params)
        elif hasattr(self.fargate, f"_op_{match['op']}"):
            model = self._ecs_model.operation_model(match["op"])
            answered = self.fargate.handle(match["op"], params, model, region)
        else:
            return None
        if answered is None:
            return None
        response, data = answered
        if "Error" in data:
            error = data.pop("Error")
            data = {"__type": error["Code"], "message": error["Message"], **_wire(data)}
        return response.status_code, json.dumps(_wire(data)).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # one line per request otherwise
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answered = front.answer(
                    self.headers.get("X-Amz-Target", ""), body, self.headers.get("Authorization", "")
                )
                if answered is not None:
                    status, payload = answered
                    headers = {"Content-Type": "application/x-amz-json-1.1"}
                else:
                    status, headers, payload = front._forward(self.command, self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        return Handler

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.moto.hostname or "127.0.0.1", self.moto.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "connection")}
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            skip = ("content-length", "transfer-encoding", "connection", "server", "date")
            kept = {k: v for k, v in reply.getheaders() if k.lower() not in skip}
            return reply.status, kept, reply.read()
        finally:
            conn.close()
