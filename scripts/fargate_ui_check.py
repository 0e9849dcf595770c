"""The Airflow 3 UI check of the Fargate operator's live links and live logs, in headless Chromium.

A real Airflow (API server, scheduler with LocalExecutor, DAG processor, triggerer; a PostgreSQL metadata DB of
its own, dropped at the end) runs one DAG with a synchronous and a deferrable FargateOffloadOperator against local
AWS: the moto server and the Fargate double, which the task processes and the triggerer reach through
:class:`~airflow_provider_ecsops.testing.ecs_front.EcsFront` (``AWS_ENDPOINT_URL``). While both containers run,
it reads each task instance's extra links from the REST API, loads each task instance's page in Chromium at
1280 px (the Details tab, where the UI shows extra links; the deferrable task's Logs tab), driven over the DevTools protocol, and reads the deferrable task's log for container lines copied
by the triggerer. Prints what it found; exits 1 if a link is missing or wrong, or no container line arrived
before the container stopped.

Usage: ``$(scripts/venv.sh 3.3.1)/bin/python scripts/fargate_ui_check.py [--out DIR]`` (docs/fargate.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_ecsops.testing.ecs_front import EcsFront
from airflow_provider_ecsops.testing.fargate_double import TaskScript
from airflow_provider_ecsops.testing.local_aws import local_aws
from airflow_provider_ecsops.testing.race.stack import (
    PG_URL,
    _admin_sql,
    _airflow,
    clean_environ,
    free_port,
    kill_group,
)

DAG_ID = "fargate_ui_check"
MODES = ("sync", "deferrable")
CONTAINER_SECONDS = 360.0
DAG_FILE = '''\
"""Both modes of the Fargate operator on local AWS, for scripts/fargate_ui_check.py."""
import os
from datetime import datetime, timezone

from airflow_provider_ecsops.compat import DAG
from airflow_provider_ecsops.fargate.operator import FargateOffloadOperator

with DAG("fargate_ui_check", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False):
    for mode in ("sync", "deferrable"):
        FargateOffloadOperator(
            task_id=f"offload_{mode}",
            cluster=os.environ["ECSOPS_DEMO_CLUSTER"],
            task_definition=os.environ["ECSOPS_DEMO_TASK_DEFINITION"],
            subnets=os.environ["ECSOPS_DEMO_SUBNETS"].split(","),
            security_groups=os.environ["ECSOPS_DEMO_SECURITY_GROUPS"].split(","),
            command=["python", "job.py"],
            aws_conn_id=None,
            region_name=os.environ["ECSOPS_DEMO_REGION"],
            deferrable=mode == "deferrable",
            poll_interval=2,
        )
'''


def api(base: str, path: str, body: dict | None = None, method: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}/api/v2{path}",
        data=data,
        method=method or ("POST" if body is not None else "GET"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def wait(what: str, probe, timeout: float, procs: list[subprocess.Popen], logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{proc.args[1:]} exited with {proc.returncode}; see {logs}")
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(2)
    raise SystemExit(f"{what}: not within {timeout:.0f}s; see {logs}")


def chromium(url: str, png: Path, ready_js: str, timeout: float = 300) -> Any:
    """Load ``url`` in headless Chromium at 1280 px, wait until ``ready_js`` (a JavaScript expression) is truthy,
    screenshot into ``png``; returns that value (None if it never came). Driven over the DevTools protocol: the
    single-page UI renders after the load event, so ``--dump-dom`` sees only its shell."""
    return asyncio.run(_chromium(url, png, ready_js, timeout))


async def _chromium(url: str, png: Path, ready_js: str, timeout: float) -> Any:
    import websockets

    profile = tempfile.mkdtemp(prefix="fargate-ui-check-chromium-")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1000"]
    args += ["--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(
        ["/usr/bin/chromium", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        port = next(
            m[1] for line in proc.stderr if (m := re.search(r"listening on ws://127.0.0.1:(\d+)/", line))
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            pages = json.loads(reply.read())
        ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        async with websockets.connect(ws_url, max_size=2**27) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: Any) -> dict:
                me = next(ids)
                await ws.send(json.dumps({"id": me, "method": method, "params": params}))
                while (msg := json.loads(await ws.recv())).get("id") != me:
                    pass
                return msg.get("result", {})

            await call("Page.navigate", url=url)
            deadline, value = time.monotonic() + timeout, None
            while time.monotonic() < deadline and not value:
                await asyncio.sleep(1)
                found = await call("Runtime.evaluate", expression=ready_js, returnByValue=True)
                value = found.get("result", {}).get("value")
            await asyncio.sleep(1)  # let the last render paint
            png.write_bytes(base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"]))
            return value
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


CONSOLE_HREFS = "Array.from(document.querySelectorAll('a[href]')).map(a => a.href).filter(h => h.includes('.console.aws'))"
LOG_LINES = "document.body.innerText.match(/\\[etl\\] etl line \\d+/g)"


@dataclass
class Check:
    """One run of the check: where Airflow's API is, the local AWS, the DAG run, and what went wrong."""

    base: str
    aws: Any
    out: Path
    procs: list[subprocess.Popen]
    logs: Path
    run_id: str = ""
    problems: list[str] = field(default_factory=list)

    def api(self, path: str, body: dict | None = None) -> dict:
        return api(self.base, path, body)

    def ti(self, mode: str, suffix: str = "") -> dict:
        return self.api(f"/dags/{DAG_ID}/dagRuns/{self.run_id}/taskInstances/offload_{mode}{suffix}")

    def page(self, mode: str) -> str:
        return f"{self.base}/dags/{DAG_ID}/runs/{self.run_id}/tasks/offload_{mode}"

    def wait(self, what: str, probe, timeout: float):
        return wait(what, probe, timeout, self.procs, self.logs)

    def both_waiting(self) -> bool:
        states = {mode: self.ti(mode)["state"] for mode in MODES}
        arns = self.aws.fargate.task_arns()
        running = [a for a in arns if self.aws.fargate.status(a)["lastStatus"] == "RUNNING"]
        return states == {"sync": "running", "deferrable": "deferred"} and len(running) == 2

    def status(self, mode: str) -> str:
        return self.aws.fargate.status(_container_of(self.aws, mode))["lastStatus"]

    def links(self, mode: str) -> None:
        """The task instance's links from the API and on its page (the UI shows them on the Details tab)."""
        links = self.ti(mode, "/links")
        links = links.get("extra_links", links)
        arn = _container_of(self.aws, mode)
        task_id = arn.rsplit("/", 1)[-1]
        want = {
            "ECS Task": f"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/{self.aws.cluster}/tasks/"
            f"{task_id}/configuration?region=us-east-1",
            "Container Logs": links.get("Container Logs") or "(none)",
        }
        status = self.aws.fargate.status(arn)["lastStatus"]
        print(f"{mode}: container {task_id} is {status}; API links {links}")
        if links.get("ECS Task") != want["ECS Task"]:
            self.problems.append(
                f"{mode}: ECS Task link {links.get('ECS Task')!r}, expected {want['ECS Task']!r}"
            )
        if not want["Container Logs"].endswith(f"$252F{task_id}"):
            self.problems.append(f"{mode}: Container Logs link {want['Container Logs']!r}")
        png = self.out / f"ti-{mode}-details.png"
        hrefs = sorted(
            chromium(f"{self.page(mode)}/details", png, CONSOLE_HREFS + ".length >= 2 && " + CONSOLE_HREFS)
            or []
        )
        print(f"{mode}: {self.page(mode)}/details -> {png}; console links on the page {hrefs}")
        print(
            f"{mode}: after the page: task instance {self.ti(mode)['state']}, container {self.status(mode)}"
        )
        for name, url in want.items():
            if url not in hrefs:
                self.problems.append(f"{mode}: the page has no {name} link {url!r}")

    def live_log(self) -> None:
        """The deferrable task's log while it is deferred: container lines copied there by the triggerer."""
        png = self.out / "ti-deferrable-log.png"
        on_page = chromium(self.page("deferrable"), png, LOG_LINES) or []
        print(
            f"deferrable: {self.page('deferrable')} (Logs tab) -> {png}: {len(on_page)} container lines shown"
        )
        text = json.dumps(self.ti("deferrable", "/logs/1?full_content=true"))
        (self.out / "deferrable-log-while-deferred.json").write_text(text)
        seen = sorted({int(n) for n in re.findall(r"\[etl\] etl line (\d+)", text)})
        status = self.aws.fargate.status(_container_of(self.aws, "deferrable"))
        exited = status.get("executionStoppedAt")
        print(
            f"deferrable: its log while deferred has {len(seen)} container lines ({seen[:1]}..{seen[-1:]}); "
            f"container {status['lastStatus']}" + (f", exited {exited}" if exited else "")
        )
        if not seen or exited is not None:
            self.problems.append(
                "deferrable: no container line in the task's log before the container stopped"
            )

    def end(self, lines: int) -> None:
        """The run's end: states, and every line once and in order in the deferrable task's final log."""
        run = f"/dags/{DAG_ID}/dagRuns/{self.run_id}"
        final = self.wait(
            "the run's end",
            lambda: (state := self.api(run)["state"]) in ("success", "failed") and state,
            CONTAINER_SECONDS + 240,
        )
        states = {mode: self.ti(mode)["state"] for mode in MODES}
        text = json.dumps(self.ti("deferrable", "/logs/1?full_content=true"))
        (self.out / "deferrable-log-final.json").write_text(text)
        numbers = [int(n) for n in re.findall(r"\[etl\] etl line (\d+)", text)]
        print(
            f"run {final}: {states}; deferrable log at the end: {len(numbers)} container lines, "
            f"{len(set(numbers))} distinct, in order: {numbers == sorted(numbers)}"
        )
        if numbers != list(range(lines)):
            self.problems.append(
                f"deferrable: final log lines {numbers[:5]}... are not each line once in order"
            )


