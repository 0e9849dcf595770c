"""The guard's acceptance table: broker x protection fault x concurrency -> messages lost, receipts while ECS did
not protect the task, what the worker did, ERROR/WARNING log lines per minute.

One real guarded Celery worker (prefork) per broker and concurrency, against the fake ECS agent
(``testing/fake_ecs_agent.py``), with tasks sent throughout. The faults come one after another on that worker,
each for ``--fault-seconds``, then the bench waits until the worker runs tasks again (at most the guard's
recovery bound for its settings, ``guard.recovery_bound_seconds``, plus a margin) before the next fault. Per
fault window: lost (sent in the window, never executed, nothing left in the queue at the end), unprotected
(executions that started while the fake's history says the task was not protected), the worker's behaviour
(``protected``: kept running tasks protected through the fault; ``paused, recovered Ns``: ran nothing during
the fault, then ran again N seconds after it ended; ``WEDGED``: did not run again within the bound), and the
ERROR/WARNING lines the worker logged in the window, per minute. The baseline row (``none``) is the same worker
with no fault, measured in the same run. Brokers: Redis (``ECSOPS_BENCH_REDIS_URL``, also the executions log),
the machine's RabbitMQ, SQS on a moto server on loopback.

    python bench/scalein_fault_matrix.py [--brokers redis,amqp,sqs] [--concurrency 1,4] [--fault-seconds 4]
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import redis
from celery import Celery

from airflow_provider_ecsops.scalein.backlog import BrokerBacklog
from airflow_provider_ecsops.scalein.guard import recovery_bound_seconds
from airflow_provider_ecsops.scalein.settings import ScaleInSettings
from airflow_provider_ecsops.testing.broker_rigs import rabbitmq_rig, sqs_rig
from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent

REDIS_URL = os.environ.get("ECSOPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
HERE = Path(__file__).resolve().parent
EXECUTIONS = "ecsops-scalein-bench:executions"
TASK = "ecsops_scalein_bench.record"
SETTINGS = {
    "IDLE_GRACE_SECONDS": "0.3",
    "IDLE_VERIFY_SECONDS": "1.5",
    "TICK_SECONDS": "0.2",
    "PROTECTION_MINUTES": "5",
    "RENEW_BEFORE_MINUTES": "2",
}
SEND_EVERY_SECONDS = 0.25
TASK_SECONDS = 0.1
MARGIN_SECONDS = 10.0  # beyond the recovery bound: the healthy calls, a delivery (SQS long polls), the load
# Celery's own format ("[2026-12-02 01:25:23,967: WARNING/MainProcess]") and Airflow 3's structlog one
# ("2026-12-02T01:35:55.623587Z [warning  ]"); the worker runs with TZ=UTC, so both are UTC.
LOG_LINE = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)[^\]]*?(?:\]?\s*\[|: )(error|warning|critical)\b", re.I
)


def inject(code: str, endpoint: str = "protection") -> Callable[[FakeEcsAgent], None]:
    return lambda fake: fake.inject_fault(code, times=10**6, endpoint=endpoint)


FAULTS: dict[str, Callable[[FakeEcsAgent], None] | None] = {
    "none": None,
    "refused": lambda fake: fake.stop_endpoint("agent"),
    "hanging": inject("hanging", "agent"),
    "5xx JSON body": inject("ServerException"),
    "5xx no body": inject("empty-503", "agent"),
    "non-JSON 200": inject("non-json-200", "agent"),
    "AccessDenied": inject("AccessDeniedException"),
    "throttling": inject("ThrottlingException"),
    "DEPLOYMENT_BLOCKED": inject("DEPLOYMENT_BLOCKED"),
    "agent restart": None,  # restart_agent(fault seconds): agent and metadata refuse, then come back
}


@dataclass
class Window:
    fault: str
    start: float
    end: float = 0.0  # the fault ended (cleared)
    until: float = 0.0  # the next window starts
    sent: list[str] = field(default_factory=list)
    recovered_after: float | None = None


@dataclass
class Broker:
    name: str
    url: str
    queue: str
    send: Callable[[], str]


@contextlib.contextmanager
def broker(name: str) -> Iterator[Broker]:
    if name == "redis":
        queue = "ecsops-bench-fault-matrix"
        sender = Celery("ecsops-bench-sender", broker=REDIS_URL)
        try:
            yield Broker(name, REDIS_URL, queue, lambda: send(sender, queue))
        finally:
            sender.close()
        return
    with rabbitmq_rig() if name == "amqp" else sqs_rig() as rig:
        sender = Celery("ecsops-bench-sender", broker=rig.url)
        try:
            yield Broker(name, rig.url, rig.queue, lambda: send(sender, rig.queue))
        finally:
            sender.close()


def send(sender: Celery, queue: str) -> str:
    return sender.send_task(TASK, kwargs={"seconds": TASK_SECONDS}, queue=queue).id


def executions() -> list[tuple[str, float]]:
    rows = redis.Redis.from_url(REDIS_URL).lrange(EXECUTIONS, 0, -1)
    return [(i, float(t)) for i, t in (r.decode().split() for r in rows)]


def protected_at(history: list[dict], task: str) -> Callable[[float], bool]:
    changes = sorted((e["time"], e["enabled"]) for e in history if e.get("call") == "UpdateTaskProtection"
                     and e.get("task") == task)  # fmt: skip

    def protected(moment: float) -> bool:
        before = [enabled for at, enabled in changes if at <= moment]
        return bool(before and before[-1])

    return protected


def log_lines(log: str) -> list[float]:
    """Times (UTC, whole seconds) of the worker's ERROR/WARNING/CRITICAL lines."""
    times = []
    for line in log.splitlines():
        if match := LOG_LINE.match(line):
            moment = time.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H:%M:%S")
            times.append(calendar.timegm(moment))
    return times


