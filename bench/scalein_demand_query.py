"""Demand query time of the metadata-DB source at 100,000 and 1,000,000 task instances in PostgreSQL.

Per size, creates database ``ecsops_demand_bench`` with the installed Airflow's own ``task_instance`` table and
indexes, inserts synthetic task instances (mostly finished, a few scheduled / queued / running, over several
queues, as ``scalein_backlog_query.py`` does), and times ``MetadbDemand.read`` for a fleet of three queues, the
one statement an interval of the publisher runs. Baseline in the same run: the same statement with index scans
disabled (a sequential scan).

    python bench/scalein_demand_query.py [--rows 100000 1000000] [--repeat 50]
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


def one_size(rows: int, repeat: int) -> None:
    url = fresh_database("ecsops_demand_bench")
    create_airflow_tables(url)
    rng = random.Random(7)
    queues = ["default"] * 6 + ["gpu", "etl", "reports", "heavy"]
    started = time.perf_counter()
    inserted = insert_task_instances(url, ((rng.choice(queues), rng.choice(STATES)) for _ in range(rows)))
    print(f"{inserted} task instances inserted in {time.perf_counter() - started:.1f}s")
    indexed = MetadbDemand(url)
    baseline = MetadbDemand(url)
    baseline.db._engine = create_engine(url, connect_args={"options": NO_INDEX_SCANS})
    base_time, base_reading = timed(baseline, repeat)
    index_time, index_reading = timed(indexed, repeat)
    assert base_reading == index_reading, (base_reading, index_reading)
    print(f"  demand of {FLEET_QUEUES} (queued, running, scheduled) = {index_reading}, median of {repeat}")
    print(f"  baseline, sequential scan: {base_time * 1000:9.3f} ms  [{plan(url, NO_INDEX_SCANS)}]")
    print(f"  Airflow's own indexes:     {index_time * 1000:9.3f} ms  [{plan(url)}]")
    print(f"  ratio indexed / baseline: {index_time / base_time:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    for rows in args.rows:
        one_size(rows, args.repeat)


if __name__ == "__main__":
    main()
