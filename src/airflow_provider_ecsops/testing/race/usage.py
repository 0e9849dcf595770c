"""What a race fleet cost and how fast it picked work up, from what a run leaves behind (its ``events.jsonl``,
``report.txt`` and metadata database), for either autoscaler.

- **Pickup**: ``start_date - queued_dttm`` of every task instance that started (p50 / p95), in scaled minutes.
- **Worker-minutes used**: each worker's life, launch event to its ``exited`` / ``sigkill`` event or the end of
  the run (``report.txt`` is written when the autoscaler stops), in scaled minutes.
- **Minimum**: the task instances' run time (``end_date - start_date``): with concurrency 1 no fleet can use
  fewer worker-minutes than its tasks ran.

    python -m airflow_provider_ecsops.testing.race.usage OUT/short/on --db ecsops_race_short_on --unit 3
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from airflow_provider_ecsops.testing.race.stack import PG_URL

TIMES_SQL = (
    "SELECT extract(epoch from start_date - queued_dttm), extract(epoch from end_date - start_date) "
    "FROM task_instance WHERE start_date IS NOT NULL AND queued_dttm IS NOT NULL"
)


def worker_seconds(events_path: Path, end: float) -> float:
    """Sum of the workers' lives in ``events_path`` (wall seconds), open lives ending at ``end``."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for line in events_path.read_text().splitlines():
        event = json.loads(line)
        if event["action"] == "launch":
            started[event["worker"]] = event["time"]
        elif event["action"] in ("exited", "sigkill"):
            ended.setdefault(event["worker"], event["time"])
    return sum(ended.get(w, end) - t for w, t in started.items())


def usage(fleet_dir: Path, db: str, unit_seconds: float) -> dict[str, float]:
    """The figures of one fleet's run (scaled minutes)."""
    import psycopg2

    conn = psycopg2.connect(PG_URL.format(db=db).replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute(TIMES_SQL)
            rows = cur.fetchall()
    finally:
        conn.close()
    if not rows:
        raise SystemExit(f"no started task instances in {db}: nothing to measure")
    pickups = sorted(float(p) for p, _ in rows)
    busy = sum(float(d) for _, d in rows if d is not None)
    end = (fleet_dir / "report.txt").stat().st_mtime
    used = worker_seconds(fleet_dir / "events.jsonl", end)
    p95 = statistics.quantiles(pickups, n=20)[-1] if len(pickups) > 1 else pickups[0]
    return {
        "task_instances": len(rows),
        "pickup_p50_units": round(statistics.median(pickups) / unit_seconds, 2),
        "pickup_p95_units": round(p95 / unit_seconds, 2),
        "worker_units_used": round(used / unit_seconds, 1),
        "worker_units_minimum": round(busy / unit_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_ecsops.testing.race.usage")
    p.add_argument("fleet_dir", type=Path, help="a fleet's output directory (events.jsonl, report.txt)")
    p.add_argument("--db", required=True, help="the fleet's metadata database, e.g. ecsops_race_short_on")
    p.add_argument("--unit", type=float, default=3.0, help="seconds per scaled minute (default 3)")
    args = p.parse_args(argv)
    print(json.dumps(usage(args.fleet_dir, args.db, args.unit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
