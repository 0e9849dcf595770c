"""A local Airflow 3 stack for one fleet: PostgreSQL metadata DB, a broker (Redis, SQS on a moto server, or
RabbitMQ), API server (execution API), scheduler, DAG processor and ``airflow celery worker`` processes, each
with its own fake ECS identity.

States: spawned (processes started) -> ready (:meth:`RaceStack.wait_ready`: the scheduler heartbeats, the
set's DAGs are serialized, every worker is consuming and a task of the set has completed end to end) ->
closed. Slot zero of a run is chosen only once the stack is ready: a fixed lead is too short on a cold machine.

Every process runs in its own process group (a container stand-in): a worker is stopped like ECS stops a task,
SIGTERM to its main process, SIGKILL to the whole group after the stop timeout. :meth:`RaceStack.close` kills
every group that is left, so nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from airflow_provider_ecsops.testing.race.identity import HOSTNAME_ENV
from airflow_provider_ecsops.testing.services import ensure_service

if TYPE_CHECKING:
    from collections.abc import Iterator

    from moto.server import ThreadedMotoServer

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/{db}"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
BROKERS = ("redis", "sqs", "amqp")
# SQS's visibility timeout on MWAA's queues (field report: the lost task came back "every 12 hours").
SQS_VISIBILITY_SECONDS = 12 * 3600
SQS_REGION = "us-east-1"
GUARD_CONFIG = "airflow_provider_ecsops.scalein.celery_config.SCALEIN_CELERY_CONFIG"
DAG_FILE = '''\
"""The scale-down race set, time-scaled for the local race harness."""
import os

import pendulum

from airflow_provider_ecsops.replication.dags import scaledown_race_dags

globals().update(
    scaledown_race_dags(
        prefix=os.environ["ECSOPS_RACE_PREFIX"],
        time_scale=float(os.environ["ECSOPS_RACE_TIME_SCALE"]),
        start_date=pendulum.parse(os.environ["ECSOPS_RACE_START_DATE"]),
    )
)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunLockBusy(RuntimeError):
    """Another run of the same mode holds the machine's databases, Redis dbs and queues of that mode."""


