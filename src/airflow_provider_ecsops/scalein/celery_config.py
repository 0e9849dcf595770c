"""Celery config for guarded workers: ``[celery] celery_config_options =
airflow_provider_ecsops.scalein.celery_config.SCALEIN_CELERY_CONFIG``.

The dict is Airflow's default Celery config plus a marker; importing this module (which Airflow does to read
the option) connects ``celeryd_init``, which adds the guard bootstep to workers of an app carrying the marker.
"""

from __future__ import annotations

import importlib
from typing import Any

from celery import signals

MARKER = "ecsops_scalein_guard"

# Provider path first; Airflow core shipped it before the Celery provider existed.
_DEFAULT_CONFIG_MODULES = (
    "airflow.providers.celery.executors.default_celery",
    "airflow.config_templates.default_celery",
)


def airflow_default_celery_config() -> dict[str, Any]:
    """A copy of Airflow's ``DEFAULT_CELERY_CONFIG`` from whichever module this installation has."""
    for name in _DEFAULT_CONFIG_MODULES:
        try:
            return dict(importlib.import_module(name).DEFAULT_CELERY_CONFIG)
        except (ImportError, AttributeError):
            continue
    raise ImportError(
        "Airflow's default Celery config was not found; install apache-airflow-providers-celery to use "
        "airflow_provider_ecsops.scalein.celery_config"
    )


@signals.celeryd_init.connect
def _install_guard(sender: Any = None, instance: Any = None, conf: Any = None, **kwargs: Any) -> None:
    if conf is not None and conf.get(MARKER):
        from airflow_provider_ecsops.scalein.guard import ScaleInGuard

        instance.app.steps["consumer"].add(ScaleInGuard)


def __getattr__(name: str) -> Any:
    if name == "SCALEIN_CELERY_CONFIG":
        config = {**airflow_default_celery_config(), MARKER: True}
        globals()[name] = config
        return config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
