"""Backlog query time of the metadata-DB source with 100,000 task instances in PostgreSQL.

Creates database ``ecsops_scalein_bench`` with the installed Airflow's own ``task_instance`` table and indexes,
inserts synthetic task instances (mostly finished, a few waiting, over several queues), and times
``MetadataDbBacklog.count`` as the guard calls it. Baseline in the same run: the same query with index scans
disabled (a sequential scan).

    python bench/scalein_backlog_query.py [--rows 100000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import create_engine, text

from airflow_provider_ecsops.scalein.backlog import MetadataDbBacklog
from airflow_provider_ecsops.testing.scalein_metadb import (
    create_airflow_tables,
    fresh_database,
    insert_task_instances,
)

NO_INDEX_SCANS = "-c enable_indexscan=off -c enable_bitmapscan=off -c enable_indexonlyscan=off"
STATES = ["success"] * 90 + ["failed"] * 3 + ["running"] * 3 + ["queued"] * 2 + ["scheduled"] * 1 + [None]


def timed(source: MetadataDbBacklog, repeat: int) -> tuple[float, int]:
    count = source.count(["default"])  # warm the connection and the plan
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        source.count(["default"])
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), count


def plan(url: str, options: str = "") -> str:
    engine = create_engine(url, connect_args={"options": options} if options else {})
    query = MetadataDbBacklog.QUERY.replace(":states", "('scheduled', 'queued')").replace(
        ":queues", "('default')"
    )
    with engine.connect() as connection:
        lines = [row[0] for row in connection.execute(text(f"EXPLAIN {query}"))]
    engine.dispose()
    return " / ".join(line.strip(" ->") for line in lines if "Scan" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    url = fresh_database("ecsops_scalein_bench")
    create_airflow_tables(url)
    rng = random.Random(7)
    queues = ["default"] * 6 + ["gpu", "etl", "reports", "heavy"]
    started = time.perf_counter()
    inserted = insert_task_instances(
        url, ((rng.choice(queues), rng.choice(STATES)) for _ in range(args.rows))
    )
    print(f"{inserted} task instances inserted in {time.perf_counter() - started:.1f}s")

    indexed = MetadataDbBacklog(url)
    baseline = MetadataDbBacklog(url)
    baseline._engine = create_engine(url, connect_args={"options": NO_INDEX_SCANS})
    base_time, base_count = timed(baseline, args.repeat)
    index_time, index_count = timed(indexed, args.repeat)
    assert base_count == index_count, (base_count, index_count)
    print(f"backlog count of queue 'default' = {index_count}, median of {args.repeat} queries")
    print(f"  baseline, sequential scan: {base_time * 1000:8.3f} ms  [{plan(url, NO_INDEX_SCANS)}]")
    print(f"  Airflow's own indexes:     {index_time * 1000:8.3f} ms  [{plan(url)}]")
    print(f"  ratio indexed / baseline: {index_time / base_time:.3f}")


if __name__ == "__main__":
    main()
