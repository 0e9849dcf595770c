"""``ecsops-race-report`` (console script) and ``airflow ecsops race-report`` (provider CLI hook, Airflow 3.1+).

Both share one option table, :data:`OPTIONS`, so they cannot drift apart.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from airflow_provider_ecsops.replication.classify import classify
from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.render import to_console, to_html, to_json, write_json
from airflow_provider_ecsops.replication.schedule import FIELD_REPORT_START, RaceSchedule, field_report_ticks


def _offsets(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone, e.g. {text}+00:00")
    return value


def _rule(text: str):
    module, _, name = text.partition(":")
    return getattr(importlib.import_module(module), name)


# (flags, argparse keyword arguments): the single definition of the command's options.
OPTIONS: list[tuple[tuple[str, ...], dict]] = [
    (("--db-url",), {"help": "SQLAlchemy URL of the Airflow metadata DB (read access is enough)"}),
    (("--api-url",), {"help": "Airflow API server (v2) or webserver (v1) URL, e.g. http://localhost:8080"}),
    (("--api-version",), {"choices": ("v2", "v1"), "default": "v2", "help": "v2: Airflow 3, v1: Airflow 2"}),
    (("--token",), {"help": "bearer token for --api-url"}),
    (("--username",), {"help": "user for --api-url (a token is fetched from /auth/token)"}),
    (("--password",), {"help": "password of --username"}),
    (("--mwaa-environment",), {"help": "MWAA environment name (InvokeRestApi through boto3)"}),
    (("--region",), {"help": "AWS region of the MWAA environment"}),
    (("--aws-conn-id",), {"help": "Airflow AWS connection for MWAA (default: boto3 credential chain)"}),
    (("--prefix",), {"default": "scaledown_race", "help": "dag_id prefix of the set (default %(default)s)"}),
    (("--period-minutes",), {"type": int, "default": 10, "help": "period of the set (default %(default)s)"}),
    (("--offsets",), {"type": _offsets, "default": (2, 3, 4, 5), "help": "wave B offsets, e.g. 2,3,4,5"}),
    (("--tick-seconds",), {"type": float, "default": 10.0, "help": "tick of the set (default %(default)s)"}),
    (
        ("--time-scale",),
        {"type": float, "default": 1.0, "help": "time scale of the set (default %(default)s)"},
    ),
    (
        ("--start-date",),
        {"type": _when, "default": FIELD_REPORT_START, "help": "start_date of the set (ISO)"},
    ),
    (("--duration-rule",), {"type": _rule, "default": field_report_ticks, "help": "module:function"}),
    (("--since",), {"type": _when, "help": "first slot to judge (ISO; default: earliest run of the set)"}),
    (("--until",), {"type": _when, "help": "last slot to judge (ISO; default: now minus --stuck-after)"}),
    (
        ("--stuck-after",),
        {"type": float, "help": "seconds waiting that count as stuck (default: one period)"},
    ),
    (("--html",), {"help": "write the HTML report (SVG timeline) to this file"}),
    (("--json",), {"help": "write the JSON report to this file"}),
    (("--fail-on-incident",), {"action": "store_true", "help": "exit 1 when any slot is lost or stuck"}),
]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecsops-race-report",
        description="Classify every slot of the scale-down race set: completed, lost, stuck, never scheduled.",
        epilog="`airflow ecsops race-report` needs Airflow 3.1+ (provider CLI commands); this command does the "
        "same on every Airflow.",
    )
    for flags, kwargs in OPTIONS:
        p.add_argument(*flags, **kwargs)
    return p


def _observations(args: argparse.Namespace, race_schedule: RaceSchedule):
    dag_ids = [d.dag_id for d in race_schedule.dags]
    if sum(bool(x) for x in (args.db_url, args.api_url, args.mwaa_environment)) != 1:
        raise SystemExit("give exactly one source: --db-url, --api-url or --mwaa-environment")
    if args.db_url:
        from airflow_provider_ecsops.replication.observations import observations_from_db

        return observations_from_db(args.db_url, dag_ids, TASK_ID)
    from airflow_provider_ecsops.airflow_api import HttpTransport, MwaaTransport, Transport
    from airflow_provider_ecsops.replication.rest import observations_from_api

    transport: Transport
    if args.api_url:
        transport = HttpTransport.connect(
            args.api_url, args.token, args.username, args.password, args.api_version
        )
    else:
        transport = MwaaTransport(args.mwaa_environment, args.aws_conn_id, args.region, args.api_version)
    since = args.since.astimezone(UTC).isoformat() if args.since else None
    return observations_from_api(transport, dag_ids, TASK_ID, since)


def run(args: argparse.Namespace) -> int:
    """Read, classify, print and write; return the exit status."""
    race_schedule = RaceSchedule(
        prefix=args.prefix,
        period_minutes=args.period_minutes,
        offsets=args.offsets,
        tick_seconds=args.tick_seconds,
        duration_rule=args.duration_rule,
        time_scale=args.time_scale,
        start_date=args.start_date,
    )
    observations = _observations(args, race_schedule)
    now = datetime.now(UTC)
    stuck_after = (
        timedelta(seconds=args.stuck_after) if args.stuck_after is not None else race_schedule.period
    )
    results = classify(race_schedule, observations, args.since, args.until, now, stuck_after)
    since = args.since or min((r.slot for r in results), default=now)
    until = args.until or now - stuck_after
    print(to_console(results, since, until))
    if args.json:
        write_json(args.json, to_json(race_schedule, results, since, until))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(to_html(results, since, until))
    incidents = sum(r.cls in ("lost", "stuck") for r in results)
    return 1 if args.fail_on_incident and incidents else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``ecsops-race-report``."""
    return run(parser().parse_args(argv))


def airflow_race_report(args: argparse.Namespace) -> None:
    """Handler of ``airflow ecsops race-report``."""
    status = run(args)
    if status:
        sys.exit(status)


def get_cli_commands() -> list:
    """Provider CLI hook (``cli`` in provider info, read by Airflow 3.1+): the ``airflow ecsops race-report`` command."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    return [
        GroupCommand(
            name="ecsops",
            help="airflow-provider-ecsops tools",
            subcommands=[
                ActionCommand(
                    name="race-report",
                    help=parser().description or "",
                    func=lazy_load_command("airflow_provider_ecsops.replication.cli.airflow_race_report"),
                    args=tuple(Arg(flags, **kwargs) for flags, kwargs in OPTIONS),
                )
            ],
        )
    ]
