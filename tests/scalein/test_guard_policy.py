"""The pause policy, the status file, desiredStatus, configuration errors and shutdown paths, in real Celery
workers against Redis and the fake ECS agent.

Each test says what the worker did: consumed or not, protected or not, messages lost (must be 0) and run twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from airflow_provider_ecsops.scalein.guard import recovery_bound_seconds
from tests.scalein.helpers import FAST_SETTINGS, QUEUE, ROOT, executions, wait_until, worker_settings

STATUS_CHECK = [sys.executable, "-m", "airflow_provider_ecsops.scalein.status"]
# After the guard's recovery bound: protect and desiredStatus against a healthy fake, the resume, one delivery
# and the task's start, on a loaded 2-core machine.
HEALTHY_RESUME_SECONDS = 2.0


def tally(broker: str, sent: list[str]) -> tuple[list[str], int]:
    """(lost: sent but never run nor waiting in the queue, how many ran more than once)."""
    ran = Counter(e[0] for e in executions(broker))
    queued = redis.Redis.from_url(broker).llen(QUEUE)
    lost = [t for t in sent if t not in ran] if not queued else []
    return lost, sum(1 for n in ran.values() if n > 1)


def status(path: Path) -> dict:
    return json.loads(path.read_text())


def check(path: Path) -> tuple[int, str]:
    done = subprocess.run([*STATUS_CHECK, "--file", str(path)], capture_output=True, text=True, cwd=ROOT)
    return done.returncode, done.stdout.strip()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_failing_protection_pauses_then_recovers_within_the_settings_recovery_bound(
    fake_agent, start_worker, send, broker, tmp_path, concurrency
):
    fake_agent.inject_fault("ServerException", times=10_000)
    status_file = tmp_path / "status.json"
    worker = start_worker(
        "paused", fake_agent.add_task(), concurrency, api_attempts="1", status_file=str(status_file)
    )
    sent = [send(seconds=0.2) for _ in range(6)]
    time.sleep(2.0)
    assert executions(broker) == [], "nothing ran unprotected"
    assert redis.Redis.from_url(broker).llen(QUEUE) == 6, (
        "nothing consumed: every message waits in the broker"
    )
    paused = status(status_file)
    assert paused["state"] == "waiting" and not paused["protected"] and not paused["consuming"]
    assert paused["policy"] == "pause" and "protect failed" in paused["reason"]
    code, line = check(status_file)
    assert code == 1 and line.startswith("unhealthy: paused, protection fails"), line
    assert "paused, not consuming" in worker.log()

    fake_agent.clear_faults()
    ended = time.time()
    # The guard's own bound for these settings, plus the healthy calls and the first delivery after it.
    bound = recovery_bound_seconds(worker_settings(worker)) + HEALTHY_RESUME_SECONDS
    wait_until(lambda: executions(broker), timeout=bound + 5, what="first execution after the fault")
    recovery = executions(broker)[0][2] - ended
    assert recovery <= bound, f"recovered {recovery:.1f}s after the fault ended (bound {bound:.1f}s)"
    assert fake_agent.protected_tasks(), "protected when it consumed again"
    wait_until(lambda: len(executions(broker)) >= 6, timeout=20, what="all six executed")
    lost, twice = tally(broker, sent)
    assert lost == [] and twice == 0, f"lost {lost}, run twice {twice}"
    code, line = check(status_file)
    assert code == 0 and status(status_file)["protected"], line


def test_access_denied_on_the_first_attempt_fails_the_start_with_one_line(fake_agent, broker, tmp_path):
    fake_agent.inject_fault("AccessDeniedException", times=100)
    env = {
        **os.environ,
        **FAST_SETTINGS,
        **fake_agent.add_task(),
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": broker,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "celery", "-A", "tests.scalein.celery_app", "worker", "-Q", QUEUE,
               "--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    log = done.stdout + done.stderr
    assert done.returncode == 78, log[-3000:]
    lines = [line for line in log.splitlines() if "[ecsops]" in line]
    assert len(lines) == 1 and "AccessDenied" in lines[0] and "UpdateTaskProtection" in lines[0], log[-3000:]
    assert "Traceback" not in log and " ready." not in log
    assert fake_agent.protected_tasks() == []


def test_desired_status_stopped_keeps_a_released_worker_paused(fake_agent, start_worker, send, broker):
    ecs_env = fake_agent.add_task()
    worker = start_worker("doomed", ecs_env)
    worker.wait_for_log("draining -> released", timeout=15)
    fake_agent.set_desired_status(ecs_env["ECSOPS_FAKE_TASK_ARN"], "STOPPED")
    sent = [send(seconds=0.0)]
    worker.wait_for_log("desiredStatus STOPPED", timeout=10)
    time.sleep(1.5)
    assert executions(broker) == [], "ECS is stopping the task: nothing consumed"
    assert redis.Redis.from_url(broker).llen(QUEUE) == 1
    assert "-> doomed" in worker.log() and "-> busy" not in worker.log().split("draining -> released")[-1]
    worker.terminate()
    assert worker.process.wait(15) == 0
    lost, twice = tally(broker, sent)
    assert lost == [] and twice == 0, f"lost {lost}, run twice {twice}"


def test_eta_message_keeps_the_worker_protected_and_goes_back_on_sigterm(
    fake_agent, start_worker, send, broker
):
    ecs_env = fake_agent.add_task()
    worker = start_worker("eta", ecs_env)
    eta_id = send(seconds=0.0, countdown=60)
    worker.wait_for_log(f"[{eta_id}] received", timeout=10)
    time.sleep(3.0)  # twice the verification interval: an idle worker would have released by now
    assert fake_agent.protected_tasks() == [ecs_env["ECSOPS_FAKE_TASK_ARN"]], "held ETA = busy = protected"
    assert "-> released" not in worker.log().split(f"[{eta_id}] received")[-1]
    worker.terminate()
    assert worker.process.wait(15) == 0
    assert f"returned 1 received-not-started message(s) to the queue ['{eta_id}']" in worker.log()
    assert redis.Redis.from_url(broker).llen(QUEUE) == 1 and executions(broker) == []


def test_remapped_sigterm_cold_shutdown_returns_running_and_received_messages(
    fake_agent, start_worker, send, broker
):
    worker = start_worker(
        "cold",
        fake_agent.add_task(),
        extra_env={"REMAP_SIGTERM": "SIGQUIT", "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "2"},
    )
    running = send(seconds=30.0)
    wait_until(lambda: executions(broker), timeout=15, what="first task start")
    waiting = send(seconds=0.0)
    worker.wait_for_log(f"[{waiting}] received", timeout=5)
    worker.terminate()
    worker.process.wait(20)  # cold: no waiting for the 30 s task
    assert redis.Redis.from_url(broker).llen(QUEUE) == 2, worker.log()[-3000:]
    assert "cold shutdown (SIGTERM remapped to SIGQUIT)" in worker.log()

    start_worker("after-cold", fake_agent.add_task(), concurrency=2)
    wait_until(lambda: waiting in [e[0] for e in executions(broker)], timeout=20, what="returned task ran")
    lost, twice = tally(broker, [running, waiting])
    assert lost == [], f"lost {lost}"
    # The interrupted task starts again on the next worker (run twice: 1, the cost of a cold shutdown).
    assert twice <= 1


@pytest.mark.parametrize("signalled", ["main process", "process group"])
def test_entrypoint_signalling_the_main_process_only_lets_running_tasks_finish(
    fake_agent, send, broker, tmp_path, signalled
):
    # dumb-init with DUMB_INIT_SETSID=1 (Airflow's image default) forwards SIGTERM to the whole process group,
    # pool processes included; DUMB_INIT_SETSID=0 (or exec'ing the worker as PID 1) signals the main only.
    env = {
        **os.environ,
        **FAST_SETTINGS,
        **fake_agent.add_task(),
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": broker,
        "AIRFLOW__ECSOPS__SCALEIN_STOP_TIMEOUT_SECONDS": "30",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "celery", "-A", "tests.scalein.celery_app", "worker", "-Q", QUEUE,
               "--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip", "-l", "INFO"]  # fmt: skip
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(lambda: " ready." in log_path.read_text(errors="replace"), timeout=60, what="worker ready")
        task_id = send(seconds=3.0)
        wait_until(lambda: executions(broker), timeout=15, what="task start")
        if signalled == "process group":
            os.killpg(worker.pid, signal.SIGTERM)
        else:
            worker.send_signal(signal.SIGTERM)
        worker.wait(40)
    finally:
        if worker.poll() is None:
            worker.kill()
    log = log_path.read_text(errors="replace")
    finished = f"[{task_id}] succeeded" in log
    if signalled == "main process":
        assert finished, log[-3000:]
    else:
        assert not finished and "WorkerLostError" in log, log[-3000:]
