"""The race report on metadata written by real Airflow (see ``seed.py``): SQLite, PostgreSQL, REST API v2, MWAA."""

from __future__ import annotations

import json
from datetime import datetime

import pendulum
import pytest

from airflow_provider_ecsops.replication import cli
from airflow_provider_ecsops.replication.classify import tallies
from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.observations import observations_from_db
from airflow_provider_ecsops.replication.render import to_json
from tests.replication.helpers import FAKE_TASK_ARN, STUCK_AFTER, judge
from tests.replication.seed import EXPECTED, PREFIX, TIME_SCALE, seed_schedule


def _assert_expected_classes(results, worker: str | None = None):
    assert {r.dag.dag_id: r.cls for r in results} == EXPECTED
    lost = next(r for r in results if r.cls == "lost")
    assert lost.observation.record is None and lost.observation.start is not None
    # The lost run carries no record; its worker is known to Airflow, its ECS task from that worker's records.
    assert lost.worker and lost.ecs_task_arn == FAKE_TASK_ARN
    if worker:
        assert lost.worker == worker
    stuck = {r.dag.dag_id: r.reason for r in results if r.cls == "stuck"}
    assert "queued for 30 min 00 s" in stuck[f"{PREFIX}_b3"]
    assert "without ever starting" in stuck[f"{PREFIX}_a2"]


def test_classification_from_sqlite_metadata(sqlite_plan):
    observations = observations_from_db(sqlite_plan["url"], list(EXPECTED), TASK_ID)
    completed = [
        o for o in observations if o.state == "success" and o.run_id in sqlite_plan["run_ids"].values()
    ]
    assert completed and all(o.record and o.record["ecs_task_arn"] == FAKE_TASK_ARN for o in completed)
    results = judge(sqlite_plan, observations)
    _assert_expected_classes(results, worker=completed[0].hostname)

    by_offset = {k: t.as_dict() for k, t in tallies(results)["offset"].items()}
    assert by_offset["A"] == {
        "expected": 4,
        "completed": 1,
        "lost": 0,
        "stuck": 1,
        "failed": 1,
        "never_scheduled": 0,
        "running": 1,
        "judged": 3,
        "incidence": round(1 / 3, 4),
    }
    assert (by_offset["+2m"]["lost"], by_offset["+3m"]["stuck"], by_offset["+5m"]["never_scheduled"]) == (
        1,
        1,
        1,
    )
    report = json.loads(
        json.dumps(
            to_json(
                seed_schedule(pendulum.parse(sqlite_plan["start_date"])),
                results,
                datetime.fromisoformat(sqlite_plan["since"]),
                datetime.fromisoformat(sqlite_plan["until"]),
            )
        )
    )
    assert report["tallies"]["all"]["all"]["lost"] == 1
    assert {s["dag_id"]: s["class"] for s in report["slots"]} == EXPECTED
    assert report["schedule"][4]["schedule"].startswith("every 10s")


@pytest.mark.services
def test_classification_from_postgres_metadata(postgres_plan):
    results = judge(postgres_plan, observations_from_db(postgres_plan["url"], list(EXPECTED), TASK_ID))
    _assert_expected_classes(results)


@pytest.mark.services
def test_console_entry_point_writes_json_and_html(postgres_plan, tmp_path, capsys):
    argv = [
        "--db-url", postgres_plan["url"],
        "--prefix", PREFIX,
        "--time-scale", str(TIME_SCALE),
        "--start-date", postgres_plan["start_date"],
        "--since", postgres_plan["since"],
        "--until", postgres_plan["until"],
        "--stuck-after", str(STUCK_AFTER.total_seconds()),
        "--json", str(tmp_path / "race.json"),
        "--html", str(tmp_path / "race.html"),
        "--fail-on-incident",
    ]  # fmt: skip
    assert cli.main(argv) == 1  # a lost and two stuck slots
    out = capsys.readouterr().out
    assert "Incidents:" in out and f"lost   {PREFIX}_b2" in out
    offsets = [line.split() for line in out.splitlines() if line.startswith("+3m")]
    assert offsets == [["+3m", "1", "0", "0", "1", "0", "0", "0", "1", "100.0%"]]
    report = json.loads((tmp_path / "race.json").read_text())
    assert {s["dag_id"]: s["class"] for s in report["slots"]} == EXPECTED
    assert "<svg" in (tmp_path / "race.html").read_text()


def test_airflow_cli_hook_reports_on_the_installations_own_metadata_db(sqlite_plan, capsys):
    """``airflow ecsops race-report``, parsed by Airflow's own CLI machinery, without a source option."""
    import argparse

    from airflow.cli import cli_parser

    parser = argparse.ArgumentParser(prog="airflow")
    subparsers = parser.add_subparsers(dest="subcommand")
    (group,) = cli.get_cli_commands()
    cli_parser._add_command(subparsers, group)
    args = parser.parse_args(
        ["ecsops", "race-report", "--prefix", PREFIX,
         "--time-scale", str(TIME_SCALE), "--start-date", sqlite_plan["start_date"],
         "--since", sqlite_plan["since"], "--until", sqlite_plan["until"],
         "--stuck-after", str(STUCK_AFTER.total_seconds()), "--fail-on-incident"]
    )  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        args.func(args)
    assert exit_info.value.code == 1
    assert f"lost   {PREFIX}_b2" in capsys.readouterr().out
