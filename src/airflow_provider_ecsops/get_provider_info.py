"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Providers are discovered by every Airflow process: this module imports only the standard library and the
settings dataclasses its ``[ecsops]`` options are generated from.
"""

from __future__ import annotations

from airflow_provider_ecsops import __version__
from airflow_provider_ecsops.config_options import SECTION, provider_options
from airflow_provider_ecsops.fargate.settings import FargateSettings
from airflow_provider_ecsops.scalein.settings import ScaleInSettings


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-ecsops",
        "name": "ECS Ops",
        "description": "Fargate offload, heartbeat canaries and scale-in-safe Celery workers for Airflow on AWS.",
        "versions": [__version__],
        # The Providers page of Airflow 3's UI links to it; pyproject's project.urls Documentation is the same.
        "documentation-url": "https://github.com/airflow-provider-ecsops/airflow-provider-ecsops#readme",
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
            SECTION: {
                "description": "Settings of airflow-provider-ecsops.",
                "options": {
                    **provider_options(FargateSettings, "fargate_"),
                    **provider_options(ScaleInSettings, "scalein_"),
                },
            }
        },
    }
