"""``python -m airflow_provider_ecsops.testing.race``: run the race set on a guarded and/or an unguarded
local fleet under the autoscaler simulator, then the race report per fleet, and print the comparison table.

Each fleet gets its own metadata database (``ecsops_race_<mode>_on`` / ``_off``, cloned from one migrated
template), its own Redis database (short 10 / 11, long 12 / 13; flushed) and its own directory
``<out>/<mode>/<fleet>/`` with the
process logs, the autoscaler's ``events.jsonl`` and the report (``report.html``, ``report.json``,
``report.txt``). The databases are left in place so the report can be re-run with ``ecsops-race-report``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_provider_ecsops.testing.race.autoscaler import Autoscaler
from airflow_provider_ecsops.testing.race.stack import RaceStack, migrate_template
from airflow_provider_ecsops.testing.race.target_tracking import TargetTrackingAutoscaler

AUTOSCALERS = {"mwaa": Autoscaler, "target-tracking": TargetTrackingAutoscaler}
REDIS_DB = {("short", "on"): 10, ("short", "off"): 11, ("long", "on"): 12, ("long", "off"): 13}
STARTUP_LEAD_SECONDS = 50  # API server, DAG processor and scheduler up and the DAGs serialized before slot 0


@dataclass(frozen=True)
class Mode:
    """How long and how fast a run is.

    :param time_scale: the DAG set's time scale (0.05: a minute lasts 3 s, a period 30 s).
    :param periods: periods of the set judged by the report (8 task runs each).
    :param phase_minute: scaled minute of the hour of the first slot; ``None``: the next period.
    """

    time_scale: float
    periods: int
    phase_minute: int | None = None


# Short: the four periods of the scaled hour whose wave A ends early enough for an idle window before wave B
# (minutes 20-59: 10 down to 7 ticks), so CI always covers the racy part of the set. Long: 26 periods (208
# runs), every minute of the hour.
MODES = {
    "short": Mode(time_scale=0.05, periods=4, phase_minute=20),
    "long": Mode(time_scale=0.05, periods=26),
}


@dataclass
class FleetResult:
    """The figures of one fleet: the report's tallies plus what the simulator did."""

    fleet: str
    expected: int
    completed: int
    lost: int
    stuck: int
    other: int
    scale_ins: int
    launched: int
    sigterm: int
    busy_at_sigterm: int
    sigkill: int
    wall_seconds: float
    html: str


def slot_zero(now: datetime, unit: timedelta, lead_seconds: float, phase_minute: int | None) -> datetime:
    """First period boundary at least ``lead_seconds`` after ``now``, at scaled minute ``phase_minute`` of the
    scaled hour if given (the set's clock counts from the hour, so that is where its durations repeat).

    :param now: current time (UTC).
    :param unit: one scaled minute.
    :param lead_seconds: time the stack needs before the first slot.
    :param phase_minute: scaled minute of the hour to start at (a multiple of the 10-minute period), or ``None``.
    """
    hour = now.replace(minute=0, second=0, microsecond=0)
    period = unit * 10
    slot = hour + period * math.ceil((now + timedelta(seconds=lead_seconds) - hour) / period)
    while phase_minute is not None and int((slot - hour) / unit) % 60 != phase_minute:
        slot += period
    return slot


def run_fleet(
    run: str,
    fleet: str,
    mode: Mode,
    out: Path,
    seed: int,
    stop_timeout: float,
    start: datetime,
    stop: threading.Event,
    autoscaler: str = "mwaa",
) -> FleetResult:
    """Run one fleet for ``mode.periods`` periods of the set, report, and tear everything down.

    :param run: the mode's name (databases ``ecsops_race_<run>_<fleet>``).
    :param fleet: ``on`` (guarded) or ``off``.
    :param mode: time scale and length.
    :param out: the fleet's output directory (emptied first).
    :param seed: seed of the simulator.
    :param stop_timeout: unscaled stop timeout in seconds (Fargate: at most 120).
    :param start: the set's start date, the first slot judged.
    :param stop: set to end the run early (the stack is torn down all the same).
    :param autoscaler: ``mwaa`` (the field report's rule) or ``target-tracking`` (the demand policy).
    """
    from airflow_provider_ecsops.replication.schedule import RaceSchedule

    began = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    unit = 60 * mode.time_scale
    schedule = RaceSchedule(prefix="race", time_scale=mode.time_scale, start_date=start)
    until = start + schedule.period * mode.periods - timedelta(seconds=1)
    scaled_stop = stop_timeout * mode.time_scale
    stuck_after = max(15.0, 3 * unit)
    # The last wave B run ends ~9 units into the final period; a killed one counts as lost once it has been
    # "running" stuck_after past its expected end (or failed by the heartbeat timeout before that).
    settle = 10 * unit + stuck_after + 5
    stack = RaceStack(
        run=run,
        fleet=fleet,
        out_dir=out,
        redis_db=REDIS_DB[run, fleet],
        time_scale=mode.time_scale,
        start_date=start,
        stop_timeout_seconds=scaled_stop,
        prefix=schedule.prefix,
    )
    with stack:
        scaler = AUTOSCALERS[autoscaler](stack, unit, scaled_stop, seed, out / "events.jsonl")
        try:
            now = time.monotonic()
            begin = now + (start - datetime.now(UTC)).total_seconds()
            scaler.run(begin, now + (until - datetime.now(UTC)).total_seconds() + settle, stop)
        finally:
            scaler.close()
        figures = report(schedule, stack.db_url, start, until, out, stuck_after)
    return FleetResult(
        fleet=fleet,
        **figures,
        **scaler.stats,
        wall_seconds=round(time.monotonic() - began, 1),
        html=str(out / "report.html"),
    )


