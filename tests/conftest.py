from __future__ import annotations

import os

import pytest

from airflow_provider_ecsops.testing.services import ensure_service

# Offline, deterministic AWS for every test: moto and the project's doubles answer, nothing leaves the machine.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a fresh database on the local PostgreSQL (trust auth)."""
    ensure_service("postgres")
    return "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def redis_url() -> str:
    # ECSOPS_TEST_REDIS_URL: another Redis server (e.g. one with more than 16 databases for parallel checkouts).
    if url := os.environ.get("ECSOPS_TEST_REDIS_URL"):
        return url
    ensure_service("redis")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_broker_db(redis_url: str) -> int:
    """This run's Redis database for brokers (flushed by its users): ``ECSOPS_TEST_REDIS_DB``, default 7.

    A database of one's own where several checkouts or CI lanes share one Redis.
    """
    import redis

    db = int(os.environ.get("ECSOPS_TEST_REDIS_DB", "7"))
    databases = int(redis.Redis.from_url(redis_url).config_get("databases")["databases"])
    if db >= databases:  # else every broker user errors with Redis' own "DB index is out of range"
        pytest.fail(
            f"ECSOPS_TEST_REDIS_DB={db}: this Redis has databases 0-{databases - 1}. "
            f"Fix: pick one below {databases}, or start redis-server with --databases {db + 1}",
            pytrace=False,
        )
    return db
