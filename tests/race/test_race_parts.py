"""The race lab's pure parts, without a stack: what a worker holds (read from its Celery log), the campaign's
interval, and where the first judged slot lands."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_ecsops.testing.race.campaign import wilson
from airflow_provider_ecsops.testing.race.run import slot_zero
from airflow_provider_ecsops.testing.race.stack import Worker

A = "6fb14c47-7cbd-4316-abe3-9126c248dbf8"
B = "941cbd07-85ae-4315-90e5-38d97ff6efbf"
C = "c50d15a6-94d5-40e7-82c5-7cd2363ac09a"
# Lines as Celery 5.6 and the guard write them (from a race run's worker log).
RECEIVED = (
    "2026-12-02T00:58:00.731261Z [info     ] Task execute_workload[{id}] received [celery.worker.strategy]"
)
SUCCEEDED = "2026-12-02T00:58:16.635751Z [info     ] Task execute_workload[{id}] succeeded in 15.88s: None"
RETURNED = (
    "2026-12-02T00:58:17.1Z [warning  ] ecsops scale-in: task {id} received while released (protected=False): "
    "returned to its queue, not run"
)


def worker(tmp_path) -> Worker:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return Worker(name="off-w1", task_arn="arn", proc=proc, log=tmp_path / "w.log", started=0.0)


def test_a_worker_holds_the_messages_it_received_and_has_not_finished(tmp_path):
    w = worker(tmp_path)
    w.log.write_text("\n".join([RECEIVED.format(id=A), RECEIVED.format(id=B), SUCCEEDED.format(id=A)]) + "\n")
    assert w.held() == [B]
    with w.log.open("a") as f:  # read on from where it stopped; a line being written waits for its newline
        f.write(RECEIVED.format(id=C) + "\n" + RETURNED.format(id=B) + "\n" + SUCCEEDED.format(id=C)[:30])
    assert w.held() == [C]
    with w.log.open("a") as f:
        f.write(SUCCEEDED.format(id=C)[30:] + "\n")
    assert w.held() == []


def test_a_worker_without_a_log_yet_holds_nothing(tmp_path):
    assert worker(tmp_path).held() == []


def test_the_wilson_interval_is_not_empty_at_zero_incidents():
    low, high = wilson(0, 600)
    assert low < 1e-12 and 0.005 < high < 0.007  # ~6.4 per 1,000 at 95%
    low, high = wilson(3, 208)
    assert low < 3 / 208 < high


def test_slot_zero_is_the_next_period_boundary_after_the_lead_at_an_allowed_phase():
    unit = timedelta(seconds=3)  # time scale 0.05: a period lasts 30 s, a scaled hour 3 min
    now = datetime(2026, 12, 2, 1, 11, 4, tzinfo=UTC)
    assert slot_zero(now, unit, 3, ()) == datetime(2026, 12, 2, 1, 11, 30, tzinfo=UTC)
    assert slot_zero(now, unit, 30, ()) == datetime(2026, 12, 2, 1, 12, 0, tzinfo=UTC)
    # 01:13:00 is 260 scaled minutes after the hour: minute 20 of a scaled hour.
    assert slot_zero(now, unit, 3, (20,)) == datetime(2026, 12, 2, 1, 13, 0, tzinfo=UTC)


def test_a_second_run_of_the_same_lab_is_refused_while_the_first_holds_its_databases(postgres_url):
    from airflow_provider_ecsops.testing.race.stack import RunLockBusy, run_lock

    lab = f"parts_{os.getpid()}"  # a lab of this test's own, so a real short or long run is not disturbed
    busy = rf"^--lab {lab}: another race run .* Fix: .*another --lab"
    with run_lock(lab), pytest.raises(RunLockBusy, match=busy), run_lock(lab):
        pass
    with run_lock(lab):  # released with its holder
        pass


def test_a_second_lab_on_redis_must_name_its_own_redis_dbs(capsys):
    from airflow_provider_ecsops.testing.race.run import main

    with pytest.raises(SystemExit) as exited:
        main(["--mode", "long", "--lab", "campaign_a"])
    assert exited.value.code == 2
    assert "--lab campaign_a: the mode's Redis dbs (12, 13) may be another run's. Fix: give --redis-db N" in (
        capsys.readouterr().err
    )


def test_a_lab_name_must_be_a_database_name_part(capsys):
    from airflow_provider_ecsops.testing.race.run import main

    with pytest.raises(SystemExit) as exited:
        main(["--lab", "Bad-Name", "--redis-db", "3"])
    assert exited.value.code == 2
    assert "'Bad-Name' is not a lab name. Fix: lower-case letters" in capsys.readouterr().err


def test_usage_counts_only_the_judged_window_and_a_never_started_task_as_waiting_until_the_end(tmp_path):
    from airflow_provider_ecsops.testing.race.usage import figures, worker_seconds

    events = tmp_path / "events.jsonl"
    lines = [
        {"time": 0.0, "action": "launch", "worker": "w1"},  # warm-up: counts from the window's start (10)
        {"time": 20.0, "action": "launch", "worker": "w2"},
        {"time": 40.0, "action": "exited", "worker": "w2"},
        {"time": 45.0, "action": "sigkill", "worker": "w2"},  # the first end of a life counts
    ]
    events.write_text("".join(f"{json.dumps(e)}\n" for e in lines))
    used = worker_seconds(events, since=10.0, end=70.0)
    assert used == 60.0 + 20.0
    rows = [
        (1.0, 2.0, 12.0),  # queued before the window: no pickup, but its 2 s of run inside count
        (12.0, 15.0, 25.0),  # pickup 3 s
        (30.0, 36.0, 46.0),  # pickup 6 s
        (64.0, None, None),  # stuck: waits until the end, 6 s at least
        (None, None, None),
    ]
    got = figures(rows, used, since=10.0, end=70.0, unit_seconds=3.0, concurrency=1)
    assert got["task_instances"] == 3 and got["unstarted"] == 1
    assert got["pickup_p50_seconds"] == 6.0 and got["pickup_p95_seconds"] == 6.0
    assert got["worker_units_minimum"] == round(22.0 / 3, 1)
    assert got["worker_units_used"] == round(80.0 / 3, 1)
    assert got["worker_units_idle"] == round(58.0 / 3, 1)


def test_usage_with_nothing_queued_in_the_window_is_an_error_not_a_zero():
    from airflow_provider_ecsops.testing.race.usage import figures

    with pytest.raises(ValueError, match="nothing to measure"):
        figures([(1.0, 2.0, 3.0)], 0.0, since=10.0, end=70.0, unit_seconds=3.0, concurrency=1)


def test_on_sqs_the_lost_task_waits_for_its_message_to_resurface_not_for_the_schedulers_queued_timeout(
    tmp_path,
):
    from airflow_provider_ecsops.testing.race.stack import RaceStack

    stack = RaceStack(
        run="t",
        fleet="off",
        guarded=False,
        out_dir=tmp_path,
        broker="sqs",
        redis_db=14,
        concurrency=1,
        time_scale=0.05,
        start_date=datetime(2026, 12, 2, tzinfo=UTC),
        stop_timeout_seconds=1.5,
    )
    env = stack.env()
    visibility = int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"])
    assert visibility == 2160  # MWAA's 12 h on the scaled clock
    # Beyond the visibility timeout: the scheduler neither requeues the task instance first nor lets the
    # workload's token (Airflow 3.3: this lifetime) expire before the message comes back.
    assert float(env["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT"]) > visibility


def test_a_campaign_whose_later_seed_fails_still_prints_and_keeps_the_seeds_done_and_exits_1(
    tmp_path, monkeypatch, capsys
):
    from airflow_provider_ecsops.testing.race import run

    def run_both(fleets, options, out, sequential):
        if options.seed > 7:
            raise RuntimeError("the API server did not answer within 300s; see logs")
        return [fleet_result(fleet, options.seed) for fleet in fleets]

    monkeypatch.setattr(run, "run_both", run_both)
    monkeypatch.setattr(run, "migrate_template", lambda *a: None)
    args = run.parser().parse_args(["--mode", "long", "--seed", "7", "--seeds", "3", "--out", str(tmp_path)])
    args.lab = "long"
    assert run._run(args, run.MODES["long"]) == 1
    printed = capsys.readouterr()
    assert (
        "seeds 7\n" in printed.out
        and "| unguarded | 7" in printed.out
        and "| guarded   | 1     | 208" in printed.out
    )
    assert printed.err.strip() == (
        "seed 8 failed, the tables hold the seeds before it: the API server did not answer within 300s; see logs"
    )
    assert [r["seed"] for r in json.loads((tmp_path / "long" / "summary.json").read_text())] == [7, 7]


def test_a_campaign_whose_first_seed_fails_says_so_in_one_line_and_keeps_the_traceback(
    tmp_path, monkeypatch, capsys
):
    from airflow_provider_ecsops.testing.race import run

    def run_both(fleets, options, out, sequential):
        raise RuntimeError("the API server did not answer within 300s; see logs\nsecond line")

    monkeypatch.setattr(run, "run_both", run_both)
    monkeypatch.setattr(run, "migrate_template", lambda *a: None)
    args = run.parser().parse_args(["--mode", "long", "--seeds", "3", "--out", str(tmp_path)])
    args.lab = "long"
    assert run._run(args, run.MODES["long"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    [line] = printed.err.splitlines()
    assert line.startswith(
        "seed 20211025 failed, no seed was done: the API server did not answer within 300s"
    )
    assert line.endswith("Fix: see the traceback; on a loaded machine run fewer labs side by side")
    assert "RuntimeError" in (tmp_path / "long" / "error.log").read_text()


@pytest.mark.parametrize(
    ("stop", "named"),
    [(lambda run: run._raise_interrupt(15, None), "signal 15"), (lambda run: sigint(), "Ctrl-C")],
)
def test_a_run_stopped_by_sigterm_or_ctrl_c_says_so_in_one_line_and_exits_130(
    stop, named, monkeypatch, capsys
):
    from airflow_provider_ecsops.testing.race import run

    def stopped(args, mode):
        stop(run)

    monkeypatch.setattr(run, "_run", stopped)
    monkeypatch.setattr(run, "run_lock", lambda lab: contextlib.nullcontext())
    monkeypatch.setattr(run.signal, "signal", lambda *a: None)  # pytest's own SIGTERM handling stays
    assert run.main(["--mode", "short"]) == 130
    assert capsys.readouterr().err == f"stopped by {named}: every fleet's processes were stopped\n"


def sigint():
    raise KeyboardInterrupt  # what Python raises on Ctrl-C: no message


def fleet_result(fleet: str, seed: int):
    from airflow_provider_ecsops.testing.race.run import FleetResult

    return FleetResult(
        fleet=fleet,
        seed=seed,
        expected=208,
        completed=208,
        lost=0,
        stuck=0,
        other=0,
        scale_ins=8,
        launched=9,
        sigterm=20,
        busy_at_sigterm=0,
        sigkill=3,
        self_retires=0,
        resurfaced=0,
        stranded=0,
        guard_returned=1,
        ready_seconds=100.0,
        wall_seconds=900.0,
        html="report.html",
        usage={},
        redeliveries=[],
    )


def test_a_lull_pauses_the_whole_set_before_its_first_period_and_resumes_each_dag_at_its_own_next_slot():
    from airflow_provider_ecsops.replication.schedule import RaceSchedule
    from airflow_provider_ecsops.testing.race.lull import Lull

    start = datetime(2026, 12, 2, 1, 0, 0, tzinfo=UTC)
    schedule = RaceSchedule(prefix="race", time_scale=0.05, start_date=start)  # a period lasts 30 s
    plan = Lull(first=2, length=3).plan(schedule, start)
    pauses = [(when, dag_id) for when, dag_id, slot in plan if slot is None]
    resumes = {dag_id: (when, slot) for when, dag_id, slot in plan if slot is not None}
    dag_ids = {d.dag_id for d in schedule.dags}
    assert {d for _, d in pauses} == dag_ids and {w for w, _ in pauses} == {start + timedelta(seconds=58.5)}
    assert resumes.keys() == dag_ids
    resume_from = start + timedelta(seconds=150)
    for dag in schedule.dags:
        when, slot = resumes[dag.dag_id]
        # At its own first slot after the lull (next_dagrun is set to it then): wave A at the period's start,
        # wave B 4-7 scaled minutes into it.
        assert when == slot == next(schedule.slots(dag, resume_from, resume_from + schedule.period))
        assert slot - resume_from == schedule.minute * dag.start_minute
    assert plan == sorted(plan, key=lambda a: (a[0], a[1]))
    # The morning's scheduled minimum: from a period before the lull's end (unit 50) to a period after.
    assert Lull(first=2, length=3).warm_window(period_units=10) == (40, 60)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lull", "12"], "argument --lull: '12' is not FIRST:LENGTH. Fix: give periods, e.g. 12:4"),
        (["--lull", "0:4"], "argument --lull: '0:4' needs FIRST >= 1 and LENGTH >= 1. Fix: e.g. 12:4"),
        (
            ["--lull", "2:3"],
            "--lull 2:3: periods 2-4 leave no period after the lull in 4. Fix: a shorter lull",
        ),
        (
            ["--lull", "1:2", "--prewarm", "3"],
            "--prewarm 3: warms a target-tracking fleet above its floor before a lull's end. Fix: add "
            "--autoscaler target-tracking --lull FIRST:LENGTH, N in 2..4",
        ),
        (
            ["--autoscaler", "target-tracking", "--prewarm", "3"],
            "Fix: add --autoscaler target-tracking --lull",
        ),
        (["--autoscaler", "target-tracking", "--lull", "1:2", "--prewarm", "5"], "N in 2..4"),
    ],
)
def test_a_lull_or_prewarm_that_is_not_one_or_does_not_fit_is_refused_in_one_line(argv, message, capsys):
    from airflow_provider_ecsops.testing.race.run import main

    with pytest.raises(SystemExit) as exited:
        main(["--mode", "short", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and message in err, err
