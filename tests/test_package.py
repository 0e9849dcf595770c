"""The package foundation: provider registration, plugin registration and cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout


def test_provider_is_registered_with_airflow():
    out = _run(
        "import json\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager()\n"
        "info = pm.providers['airflow-provider-ecsops']\n"
        "print(json.dumps({'version': info.version, 'name': info.data['name'],\n"
        "  'config': sorted(info.data['config']['ecsops']['options'])}))\n"
    )
    info = json.loads(out.strip().splitlines()[-1])
    assert info["name"] == "ECS Ops"
    assert info["version"] == "0.1.0"
    assert "fargate_poll_interval" in info["config"]


def test_airflow_providers_list_shows_the_package():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    listing = next(line for line in out.splitlines() if line.startswith("[{"))  # log lines may come first
    names = {p["package_name"] for p in json.loads(listing)}
    assert "airflow-provider-ecsops" in names


def test_provider_info_module_references_importable_objects():
    import importlib

    from airflow_provider_ecsops.get_provider_info import get_provider_info

    info = get_provider_info()
    for group in ("operators", "triggers"):
        for entry in info[group]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_importing_the_package_loads_no_aws_sdk():
    out = _run(
        "import sys, airflow_provider_ecsops, airflow_provider_ecsops.compat\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aiobotocore')"
        " or m.startswith('airflow.providers.amazon.aws')))\n"
    )
    assert out.strip().splitlines()[-1] == "[]"


def test_plugin_registers_the_scaled_replication_timetable():
    out = _run(
        "from airflow import plugins_manager\n"
        "from airflow_provider_ecsops.compat import AIRFLOW_V_3\n"
        "if AIRFLOW_V_3:\n"
        "    names = list(plugins_manager.get_timetables_plugins())\n"
        "else:\n"
        "    plugins_manager.initialize_timetables_plugins()\n"
        "    names = list(plugins_manager.timetable_classes)\n"
        "print(names)\n"
    )
    assert (
        "airflow_provider_ecsops.replication.timetable.OffsetIntervalTimetable"
        in out.strip().splitlines()[-1]
    )


def test_airflow_cli_has_the_ecsops_group_on_airflow_3():
    from airflow_provider_ecsops.compat import AIRFLOW_V_3

    result = subprocess.run(
        [sys.executable, "-m", "airflow", "ecsops", "--help"], capture_output=True, text=True, timeout=300
    )
    if AIRFLOW_V_3:
        assert result.returncode == 0, result.stderr[-2000:]
        assert "race-report" in result.stdout
    else:  # Airflow 2.10 has no provider CLI hook: the console script `ecsops-race-report` serves there
        assert result.returncode != 0
