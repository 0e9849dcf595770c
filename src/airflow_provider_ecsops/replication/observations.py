"""What the metadata says about each run of the set: one :class:`Observation` per DAG run.

:func:`observations_from_db` reads ``dag_run``, ``task_instance`` and ``xcom`` with plain SQLAlchemy Core and
reflected tables, so one reader serves the Airflow 2.10 and 3.x schemas and needs no Airflow configuration:
only the database URL.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_ecsops.replication.evidence import is_completion_record

RECORD_KEY = "return_value"


@dataclass(frozen=True)
class Observation:
    """One DAG run of the set and its single task instance, as the metadata shows them.

    :param dag_id: the DAG.
    :param run_id: the run.
    :param slot: the run's logical date (``run_after`` when it has none), in UTC.
    :param run_state: DAG run state.
    :param state: task instance state (``None`` when no task instance exists yet).
    :param queued_at: when the task instance was queued.
    :param start: task start.
    :param end: task end.
    :param hostname: worker that started the task, per Airflow.
    :param pid: task process id, per Airflow.
    :param try_number: the task instance's try number.
    :param record: the task's completion record, when it left one.
    """

    dag_id: str
    run_id: str
    slot: datetime
    run_state: str | None = None
    state: str | None = None
    queued_at: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    hostname: str | None = None
    pid: int | None = None
    try_number: int | None = None
    record: dict | None = None


def as_utc(value: Any) -> datetime | None:
    """A datetime (or ISO string) from any source as an aware UTC datetime; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def decode_record(value: Any) -> dict | None:
    """A completion record from an XCom value as stored (JSON bytes in Airflow 2, JSON in 3) or served.

    API v1 serves the value as its Python ``repr``, read back with ``ast.literal_eval`` (literals only).
    """
    for _ in range(3):  # Airflow 3 stores the serialized JSON string inside a JSON column: decode twice
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", errors="replace")
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return None
    return value if is_completion_record(value) else None


def observation(
    dag_id: str, run_id: str, slot: Any, run_state: str | None, ti: Mapping[str, Any], record: dict | None
) -> Observation:
    """An observation from a run and its task instance as the DB or the API give them (API field names).

    :param dag_id: the DAG.
    :param run_id: the run.
    :param slot: the run's logical date (or ``run_after``), datetime or ISO string.
    :param run_state: DAG run state.
    :param ti: task instance fields (``state``, ``queued_when``, ``start_date``, ``end_date``, ``hostname``,
        ``pid``, ``try_number``); empty when the run has no task instance.
    :param record: the completion record, if any.
    """
    slot_at = as_utc(slot)
    if slot_at is None:
        raise ValueError(f"slot: run {dag_id}/{run_id} has neither a logical date nor run_after")
    return Observation(
        dag_id=dag_id,
        run_id=run_id,
        slot=slot_at,
        run_state=run_state,
        state=ti.get("state"),
        queued_at=as_utc(ti.get("queued_when")),
        start=as_utc(ti.get("start_date")),
        end=as_utc(ti.get("end_date")),
        hostname=ti.get("hostname") or None,
        pid=ti.get("pid"),
        try_number=ti.get("try_number"),
        record=record,
    )


def observations_from_db(url: str, dag_ids: Iterable[str], task_id: str) -> list[Observation]:
    """Observations of ``dag_ids`` read from the Airflow metadata DB at SQLAlchemy ``url``.

    :param url: SQLAlchemy URL of the metadata DB (read access is enough).
    :param dag_ids: DAGs of the set.
    :param task_id: the set's task.
    """
    from sqlalchemy import MetaData, Table, select

    dag_ids = list(dag_ids)
    engine = _engine(url)
    try:
        meta = MetaData()
        dag_run, ti, xcom = (
            Table(name, meta, autoload_with=engine) for name in ("dag_run", "task_instance", "xcom")
        )
        # Airflow 3 renamed execution_date to logical_date (nullable) and added run_after.
        logical = dag_run.c.logical_date if "logical_date" in dag_run.c else dag_run.c.execution_date
        run_after = dag_run.c.run_after if "run_after" in dag_run.c else logical
        with engine.connect() as conn:
            run_rows = conn.execute(
                select(
                    dag_run.c.dag_id,
                    dag_run.c.run_id,
                    dag_run.c.state,
                    logical.label("logical_date"),
                    run_after.label("run_after"),
                ).where(dag_run.c.dag_id.in_(dag_ids))
            ).mappings()
            runs = [dict(r) for r in run_rows]
            tis = {
                (r["dag_id"], r["run_id"]): r
                for r in conn.execute(
                    select(
                        ti.c.dag_id,
                        ti.c.run_id,
                        ti.c.state,
                        ti.c.queued_dttm.label("queued_when"),
                        ti.c.start_date,
                        ti.c.end_date,
                        ti.c.hostname,
                        ti.c.pid,
                        ti.c.try_number,
                    ).where(ti.c.dag_id.in_(dag_ids), ti.c.task_id == task_id)
                ).mappings()
            }
            records = {
                (r["dag_id"], r["run_id"]): decode_record(r["value"])
                for r in conn.execute(
                    select(xcom.c.dag_id, xcom.c.run_id, xcom.c.value).where(
                        xcom.c.dag_id.in_(dag_ids), xcom.c.task_id == task_id, xcom.c.key == RECORD_KEY
                    )
                ).mappings()
            }
    finally:
        engine.dispose()
    result = []
    for run in runs:
        key = (run["dag_id"], run["run_id"])
        slot = run["logical_date"] or run["run_after"]
        result.append(observation(*key, slot, run["state"], dict(tis.get(key) or {}), records.get(key)))
    return result


def dag_ids_with_runs(url: str) -> list[str]:
    """The dag_ids that have runs in the metadata DB at ``url`` (to suggest a prefix when none matched)."""
    from sqlalchemy import MetaData, Table, select

    engine = _engine(url)
    try:
        dag_run = Table("dag_run", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            return sorted(conn.execute(select(dag_run.c.dag_id).distinct()).scalars())
    finally:
        engine.dispose()


def _engine(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    # SQLite creates a missing file on connect: a typo would read as an empty installation.
    database = parsed.database or ":memory:"
    if parsed.get_backend_name() == "sqlite" and database != ":memory:" and not Path(database).is_file():
        raise FileNotFoundError(f"no SQLite metadata DB at {parsed.database}")
    return create_engine(url)
