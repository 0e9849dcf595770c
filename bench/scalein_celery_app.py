"""Celery app for ``scalein_guard_overhead.py``: Airflow's default config, with or without the scale-in guard."""

from __future__ import annotations

import os

from celery import Celery

from airflow_provider_ecsops.scalein.celery_config import SCALEIN_CELERY_CONFIG, airflow_default_celery_config

guarded = os.environ.get("ECSOPS_BENCH_GUARD") == "1"
app = Celery(
    "ecsops_scalein_bench",
    config_source=SCALEIN_CELERY_CONFIG if guarded else airflow_default_celery_config(),
)


@app.task(name="ecsops_scalein_bench.noop")
def noop() -> None:
    """Does nothing: what is measured is the worker's own cost per task."""
