"""``ecsops-race-report`` errors, on the seeded SQLite and PostgreSQL metadata DBs: one line, the cause, the fix.

Each case is a change to the command line that reports correctly on the seed (``seed.py``); the table says
the exit status (2 usage, 1 run time) and what the one stderr line must name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_ecsops.replication import cli
from airflow_provider_ecsops.replication.classify import (
    NoMatchingRun,
    _key,
    check_observed,
    classify,
    tallies,
)
from airflow_provider_ecsops.replication.observations import Observation
from airflow_provider_ecsops.replication.render import to_console, to_html
from airflow_provider_ecsops.replication.schedule import RaceSchedule
from tests.replication.helpers import STUCK_AFTER
from tests.replication.seed import PREFIX, TIME_SCALE, anchor, seed_schedule

# A period of 10.27404 s: past the epoch, its slots never meet the seed's 10 s grid (to the millisecond)
# within an hour and ten seconds, and the seed never writes a run at the epoch.
WRONG_SCALE = "0.0171234"
SOURCES = ["sqlite_plan", pytest.param("postgres_plan", marks=pytest.mark.services)]


def _argv(plan: dict, **changes: str | None) -> list[str]:
    """The seed's correct command line, with options changed (``None`` drops one)."""
    options = {
        "--db-url": plan["url"],
        "--prefix": PREFIX,
        "--time-scale": str(TIME_SCALE),
        "--start-date": plan["start_date"],
        "--since": plan["since"],
        "--until": plan["until"],
        "--stuck-after": str(STUCK_AFTER.total_seconds()),
    }
    options.update({f"--{k.replace('_', '-')}": v for k, v in changes.items()})
    return [part for k, v in options.items() if v is not None for part in (k, v)]


