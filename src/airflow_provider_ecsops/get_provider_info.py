"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept free of imports so that discovering providers costs nothing.
"""

from __future__ import annotations


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-ecsops",
        "name": "ECS Ops",
        "description": "Fargate offload, heartbeat canaries and scale-in-safe Celery workers for Airflow on AWS.",
        "versions": ["0.1.0"],
        "operators": [
            {
                "integration-name": "Amazon ECS",
                "python-modules": ["airflow_provider_ecsops.fargate.operator"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Amazon ECS",
                "python-modules": ["airflow_provider_ecsops.fargate.trigger"],
            }
        ],
        # `airflow ecsops ...` (Airflow 3 reads this key; Airflow 2.10 ignores it).
        "cli": ["airflow_provider_ecsops.replication.cli.get_cli_commands"],
        "extra-links": [
            "airflow_provider_ecsops.fargate.links.FargateTaskLink",
            "airflow_provider_ecsops.fargate.links.FargateLogStreamLink",
        ],
        "config": {
            "ecsops": {
                "description": "Settings of airflow-provider-ecsops.",
                "options": {
                    "fargate_poll_interval": {
                        "description": "Seconds between batched DescribeTasks calls of the shared trigger poller.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "15",
                        "default": "6",
                    },
                    "fargate_log_lines_on_failure": {
                        "description": "How many of the container's last log lines a failure message carries.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "50",
                        "default": "20",
                    },
                    "scalein_protection_minutes": {
                        "description": "``ExpiresInMinutes`` of each protection (1-2880).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "120",
                        "default": "60",
                    },
                    "scalein_renew_before_minutes": {
                        "description": "renew a busy worker's protection this long before it expires.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "15",
                        "default": "10",
                    },
                    "scalein_idle_grace_seconds": {
                        "description": "how long a worker must be idle before it pauses consuming (so short gaps between tasks cost nothing).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "10",
                        "default": "5",
                    },
                    "scalein_idle_verify_seconds": {
                        "description": "how long a paused, idle worker waits for late messages before releasing.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "20",
                    },
                    "scalein_tick_seconds": {
                        "description": "interval of the guard's checks (idleness, renewal, backlog while released).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "2",
                        "default": "1",
                    },
                    "scalein_api_attempts": {
                        "description": "attempts per protection call on throttling or server errors (exponential backoff).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "8",
                        "default": "5",
                    },
                    "scalein_self_retire": {
                        "description": "lower the service's desiredCount by one and exit when idle and the backlog is zero.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "scalein_service": {
                        "description": "ECS service name of the workers (needed for self-retire).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "airflow-workers",
                        "default": "",
                    },
                    "scalein_min_workers": {
                        "description": "floor for self-retire; empty means the App Auto Scaling minimum (or 1 without a target).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "2",
                        "default": "",
                    },
                    "scalein_retire_lock_url": {
                        "description": "``redis://`` or ``postgresql://`` URL of the retire lock; empty = the broker if Redis.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "redis://redis:6379/3",
                        "default": "",
                    },
                    "scalein_backlog_source": {
                        "description": "``broker``, ``metadb`` or ``rest_api``.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "metadb",
                        "default": "broker",
                    },
                    "scalein_backlog_url": {
                        "description": "broker URL, SQLAlchemy URL or Airflow API base URL; empty = the broker / metadata DB.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql+psycopg2://airflow@db/airflow",
                        "default": "",
                    },
                    "scalein_backlog_api_token": {
                        "description": "bearer token for the ``rest_api`` source.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "eyJ...",
                        "default": "",
                    },
                    "scalein_stop_timeout_seconds": {
                        "description": "the task definition's ``stopTimeout`` (Fargate: at most 120).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "120",
                        "default": "120",
                    },
                    "scalein_stop_margin_seconds": {
                        "description": "seconds before SIGKILL at which still-running tasks are given up.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "15",
                        "default": "10",
                    },
                    "scalein_listener_enabled": {
                        "description": "turn on the task-level Airflow listener alternative.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "scalein_aws_conn_id": {
                        "description": "Airflow connection for the boto3 calls; empty = the task role (default chain).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "aws_default",
                        "default": "",
                    },
                },
            }
        },
    }
