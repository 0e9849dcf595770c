"""The race lab's redelivery evidence, from worker logs and events written the way a run writes them: a message
a SIGKILLed worker held resurfaces after the visibility timeout and is named; a message the guard returned is
received again at once; a message that never came back is stranded, not silently dropped."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_ecsops.testing.race.redelivery import UNFINISHED, describe, main, redeliveries

A = "6fb14c47-7cbd-4316-abe3-9126c248dbf8"
B = "941cbd07-85ae-4315-90e5-38d97ff6efbf"
C = "c50d15a6-94d5-40e7-82c5-7cd2363ac09a"
T0 = datetime(2026, 12, 2, 5, 20, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


# Lines as Celery 5.6, Airflow 3.3's Celery task and the guard write them (from a race run's worker logs).
def received(t: float, message: str) -> str:
    return f"{at(t)} [info     ] Task execute_workload[{message}] received [celery.worker.strategy]"


def executing(t: float, message: str, dag: str) -> str:
    return (
        f"{at(t)} [info     ] [{message}] Executing workload in Celery: dag_rel_path=PurePosixPath('x.py') "
        f"ti=TaskInstanceDTO(id=UUID('01a2352e-440a-7a84-8016-3523147faf55'), task_id='log_ticks', "
        f"dag_id='{dag}', run_id='scheduled__2026-12-02T05:15:30+00:00', try_number=1) type='ExecuteTask'"
    )


def succeeded(t: float, message: str) -> str:
    return f"{at(t)} [info     ] Task execute_workload[{message}] succeeded in 15.88s: None"


def gate_returned(t: float, message: str) -> str:
    return (
        f"{at(t)} [warning  ] ecsops scale-in: task {message} received while released (protected=False): "
        "returned to its queue, not run"
    )


def sigterm_returned(t: float, *messages: str) -> str:
    return (
        f"{at(t)} [warning  ] ecsops scale-in: SIGTERM, stopped consuming; returned {len(messages)} "
        f"received-not-started message(s) to the queue {list(messages)}; 0 running task(s) [] get 1s more"
    )


def fleet(tmp_path, logs: dict[str, list[str]], events: list[tuple[float, str, str]]):
    (tmp_path / "logs").mkdir(parents=True)
    for worker, lines in logs.items():
        (tmp_path / "logs" / f"{worker}.log").write_text("\n".join(lines) + "\n")
    (tmp_path / "logs" / "scheduler.log").write_text(received(0, C) + "\n")  # not a worker: never read
    with (tmp_path / "events.jsonl").open("w") as f:
        for t, action, worker in events:
            f.write(
                json.dumps(
                    {"time": (T0 + timedelta(seconds=t)).timestamp(), "action": action, "worker": worker}
                )
            )
            f.write("\n")
    return tmp_path


def test_a_message_a_sigkilled_worker_held_is_named_with_the_time_it_took_to_resurface(tmp_path):
    out = fleet(
        tmp_path,
        {
            "off-w1": [received(0, A)],
            "off-w2": [received(2161.4, A), executing(2161.9, A, "race_b3"), succeeded(2180, A)],
        },
        [(1, "sigterm", "off-w1"), (2.5, "sigkill", "off-w1")],
    )
    found = redeliveries(out / "logs", out / "events.jsonl")
    assert found.receipts == 2 and found.count(*UNFINISHED) == 1 and not found.stranded
    (r,) = found.redelivered
    assert (r.first.worker, r.first.fate, r.again.worker, r.after_seconds) == (
        "off-w1",
        "killed",
        "off-w2",
        2161.4,
    )
    (line,) = describe(found, "off", (T0 + timedelta(seconds=2200)).timestamp())
    assert (
        "race_b3" in line
        and "killed at 05:20:02" in line
        and "resurfaced after 2161 s; then succeeded" in line
    )


def test_messages_the_guard_returned_are_counted_apart_with_how_soon_they_came_back(tmp_path):
    out = fleet(
        tmp_path,
        {
            "on-w1": [received(10, A), gate_returned(10.1, A), received(20, B), sigterm_returned(20.5, B)],
            "on-w2": [received(10.6, A), succeeded(30, A), received(21.3, B), succeeded(40, B)],
        },
        [(20.4, "sigterm", "on-w1"), (21, "exited", "on-w1")],
    )
    found = redeliveries(out / "logs", out / "events.jsonl")
    assert found.count("returned") == 2 and found.count(*UNFINISHED) == 0 and not found.stranded
    (line,) = describe(found, "on", (T0 + timedelta(seconds=60)).timestamp())
    assert (
        line == "[on] 2 message(s) returned by the guard and received again after 0.8 s (median; max 0.8 s)"
    )


def test_a_message_held_by_a_killed_worker_that_never_came_back_is_stranded(tmp_path):
    out = fleet(
        tmp_path,
        {"off-w1": [received(0, A), executing(0.5, A, "race_b4"), received(1, B), succeeded(3, B)]},
        [(2, "sigterm", "off-w1"), (3.5, "sigkill", "off-w1")],
    )
    found = redeliveries(out / "logs", out / "events.jsonl")
    assert [(s.message, s.fate) for s in found.stranded] == [(A, "killed")] and not found.redelivered
    (line,) = describe(found, "off", (T0 + timedelta(seconds=600)).timestamp())
    assert "race_b4" in line and "not received again by the run's end (600 s later)" in line


def test_a_message_still_held_when_the_fleet_is_torn_down_is_neither_resurfaced_nor_stranded(tmp_path):
    out = fleet(tmp_path, {"off-w1": [received(0, A)]}, [])
    found = redeliveries(out / "logs", out / "events.jsonl")
    assert found.receipts == 1 and not found.redelivered and not found.stranded


def test_the_command_reports_each_fleet_directory_and_refuses_one_without_logs(tmp_path, capsys):
    out = fleet(tmp_path / "off", {"off-w1": [received(0, A)]}, [(1, "sigkill", "off-w1")])
    assert main([str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 receipts; resurfaced 0, stranded 1, returned by guard 0" in printed
    assert json.loads((out / "redeliveries.json").read_text())["stranded"][0]["message"] == A
    with pytest.raises(SystemExit) as refused:
        main([str(tmp_path / "nowhere")])
    assert refused.value.code == 2
    assert "no logs/ directory. Fix:" in capsys.readouterr().err


def test_a_line_cut_short_by_a_sigkill_neither_breaks_the_reading_nor_moves_the_clock(tmp_path):
    out = fleet(
        tmp_path,
        {"off-w1": [received(0, A), "2026-12-02T05:2"], "off-w2": [received(2160, A), succeeded(2170, A)]},
        [(1, "sigkill", "off-w1")],
    )
    with (out / "events.jsonl").open("a") as f:
        f.write('{"time": 17961')
    (r,) = redeliveries(out / "logs", out / "events.jsonl").redelivered
    assert (r.first.fate, r.after_seconds) == ("killed", 2160.0)


def test_a_task_instance_that_started_a_visibility_timeout_after_it_was_queued_is_listed(postgres_url):
    import psycopg2

    from airflow_provider_ecsops.testing.race.redelivery import late_starts

    db = f"ecsops_test_late_{os.getpid()}"  # its own, dropped at the end
    admin = psycopg2.connect(postgres_url.replace("+psycopg2", ""))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{db}"
    try:
        conn = psycopg2.connect(url.replace("+psycopg2", ""))
        with conn, conn.cursor() as cur:  # the columns of Airflow's task_instance that are read
            cur.execute(
                "CREATE TABLE task_instance (dag_id text, run_id text, queued_dttm timestamptz,"
                " start_date timestamptz, hostname text)"
            )
            rows = [
                ("race_b4", "r1", 0, 2162, "off-w9"),
                ("race_a1", "r2", 0, 4, "off-w2"),
                ("race_b2", "r0", -99, 2200, "x"),
            ]
            for dag, run, queued, started, host in rows:
                cur.execute(
                    "INSERT INTO task_instance VALUES (%s, %s, %s, %s, %s)",
                    (dag, run, T0 + timedelta(seconds=queued), T0 + timedelta(seconds=started), host),
                )
        conn.close()
        lines = late_starts(url, T0, 1080)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()
    # race_a1 started at once; race_b2 was queued before the window
    assert lines == [
        "race_b4 r1: queued at 05:20:00, started at 05:56:02 on off-w9: 2162 s after it was queued"
    ]