def report(schedule, db_url: str, since: datetime, until: datetime, out: Path, stuck_after: float) -> dict:
    """The race report of one fleet into ``out`` (HTML, JSON, console text); return its headline counts."""
    from airflow_provider_ecsops.replication.classify import classify, tallies
    from airflow_provider_ecsops.replication.dags import TASK_ID
    from airflow_provider_ecsops.replication.observations import observations_from_db
    from airflow_provider_ecsops.replication.render import to_console, to_html, to_json, write_json

    observations = observations_from_db(db_url, [d.dag_id for d in schedule.dags], TASK_ID)
    results = classify(
        schedule, observations, since, until, datetime.now(UTC), timedelta(seconds=stuck_after)
    )
    (out / "report.txt").write_text(to_console(results, since, until))
    (out / "report.html").write_text(to_html(results, since, until), encoding="utf-8")
    write_json(str(out / "report.json"), to_json(schedule, results, since, until))
    counts = tallies(results)["all"]["all"].counts
    expected = sum(counts.values())
    headline = {
        "expected": expected,
        "completed": counts["completed"],
        "lost": counts["lost"],
        "stuck": counts["stuck"],
    }
    return headline | {"other": expected - sum(v for k, v in headline.items() if k != "expected")}


COLUMNS = (
    ("fleet", "fleet"),
    ("expected", "expected runs"),
    ("completed", "completed"),
    ("lost", "lost"),
    ("stuck", "stuck"),
    ("other", "other"),
    ("scale_ins", "scale-ins"),
    ("sigterm", "SIGTERMs"),
    ("busy_at_sigterm", "busy at SIGTERM"),
    ("sigkill", "SIGKILLs"),
    ("wall_seconds", "wall s"),
)


def table(results: list[FleetResult]) -> str:
    """The comparison as a Markdown table (readable on a console too)."""
    names = {"on": "guarded", "off": "unguarded"}
    rows = [[h for _, h in COLUMNS]] + [
        [names.get(str(v), str(v)) for v in (getattr(r, k) for k, _ in COLUMNS)] for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.testing.race", description=__doc__)
    p.add_argument("--mode", choices=sorted(MODES), default="short")
    p.add_argument("--guard", choices=("on", "off", "both"), default="both")
    p.add_argument("--periods", type=int, help="override the mode's number of periods")
    p.add_argument("--autoscaler", choices=sorted(AUTOSCALERS), default="mwaa", help="default %(default)s")
    p.add_argument("--seed", type=int, default=20211025, help="simulator seed (default %(default)s)")
    p.add_argument(
        "--stop-timeout",
        type=float,
        default=30.0,
        help="unscaled ECS stopTimeout in s: ECS's default 30, Fargate's maximum 120 (default %(default)s)",
    )
    p.add_argument(
        "--sequential", action="store_true", help="run the fleets one after the other (default: side by side)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("out/race"), help="output directory (default %(default)s)"
    )
    return p


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    mode = MODES[args.mode]
    if args.periods:
        mode = Mode(mode.time_scale, args.periods, mode.phase_minute)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # so every stack's finally runs
    fleets = ["off", "on"] if args.guard == "both" else [args.guard]
    out = args.out / args.mode
    out.mkdir(parents=True, exist_ok=True)
    migrate_template(args.mode, out / "template-home", out)
    results: dict[str, FleetResult] = {}
    unit = timedelta(seconds=60 * mode.time_scale)

    stop = threading.Event()

    def one(fleet: str) -> None:
        start = slot_zero(datetime.now(UTC), unit, STARTUP_LEAD_SECONDS, mode.phase_minute)
        results[fleet] = run_fleet(
            args.mode, fleet, mode, out / fleet, args.seed, args.stop_timeout, start, stop, args.autoscaler
        )

    if not args.sequential and len(fleets) > 1:
        errors: list[BaseException] = []

        def guarded_one(fleet: str) -> None:
            try:
                one(fleet)
            except BaseException as exc:  # surfaced below, after both threads ended
                errors.append(exc)

        threads = [threading.Thread(target=guarded_one, args=(f,)) for f in fleets]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                time.sleep(0.5)
        finally:
            stop.set()  # on Ctrl-C / SIGTERM the fleets wind down and kill their processes
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
    else:
        for fleet in fleets:
            one(fleet)
    ordered = [results[f] for f in fleets]
    print(
        f"scale-down race, mode {args.mode}: time scale {mode.time_scale}, {mode.periods} periods, "
        f"stop timeout {args.stop_timeout:g}s (scaled {args.stop_timeout * mode.time_scale:g}s), seed {args.seed}"
    )
    print(table(ordered))
    for r in ordered:
        print(f"{r.fleet}: {r.html}")
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in ordered], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