def _status(argv: list[str]) -> int | str | None:
    """The command's exit status, whether it returns it or argparse exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


def _day_before(plan: dict, key: str) -> str:
    return (datetime.fromisoformat(plan[key]) - timedelta(days=1)).isoformat()


# (case, changes to the command line, exit status, what the one line must say)
CASES = [
    (
        "wrong prefix",
        {"prefix": "scaledown_typo"},
        1,
        ["prefix: no run of scaledown_typo_a1", f"prefix {PREFIX}"],
    ),
    (
        "wrong time scale",
        {"time_scale": WRONG_SCALE},
        1,
        ["time-scale:", "none on an expected slot", "Fix: give"],
    ),
    ("window before the runs", {"since": "day-before", "until": "day-before"}, 1, ["since/until: none of"]),
    ("since without timezone", {"since": "2026-12-01T10:00:00"}, 2, ["needs a timezone"]),
    ("offsets not numbers", {"offsets": "2,x"}, 2, ["not a list of whole minutes"]),
    ("offset outside the period", {"offsets": "2,30"}, 2, ["offsets: wave B offset 30"]),
    ("duration rule not importable", {"duration_rule": "no.such:rule"}, 2, ["not an importable module"]),
    (
        "two sources",
        {"api_url": "http://127.0.0.1:9"},
        2,
        ["source: give exactly one", "--db-url, --api-url"],
    ),
    ("no source", {"db_url": None}, 2, ["source: give exactly one", "given: none"]),
    ("stuck-after not positive", {"stuck_after": "0"}, 2, ["stuck-after: 0 must be > 0"]),
    ("unwritable html", {"html": "/nonexistent-dir/race.html"}, 1, ["html: cannot write /nonexistent-dir"]),
    (
        "events log missing",
        {"html": "tmp", "events": "/nonexistent-dir/events.jsonl"},
        1,
        ["events: cannot read"],
    ),
]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("case", "changes", "status", "says"), CASES, ids=[c[0] for c in CASES])
def test_every_cli_error_is_one_line_with_its_cause_and_fix(
    request, source, case, changes, status, says, tmp_path, capsys
):
    plan = request.getfixturevalue(source)
    changes = {
        k: _day_before(plan, k) if v == "day-before" else str(tmp_path / "race.html") if v == "tmp" else v
        for k, v in changes.items()
    }
    code = _status([*_argv(plan, **changes), "--fail-on-incident"])
    err = capsys.readouterr().err
    assert code == status, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("ecsops-race-report: error: ") and "Fix:" in err and "Traceback" not in err
    for fragment in says:
        assert fragment in err


def test_the_wrong_time_scale_meets_no_seeded_run_wherever_in_the_hour_the_seed_falls():
    # The error case above holds only if no slot of the wrong scale is a seeded slot; seed at every second.
    top = datetime(2026, 12, 3, 17, tzinfo=UTC)
    for second in range(-15, 3615):
        seeded, base = anchor(top + timedelta(seconds=second))
        wrong = RaceSchedule(prefix=PREFIX, time_scale=float(WRONG_SCALE), start_date=seeded.start_date)
        until = base + seeded.period
        seeded_keys = {(d.dag_id, _key(base + seeded.minute * d.start_minute)) for d in seeded.dags}
        wrong_keys = {(d.dag_id, _key(slot)) for d in wrong.dags for slot in wrong.slots(d, base, until)}
        assert seeded_keys and wrong_keys and not seeded_keys & wrong_keys, (second, seeded_keys & wrong_keys)


def test_missing_database_is_a_runtime_error_not_an_empty_installation(tmp_path, capsys):
    missing = tmp_path / "airflow.db"
    assert cli.main(["--db-url", f"sqlite:///{missing}"]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and f"db-url: cannot read the Airflow metadata DB at sqlite:///{missing}" in err
    )
    assert not missing.exists()  # SQLite would have created it: a typo must not leave an empty DB behind


@pytest.mark.services
def test_unknown_postgres_database_is_a_runtime_error_without_the_password(postgres_url, capsys):
    url = (
        postgres_url.replace("postgres@", "postgres:secret@").rsplit("/", 1)[0] + "/ecsops_report_no_such_db"
    )
    assert cli.main(["--db-url", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "db-url: cannot read" in err and "ecsops_report_no_such_db" in err
    assert "secret" not in err


def test_debug_adds_the_traceback(sqlite_plan, capsys):
    assert cli.main([*_argv(sqlite_plan, prefix="scaledown_typo"), "--debug"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("ecsops-race-report: error: prefix:") and "Traceback" in err and "NoMatchingRun" in err
    )


def test_fail_on_incident_never_passes_when_nothing_was_judged():
    """Only a running run and never-scheduled slots: incidence n/a, and the check fails, not passes."""
    race_schedule = seed_schedule(datetime(2026, 12, 1, tzinfo=UTC))
    dag = race_schedule.dags[0]
    slot = race_schedule.first_slot(dag) + race_schedule.period * 3
    running = Observation(dag.dag_id, "scheduled__1", slot, "running", "running", start=slot)
    now, until = slot + timedelta(seconds=1), slot + race_schedule.period - timedelta(microseconds=1)
    results = classify(race_schedule, [running], slot, until, now, STUCK_AFTER)
    check_observed(race_schedule, [running], results, slot, until)  # a run was seen: no error
    whole = tallies(results)["all"]["all"]
    assert (whole.counts["running"], whole.counts["never_scheduled"], whole.judged) == (1, 7, 0)
    assert whole.incidence is None and whole.as_dict()["incidence"] is None
    status, why = cli.incident_status(whole)
    assert status == 1 and why.startswith("fail-on-incident: no slot of the window was scheduled and settled")
    assert "Incidence n/a" in to_console(results, slot, now)
    assert "incidence n/a" in to_html(results, slot, now)


def test_runs_off_the_expected_slots_name_the_set_parameters():
    race_schedule = seed_schedule(datetime(2026, 12, 1, tzinfo=UTC))
    dag = race_schedule.dags[0]
    slot = race_schedule.first_slot(dag) + race_schedule.period * 3 + timedelta(seconds=2)  # a manual run
    manual = Observation(dag.dag_id, "manual__1", slot, "success", "success", start=slot)
    since, until = slot - timedelta(seconds=5), slot + timedelta(seconds=5)
    results = classify(race_schedule, [manual], since, until, until, STUCK_AFTER)
    with pytest.raises(NoMatchingRun, match=r"^time-scale: 1 runs of the set lie in the window but none on"):
        check_observed(race_schedule, [manual], results, since, until)
