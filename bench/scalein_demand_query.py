"""Demand query time of the metadata-DB source at 100,000 and 1,000,000 task instances in PostgreSQL.

Per size, creates database ``ecsops_demand_bench`` with the installed Airflow's own ``task_instance`` table and
indexes, inserts synthetic task instances over several queues, and times ``MetadbDemand.read`` for a fleet of
three queues, the one statement an interval of the publisher runs. Two shapes: ``live``, a fixed number of
scheduled / queued / running task instances (a real backlog does not grow with the table's history) among
finished ones; ``share``, ``scalein_backlog_query.py``'s distribution (6 % of all rows scheduled, queued or
running: a worst case). Each is timed three ways in the same run: the baseline with index scans disabled (a
sequential scan), Airflow's own indexes, and those plus the partial index docs/scalein.md recommends for very
large tables.

    python bench/scalein_demand_query.py [--rows 100000 1000000] [--live 2000] [--shapes live share] [--repeat 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from scalein_backlog_query import NO_INDEX_SCANS, STATES
from sqlalchemy import create_engine, text

from airflow_provider_ecsops.scalein.demand import DEMAND_STATES, MetadbDemand
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    fresh_database,
    insert_task_instances,
)

FLEET_QUEUES = ["default", "etl", "reports"]
PARTIAL_INDEX = (
    "CREATE INDEX ecsops_ti_demand ON task_instance (state, queue) INCLUDE (queued_dttm) "
    "WHERE state IN ('scheduled', 'queued', 'running')"
)


def timed(source: MetadbDemand, repeat: int) -> tuple[float, list]:
    reading = source.read(FLEET_QUEUES)  # warm the connection and the plan
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        source.read(FLEET_QUEUES)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), [(q.queued, q.running, q.scheduled) for q in reading]


def plan(url: str, options: str = "") -> str:
    engine = create_engine(url, connect_args={"options": options} if options else {})
    states = ", ".join(f"'{s}'" for s in DEMAND_STATES)
    queues = ", ".join(f"'{q}'" for q in FLEET_QUEUES)
    query = MetadbDemand.QUERY.replace(":states", f"({states})").replace(":queues", f"({queues})")
    with engine.connect() as connection:
        lines = [row[0] for row in connection.execute(text(f"EXPLAIN {query}"))]
    engine.dispose()
    return " / ".join(line.strip(" ->").split("  ")[0] for line in lines if "Scan" in line)


def one_size(rows: int, live: int | None, repeat: int) -> None:
    url = fresh_database("ecsops_demand_bench")
    create_airflow_tables(url)
    rng = random.Random(7)
    queues = ["default"] * 6 + ["gpu", "etl", "reports", "heavy"]
    active = [s for s in STATES if s in DEMAND_STATES]

    def state(n: int) -> str | None:
        if live is None:
            return rng.choice(STATES)
        return rng.choice(active) if n < live else rng.choice(["success", "failed"])

    started = time.perf_counter()
    inserted = insert_task_instances(url, ((rng.choice(queues), state(n)) for n in range(rows)))
    shape = f"{live} live" if live is not None else "6 % live"
    print(f"{inserted} task instances ({shape}) inserted in {time.perf_counter() - started:.1f}s")
    baseline = MetadbDemand(url)
    baseline.db._engine = create_engine(url, connect_args={"options": NO_INDEX_SCANS})
    base_time, base_reading = timed(baseline, repeat)
    index_time, index_reading = timed(MetadbDemand(url), repeat)
    index_plan = plan(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(PARTIAL_INDEX))
        connection.execute(text("ANALYZE task_instance"))
    engine.dispose()
    partial_time, partial_reading = timed(MetadbDemand(url), repeat)
    assert base_reading == index_reading == partial_reading, (base_reading, index_reading, partial_reading)
    print(f"  demand of {FLEET_QUEUES} (queued, running, scheduled) = {index_reading}, median of {repeat}")
    print(f"  baseline, sequential scan: {base_time * 1000:9.3f} ms  [{plan(url, NO_INDEX_SCANS)}]")
    print(f"  Airflow's own indexes:     {index_time * 1000:9.3f} ms  [{index_plan}]")
    print(f"  plus the partial index:    {partial_time * 1000:9.3f} ms  [{plan(url)}]")
    print(
        f"  ratio to baseline: Airflow's {index_time / base_time:.3f}, partial {partial_time / base_time:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--live", type=int, default=2000, help="scheduled/queued/running rows of the live shape"
    )
    parser.add_argument(
        "--shapes", nargs="+", choices=("live", "share"), default=["live", "share"], help="shapes to run"
    )
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    for rows in args.rows:
        for live in [args.live if shape == "live" else None for shape in args.shapes]:
            one_size(rows, live, args.repeat)


if __name__ == "__main__":
    main()
