"""Celery app for the scale-in benchmarks: Airflow's default config, with or without the scale-in guard, and an
optional event-loop probe (``scalein_loop_block.py``)."""

from __future__ import annotations

import json
import os
import time

from celery import Celery, bootsteps

from airflow_provider_ecsops.scalein.celery_config import SCALEIN_CELERY_CONFIG, airflow_default_celery_config

guarded = os.environ.get("ECSOPS_BENCH_GUARD") == "1"
app = Celery(
    "ecsops_scalein_bench",
    config_source=SCALEIN_CELERY_CONFIG if guarded else airflow_default_celery_config(),
)


@app.task(name="ecsops_scalein_bench.noop")
def noop() -> None:
    """Does nothing: what is measured is the worker's own cost per task."""


class LoopProbe(bootsteps.StartStopStep):
    """Consumer bootstep timing the event loop: a 10 ms timer whose lateness is the loop's stall.

    On when ``ECSOPS_BENCH_PROBE`` names a file: ``{"start": s, "stalls": [s, ...]}`` is written there every
    second. ``start`` is the wait before the loop's first timer (bootsteps starting, e.g. the guard's bounded
    wait for its first protection call), kept apart because the loop does not run yet.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)
    PERIOD = 0.01

    def start(self, c) -> None:
        self.path, self.stalls, self.start_wait = os.environ["ECSOPS_BENCH_PROBE"], [], None
        self.last = self.flushed = time.monotonic()
        self.ref = c.timer.call_repeatedly(self.PERIOD, self.probe)

    def probe(self) -> None:
        now = time.monotonic()
        stall = max(0.0, now - self.last - self.PERIOD)
        if self.start_wait is None:
            self.start_wait = stall
        else:
            self.stalls.append(stall)
        self.last = now
        if now - self.flushed >= 1.0:
            self.flushed = now
            with open(self.path, "w") as out:
                json.dump({"start": self.start_wait, "stalls": self.stalls}, out)

    def stop(self, c) -> None:
        self.ref.cancel()


if os.environ.get("ECSOPS_BENCH_PROBE"):
    app.steps["consumer"].add(LoopProbe)


@app.task(name="ecsops_scalein_bench.record", bind=True)
def record(self, seconds: float = 0.0) -> None:
    """Log this execution (task id, start time) in the result backend's Redis, then sleep ``seconds``."""
    import redis

    redis.Redis.from_url(app.conf.result_backend).rpush(
        "ecsops-scalein-bench:executions", f"{self.request.id} {time.time()}"
    )
    time.sleep(seconds)