def airflow_env(home: Path, logs: Path, port: int, db: str, aws, front: EcsFront) -> dict[str, str]:
    return {
        **clean_environ(),
        **aws.environ(),
        "AWS_ENDPOINT_URL": front.url,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # A loaded 2-core machine answers the execution API slowly; the default 5 s failed the tasks at load 29.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__API_AUTH__JWT_SECRET": "fargate-ui-check-not-for-production",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG_URL.format(db=db),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs / "tasks"),
    }


def start_airflow(env: dict[str, str], logs: Path) -> list[subprocess.Popen]:
    with (logs / "db-migrate.log").open("wb") as f:
        subprocess.run(_airflow("db", "migrate"), env=env, stdout=f, stderr=subprocess.STDOUT, check=True)
    procs = []
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        with (logs / f"{name}.log").open("ab") as f:
            command = _airflow(name)
            procs.append(
                subprocess.Popen(command, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
            )
    return procs


def stop_airflow(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        kill_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            kill_group(proc, signal.SIGKILL)
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="screenshots, DOMs and logs (default: a temp dir)"
    )
    out = (parser.parse_args().out or Path(tempfile.mkdtemp(prefix="fargate-ui-check-"))).resolve()
    home, logs = out / "airflow-home", out / "logs"
    (home / "dags").mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG_FILE)
    db, port = f"ecsops_fargate_ui_check_{os.getpid()}", free_port()
    lines = [f"etl line {i}" for i in range(int(CONTAINER_SECONDS))]  # one a second
    with local_aws(server=True) as aws, EcsFront(aws.fargate, os.environ["AWS_ENDPOINT_URL"]) as front:
        aws.fargate.default_script = TaskScript(running=CONTAINER_SECONDS, log_lines=lines)
        _admin_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}")
        check = Check(f"http://127.0.0.1:{port}", aws, out, [], logs)
        try:
            print(f"out {out}; migrating {db} ...", flush=True)
            check.procs.extend(start_airflow(airflow_env(home, logs, port, db, aws, front), logs))
            check.wait("the API server", lambda: check.api("/monitor/health"), 240)
            check.wait("the DAG", lambda: check.api(f"/dags/{DAG_ID}").get("dag_id"), 240)
            check.run_id = check.api(f"/dags/{DAG_ID}/dagRuns", {"logical_date": None})["dag_run_id"]
            print(f"triggered {check.run_id}", flush=True)
            check.wait("both tasks waiting on running containers", check.both_waiting, 300)
            check.live_log()
            for mode in reversed(MODES):
                check.links(mode)
            check.end(len(lines))
        finally:
            stop_airflow(check.procs)
            _admin_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    print(
        "\n".join(["PROBLEMS:", *check.problems]) if check.problems else "OK: live links and live logs seen"
    )
    return 1 if check.problems else 0


def _container_of(aws, mode: str) -> str:
    """The task ARN of ``offload_<mode>``'s container (the airflow:task_id tag of its RunTask)."""
    for arn in aws.fargate.task_arns():
        tags = {t["key"]: t["value"] for t in aws.fargate.status(arn, tags=True).get("tags", [])}
        if tags.get("airflow:task_id") == f"offload_{mode}":
            return arn
    raise SystemExit(f"no container was started for offload_{mode}")


if __name__ == "__main__":
    sys.exit(main())