@dataclass
class Run:
    windows: list[Window]
    protected: Callable[[float], bool]
    log: str
    status: str


def start_worker(b: Broker, concurrency: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "celery", "-A", "scalein_celery_app", "worker", "-Q", b.queue, "--pool", "prefork",
        "--concurrency", str(concurrency), "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_for(lambda: "ready." in log_path.read_text(errors="replace") or worker.poll() is not None, 60)
    if worker.poll() is not None:
        raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
    return worker


def wait_for(condition: Callable[[], object], seconds: float) -> bool:
    limit = time.monotonic() + seconds
    while time.monotonic() < limit:
        if condition():
            return True
        time.sleep(0.2)
    return False


class Producer(threading.Thread):
    """Sends a task every ``SEND_EVERY_SECONDS`` while ``sending`` is set, into the last window."""

    def __init__(self, b: Broker, windows: list[Window]) -> None:
        super().__init__(daemon=True)
        self.b, self.windows = b, windows
        self.sending, self.done = threading.Event(), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if self.sending.wait(0.1):
                self.windows[-1].sent.append(self.b.send())
                time.sleep(SEND_EVERY_SECONDS)


def fault_window(name: str, fake: FakeEcsAgent, producer: Producer, log_path: Path, seconds: float,
                 bound: float) -> Window:  # fmt: skip
    """Let the worker go idle and release protection, then start the fault and send tasks through it, so the
    worker must protect (revive) while the fault lasts; then clear it and wait for the first run after it."""
    producer.sending.clear()
    releases = log_path.read_text(errors="replace").count("draining -> released")
    if not wait_for(
        lambda: log_path.read_text(errors="replace").count("draining -> released") > releases, 60
    ):
        raise RuntimeError(f"the worker did not release before {name}:\n{log_path.read_text()[-3000:]}")
    window = Window(name, time.time())
    producer.windows.append(window)
    if name == "agent restart":
        fake.restart_agent(seconds)
    elif (start_fault := FAULTS[name]) is not None:
        start_fault(fake)
    producer.sending.set()
    time.sleep(seconds)
    fake.clear_faults()
    if name == "refused":
        fake.start_endpoint("agent")
    elif name == "agent restart":
        wait_for(lambda: any(e.get("call") == "agent_up" for e in fake.state()["history"]), 10)
    window.end = time.time()
    found = wait_for(lambda: [t for _, t in executions() if t > window.end], bound)
    if found:
        window.recovered_after = min(t for _, t in executions() if t > window.end) - window.end
    time.sleep(1.0)  # running normally for a moment before the next window
    return window


def run_worker(b: Broker, concurrency: int, fault_seconds: float, tmp: Path) -> Run:
    redis.Redis.from_url(REDIS_URL).delete(EXECUTIONS)
    if b.name == "redis":
        redis.Redis.from_url(REDIS_URL).delete(b.queue)
    env = {
        **os.environ,
        **{f"AIRFLOW__ECSOPS__SCALEIN_{k}": v for k, v in SETTINGS.items()},
        "AIRFLOW__ECSOPS__SCALEIN_STATUS_FILE": str(tmp / "status.json"),
        "AIRFLOW__CELERY__BROKER_URL": b.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": REDIS_URL,
        "ECSOPS_BENCH_GUARD": "1",
        "TZ": "UTC",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    with mock.patch.dict(os.environ, env):
        bound = recovery_bound_seconds(ScaleInSettings.from_airflow_conf()) + MARGIN_SECONDS
    log_path = tmp / f"{b.name}-{concurrency}.log"
    windows: list[Window] = []
    with FakeEcsAgent() as fake:
        env.update(fake.add_task())
        task = list(fake.tasks)[-1]
        worker = start_worker(b, concurrency, env, log_path)
        producer = Producer(b, windows)
        producer.start()
        try:
            for name in FAULTS:
                fault_window(name, fake, producer, log_path, fault_seconds, bound)
            producer.sending.clear()
            sent = {i for w in windows for i in w.sent}
            wait_for(lambda: sent <= {i for i, _ in executions()}, bound)
            for w, nxt in zip(windows, [*windows[1:], None], strict=True):
                w.until = nxt.start if nxt else time.time()
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        finally:
            producer.done.set()
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        history = fake.state()["history"]
    status = (tmp / "status.json").read_text() if (tmp / "status.json").exists() else "{}"
    return Run(windows, protected_at(history, task), log_path.read_text(errors="replace"), status)


def table(b_name: str, concurrency: int, run: Run, left_in_queue: int) -> list[str]:
    ran = executions()
    ran_ids = {i for i, _ in ran}
    lines = log_lines(run.log)
    protected = run.protected
    rows = []
    for w in run.windows:
        w.until = w.until or time.time()
        lost = [i for i in w.sent if i not in ran_ids] if not left_in_queue else []
        in_window = [(i, t) for i, t in ran if w.start <= t < w.until]
        unprotected = sum(1 for _, t in in_window if not protected(t))
        during = [t for _, t in in_window if t < w.end]
        if w.fault == "none":
            behaviour = "protected" if in_window else "ran nothing"
        elif w.recovered_after is None:
            behaviour = "WEDGED (no run after the fault within the bound)"
        elif during and all(protected(t) for t in during):
            behaviour = "protected"
        else:
            behaviour = f"paused, recovered {w.recovered_after:.1f}s"
        minutes = max((w.until - w.start) / 60, 1e-9)
        noisy = sum(1 for t in lines if int(w.start) <= t < w.until) / minutes
        rows.append(
            f"  {b_name:<6} {concurrency:>2}  {w.fault:<19} {len(w.sent):>4} {len(lost):>5} {unprotected:>11}  "
            f"{behaviour:<26} {noisy:>8.0f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="redis,amqp,sqs")
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--fault-seconds", type=float, default=4.0)
    args = parser.parse_args()
    started = time.monotonic()
    print(
        f"guard fault matrix: {args.fault_seconds:.0f}s per fault, a task every {SEND_EVERY_SECONDS}s, "
        f"settings {SETTINGS}"
    )
    print(f"  {'broker':<6} {'c':>2}  {'fault':<19} {'sent':>4} {'lost':>5} {'unprotected':>11}  "
          f"{'worker':<26} {'err+warn/min':>8}")  # fmt: skip
    for name in args.brokers.split(","):
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            with broker(name) as b, tempfile.TemporaryDirectory(prefix="ecsops-bench-guard-") as tmp:
                run = run_worker(b, concurrency, args.fault_seconds, Path(tmp))
                left = BrokerBacklog(b.url).count([b.queue])
                for row in table(name, concurrency, run, left):
                    print(row, flush=True)
                print(
                    f"  {name:<6} {concurrency:>2}  at the end: {left} left in the queue, status {run.status}"
                )
    print(f"wall time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
