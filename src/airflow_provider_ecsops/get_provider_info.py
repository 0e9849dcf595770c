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
                },
            }
        },
    }
