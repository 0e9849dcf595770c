"""A local Airflow 3 stack for one fleet: PostgreSQL metadata DB, Redis broker, API server (execution API),
scheduler, DAG processor and 1-4 ``airflow celery worker`` processes, each with its own fake ECS identity.

Every process runs in its own process group (a container stand-in): a worker is stopped like ECS stops a task,
SIGTERM to its main process, SIGKILL to the whole group after the stop timeout. :meth:`RaceStack.close` kills
every group that is left, so nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

from airflow_provider_ecsops.testing.fake_ecs_agent import FakeEcsAgent
from airflow_provider_ecsops.testing.race.identity import HOSTNAME_ENV

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/{db}"
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

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class RaceStack:
    """The stack of one fleet; use as a context manager.

    :param run: name of the run (the mode); part of the database names.
    :param fleet: ``on`` (guarded) or ``off`` (Airflow's default Celery config).
    :param out_dir: directory for logs (``<out_dir>/logs``).
    :param redis_db: Redis database number of the broker (flushed at start).
    :param time_scale: the DAG set's time scale.
    :param start_date: the set's start date (a little in the future, so runs start in phase).
    :param stop_timeout_seconds: scaled stop timeout, told to the guard (``scalein_stop_timeout_seconds``).
    :param heartbeat_timeout_seconds: the scheduler's task-instance heartbeat timeout (fails lost tasks).
    :param worker_env: extra environment of the workers (an autoscaler's, e.g. self-retire's settings).
    """

    run: str
    fleet: str
    out_dir: Path
    redis_db: int
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
    worker_env: dict[str, str] = field(default_factory=dict)

    @property
    def guarded(self) -> bool:
        return self.fleet == "on"

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
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL.format(db=self.redis_db),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url.replace("+psycopg2", ""),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout_seconds),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "ECSOPS_RACE_PREFIX": self.prefix,
            "ECSOPS_RACE_TIME_SCALE": repr(self.time_scale),
            "ECSOPS_RACE_START_DATE": self.start_date.isoformat(),
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
        import redis

        (self.home / "dags").mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "dags" / "scaledown_race_local.py").write_text(DAG_FILE)
        _admin_sql(_drop(self.db), f"CREATE DATABASE {self.db} TEMPLATE {template_db(self.run)}")
        redis.Redis.from_url(REDIS_URL.format(db=self.redis_db)).flushdb()
        self.agent.start()
        for name, args in (
            ("api-server", ("api-server", "--port", str(self.api_port))),
            ("dag-processor", ("dag-processor",)),
            ("scheduler", ("scheduler",)),
        ):
            self.services.append(self._spawn(name, _airflow(*args), self.env()))
        self._wait_for_api()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_for_api(self, timeout: float = 180) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.services:
                if proc.poll() is not None:
                    command = list(cast("list[str]", proc.args))  # _spawn passes an argument list
                    raise RuntimeError(f"{command[1:]} exited with {proc.returncode}; see {self.logs}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2
                ):
                    return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the API server did not answer within {timeout:.0f}s; see {self.logs}")

    def launch_worker(self) -> Worker:
        """Start one ``airflow celery worker --concurrency 1`` as a new ECS task of the fake agent."""
        name = f"{self.fleet}-w{len(self.workers) + 1}"
        identity = self.agent.add_task()
        env = self.env() | self.worker_env | identity | {HOSTNAME_ENV: name}
        command = _airflow("celery", "worker", "--concurrency", "1", "--skip-serve-logs", "-H", f"{name}@%h")
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


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group led by ``proc`` (its whole "container")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
