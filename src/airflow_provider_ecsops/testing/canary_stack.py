"""A local Airflow stack running the heartbeat canary for its truth test: PostgreSQL metadata DB, Redis broker,
API server (REST API v2 and execution API), DAG processor, scheduler, and ``airflow celery worker`` processes
that each consume named queues; CloudWatch is a moto server reached through ``AWS_ENDPOINT_URL``.

Built from the race lab's pieces (:mod:`airflow_provider_ecsops.testing.race.stack`: environment, database and
process-group helpers); what differs is the DAG (a heartbeat on a scaled schedule), per-queue workers and a
REST API user whose login the canary trades for a token. States of a worker: running, stopped (SIGTERM to its
group, SIGKILL after 10 s), relaunched. :meth:`CanaryStack.close` kills every group left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from airflow_provider_ecsops.testing.race.stack import (
    PG_ADMIN_DSN,
    PG_URL,
    REDIS_URL,
    _admin_sql,
    _airflow,
    clean_environ,
    free_port,
    kill_group,
)

DAG_ID = "canary_truth"
NAMESPACE = "Test/CanaryTruth"
API_USER, API_PASSWORD = "canary", "canary-Pa55"
DAG_FILE = '''\
"""The heartbeat canary on a scaled schedule, for the truth test."""
import os
from datetime import timedelta

import pendulum

from airflow_provider_ecsops.heartbeat import DnsProbe, HeartbeatMetrics, heartbeat_dag

dag = heartbeat_dag(
    "canary_truth",
    timedelta(seconds=float(os.environ["ECSOPS_CANARY_SCHEDULE_SECONDS"])),
    [DnsProbe(hostname="localhost", timeout=2)],
    queues=os.environ["ECSOPS_CANARY_QUEUES"].split(","),
    metrics=HeartbeatMetrics(namespace="Test/CanaryTruth", aws_conn_id=None, region_name="us-east-1"),
    task_overhead=timedelta(seconds=3),
    api_conn_id="canary_api",
    start_date=pendulum.parse(os.environ["ECSOPS_CANARY_START_DATE"]),
)
'''


def sql(db: str, query: str, *args: object) -> list[tuple]:
    """Rows of ``query`` on database ``db`` of the local PostgreSQL (the referee's reads)."""
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{db}")
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


@dataclass
class CanaryStack:
    """The canary's stack; use as a context manager.

    :param out_dir: AIRFLOW_HOME and logs (``<out_dir>/logs``); a ``/tmp/canary-*`` path.
    :param schedule_seconds: the heartbeat's schedule interval.
    :param start_date: the DAG's start date (runs are due at it plus whole intervals).
    :param queues: the Celery queues the heartbeat covers.
    :param redis_db: Redis database of the broker (flushed at start); one of the caller's own (a default Redis has
        databases 0-15, and a test run's lane owns one of them).
    :param api_port: API server port (default: a free one).
    :param db: metadata database name (default: one of this process's own, dropped at close), so two lines
        running the stack at once never meet.
    :param extra_env: more environment of every Airflow process (e.g. ``AIRFLOW_CONN_*`` of a scenario's DAG).
    """

    out_dir: Path
    schedule_seconds: float
    start_date: datetime
    redis_db: int
    queues: tuple[str, ...] = ("qa", "qb")
    api_port: int = field(default_factory=free_port)
    db: str = field(default_factory=lambda: f"ecsops_canary_truth_{os.getpid()}")
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[subprocess.Popen] = field(default_factory=list)
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return PG_URL.format(db=self.db)

    @property
    def home(self) -> Path:
        return self.out_dir / "airflow-home"

    @property
    def logs(self) -> Path:
        return self.out_dir / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        """Environment shared by every Airflow process (AWS_ENDPOINT_URL and credentials come from ours)."""
        connection = {"conn_type": "http", "host": self.api_url, "login": API_USER, "password": API_PASSWORD}
        return {
            **clean_environ(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "canary-jwt-secret-not-for-production",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL.format(db=self.redis_db),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url.replace("+psycopg2", ""),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "AIRFLOW_CONN_CANARY_API": json.dumps(connection),
            "ECSOPS_CANARY_SCHEDULE_SECONDS": repr(self.schedule_seconds),
            "ECSOPS_CANARY_QUEUES": ",".join(self.queues),
            "ECSOPS_CANARY_START_DATE": self.start_date.isoformat(),
            **self.extra_env,
        }

    def __enter__(self) -> CanaryStack:
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
        (self.home / "dags" / "canary_truth.py").write_text(DAG_FILE)
        (self.home / "passwords.json").write_text(json.dumps({API_USER: API_PASSWORD}))
        template = self._migrated_template()
        _admin_sql(
            f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)",
            f"CREATE DATABASE {self.db} TEMPLATE {template}",
        )
        redis.Redis.from_url(REDIS_URL.format(db=self.redis_db)).flushdb()
        for name, args in (
            ("api-server", ("api-server", "--port", str(self.api_port))),
            ("dag-processor", ("dag-processor",)),
            ("scheduler", ("scheduler",)),
        ):
            self.services.append(self._spawn(name, _airflow(*args)))
        self._wait_for_api()

    @property
    def scheduler(self) -> subprocess.Popen:
        return self.services[-1]  # started last

    def _check_alive(self) -> None:
        for proc in self.services:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}; see {self.logs}")

    def _migrated_template(self) -> str:
        """A migrated database of this Airflow version, kept between runs (a migration costs ~50 s, a clone ~1 s).

        Migrated under a temporary name and renamed when done, so an interrupted migration is never reused.
        """
        import psycopg2
        import psycopg2.errors
        from airflow import __version__

        template = f"ecsops_canary_truth_template_{__version__.replace('.', '_').replace('+', '_')}"
        conn = psycopg2.connect(PG_ADMIN_DSN)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
                if cur.fetchone():
                    return template
        finally:
            conn.close()
        building = f"{template}_building_{os.getpid()}"  # two lines building at once do not meet
        _admin_sql(f"DROP DATABASE IF EXISTS {building} WITH (FORCE)", f"CREATE DATABASE {building}")
        log = self.logs / "db-migrate.log"
        env = self.env() | {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG_URL.format(db=building)}
        with log.open("wb") as out:
            done = subprocess.run(_airflow("db", "migrate"), env=env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode:
            raise RuntimeError(f"airflow db migrate failed (exit {done.returncode}); see {log}")
        try:
            _admin_sql(f"ALTER DATABASE {building} RENAME TO {template}")
        except psycopg2.errors.DuplicateDatabase:  # another process finished the same template first
            _admin_sql(f"DROP DATABASE IF EXISTS {building} WITH (FORCE)")
        return template

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                command, env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_for_api(self, timeout: float = 420) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2):
                    return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the API server did not answer within {timeout:.0f}s; see {self.logs}")

    def start_worker(self, name: str, queues: str, concurrency: int = 3) -> None:
        """Start ``airflow celery worker --queues <queues>``; ``name`` names its log and its handle.

        No ``-H``: with it, the celery provider of MWAA 3.2.1 (3.18.0) asks the broker whether that node name
        is taken (``control.inspect()``) on the worker's own app before the pool forks; on Redis every pool
        child then blocks in kombu's after-fork cleanup reading that inspect's pending BRPOP, so the worker
        receives tasks and never runs one (seen here: all six pool processes in ``Channel._brpop_read``; fixed
        by the provider in apache/airflow#59707). Every worker here is ``celery@<host>``; the canary reads no
        node names.

        :param queues: comma-separated queues it consumes.
        :param concurrency: its pool processes (``--concurrency``).
        """
        command = _airflow(
            "celery", "worker", "--queues", queues, "--concurrency", str(concurrency), "--skip-serve-logs"
        )
        self.workers[name] = self._spawn(f"worker-{name}", command)

    def stop_worker(self, name: str) -> None:
        """Stop worker ``name`` as ECS stops a task: SIGTERM, SIGKILL to its group after 10 s."""
        proc = self.workers.pop(name)
        kill_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        kill_group(proc, signal.SIGKILL)
        proc.wait()

    def add_dag(self, name: str, source: str) -> None:
        """Write DAG file ``<name>.py`` (the DAG processor parses it within its refresh interval)."""
        (self.home / "dags" / f"{name}.py").write_text(source)

    def remove_dag(self, name: str) -> None:
        (self.home / "dags" / f"{name}.py").unlink()

    def pause_scheduler(self) -> None:
        """Freeze the scheduler's process group (SIGSTOP): a scheduler that has stopped looping."""
        kill_group(self.scheduler, signal.SIGSTOP)

    def resume_scheduler(self) -> None:
        kill_group(self.scheduler, signal.SIGCONT)

    def close(self) -> None:
        """Kill every process group still alive (workers first)."""
        procs = list(self.workers.values()) + self.services
        for proc in procs:
            kill_group(proc, signal.SIGCONT)  # a paused scheduler must see its SIGTERM
            kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            kill_group(proc, signal.SIGKILL)
            proc.wait()
        self.workers.clear()
        self.services.clear()
        _admin_sql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
