"""What the heartbeat tests share besides fixtures: the region and the status-code HTTP server."""

from __future__ import annotations

import base64
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGION = "us-east-1"


class StatusHandler(BaseHTTPRequestHandler):
    """``/status/<code>`` answers that code; records the Authorization header in ``server.seen_auth``."""

    def do_GET(self) -> None:
        self.server.seen_auth.append(self.headers.get("Authorization"))
        code = int(self.path.split("?")[0].rsplit("/", 1)[-1])
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class HttpServer:
    """The running :class:`StatusHandler` server as the tests see it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.port = server.server_address[1]

    def basic_auth_seen(self) -> list[str]:
        return [base64.b64decode(a.split()[1]).decode() for a in self.server.seen_auth if a]
