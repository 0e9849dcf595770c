"""The MWAA scale-down race replication set: eight DAGs (four every 10 minutes, four 2-5 minutes after them).

Deploy this file with ``airflow-provider-ecsops`` in requirements.txt on an environment with min/max workers 1/4,
let it run for a day, then run ``ecsops-race-report`` (see docs/replication.md).

Env vars (all optional): ECSOPS_RACE_PREFIX (dag_id prefix), ECSOPS_RACE_TIME_SCALE (``0.1``: a minute lasts
6 s, for local reproduction), ECSOPS_RACE_START_DATE (ISO with timezone; anchors the scaled clock),
ECSOPS_RACE_QUEUE (Celery queue).
"""

from __future__ import annotations

import os

import pendulum

from airflow_provider_ecsops.replication.dags import scaledown_race_dags
from airflow_provider_ecsops.replication.schedule import FIELD_REPORT_START

globals().update(
    scaledown_race_dags(
        prefix=os.environ.get("ECSOPS_RACE_PREFIX", "scaledown_race"),
        time_scale=float(os.environ.get("ECSOPS_RACE_TIME_SCALE", "1")),
        queue=os.environ.get("ECSOPS_RACE_QUEUE") or None,
        start_date=pendulum.parse(os.environ["ECSOPS_RACE_START_DATE"])
        if os.environ.get("ECSOPS_RACE_START_DATE")
        else FIELD_REPORT_START,
    )
)
