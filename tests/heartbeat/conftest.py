from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto for the test."""
    from moto import mock_aws

    with mock_aws():
        yield


class _Handler(BaseHTTPRequestHandler):
    """``/status/<code>`` answers that code, ``/slow`` answers after 3 s; records the Authorization header."""

    seen_auth: list[str | None]

    def do_GET(self) -> None:
        self.server.seen_auth.append(self.headers.get("Authorization"))
        if self.path.startswith("/slow"):
            time.sleep(3)
            code = 200
        else:
            code = int(self.path.split("?")[0].rsplit("/", 1)[-1])
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class HttpServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.port = server.server_address[1]

    def basic_auth_seen(self) -> list[str]:
        return [base64.b64decode(a.split()[1]).decode() for a in self.server.seen_auth if a]


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 (ephemeral port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.seen_auth = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HttpServer(server)
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts connections and never answers (a hung service)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A listener whose accept backlog is full, so new connections hang (SYNs are dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()