@contextlib.contextmanager
def run_lock(run: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock of lab ``run`` (``--lab``, default the mode) for a whole run.

    Two runs of one mode on one machine share its databases (``ecsops_race_<run>_*``), Redis dbs and queues and
    spoil each other without a word (seen: a scheduler stopped on the ``job`` table of the other run's fleet). The
    lock belongs to this connection's session, so it goes with the process however that ends.
    """
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"ecsops_race_{run}",))
            if not cur.fetchone()[0]:
                raise RunLockBusy(
                    f"--lab {run}: another race run is using this lab's databases (ecsops_race_{run}_*) "
                    "on this machine. Fix: let it end (or stop it), or give this run another --lab"
                )
        yield
    finally:
        conn.close()


def _admin_sql(*statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def clean_environ() -> dict[str, str]:
    """This process's environment without Airflow settings (a test runner's ``AIRFLOW__*`` must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_HOME"))}


def _drop(db: str) -> str:
    return f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"


def template_db(run: str) -> str:
    return f"ecsops_race_{run}_template"


def migrate_template(run: str, airflow_home: Path, log_dir: Path) -> None:
    """Create and migrate the template database of ``run`` once; its fleets clone it (seconds, not a migration).

    :param run: name of the run (the mode); short and long runs use different databases and can overlap.
    :param airflow_home: AIRFLOW_HOME for the migration.
    :param log_dir: where ``db-migrate.log`` goes.
    """
    airflow_home.mkdir(parents=True, exist_ok=True)
    _admin_sql(_drop(template_db(run)), f"CREATE DATABASE {template_db(run)}")
    env = {
        **clean_environ(),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG_URL.format(db=template_db(run)),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    log = log_dir / "db-migrate.log"
    with log.open("wb") as out:
        done = subprocess.run(_airflow("db", "migrate"), env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed (exit {done.returncode}); see {log}")


# Celery's own log lines: "Task <name>[<id>] received" when the worker takes a message, any other word after the
# id when it ends (succeeded, failed, raised, retry...); the guard's line when it gives a message back unrun.
TASK_LINE = re.compile(r"Task \S+\[(?P<id>[0-9a-f-]{36})\] (?P<what>\w+)")
RETURNED_LINE = re.compile(r"ecsops scale-in: task (?P<id>[0-9a-f-]{36}) received while")


def _airflow(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


@dataclass
class Worker:
    """One worker "ECS task": its process, identity and lifecycle times (monotonic seconds)."""

    name: str
    task_arn: str
    proc: subprocess.Popen
    log: Path
    started: float
    sigterm_at: float | None = None
    sigkill_at: float | None = None
    exited_at: float | None = None
    _held: dict[str, None] = field(default_factory=dict)
    _read: int = 0

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def ready(self) -> bool:
        """Celery logged ``<name>@<host> ready.``: the worker consumes."""
        return self.log.exists() and b" ready." in self.log.read_bytes()

    def held(self) -> list[str]:
        """Ids of the messages this worker has received and not finished, oldest first, read from its log.

        This is the field report's window: a message can be held for seconds before its task instance turns
        ``running`` in the metadata DB, so the DB alone misses the worker that has just received one.
        """
        with contextlib.suppress(FileNotFoundError), self.log.open("rb") as f:
            f.seek(self._read)
            chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
            self._read += end
            for line in chunk[:end].decode(errors="replace").splitlines():
                if match := TASK_LINE.search(line):
                    if match["what"] == "received":
                        self._held[match["id"]] = None
                    else:
                        self._held.pop(match["id"], None)
                elif match := RETURNED_LINE.search(line):
                    self._held.pop(match["id"], None)
        return list(self._held)


@dataclass
class RaceStack:
    """The stack of one fleet; use as a context manager.

    :param run: name of the run (the mode); part of the database and queue names.
    :param fleet: ``on`` or ``off``: the fleet's name.
    :param guarded: whether the workers run the guard's Celery config (else Airflow's default one).
    :param out_dir: directory for logs (``<out_dir>/logs``).
    :param broker: ``redis``, ``sqs`` (a moto server on loopback) or ``amqp`` (the local RabbitMQ).
    :param redis_db: Redis database number of the broker (flushed at start; Redis only).
    :param concurrency: task slots per worker (``airflow celery worker --concurrency``).
    :param time_scale: the DAG set's time scale.
    :param start_date: the set's start date (a little in the future, so runs start in phase).
    :param stop_timeout_seconds: scaled stop timeout, told to the guard (``scalein_stop_timeout_seconds``).
    :param heartbeat_timeout_seconds: the scheduler's task-instance heartbeat timeout (fails lost tasks).
    :param worker_env: extra environment of the workers (an autoscaler's, e.g. self-retire's settings).
    """

    run: str
    fleet: str
    guarded: bool
    out_dir: Path
    broker: str
    redis_db: int
    concurrency: int
    time_scale: float
    start_date: datetime
    stop_timeout_seconds: float
    heartbeat_timeout_seconds: int = 30
    prefix: str = "race"
    agent: FakeEcsAgent = field(default_factory=FakeEcsAgent)
    services: list[subprocess.Popen] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    api_port: int = field(default_factory=free_port)
    sqs_endpoint: str | None = None
    _moto: ThreadedMotoServer | None = None
    worker_env: dict[str, str] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        """The fleet's Celery queue: its own name, so fleets and runs sharing a broker never meet."""
        return f"ecsops-race-{self.run}-{self.fleet}"

    @property
    def broker_url(self) -> str:
        return {"redis": REDIS_URL.format(db=self.redis_db), "sqs": "sqs://", "amqp": AMQP_URL}[self.broker]

    @property
    def sqs_visibility_seconds(self) -> int:
        """SQS's 12-hour visibility timeout on the scaled clock: a message a killed worker took resurfaces then."""
        return max(1, round(SQS_VISIBILITY_SECONDS * self.time_scale))

    @property
    def queued_timeout_seconds(self) -> int:
        """The scheduler's ``task_queued_timeout`` on SQS: twice the visibility timeout, beyond a run's reach."""
        return 2 * self.sqs_visibility_seconds

    @property
    def db(self) -> str:
        return f"ecsops_race_{self.run}_{self.fleet}"

    @property
    def db_url(self) -> str:
        return PG_URL.format(db=self.db)

    @property
    def home(self) -> Path:
        return self.out_dir / "airflow-home"

    @property
    def logs(self) -> Path:
        return self.out_dir / "logs"

    def env(self) -> dict[str, str]:
        """Environment shared by every Airflow process of the fleet."""
        env = {
            **clean_environ(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_provider_ecsops.testing.race.identity.worker_hostname",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url.replace("+psycopg2", ""),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout_seconds),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "ECSOPS_RACE_PREFIX": self.prefix,
            "ECSOPS_RACE_TIME_SCALE": repr(self.time_scale),
            "ECSOPS_RACE_START_DATE": self.start_date.isoformat(),
        }
        if self.broker == "sqs":
            env |= {
                "AWS_ENDPOINT_URL": str(self.sqs_endpoint),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": SQS_REGION,
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__REGION": SQS_REGION,
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(
                    self.sqs_visibility_seconds
                ),
                # The field report's Airflow (2.0) had no queued timeout: the message's own resurfacing, not the
                # scheduler's requeue after its unscaled 600 s, decides when a lost task runs. Airflow 3.3 also
                # gives the workload's token this lifetime, so the resurfaced message can still start its task.
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(self.queued_timeout_seconds),
                # The moto server runs in the lab's own process: under load a send took over Celery's 1 s
                # operation timeout, the scheduler gave up after 3 tries and the fleet never got ready.
                "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
            }
        if self.guarded:
            env |= self.guard_settings()
        return env

    def guard_settings(self) -> dict[str, str]:
        """The guard's timings on the scaled clock (floored where Celery's timer needs whole ticks)."""
        s = self.time_scale
        return {
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": GUARD_CONFIG,
            "AIRFLOW__ECSOPS__SCALEIN_TICK_SECONDS": repr(max(0.2, 1 * s)),
            "AIRFLOW__ECSOPS__SCALEIN_IDLE_GRACE_SECONDS": repr(max(0.5, 5 * s)),
            "AIRFLOW__ECSOPS__SCALEIN_IDLE_VERIFY_SECONDS": repr(max(1.0, 20 * s)),
            "AIRFLOW__ECSOPS__SCALEIN_STOP_TIMEOUT_SECONDS": repr(self.stop_timeout_seconds),
            "AIRFLOW__ECSOPS__SCALEIN_STOP_MARGIN_SECONDS": repr(min(10 * s, self.stop_timeout_seconds / 4)),
        }

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def __enter__(self) -> RaceStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        (self.home / "dags").mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "dags" / "scaledown_race_local.py").write_text(DAG_FILE)
        _admin_sql(_drop(self.db), f"CREATE DATABASE {self.db} TEMPLATE {template_db(self.run)}")
        self._start_broker()
        self.agent.start()
        for name, args in (
            ("api-server", ("api-server", "--port", str(self.api_port))),
            ("dag-processor", ("dag-processor",)),
            ("scheduler", ("scheduler",)),
        ):
            self.services.append(self._spawn(name, _airflow(*args), self.env()))

    def _start_broker(self) -> None:
        """An empty queue of the fleet's own on its broker."""
        if self.broker == "redis":
            import redis

            redis.Redis.from_url(self.broker_url).flushdb()
        elif self.broker == "amqp":
            from kombu import Connection, Queue

            ensure_service("rabbitmq")
            with Connection(AMQP_URL) as connection:
                Queue(self.queue, channel=connection.default_channel).delete()
        else:
            import boto3
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
            port = free_port()
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._moto.start()
            self.sqs_endpoint = f"http://127.0.0.1:{port}"
            # Created here with the scaled visibility timeout, the attribute kombu would set on creation.
            boto3.client(
                "sqs",
                region_name=SQS_REGION,
                endpoint_url=self.sqs_endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            ).create_queue(
                QueueName=self.queue, Attributes={"VisibilityTimeout": str(self.sqs_visibility_seconds)}
            )

    def wait_ready(self, dag_ids: list[str], timeout: float, stop: threading.Event) -> float:
        """Wait until the API server answers, the scheduler heartbeats, the set's DAGs are serialized, every worker consumes and one
        task of the set has completed end to end; return the seconds it took.

        :param dag_ids: the set's DAGs.
        :param timeout: seconds before giving up with what is still missing.
        :param stop: set to give up at once (Ctrl-C, SIGTERM, the other fleet failed).
        """
        import psycopg2

        began = time.monotonic()
        checks = {
            "a scheduler heartbeat": (
                "SELECT count(*) FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'"
                " AND latest_heartbeat > now() - interval '15 seconds'",
                (),
            ),
            "the set's DAGs serialized": (
                "SELECT count(DISTINCT dag_id) = %s FROM serialized_dag WHERE dag_id = ANY(%s)",
                (len(dag_ids), dag_ids),
            ),
            "a task of the set completed": (
                "SELECT count(*) FROM task_instance WHERE state = 'success' AND dag_id = ANY(%s)",
                (dag_ids,),
            ),
        }
        self._wait_for_api(timeout, stop)
        missing = list(checks)
        conn = psycopg2.connect(self.db_url.replace("+psycopg2", ""))
        conn.autocommit = True
        try:
            while time.monotonic() - began < timeout:
                self._check_alive()
                with conn.cursor() as cur:
                    missing = []
                    for what, (sql, params) in checks.items():
                        cur.execute(sql, params)
                        if not cur.fetchone()[0]:
                            missing.append(what)
                missing += [f"worker {w.name} consuming" for w in self.workers if not w.ready]
                if not missing:
                    return time.monotonic() - began
                if stop.wait(1):
                    raise RuntimeError(f"fleet {self.fleet}: stopped while waiting for {', '.join(missing)}")
        finally:
            conn.close()
        raise RuntimeError(
            f"fleet {self.fleet}: the stack was not ready within {timeout:.0f}s, missing: {', '.join(missing)}; "
            f"see {self.logs}"
        )

    def _check_alive(self) -> None:
        for proc in self.services:
            if proc.poll() is not None:
                command = list(cast("list[str]", proc.args))  # _spawn passes an argument list
                raise RuntimeError(f"{command[1:]} exited with {proc.returncode}; see {self.logs}")

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_for_api(self, timeout: float, stop: threading.Event) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2
                ):
                    return
            except OSError:
                if stop.wait(1):
                    raise RuntimeError(
                        f"fleet {self.fleet}: stopped while waiting for the API server"
                    ) from None
        raise RuntimeError(f"the API server did not answer within {timeout:.0f}s; see {self.logs}")

    def launch_worker(self) -> Worker:
        """Start one ``airflow celery worker`` on the fleet's queue as a new ECS task of the fake agent."""
        name = f"{self.fleet}-w{len(self.workers) + 1}"
        identity = self.agent.add_task()
        env = self.env() | self.worker_env | identity | {HOSTNAME_ENV: name}
        command = _airflow(
            "celery",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--queues",
            self.queue,
            "--skip-serve-logs",
            "-H",
            f"{name}@%h",
        )
        worker = Worker(
            name=name,
            task_arn=identity["ECSOPS_FAKE_TASK_ARN"],
            proc=self._spawn(name, command, env),
            log=self.logs / f"{name}.log",
            started=time.monotonic(),
        )
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Kill every process group still alive (workers first), then stop the fake agent."""
        for proc in [w.proc for w in self.workers] + self.services:
            kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in [w.proc for w in self.workers] + self.services:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            kill_group(proc, signal.SIGKILL)
            proc.wait()
        self.agent.stop()
        if self._moto is not None:
            self._moto.stop()


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group led by ``proc`` (its whole "container")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
