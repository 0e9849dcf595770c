"""Local reproduction of the scale-down race: a real Airflow + Celery stack on loopback, an ECS/MWAA-like
autoscaler simulator, and the race report per fleet (guarded vs unguarded). See docs/race-lab.md.

Run it with ``python -m airflow_provider_ecsops.testing.race --mode short|long --guard on|off|both``.
"""
