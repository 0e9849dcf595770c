"""The package foundation: provider registration, plugin registration and cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import airflow_provider_ecsops
from tests.capabilities import AIRFLOW_HAS_PROVIDER_CLI, AIRFLOW_LISTS_TIMETABLE_PLUGINS


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
    assert info["version"] == airflow_provider_ecsops.__version__ == version("airflow-provider-ecsops")
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
    if AIRFLOW_LISTS_TIMETABLE_PLUGINS:  # 3.1+
        listing = "names = list(plugins_manager.get_timetables_plugins())\n"
    else:
        listing = "plugins_manager.initialize_timetables_plugins()\nnames = list(plugins_manager.timetable_classes)\n"
    out = _run(f"from airflow import plugins_manager\n{listing}print(names)\n")
    assert (
        "airflow_provider_ecsops.replication.timetable.OffsetIntervalTimetable"
        in out.strip().splitlines()[-1]
    )


def _airflow_ecsops_help() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", "ecsops", "--help"], capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(
    not AIRFLOW_HAS_PROVIDER_CLI, reason="provider CLI commands arrived in Airflow 3.1 (next test)"
)
def test_airflow_cli_has_the_ecsops_group():
    result = _airflow_ecsops_help()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "race-report" in result.stdout


@pytest.mark.skipif(AIRFLOW_HAS_PROVIDER_CLI, reason="this Airflow has provider CLI commands (previous test)")
def test_without_provider_cli_airflow_rejects_the_group_and_the_console_script_says_what_to_use():
    result = _airflow_ecsops_help()
    assert result.returncode != 0
    assert "invalid choice: 'ecsops'" in result.stdout + result.stderr
    console_script = Path(sys.executable).parent / "ecsops-race-report"
    script = subprocess.run([console_script, "--help"], capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr[-2000:]
    assert "`airflow ecsops race-report` needs Airflow 3.1+" in " ".join(script.stdout.split())
