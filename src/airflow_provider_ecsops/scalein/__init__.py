"""Scale-in-safe Celery workers on ECS: task scale-in protection, the worker guard, self-retire, backlog sources.

Install the guard with ``[celery] celery_config_options =
airflow_provider_ecsops.scalein.celery_config.SCALEIN_CELERY_CONFIG``; see docs/scalein.md.
"""
