"""``ecsops-race-report`` (console script) and ``airflow ecsops race-report`` (provider CLI hook, Airflow 3.1+).

Both share one option table, :data:`OPTIONS`, so they cannot drift apart. The Airflow command reads the
installation's own metadata DB (``[database] sql_alchemy_conn``) unless a source is given.

Exit status: 0 report written; 1 ``--fail-on-incident`` and a lost or stuck slot, or nothing judged (an empty
observation never passes), or a runtime error (source unreadable, no run of the set in the window); 2 usage
error (bad option, set parameters that do not form a set). Every error is one line on stderr,
``<param>: <problem>. Fix: <what to do>``; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from airflow_provider_ecsops.replication.classify import (
    NoMatchingRun,
    Tally,
    check_observed,
    classify,
    no_run_of_the_set,
    tallies,
)
from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.render import to_console, to_html, to_json, write_json
from airflow_provider_ecsops.replication.schedule import FIELD_REPORT_START, RaceSchedule, field_report_ticks


class UsageError(ValueError):
    """The command line does not describe a report (exit 2)."""


class ReportError(RuntimeError):
    """The report could not be made: its message is the one line to print (exit 1)."""


def _offsets(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole minutes, e.g. 2,3,4,5") from None


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date, e.g. 2026-12-01T10:00:00+00:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone, e.g. {text}+00:00")
    return value


def _rule(text: str):
    module, _, name = text.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an importable module:function ({err})") from None


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
    (("--events",), {"help": "the race lab's events.jsonl: stop markers per worker in the HTML timeline"}),
    (
        ("--fail-on-incident",),
        {
            "action": "store_true",
            "help": "exit 1 when a slot is lost or stuck, or when no slot could be judged",
        },
    ),
    (("--debug",), {"action": "store_true", "help": "print the traceback of an error"}),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line says what is wrong and where to look.
        self.exit(2, f"{self.prog}: error: {message}. Fix: see {self.prog} --help\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ecsops-race-report",
        description="Classify every slot of the scale-down race set: completed, lost, stuck, never scheduled.",
        epilog="`airflow ecsops race-report` needs Airflow 3.1+ (provider CLI commands); this command does the "
        "same on every Airflow.",
    )
    for flags, kwargs in OPTIONS:
        p.add_argument(*flags, **kwargs)
    return p


def _observations(args: argparse.Namespace, race_schedule: RaceSchedule):
    """The set's observations and the dag_ids the source has runs of (known for a DB only)."""
    dag_ids = [d.dag_id for d in race_schedule.dags]
    if args.db_url:
        from airflow_provider_ecsops.replication.observations import dag_ids_with_runs, observations_from_db

        observations = observations_from_db(args.db_url, dag_ids, TASK_ID)
        return observations, ([] if observations else dag_ids_with_runs(args.db_url))
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
    return observations_from_api(transport, dag_ids, TASK_ID, since), []


def _schedule(args: argparse.Namespace) -> RaceSchedule:
    sources = [flag for flag in ("db_url", "api_url", "mwaa_environment") if getattr(args, flag)]
    if len(sources) != 1:
        given = ", ".join("--" + s.replace("_", "-") for s in sources) or "none"
        raise UsageError(
            f"source: give exactly one of --db-url, --api-url, --mwaa-environment (given: {given}). "
            "Fix: keep the one that reaches the installation to report on"
        )
    if args.stuck_after is not None and not args.stuck_after > 0:
        raise UsageError(f"stuck-after: {args.stuck_after:g} must be > 0 seconds. Fix: give e.g. 600")
    try:
        return RaceSchedule(
            prefix=args.prefix,
            period_minutes=args.period_minutes,
            offsets=args.offsets,
            tick_seconds=args.tick_seconds,
            duration_rule=args.duration_rule,
            time_scale=args.time_scale,
            start_date=args.start_date,
        )
    except ValueError as err:  # the set's own validation says "param: problem; fix", in Python names
        param, _, problem = str(err).partition(": ")
        raise UsageError(f"{param.replace('_', '-')}: {problem}") from None


