"""``python -m airflow_provider_ecsops.testing.race``: run the race set on a guarded and/or an unguarded
local fleet under the autoscaler simulator, then the race report per fleet, and print the comparison table;
``--seeds K`` runs K seeds one after the other and adds the campaign's totals.

Each fleet gets its own metadata database (``ecsops_race_<mode>_on`` / ``_off``, cloned from one migrated
template), its own broker queue ``ecsops-race-<mode>-<fleet>`` (Redis: its own database, short 10 / 11, long
12 / 13 by default, flushed; SQS: its own moto server) and its own directory ``<out>/<mode>/<fleet>/`` (per
seed ``<out>/<mode>/seed-<seed>/<fleet>/`` in a campaign) with the process logs, the autoscaler's
``events.jsonl`` and the report (``report.html``, ``report.json``, ``report.txt``). The databases are left in
place so the report can be re-run with ``ecsops-race-report``.

A run: start the stack with the DAGs' start date at the current hour (earlier slots' runs warm the fleet up),
wait until it is ready (:meth:`RaceStack.wait_ready`), then judge ``periods`` periods from the next period
boundary at one of the mode's phase minutes. One progress line per fleet and period goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_ecsops.testing.race.autoscaler import VICTIMS, Autoscaler
from airflow_provider_ecsops.testing.race.campaign import FLEET_NAMES, campaign_table, markdown
from airflow_provider_ecsops.testing.race.lull import Lull
from airflow_provider_ecsops.testing.race.redelivery import UNFINISHED, describe, late_starts, redeliveries
from airflow_provider_ecsops.testing.race.stack import (
    BROKERS,
    RaceStack,
    RunLockBusy,
    migrate_template,
    run_lock,
)
from airflow_provider_ecsops.testing.race.target_tracking import TargetTrackingAutoscaler
from airflow_provider_ecsops.testing.race.usage import usage

AUTOSCALERS = {"mwaa": Autoscaler, "target-tracking": TargetTrackingAutoscaler}

REDIS_DB = {"short": 10, "long": 12}  # the guarded fleet's; the unguarded fleet's is the next one
READY_TIMEOUT_SECONDS = 300  # a cold machine needs minutes to import Airflow in a dozen processes at once
READY_LEAD_SECONDS = 3.0  # between the stack being ready and the first judged slot


@dataclass(frozen=True)
class Mode:
    """How long and how fast a run is, and the simulator's choices that depend on it.

    :param time_scale: the DAG set's time scale (0.05: a minute lasts 3 s, a period 30 s).
    :param periods: periods of the set judged by the report (8 task runs each).
    :param phase_minutes: scaled minutes of the hour the first judged slot may be at; empty: any period.
    :param idle_units: the simulator's idle time before a scale-in, in scaled minutes (MWAA: 2).
    :param victims: the simulator's victim rule (``random`` or ``adversarial``, see ``autoscaler.py``).
    """

    time_scale: float
    periods: int
    phase_minutes: tuple[int, ...] = ()
    idle_units: float = 2
    victims: str = "random"


# Short (CI): four periods from the first boundary after the stack is ready (no wait for a phase: any four
# periods include two or more of minutes 20-59, whose wave A ends early enough for an idle window before wave B).
# Its idle rule is 1 scaled minute, not MWAA's 2: Airflow's unscaled per-task overhead (1-3 s, more on a loaded
# machine) ends wave A that much later, and on a slow machine (CI) the 6 s window before wave B never opened
# (0 scale-ins in both fleets). Its victims are adversarial, so the race shows in every run.
# Long: 26 periods (208 runs) from any minute, MWAA's rule and ECS's random victims.
MODES = {
    "short": Mode(time_scale=0.05, periods=4, idle_units=1, victims="adversarial"),
    "long": Mode(time_scale=0.05, periods=26),
}


@dataclass(frozen=True)
class RunOptions:
    """What one run of both fleets is made of (the command line's options).

    :param mode_name: the lab's name (``--lab``, default the mode's): its databases, queues and directory.
    :param mode: time scale, length and the simulator's choices.
    :param broker: ``redis``, ``sqs`` or ``amqp``.
    :param concurrency: task slots per worker.
    :param seed: seed of the simulator.
    :param stop_timeout: unscaled stop timeout in seconds (Fargate: at most 120).
    :param redis_db: Redis database of the guarded fleet; the unguarded fleet uses the next one.
    :param sabotage_guard: run the fleet ``on`` without the guard (to show that the CI test fails then).
    :param autoscaler: ``mwaa`` (the field report's rule) or ``target-tracking`` (the demand policy).
    :param retire_idle_units: target-tracking's guarded fleet: ``scalein_retire_idle_seconds`` in units.
    :param lull: periods of the window without load (``testing.race.lull``), or ``None``.
    :param prewarm: target-tracking: MinCapacity from a period before the lull's end to a period after (0: off).
    """

    mode_name: str
    mode: Mode
    broker: str = "redis"
    concurrency: int = 1
    seed: int = 20211025
    stop_timeout: float = 30.0
    redis_db: int = 10
    sabotage_guard: bool = False
    autoscaler: str = "mwaa"
    retire_idle_units: float = 15
    lull: Lull | None = None
    prewarm: int = 0


@dataclass
class FleetResult:
    """The figures of one fleet: the report's tallies plus what the simulator did."""

    fleet: str
    seed: int
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
    self_retires: int
    resurfaced: int
    stranded: int
    guard_returned: int
    ready_seconds: float
    wall_seconds: float
    html: str
    usage: dict[str, float]
    redeliveries: list[str]


def slot_zero(
    now: datetime, unit: timedelta, lead_seconds: float, phase_minutes: tuple[int, ...]
) -> datetime:
    """First period boundary at least ``lead_seconds`` after ``now``, at one of the scaled minutes
    ``phase_minutes`` of the scaled hour if given (the set's clock counts from the hour, so that is where its
    durations repeat).

    :param now: current time (UTC).
    :param unit: one scaled minute.
    :param lead_seconds: time the stack needs before the first slot.
    :param phase_minutes: scaled minutes of the hour to start at (multiples of the 10-minute period), or empty.
    """
    hour = now.replace(minute=0, second=0, microsecond=0)
    period = unit * 10
    slot = hour + period * -((hour - now - timedelta(seconds=lead_seconds)) // period)
    while phase_minutes and int((slot - hour) / unit) % 60 not in phase_minutes:
        slot += period
    return slot


def run_fleet(fleet: str, options: RunOptions, out: Path, stop: threading.Event) -> FleetResult:
    """Run one fleet for ``mode.periods`` periods of the set, report, and tear everything down.

    :param fleet: ``on`` (guarded) or ``off``.
    :param options: the run's options.
    :param out: the fleet's output directory (emptied first).
    :param stop: set to end the run early (the stack is torn down all the same).
    """
    from airflow_provider_ecsops.replication.schedule import RaceSchedule

    began = time.monotonic()
    mode = options.mode
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    unit = 60 * mode.time_scale
    dags_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    scaled_stop = options.stop_timeout * mode.time_scale
    stuck_after = max(15.0, 3 * unit)
    # The last wave B run ends ~9 units into the final period, a unit before the window's end; a killed one
    # counts as lost once it has been "running" stuck_after past its expected end (or failed by the heartbeat
    # timeout before that), a message held by a killed worker as stuck once queued stuck_after.
    settle = stuck_after + 20
    stack = RaceStack(
        run=options.mode_name,
        fleet=fleet,
        guarded=fleet == "on" and not options.sabotage_guard,
        out_dir=out,
        broker=options.broker,
        redis_db=options.redis_db + (fleet == "off"),
        concurrency=options.concurrency,
        time_scale=mode.time_scale,
        start_date=dags_start,
        stop_timeout_seconds=scaled_stop,
        prefix="race",
    )
    # The DAG files' own schedule (same start date), for the runs' lengths.
    lengths = RaceSchedule(prefix=stack.prefix, time_scale=mode.time_scale, start_date=dags_start)
    # Only target tracking has a retire pace (the MWAA-like rule scales in by itself).
    tuning: dict[str, Any] = (
        {"retire_idle_units": options.retire_idle_units} if options.autoscaler == "target-tracking" else {}
    )
    if options.prewarm and options.lull:
        tuning |= {
            "prewarm_workers": options.prewarm,
            "prewarm_window": options.lull.warm_window(lengths.period.total_seconds() / unit),
        }
    with stack:
        scaler = AUTOSCALERS[options.autoscaler](
            stack,
            unit,
            scaled_stop,
            options.seed,
            out / "events.jsonl",
            concurrency=options.concurrency,
            victims=mode.victims,
            run_seconds=lambda when: lengths.ticks_at(when) * lengths.tick.total_seconds(),
            idle_units=mode.idle_units,
            **tuning,
        )
        try:
            scaler.warm_up()
            dag_ids = [d.dag_id for d in lengths.dags]
            ready = stack.wait_ready(dag_ids, READY_TIMEOUT_SECONDS, stop)
            start = slot_zero(
                datetime.now(UTC), timedelta(seconds=unit), READY_LEAD_SECONDS, mode.phase_minutes
            )
            schedule = RaceSchedule(prefix=stack.prefix, time_scale=mode.time_scale, start_date=start)
            until = start + schedule.period * mode.periods - timedelta(seconds=1)
            print(
                f"[{fleet}] ready after {ready:.0f}s; judging {mode.periods} periods from {start:%H:%M:%S}",
                flush=True,
            )
            now = time.monotonic()
            begin = now + (start - datetime.now(UTC)).total_seconds()
            deadline = now + (until - datetime.now(UTC)).total_seconds() + settle

            # Off the simulator's loop: a slow report query must not delay a SIGKILL.
            reporter = threading.Thread(
                target=progress,
                args=(fleet, scaler, schedule, stack.db_url, (begin, deadline, until, stuck_after), stop),
                daemon=True,
            )
            reporter.start()
            if options.lull:
                threading.Thread(
                    target=options.lull.run,
                    args=(schedule, start, stack.db_url.replace("+psycopg2", ""), stop, fleet),
                    daemon=True,
                ).start()
            scaler.run(begin, deadline, stop)
            end = time.time()
        finally:
            scaler.close()
        figures = report(schedule, stack.db_url, start, until, out, stuck_after)
        try:
            used = usage(out, stack.db_url, start, end, unit, options.concurrency)
        except ValueError as exc:  # no work in the window: the table says n/a, the run's tallies still count
            print(f"[{fleet}] usage: {exc}", flush=True)
            used = {}
    # Read once the stack is down: every worker's log is complete.
    found = redeliveries(stack.logs, out / "events.jsonl")
    (out / "redeliveries.json").write_text(json.dumps(found.as_dict(), indent=2))
    # SQS: a message an in-flight long poll took into a killed worker leaves no receipt; the DB shows its wait.
    late = (
        late_starts(stack.db_url, start, stack.sqs_visibility_seconds / 2) if options.broker == "sqs" else []
    )
    return FleetResult(
        fleet=fleet,
        seed=options.seed,
        **figures,
        **scaler.stats,
        resurfaced=found.count(*UNFINISHED),
        stranded=len(found.stranded),
        guard_returned=found.count("returned"),
        ready_seconds=round(ready, 1),
        wall_seconds=round(time.monotonic() - began, 1),
        html=str(out / "report.html"),
        usage=used,
        redeliveries=describe(found, fleet, time.time()) + [f"[{fleet}] {line}" for line in late],
    )


def progress(
    fleet: str,
    scaler: Autoscaler,
    schedule,
    db_url: str,
    window: tuple[float, float, datetime, float],
    stop: threading.Event,
) -> None:
    """Print one line per judged period: the report's counts so far, the simulator's and the time left.

    :param window: monotonic begin and deadline, the last judged slot and the stuck threshold.
    """
    begin, deadline, until, stuck_after = window
    period = schedule.period.total_seconds()
    periods = round((until - schedule.start_date).total_seconds() / period)
    done = 0
    while (
        not stop.wait(max(0.0, begin + (done + 1) * period - time.monotonic()))
        and time.monotonic() < deadline
    ):
        done += 1
        counts = classify_counts(schedule, db_url, schedule.start_date, until, stuck_after)
        stats = scaler.stats
        print(
            f"[{fleet}] {f'period {done}/{periods}' if done <= periods else 'settling'}: "
            f"completed {counts['completed']}, lost {counts['lost']}, "
            f"stuck {counts['stuck']}, scale-ins {stats['scale_ins']}, self-retires {stats['self_retires']}, "
            f"SIGTERMs {stats['sigterm']} (busy {stats['busy_at_sigterm']}); "
            f"{max(0.0, deadline - time.monotonic()):.0f}s left",
            flush=True,
        )


def slot_results(schedule, db_url: str, since: datetime, until: datetime, stuck_after: float) -> list:
    """The race report's verdicts on the slots of ``[since, until]`` that are due by now."""
    from airflow_provider_ecsops.replication.classify import classify
    from airflow_provider_ecsops.replication.dags import TASK_ID
    from airflow_provider_ecsops.replication.observations import observations_from_db

    now = datetime.now(UTC)
    observations = observations_from_db(db_url, [d.dag_id for d in schedule.dags], TASK_ID)
    return classify(schedule, observations, since, min(until, now), now, timedelta(seconds=stuck_after))


def classify_counts(schedule, db_url: str, since: datetime, until: datetime, stuck_after: float):
    """The class counts of :func:`slot_results` (for the progress lines)."""
    from airflow_provider_ecsops.replication.classify import tallies

    return tallies(slot_results(schedule, db_url, since, until, stuck_after))["all"]["all"].counts


def report(schedule, db_url: str, since: datetime, until: datetime, out: Path, stuck_after: float) -> dict:
    """The race report of one fleet into ``out`` (HTML, JSON, console text); return its headline counts."""
    from airflow_provider_ecsops.replication.classify import tallies
    from airflow_provider_ecsops.replication.render import to_console, to_html, to_json, write_json

    results = slot_results(schedule, db_url, since, until, stuck_after)
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
    ("seed", "seed"),
    ("expected", "expected runs"),
    ("completed", "completed"),
    ("lost", "lost"),
    ("stuck", "stuck"),
    ("other", "other"),
    ("scale_ins", "scale-ins"),
    ("sigterm", "SIGTERMs"),
    ("busy_at_sigterm", "busy at SIGTERM"),
    ("sigkill", "SIGKILLs"),
    ("self_retires", "self-retires"),
    ("resurfaced", "resurfaced"),
    ("stranded", "stranded"),
    ("guard_returned", "returned by guard"),
    ("ready_seconds", "ready s"),
    ("wall_seconds", "wall s"),
)


USAGE_COLUMNS = (
    ("task_instances", "queued TIs"),
    ("unstarted", "never started"),
    ("pickup_p50_units", "pickup p50 units"),
    ("pickup_p95_units", "pickup p95 units"),
    ("pickup_p50_seconds", "pickup p50 s"),
    ("pickup_p95_seconds", "pickup p95 s"),
    ("worker_units_used", "worker-min used"),
    ("worker_units_minimum", "minimum needed"),
    ("worker_units_idle", "idle worker-min"),
)


def table(results: list[FleetResult]) -> str:
    """The comparison as a Markdown table (readable on a console too)."""
    return markdown(
        [[h for _, h in COLUMNS]]
        + [[FLEET_NAMES.get(str(v), str(v)) for v in (getattr(r, k) for k, _ in COLUMNS)] for r in results]
    )


def usage_table(results: list[FleetResult], autoscaler: str) -> str:
    """Pickup and worker-minutes per fleet and seed (:mod:`.usage`; worker-minutes in scaled minutes)."""
    return markdown(
        [["autoscaler", "fleet", "seed", *(h for _, h in USAGE_COLUMNS)]]
        + [
            [autoscaler, FLEET_NAMES.get(r.fleet, r.fleet), str(r.seed)]
            + [str(r.usage.get(k, "n/a")) for k, _ in USAGE_COLUMNS]
            for r in results
        ]
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.testing.race", description=__doc__)
    p.add_argument("--mode", choices=sorted(MODES), default="short")
    p.add_argument(
        "--lab",
        type=_lab_name,
        help="name of this run's databases, queues, lock and output directory (default: the mode), so two runs "
        "can go side by side; with --broker redis give each its own --redis-db",
    )
    p.add_argument("--guard", choices=("on", "off", "both"), default="both")
    p.add_argument("--periods", type=int, help="override the mode's number of periods")
    p.add_argument("--broker", choices=BROKERS, default="redis", help="Celery broker (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=1, help="task slots per worker (default %(default)s)")
    p.add_argument(
        "--autoscaler",
        choices=sorted(AUTOSCALERS),
        default="mwaa",
        help="mwaa: the field report's rule; target-tracking: the demand policy (default %(default)s)",
    )
    p.add_argument(
        "--retire-idle-units",
        type=float,
        default=15,
        help="target-tracking, guarded fleet: a worker self-retires after this many units without a task "
        "(default %(default)s: target tracking's own scale-in pace, 15 datapoints)",
    )
    p.add_argument(
        "--lull",
        type=_lull,
        metavar="FIRST:LENGTH",
        help="pause the whole set for LENGTH periods from period FIRST, then resume it on its grid (a night)",
    )
    p.add_argument(
        "--prewarm",
        type=int,
        default=0,
        metavar="N",
        help="target-tracking with --lull: a scheduled minimum of N workers from a period before the lull ends "
        "to a period after (the policy's ScheduledMinimum warming the fleet for the morning)",
    )
    p.add_argument("--seed", type=int, default=20211025, help="simulator seed (default %(default)s)")
    p.add_argument(
        "--seeds", type=int, default=1, help="a campaign: this many seeds from --seed on, one after the other"
    )
    p.add_argument(
        "--victims",
        choices=VICTIMS,
        help="override the mode's victim rule (short: adversarial, long: random)",
    )
    p.add_argument(
        "--stop-timeout",
        type=float,
        default=30.0,
        help="unscaled ECS stopTimeout in s: ECS's default 30, Fargate's maximum 120 (default %(default)s)",
    )
    p.add_argument(
        "--redis-db",
        type=int,
        help="Redis db of the guarded fleet, the next one the unguarded's (short 10, long 12)",
    )
    p.add_argument(
        "--sabotage-guard",
        action="store_true",
        help="run the guarded fleet WITHOUT the guard, everything else equal: shows that the CI test can fail",
    )
    p.add_argument(
        "--sequential", action="store_true", help="run the fleets one after the other (default: side by side)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("out/race"), help="output directory (default %(default)s)"
    )
    return p


def _lull(value: str) -> Lull:
    try:
        return Lull.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _lab_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a lab name. Fix: lower-case letters, digits and _, starting with a letter"
        )
    return value


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_both(fleets: list[str], options: RunOptions, out: Path, sequential: bool) -> list[FleetResult]:
    """Run ``fleets`` (side by side unless ``sequential``) with ``options``; their results in that order."""
    results: dict[str, FleetResult] = {}
    stop = threading.Event()

    def one(fleet: str) -> None:
        results[fleet] = run_fleet(fleet, options, out / fleet, stop)

    if sequential or len(fleets) == 1:
        for fleet in fleets:
            one(fleet)
        return [results[f] for f in fleets]
    errors: list[BaseException] = []

    def guarded_one(fleet: str) -> None:
        try:
            one(fleet)
        except BaseException as exc:  # surfaced below, after both threads ended
            errors.append(exc)
            stop.set()  # the other fleet's run would prove nothing alone

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
    return [results[f] for f in fleets]


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.lab and args.lab != args.mode and args.broker == "redis" and args.redis_db is None:
        p.error(
            f"--lab {args.lab}: the mode's Redis dbs ({REDIS_DB[args.mode]}, {REDIS_DB[args.mode] + 1}) may be "
            "another run's. Fix: give --redis-db N (this run uses N and N+1)"
        )
    args.lab = args.lab or args.mode
    mode = MODES[args.mode]
    if args.periods:
        mode = replace(mode, periods=args.periods)
    if args.lull and args.lull.first + args.lull.length >= mode.periods:
        p.error(
            f"--lull {args.lull.first}:{args.lull.length}: periods {args.lull.first}-{args.lull.first + args.lull.length - 1} leave no "
            f"period after the lull in {mode.periods}. Fix: a shorter lull or more --periods"
        )
    low, high = Autoscaler.min_workers + 1, Autoscaler.max_workers
    if args.prewarm and not (
        args.lull and args.autoscaler == "target-tracking" and low <= args.prewarm <= high
    ):
        p.error(
            f"--prewarm {args.prewarm}: warms a target-tracking fleet above its floor before a lull's end. "
            f"Fix: add --autoscaler target-tracking --lull FIRST:LENGTH, N in {low}..{high}"
        )
    if args.victims:
        mode = replace(mode, victims=args.victims)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # so every stack's finally runs
    try:
        with run_lock(args.lab):
            return _run(args, mode)
    except RunLockBusy as busy:
        print(busy, file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the stacks' finally blocks have run by now
        print(
            f"stopped by {str(interrupt) or 'Ctrl-C'}: every fleet's processes were stopped", file=sys.stderr
        )
        return 130


def _run(args: argparse.Namespace, mode: Mode) -> int:
    """Both fleets for every seed, then the tables and ``summary.json``."""
    fleets = ["off", "on"] if args.guard == "both" else [args.guard]
    out = args.out / args.lab
    out.mkdir(parents=True, exist_ok=True)
    migrate_template(args.lab, out / "template-home", out)
    options = RunOptions(
        mode_name=args.lab,
        mode=mode,
        broker=args.broker,
        concurrency=args.concurrency,
        stop_timeout=args.stop_timeout,
        redis_db=args.redis_db if args.redis_db is not None else REDIS_DB[args.mode],
        sabotage_guard=args.sabotage_guard,
        autoscaler=args.autoscaler,
        retire_idle_units=args.retire_idle_units,
        lull=args.lull,
        prewarm=args.prewarm,
    )
    seeds = [args.seed + i for i in range(args.seeds)]
    results: list[FleetResult] = []
    failure = ""
    for seed in seeds:
        seed_out = out if len(seeds) == 1 else out / f"seed-{seed}"
        try:
            results += run_both(fleets, replace(options, seed=seed), seed_out, args.sequential)
        except Exception as exc:  # the seeds done are still reported (seen: a stack not ready under load 43)
            (out / "error.log").write_text(traceback.format_exc())
            reason = (str(exc) or type(exc).__name__).splitlines()[0]
            if not results:
                print(
                    f"seed {seed} failed, no seed was done: {reason} (load average {os.getloadavg()[0]:.0f}, "
                    f"traceback in {out / 'error.log'}). Fix: see the traceback; on a loaded machine run fewer labs side by side",
                    file=sys.stderr,
                )
                return 1
            failure = f"seed {seed} failed, the tables hold the seeds before it: {reason}"
            break
        if len(seeds) > 1:
            print(f"seed {seed} done ({seeds.index(seed) + 1}/{len(seeds)})", flush=True)
    seeds = list(dict.fromkeys(r.seed for r in results))
    print(
        f"scale-down race, lab {args.lab}, mode {args.mode}, autoscaler {args.autoscaler}: broker {args.broker}, "
        f"concurrency {args.concurrency}, time scale "
        f"{mode.time_scale}, {mode.periods} periods, victims {mode.victims}, idle rule {mode.idle_units:g} units, "
        f"stop timeout {args.stop_timeout:g}s (scaled {args.stop_timeout * mode.time_scale:g}s), "
        f"seeds {', '.join(map(str, seeds))}"
        + (", GUARD SABOTAGED in the guarded fleet" if args.sabotage_guard else "")
    )
    print(table(results))
    print(usage_table(results, args.autoscaler))
    if args.seeds > 1:
        print(campaign_table(results))
    for r in results:
        for line in r.redeliveries:
            print(f"seed {r.seed} {line}")
    for r in results:
        print(f"{r.fleet} seed {r.seed}: {r.html}")
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    if failure:
        print(failure, file=sys.stderr)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
