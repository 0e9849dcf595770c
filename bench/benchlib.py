"""What the benchmarks share."""

from __future__ import annotations

import contextlib
import logging
from http.server import BaseHTTPRequestHandler


def quiet() -> None:
    """Keep per-poll log lines (stdlib logging on Airflow 2, structlog on 3) off the report."""
    logging.disable(logging.WARNING)
    with contextlib.suppress(ImportError):
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def official_trigger(env, arn: str, interval: float):
    """The amazon provider's TaskDoneTrigger (EcsRunTaskOperator's deferrable wait) for one task of ``env``."""
    from airflow.providers.amazon.aws.triggers.ecs import TaskDoneTrigger

    return TaskDoneTrigger(
        cluster=env.cluster,
        task_arn=arn,
        waiter_delay=interval,
        waiter_max_attempts=1_000_000,
        aws_conn_id=None,
        region=env.region,
    )


class OkHandler(BaseHTTPRequestHandler):
    """A loopback HTTP endpoint for HTTP probes: 200 with an empty body, no access log."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass
