"""What a race fleet cost and how fast it picked work up inside the judged window ``[since, end]`` (slot zero
to the moment the autoscaler stopped), for either autoscaler, from the fleet's ``events.jsonl`` and metadata DB.
Warm-up and readiness work before slot zero is left out, so two fleets of one campaign compare like for like.

- **Pickup** (queued wait): ``start_date - queued_dttm`` of every task instance queued in the window (p50 /
  p95). One queued but never started counts with ``end - queued_dttm`` (a lower bound), so a stuck message
  raises the p95 instead of vanishing from it; ``unstarted`` says how many.
- **Worker-minutes used**: each worker's life (``launch`` event to its ``exited`` / ``sigkill`` event, or
  ``end``), clipped to the window.
- **Minimum needed**: the task instances' run time (``end_date - start_date``, clipped to the window) divided by
  the worker concurrency: no fleet can serve the work with fewer worker-minutes.
- **Idle worker-minutes**: used minus minimum (with concurrency 1: the time workers ran no task, boot and
  shutdown included).

Figures are in scaled minutes (*units*), pickup also in seconds.

    python -m airflow_provider_ecsops.testing.race.usage OUT/long/on --db ecsops_race_long_on --unit 3
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime
from pathlib import Path

from airflow_provider_ecsops.testing.race.stack import PG_URL

TIMES_SQL = (
    "SELECT extract(epoch from queued_dttm), extract(epoch from start_date), extract(epoch from end_date) "
    "FROM task_instance WHERE queued_dttm IS NOT NULL OR start_date IS NOT NULL"
)


def _overlap(start: float, end: float, since: float, until: float) -> float:
    return max(0.0, min(end, until) - max(start, since))


def worker_seconds(events_path: Path, since: float, end: float) -> float:
    """Sum of the workers' lives in ``events_path`` within ``[since, end]`` (wall seconds), open lives ending
    at ``end``."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for line in events_path.read_text().splitlines():
        event = json.loads(line)
        if event["action"] == "launch":
            started[event["worker"]] = event["time"]
        elif event["action"] in ("exited", "sigkill"):
            ended.setdefault(event["worker"], event["time"])
    return sum(_overlap(t, ended.get(w, end), since, end) for w, t in started.items())


def figures(
    rows: list[tuple], used_seconds: float, since: float, end: float, unit_seconds: float, concurrency: int
) -> dict[str, float]:
    """The usage figures from task instance times ``(queued, start, end)`` (epoch seconds or None) and the
    workers' seconds in the window.

    :raises ValueError: no task instance was queued in the window (nothing to measure is no result).
    """
    pickups: list[float] = []
    unstarted = 0
    busy = 0.0
    for queued, started, ended in rows:
        if started is not None:
            busy += _overlap(float(started), float(ended) if ended is not None else end, since, end)
        if queued is None or not since <= float(queued) <= end:
            continue
        if started is None:
            unstarted += 1
        pickups.append((float(started) if started is not None else end) - float(queued))
    if not pickups:
        raise ValueError("no task instance was queued in the judged window: nothing to measure")
    pickups.sort()
    p95 = statistics.quantiles(pickups, n=20, method="inclusive")[-1] if len(pickups) > 1 else pickups[0]
    p50 = statistics.median(pickups)
    minimum = busy / concurrency
    return {
        "task_instances": len(pickups),
        "unstarted": unstarted,
        "pickup_p50_units": round(p50 / unit_seconds, 2),
        "pickup_p95_units": round(p95 / unit_seconds, 2),
        "pickup_p50_seconds": round(p50, 1),
        "pickup_p95_seconds": round(p95, 1),
        "worker_units_used": round(used_seconds / unit_seconds, 1),
        "worker_units_idle": round((used_seconds - minimum) / unit_seconds, 1),
        "worker_units_minimum": round(minimum / unit_seconds, 1),
    }


def usage(
    fleet_dir: Path,
    db_url: str,
    since: datetime,
    end: float,
    unit_seconds: float,
    concurrency: int = 1,
) -> dict[str, float]:
    """The figures of one fleet's run (see the module docstring).

    :param fleet_dir: the fleet's directory (``events.jsonl``).
    :param db_url: the fleet's metadata DB (SQLAlchemy URL).
    :param since: slot zero.
    :param end: epoch seconds the window ends at (the autoscaler's stop).
    :param unit_seconds: seconds per scaled minute.
    :param concurrency: task slots per worker.
    """
    import psycopg2

    conn = psycopg2.connect(db_url.replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute(TIMES_SQL)
            rows = cur.fetchall()
    finally:
        conn.close()
    start = since.timestamp()
    used = worker_seconds(fleet_dir / "events.jsonl", start, end)
    return figures(rows, used, start, end, unit_seconds, concurrency)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.testing.race.usage")
    p.add_argument("fleet_dir", type=Path, help="a fleet's output directory (events.jsonl, report.json)")
    p.add_argument("--db", required=True, help="the fleet's metadata database, e.g. ecsops_race_long_on")
    p.add_argument("--unit", type=float, default=3.0, help="seconds per scaled minute (default 3)")
    p.add_argument("--concurrency", type=int, default=1, help="task slots per worker (default 1)")
    args = p.parse_args(argv)
    window = json.loads((args.fleet_dir / "report.json").read_text())["window"]
    since = datetime.fromisoformat(window["since"])
    end = (args.fleet_dir / "report.txt").stat().st_mtime  # written when the autoscaler stopped
    try:
        result = usage(args.fleet_dir, PG_URL.format(db=args.db), since, end, args.unit, args.concurrency)
    except ValueError as exc:
        p.exit(1, f"{exc}\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
