"""Declarative heartbeat probes: each checks one thing the cluster needs, within its own timeout."""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from airflow_provider_ecsops.heartbeat.masking import mask

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")

# Probes are immutable, keyword-only, and keep Probe.__repr__, which masks secrets: Airflow 2's UI shows
# operator attributes (the probe list included) on the task instance page.
probe_dataclass = dataclass(frozen=True, kw_only=True, repr=False)


# Probes run concurrently in one task, but Airflow lookups (connections) go through the Task SDK's channel to its
# supervisor on Airflow 3, and 3.0's channel has no lock (3.1 added one): concurrent lookups there mix up
# requests and answers. Probes hold this lock for their lookups only, never for their network checks.
airflow_lookups = threading.Lock()


class ProbeFailed(Exception):
    """A probe's check found the cluster unhealthy; the message says why."""


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe: ``error`` is already masked and safe for logs and metrics."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "latency_ms": self.latency_ms, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(**data)


@probe_dataclass
class Probe:
    """
    Base of all probes.

    :param name: probe name, used as task id suffix and as the CloudWatch ``Probe`` dimension;
        defaults to one derived from the target (never from credentials).
    :param timeout: seconds the probe may take before it counts as failed.
    """

    name: str = ""
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name())
        if not _NAME.match(self.name):
            raise ValueError(
                f"Probe name {self.name!r} is invalid: use 1-200 letters, digits, '_', '.' or '-' "
                "(it becomes a task id and a CloudWatch dimension)."
            )
        if not self.timeout > 0:
            raise ValueError(f"Probe {self.name!r}: timeout must be a positive number of seconds.")

    def default_name(self) -> str:
        raise ValueError(f"{type(self).__name__} needs name=...")

    def prepare(self) -> None:
        """Load what :meth:`check` needs (imports) before the probe's clock starts, so its timeout measures the
        checked thing, not Python's first import of a client library (seconds on a loaded worker; seen: every
        AWS probe "timed out after 5s" with AWS answering at once). An error here is left to :meth:`check`."""

    def check(self) -> None:
        """Raise (preferably :class:`ProbeFailed`) when the checked thing is not healthy."""
        raise NotImplementedError

    def secrets(self) -> Iterable[str]:
        """Literal values that must never appear in this probe's error."""
        return ()

    def __repr__(self) -> str:
        own = fields(self)  # type: ignore[arg-type]  # probe_dataclass makes every Probe a dataclass
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in own if f.repr)
        return mask(f"{type(self).__name__}({shown})", self.secrets())

    def run(self) -> ProbeResult:
        """Run :meth:`check`, timing it; any exception becomes a failed, masked result."""
        started = time.monotonic()
        try:
            self.check()
        except Exception as exc:
            message = str(exc) if isinstance(exc, ProbeFailed) else f"{type(exc).__name__}: {exc}"
            return ProbeResult(self.name, False, _ms_since(started), mask(message, self.secrets()))
        return ProbeResult(self.name, True, _ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)


def name_slug(text: str) -> str:
    """``text`` made safe for a task id and a dimension value."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:150]


@probe_dataclass
class PythonImportProbe(Probe):
    """
    The worker can import these modules, at these minimum versions.

    :param requirements: ``"module"`` or ``"module>=version"`` (module import name, PEP 440 specifier);
        the version comes from ``module.__version__`` or the installed distribution that provides it.
    """

    requirements: Collection[str] = ()

    def __post_init__(self) -> None:
        from packaging.requirements import Requirement

        if not self.requirements or isinstance(self.requirements, str):
            raise ValueError("PythonImportProbe: requirements must be a non-empty list like ['pandas>=2.0'].")
        for requirement in self.requirements:
            Requirement(requirement)  # raises InvalidRequirement naming the bad entry
        super().__post_init__()

    def default_name(self) -> str:
        return "python_imports"

    def check(self) -> None:
        from packaging.requirements import Requirement

        problems = []
        for text in self.requirements:
            requirement = Requirement(text)
            try:
                version = _module_version(requirement.name)
            except Exception as exc:
                problems.append(f"{requirement.name}: {type(exc).__name__}: {exc}")
                continue
            if requirement.specifier and (
                version is None or not requirement.specifier.contains(version, prereleases=True)
            ):
                problems.append(f"{requirement.name} {version or '(no version)'} does not satisfy {text}")
        if problems:
            raise ProbeFailed("; ".join(problems))


def _module_version(module_name: str) -> str | None:
    import importlib
    from importlib.metadata import packages_distributions, version

    module = importlib.import_module(module_name)
    found = getattr(module, "__version__", None)
    if isinstance(found, str):
        return found
    for distribution in packages_distributions().get(module_name.partition(".")[0], []):
        return version(distribution)
    return None


@probe_dataclass
class TcpProbe(Probe):
    """A TCP connection to ``host:port`` opens."""

    host: str
    port: int

    def default_name(self) -> str:
        return name_slug(f"tcp_{self.host}_{self.port}")

    def check(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=self.timeout):
            pass


@probe_dataclass
class DnsProbe(Probe):
    """``hostname`` resolves (through the worker's resolver; the runner enforces the timeout)."""

    hostname: str

    def default_name(self) -> str:
        return name_slug(f"dns_{self.hostname}")

    def check(self) -> None:
        if not socket.getaddrinfo(self.hostname, None):
            raise ProbeFailed(f"{self.hostname} resolved to no address")


@probe_dataclass
class HttpProbe(Probe):
    """
    An HTTP(S) request returns an expected status.

    :param url: the URL; ``user:password@`` in it is sent as basic auth and masked in every message.
    :param expected_status: accepted status code(s).
    :param method: HTTP method.
    """

    url: str
    expected_status: int | Collection[int] = 200
    method: str = "GET"

    def default_name(self) -> str:
        from urllib.parse import urlsplit

        return name_slug(f"http_{urlsplit(self.url).hostname or 'url'}")

    def secrets(self) -> Iterable[str]:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(self.url)
        raw = [s for s in (parts.username, parts.password) if s]
        return raw + [unquote(s) for s in raw]

    def check(self) -> None:
        import urllib.error
        import urllib.request
        from urllib.parse import unquote, urlsplit, urlunsplit

        parts = urlsplit(self.url)
        headers = {"User-Agent": "airflow-provider-ecsops-heartbeat"}
        if parts.username is not None:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
            host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=host)
        request = urllib.request.Request(urlunsplit(parts), method=self.method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        expected = (
            {self.expected_status} if isinstance(self.expected_status, int) else set(self.expected_status)
        )
        if status not in expected:
            raise ProbeFailed(
                f"{self.method} {mask(self.url, self.secrets())} returned {status}, expected {sorted(expected)}"
            )


@probe_dataclass
class CallableProbe(Probe):
    """
    Any check: ``func()`` passes unless it raises or returns ``False``.

    :param func: a module-level callable importable on the worker (it runs where the task runs).
    :param secrets_to_mask: literal values ``func``'s errors might contain.
    """

    func: Callable[[], object]
    secrets_to_mask: Collection[str] = field(default=(), repr=False)

    def default_name(self) -> str:
        return name_slug(getattr(self.func, "__name__", "callable"))

    def secrets(self) -> Iterable[str]:
        return self.secrets_to_mask

    def check(self) -> None:
        if self.func() is False:
            raise ProbeFailed(f"{self.name} returned False")
