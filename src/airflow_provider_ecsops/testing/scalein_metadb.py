"""Airflow's real ``task_instance`` table in a scratch PostgreSQL database, filled with synthetic rows.

Used by the metadata-DB backlog test and benchmark: the table, its columns and its indexes come from the
installed Airflow's own models (``Base.metadata``), so the query runs against the schema and indexes Airflow
really has. Rows satisfy the NOT NULL columns with type-appropriate values; foreign keys are not checked while
inserting (``session_replication_role = replica``), so no DAG runs need to exist.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import uuid
from collections.abc import Iterable
from typing import Any

DEFAULT_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def fresh_database(name: str, server: str = DEFAULT_SERVER) -> str:
    """Drop and create database ``name``; return its SQLAlchemy URL (drop it with :func:`drop_database`)."""
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_database(name: str, server: str = DEFAULT_SERVER) -> None:
    """Drop database ``name`` if it exists, ending its connections."""
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(server: str, *statements: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    admin.dispose()


def create_airflow_tables(url: str) -> None:
    """Create every table of the installed Airflow's models, with their indexes."""
    from airflow.models import import_all_models
    from airflow.models.base import Base
    from sqlalchemy import create_engine

    import_all_models()  # registers every model (and its foreign-key targets) on Base.metadata
    with contextlib.suppress(ImportError):  # Airflow 2: task_instance_note references FAB's ab_user
        import airflow.providers.fab.auth_manager.models  # noqa: F401
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def _value_for(column: Any, n: int) -> Any:
    from sqlalchemy.dialects import postgresql

    kind = column.type
    # The type PostgreSQL gets: Airflow 3.0 declares ids as String(36) with a PostgreSQL UUID variant.
    with contextlib.suppress(AttributeError):
        kind = kind.load_dialect_impl(postgresql.dialect())
    python_type = None
    with contextlib.suppress(NotImplementedError):
        python_type = kind.python_type
    if python_type is uuid.UUID:
        return uuid.uuid4()
    if "UUID" in type(kind).__name__.upper():
        return str(uuid.uuid4())
    if python_type is bool:
        return False
    if python_type in (int, float):
        return 0 if column.name != "map_index" else -1
    if python_type is datetime.datetime:
        return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    if python_type is dict:
        return {}
    if python_type is bytes:
        return b""
    return f"{column.name}-{n}"


def insert_task_instances(url: str, rows: Iterable[tuple[str, str]], batch: int = 5000) -> int:
    """Insert task instances given as ``(queue, state)``; return how many.

    :param url: SQLAlchemy URL of a database made by :func:`create_airflow_tables`.
    :param rows: queue and state of each task instance.
    :param batch: rows per INSERT.
    """
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import create_engine, text

    table = TaskInstance.__table__
    required = [c for c in table.columns if not c.nullable and c.name not in ("queue", "state")]
    engine = create_engine(url)
    count = 0
    with engine.begin() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, batch)):
            values = []
            for queue, state in chunk:
                count += 1
                row = {c.name: _value_for(c, count) for c in required}
                values.append({**row, "queue": queue, "state": state, "task_id": f"task-{count}"})
            connection.execute(table.insert(), values)
        connection.execute(text("ANALYZE task_instance"))
    engine.dispose()
    return count
