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
