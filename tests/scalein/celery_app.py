"""A plain Celery app configured from the guard's config dict, with tasks that record when they ran."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

from airflow_provider_ecsops.scalein.celery_config import SCALEIN_CELERY_CONFIG

app = Celery("ecsops_scalein_test", config_source=SCALEIN_CELERY_CONFIG)
EXECUTIONS = "ecsops-scalein-test:executions"


@app.task(name="ecsops_scalein_test.record", bind=True)
def record(self, seconds: float = 0.0) -> str:
    """Log this execution (task id, worker, start time) in Redis (the result backend, whatever the broker), then
    sleep ``seconds``."""
    client = redis.Redis.from_url(app.conf.result_backend)
    client.rpush(EXECUTIONS, f"{self.request.id} {os.environ.get('ECSOPS_TEST_WORKER', '?')} {time.time()}")
    time.sleep(seconds)
    return self.request.id
