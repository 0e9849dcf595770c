"""The guard in real Celery worker processes against Redis and the fake ECS agent."""

from __future__ import annotations

import subprocess
import time

import redis

from tests.scalein.helpers import QUEUE, executions, wait_until


def protection_events(fake, task_arn: str) -> list[tuple[float, bool]]:
    return [
        (e["time"], e["enabled"])
        for e in fake.state()["history"]
        if e["call"] == "UpdateTaskProtection" and e["task"] == task_arn
    ]


def test_busy_worker_is_protected_before_the_task_starts(fake_agent, start_worker, send, broker):
    ecs_env = fake_agent.add_task()
    worker = start_worker("busy", ecs_env)
    task_arn = next(iter(fake_agent.tasks))
    wait_until(lambda: fake_agent.protected_tasks() == [], timeout=20, what="initial idle release")

    task_id = send(seconds=1.0)
    wait_until(lambda: executions(broker), timeout=15, what="task start")
    (executed_id, _, started), *_ = executions(broker)
    assert executed_id == task_id
    assert fake_agent.protected_tasks() == [task_arn], "protected while the task runs"
    on_times = [t for t, enabled in protection_events(fake_agent, task_arn) if enabled]
    off_times = [t for t, enabled in protection_events(fake_agent, task_arn) if not enabled]
    last_on_before_start = max(t for t in on_times if t < started)
    assert not [t for t in off_times if last_on_before_start < t < started], "protection off at task start"
    worker.wait_for_log("draining -> released", timeout=20)


def test_idle_worker_releases_only_after_verification(fake_agent, start_worker, send, broker):
    worker = start_worker("idle", fake_agent.add_task(), idle_verify_seconds="2")
    task_arn = next(iter(fake_agent.tasks))
    send(seconds=0.0)
    wait_until(lambda: executions(broker), timeout=15, what="task run")
    worker.wait_for_log("busy -> draining", timeout=10)
    paused_at = time.time()
    assert fake_agent.protected_tasks() == [task_arn], "still protected while verifying idleness"
    wait_until(lambda: fake_agent.protected_tasks() == [], timeout=10, what="release")
    released_at = [t for t, enabled in protection_events(fake_agent, task_arn) if not enabled][-1]
    assert released_at - paused_at >= 1.5  # the 2 s verification, minus the log polling slack


def test_message_arriving_during_drain_revives_and_runs(fake_agent, start_worker, send, broker):
    worker = start_worker("revive", fake_agent.add_task(), idle_verify_seconds="4")
    task_arn = next(iter(fake_agent.tasks))
    worker.wait_for_log("busy -> draining", timeout=15)
    task_id = send(seconds=0.0)
    wait_until(lambda: task_id in [e[0] for e in executions(broker)], timeout=15, what="task executed")
    log = worker.log()
    assert "draining -> busy" in log
    assert "draining -> released" not in log, "protection was never released while the late message waited"
    assert fake_agent.protected_tasks() == [task_arn]


def test_sigterm_with_one_running_and_one_received_is_lossless(fake_agent, start_worker, send, broker):
    # Prefetch 2 with one process: the second message is received (reserved) while the first runs.
    first = start_worker(
        "term",
        fake_agent.add_task(),
        extra_env={"AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "2"},
        stop_timeout_seconds="30",
        stop_margin_seconds="5",
    )
    running = send(seconds=4.0)
    wait_until(lambda: executions(broker), timeout=15, what="first task start")
    waiting = send(seconds=0.0)
    first.wait_for_log(f"[{waiting}] received", timeout=3)
    first.terminate()
    first.wait_for_log("SIGTERM, stopped consuming", timeout=10)
    assert redis.Redis.from_url(broker).llen(QUEUE) == 1, "the received message is back in the queue at once"
    assert first.process.poll() is None, "while the running task still runs"
    assert first.process.wait(30) == 0
    assert "returned 1 received-not-started message(s)" in first.log()
    assert [e[0] for e in executions(broker)] == [running], (
        "the waiting task did not run on the stopping worker"
    )

    start_worker("after", fake_agent.add_task())
    wait_until(lambda: len(executions(broker)) >= 2, timeout=20, what="the returned task executed")
    time.sleep(1)
    ran = [e[0] for e in executions(broker)]
    assert sorted(ran) == sorted([running, waiting]), f"each task exactly once, got {ran}"


def test_not_on_ecs_the_guard_is_off_and_the_worker_plain(fake_agent, start_worker, send, broker):
    worker = start_worker("plain", None, self_retire="true", service="airflow-workers")
    task_id = send(seconds=0.0)
    wait_until(lambda: executions(broker), timeout=15, what="task run")
    time.sleep(2)  # several ticks' worth, where a guard would have paused or retired
    assert executions(broker)[0][0] == task_id
    assert fake_agent.state()["history"] == []
    log = worker.log()
    assert log.count("not running on ECS") == 1
    assert "ecsops scale-in: busy" not in log and "paused consuming" not in log
    assert "[error" not in log and "Traceback" not in log


def test_throttled_agent_is_retried_by_the_worker(fake_agent, start_worker, send, broker):
    fake_agent.inject_fault("ThrottlingException", times=2)
    start_worker("throttled", fake_agent.add_task())
    task_arn = next(iter(fake_agent.tasks))
    history = fake_agent.state()["history"]
    assert [e["call"] for e in history[:3]] == ["fault", "fault", "UpdateTaskProtection"]
    assert history[2]["enabled"] is True and history[2]["task"] == task_arn


def test_task_outliving_the_stop_timeout_is_returned_before_sigkill(fake_agent, start_worker, send, broker):
    worker = start_worker("overdue", fake_agent.add_task(), stop_timeout_seconds="5", stop_margin_seconds="2")
    task_id = send(seconds=60.0)
    wait_until(lambda: executions(broker), timeout=15, what="task start")
    worker.terminate()
    try:
        worker.process.wait(6)  # the stop timeout; then ECS sends SIGKILL
    except subprocess.TimeoutExpired:
        worker.process.kill()
        raise AssertionError("the worker was still up at the stop timeout") from None
    assert f"still running ['{task_id}']: returned their messages to the queue" in worker.log()
    assert redis.Redis.from_url(broker).llen(QUEUE) == 1, "its message is back in the queue, not in limbo"
