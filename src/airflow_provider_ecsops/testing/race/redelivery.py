"""Which broker messages a fleet's workers received more than once, and why, read from the workers' Celery logs
and the simulator's ``events.jsonl`` after a run: the evidence of the SQS mechanism (a message a killed worker
held resurfaces after the visibility timeout) and of the guard's answer (it gives a message back at once).

Each receipt (``Task <name>[<id>] received`` in one worker's log) ends in one fate:

- ``finished``: Celery logged the task's end on that worker (``succeeded``, ``failed``, ``raised``...);
- ``returned``: the guard gave it back unrun (its gate line, or its SIGTERM line naming the id);
- ``killed``: the worker was SIGKILLed after receiving it, with neither of the above;
- ``exited``: the worker ended after SIGTERM (warm shutdown) with neither of the above;
- ``held at the end``: still held when the run tore the fleet down.

A later receipt of the same id is paired with the earliest unpaired earlier receipt that did not finish (one
SQS message copy comes back once per receipt that let it go), giving how long the message was away. A receipt
``killed`` or ``exited`` that no later receipt pairs with is *stranded*: the message had not come back by the
end of the run.

A message can also vanish with no receipt at all: an SQS long poll still in flight when its worker is killed
takes it (invisible for the visibility timeout) and no log line says so. :func:`late_starts` finds those in
the metadata DB: task instances that started long after they were queued.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from airflow_provider_ecsops.testing.race.stack import RETURNED_LINE, TASK_LINE

STAMP = re.compile(r"^(?P<at>\d{4}-\d\d-\d\dT[\d:.]+Z?)")
# The guard's SIGTERM line: "... returned 2 received-not-started message(s) to the queue ['<id>', '<id>'] ...".
SIGTERM_RETURNED = re.compile(
    r"ecsops scale-in: SIGTERM.*?returned \d+ received-not-started message\(s\)[^\[]*\[(?P<ids>[^\]]*)\]"
)
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Airflow's Celery task names the task instance it runs: "[<id>] Executing workload in Celery: ... dag_id='x',
# run_id='y'".
EXECUTING = re.compile(
    r"\[(?P<id>[0-9a-f-]{36})\] Executing workload in Celery: .*?dag_id='(?P<dag>[^']+)', run_id='(?P<run>[^']+)'"
)
UNFINISHED = ("killed", "exited", "held at the end")


@dataclass
class Receipt:
    """One worker's receipt of one message, and how it ended there (times in epoch seconds)."""

    message: str
    worker: str
    received: float
    fate: str = "held at the end"
    ended: float | None = None
    outcome: str = ""


@dataclass(frozen=True)
class Redelivery:
    """A message received again after an earlier receipt let it go.

    :param message: Celery task id.
    :param task: ``dag_id run_id`` of the task instance, when a worker's log named it.
    :param first: the receipt that let the message go (its fate says how).
    :param again: the receipt that got it back.
    :param after_seconds: from the first receipt to the second (SQS's visibility timeout runs from a receipt).
    """

    message: str
    task: str
    first: Receipt
    again: Receipt
    after_seconds: float


@dataclass(frozen=True)
class Redeliveries:
    """A fleet's redeliveries and stranded receipts, out of ``receipts`` receipts in its workers' logs."""

    receipts: int
    redelivered: list[Redelivery]
    stranded: list[Receipt]
    tasks: dict[str, str]

    def count(self, *fates: str) -> int:
        """Redeliveries whose first receipt ended in one of ``fates``."""
        return sum(r.first.fate in fates for r in self.redelivered)

    def as_dict(self) -> dict:
        return {
            "receipts": self.receipts,
            "redelivered": [asdict(r) for r in self.redelivered],
            "stranded": [asdict(r) | {"task": self.tasks.get(r.message, "")} for r in self.stranded],
        }


def _epoch(stamp: str, before: float) -> float:
    """The line's time; a stamp cut short (a SIGKILL in mid-write) keeps the previous line's."""
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return before


def _receipts(log: Path, worker: str, tasks: dict[str, str]) -> list[Receipt]:
    receipts: list[Receipt] = []
    open_: dict[str, Receipt] = {}
    at = 0.0
    for line in log.read_text(errors="replace").splitlines():
        if stamp := STAMP.match(line):
            at = _epoch(stamp["at"], at)
        if executing := EXECUTING.search(line):
            tasks.setdefault(executing["id"], f"{executing['dag']} {executing['run']}")
        if match := TASK_LINE.search(line):
            if match["what"] == "received":
                open_[match["id"]] = Receipt(match["id"], worker, at)
                receipts.append(open_[match["id"]])
            elif (receipt := open_.pop(match["id"], None)) is not None:
                receipt.fate, receipt.ended, receipt.outcome = "finished", at, match["what"]
            continue
        returned = [m["id"]] if (m := RETURNED_LINE.search(line)) else []
        if m := SIGTERM_RETURNED.search(line):
            returned = ID.findall(m["ids"])
        for message in returned:
            if (receipt := open_.pop(message, None)) is not None:
                receipt.fate, receipt.ended = "returned", at
    return receipts


def _stops(events: Path) -> dict[str, dict[str, float]]:
    """Per worker, the epoch time of its ``sigkill`` and ``exited`` events."""
    stops: dict[str, dict[str, float]] = {}
    if events.exists():
        for line in events.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # a line cut short by a Ctrl-C
                continue
            if event.get("action") in ("sigkill", "exited"):
                stops.setdefault(event["worker"], {}).setdefault(event["action"], event["time"])
    return stops


