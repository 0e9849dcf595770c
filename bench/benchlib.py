"""What the benchmarks share."""

from __future__ import annotations

import contextlib
import logging


def quiet() -> None:
    """Keep per-poll log lines (stdlib logging on Airflow 2, structlog on 3) off the report."""
    logging.disable(logging.WARNING)
    with contextlib.suppress(ImportError):
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