def run(args: argparse.Namespace) -> int:
    """Read, classify, print and write; return the exit status (errors raise, see :func:`report`)."""
    race_schedule = _schedule(args)
    try:
        observations, known_dag_ids = _observations(args, race_schedule)
    except Exception as err:  # any failure of the source: driver, network, auth, schema
        raise ReportError(_source_error(args, err)) from err
    now = datetime.now(UTC)
    stuck_after = (
        timedelta(seconds=args.stuck_after) if args.stuck_after is not None else race_schedule.period
    )
    ours = [o.slot for o in observations if o.dag_id in {d.dag_id for d in race_schedule.dags}]
    if not ours:
        raise NoMatchingRun(no_run_of_the_set(race_schedule, known_dag_ids))
    # classify's own defaults: the earliest run of the set, and now - stuck_after.
    since, until = args.since or min(ours), args.until or now - stuck_after
    results = classify(race_schedule, observations, since, until, now, stuck_after)
    check_observed(race_schedule, observations, results, since, until, known_dag_ids)
    print(to_console(results, since, until))
    _write(args, race_schedule, results, since, until)
    if not args.fail_on_incident:
        return 0
    status, why = incident_status(tallies(results)["all"]["all"])
    if why:
        print(why, file=sys.stderr)
    return status


def incident_status(whole: Tally) -> tuple[int, str]:
    """``--fail-on-incident``'s exit status for the whole set's tally, and why it fails when nothing was judged."""
    if not whole.judged:
        return 1, (
            "fail-on-incident: no slot of the window was scheduled and settled (all running or never scheduled), "
            "so nothing shows it clean. Fix: report on a window of scheduled runs that ended --stuck-after ago"
        )
    return (1 if whole.incidents else 0), ""


def _write(args: argparse.Namespace, race_schedule: RaceSchedule, results, since, until) -> None:
    from airflow_provider_ecsops.replication.worker_events import read_events

    try:
        events = read_events(args.events) if args.events else None
    except (OSError, ValueError) as err:
        raise ReportError(
            f"events: cannot read {args.events} ({_first_line(err)}). Fix: give the events.jsonl of a race lab run"
        ) from err
    for flag, path in (("json", args.json), ("html", args.html)):
        if not path:
            continue
        try:
            if flag == "json":
                write_json(path, to_json(race_schedule, results, since, until))
            else:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(to_html(results, since, until, events=events))
        except OSError as err:
            raise ReportError(
                f"{flag}: cannot write {path} ({_first_line(err)}). Fix: give a writable path"
            ) from err


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _source_error(args: argparse.Namespace, err: Exception) -> str:
    """One line for an error raised while reading the source."""
    first = f"{type(err).__name__}: {_first_line(err)}"
    if args.db_url:
        from sqlalchemy.engine import make_url

        where = make_url(args.db_url).render_as_string(hide_password=True)
        return (
            f"db-url: cannot read the Airflow metadata DB at {where} ({first}). "
            "Fix: give the URL of a migrated metadata DB (airflow config get-value database sql_alchemy_conn)"
        )
    flag = "api-url" if args.api_url else "mwaa-environment"
    return f"{flag}: cannot read the Airflow API ({first}). Fix: check the URL or name, and the credentials"


def report(args: argparse.Namespace, prog: str) -> int:
    """:func:`run` with every error as one line on stderr: exit 2 for usage, 1 at run time."""
    error: Exception
    try:
        return run(args)
    except UsageError as err:
        message, status, error = str(err), 2, err
    except (ReportError, NoMatchingRun) as err:
        message, status, error = str(err), 1, err
    except Exception as err:  # a bug of ours: still one line, the traceback on --debug
        message = (
            f"{type(err).__name__}: {_first_line(err)}. Fix: rerun with --debug and report the traceback"
        )
        status, error = 1, err
    print(f"{prog}: error: {message}", file=sys.stderr)
    if args.debug:
        traceback.print_exception(error)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``ecsops-race-report``."""
    p = parser()
    return report(p.parse_args(argv), p.prog)


def airflow_race_report(args: argparse.Namespace) -> None:
    """Handler of ``airflow ecsops race-report``: the installation's metadata DB unless a source is given."""
    if not (args.db_url or args.api_url or args.mwaa_environment):
        from airflow_provider_ecsops.compat import conf

        args.db_url = conf.get("database", "sql_alchemy_conn")
    status = report(args, "airflow ecsops race-report")
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