def redeliveries(logs: Path, events: Path) -> Redeliveries:
    """Read a fleet's worker logs (``<fleet>-w<N>.log``) and events after its run.

    :param logs: the fleet's log directory.
    :param events: the simulator's ``events.jsonl``.
    """
    tasks: dict[str, str] = {}
    receipts: list[Receipt] = []
    for log in sorted(logs.glob("*-w*.log")):
        receipts += _receipts(log, log.stem, tasks)
    stops = _stops(events)
    for r in receipts:
        if r.fate != "held at the end":
            continue
        stop = stops.get(r.worker, {})
        for fate in ("killed", "exited"):
            when = stop.get("sigkill" if fate == "killed" else fate)
            if when is not None and when >= r.received:
                r.fate, r.ended = fate, when
                break
    waiting: dict[str, list[Receipt]] = {}
    redelivered = []
    for r in sorted(receipts, key=lambda r: r.received):
        earlier = waiting.get(r.message, [])
        if earlier:
            first = earlier.pop(0)
            redelivered.append(
                Redelivery(
                    r.message, tasks.get(r.message, ""), first, r, round(r.received - first.received, 1)
                )
            )
        if r.fate != "finished":
            waiting.setdefault(r.message, []).append(r)
    stranded = [r for rs in waiting.values() for r in rs if r.fate in ("killed", "exited")]
    return Redeliveries(len(receipts), redelivered, sorted(stranded, key=lambda r: r.received), tasks)


LATE_STARTS_SQL = (
    "SELECT dag_id, run_id, queued_dttm, start_date, hostname FROM task_instance"
    " WHERE start_date - queued_dttm > make_interval(secs => %s) AND queued_dttm >= %s ORDER BY queued_dttm"
)


def late_starts(db_url: str, since: datetime, min_seconds: float) -> list[str]:
    """One line per task instance queued from ``since`` that started more than ``min_seconds`` later.

    :param db_url: the fleet's metadata DB (SQLAlchemy URL).
    :param since: the first judged slot.
    :param min_seconds: a wait no healthy run has (e.g. half the visibility timeout).
    """
    import psycopg2

    conn = psycopg2.connect(db_url.replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute(LATE_STARTS_SQL, (min_seconds, since))
            rows = cur.fetchall()
    finally:
        conn.close()
    return [
        f"{dag} {run}: queued at {queued:%H:%M:%S}, started at {started:%H:%M:%S} on {host or '?'}: "
        f"{(started - queued).total_seconds():.0f} s after it was queued"
        for dag, run, queued, started, host in rows
    ]


def _clock(epoch: float | None) -> str:
    return "?" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def describe(found: Redeliveries, fleet: str, end: float) -> list[str]:
    """One line per message that came back after a kill or exit, or never did; one summary line for the
    messages the guard returned.

    :param found: :func:`redeliveries`' result.
    :param fleet: the fleet's name, for the line's prefix.
    :param end: epoch time of the run's end (how long a stranded message has been away).
    """
    lines = []
    for r in found.redelivered:
        if r.first.fate not in UNFINISHED:
            continue
        lines.append(
            f"[{fleet}] message {r.message} ({r.task or 'task not named in the logs'}): received by "
            f"{r.first.worker} at {_clock(r.first.received)}, {r.first.fate} at {_clock(r.first.ended)}; "
            f"received again by {r.again.worker} at {_clock(r.again.received)}: resurfaced after "
            f"{r.after_seconds:.0f} s; then {r.again.outcome or r.again.fate}"
        )
    for s in found.stranded:
        lines.append(
            f"[{fleet}] message {s.message} ({found.tasks.get(s.message) or 'task not named in the logs'}): "
            f"received by {s.worker} at {_clock(s.received)}, {s.fate} at {_clock(s.ended)}; not received "
            f"again by the run's end ({end - s.received:.0f} s later)"
        )
    returned = [r for r in found.redelivered if r.first.fate == "returned"]
    if returned:
        waits = sorted(r.again.received - (r.first.ended or r.first.received) for r in returned)
        lines.append(
            f"[{fleet}] {len(returned)} message(s) returned by the guard and received again after "
            f"{waits[len(waits) // 2]:.1f} s (median; max {waits[-1]:.1f} s)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_ecsops.testing.race.redelivery FLEET_DIR...``: the lines of kept runs."""
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.testing.race.redelivery")
    p.add_argument(
        "fleet_dirs", nargs="+", type=Path, help="a fleet's output directory (<out>/<lab>/<fleet>)"
    )
    p.add_argument(
        "--late-after",
        type=float,
        help="also list the task instances of the fleet's kept DB (report.json's window) that started this many "
        "seconds or more after they were queued",
    )
    args = p.parse_args(argv)
    for fleet_dir in args.fleet_dirs:
        if not (fleet_dir / "logs").is_dir():
            p.error(f"{fleet_dir}: no logs/ directory. Fix: give a fleet's directory, e.g. out/race/long/off")
        found = redeliveries(fleet_dir / "logs", fleet_dir / "events.jsonl")
        end = max(log.stat().st_mtime for log in (fleet_dir / "logs").glob("*.log"))
        (fleet_dir / "redeliveries.json").write_text(json.dumps(found.as_dict(), indent=2))
        print(
            f"{fleet_dir}: {found.receipts} receipts; resurfaced {found.count(*UNFINISHED)}, stranded "
            f"{len(found.stranded)}, returned by guard {found.count('returned')}"
        )
        for line in describe(found, fleet_dir.name, end):
            print(line)
        if args.late_after is not None:
            db_url = (
                f"postgresql://postgres@127.0.0.1:5432/ecsops_race_{fleet_dir.parent.name}_{fleet_dir.name}"
            )
            since = datetime.fromisoformat(
                json.loads((fleet_dir / "report.json").read_text())["window"]["since"]
            )
            for line in late_starts(db_url, since, args.late_after):
                print(f"[{fleet_dir.name}] {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
