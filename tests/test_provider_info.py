"""The provider info: the ``[ecsops]`` options Airflow registers are the settings dataclasses' (one definition),
options that can carry credentials are masked by Airflow, discovery stays cheap, and the documentation URL is
the project's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from airflow_provider_ecsops.fargate.settings import FargateSettings
from airflow_provider_ecsops.get_provider_info import get_provider_info
from airflow_provider_ecsops.scalein.settings import ScaleInSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"fargate_": FargateSettings, "scalein_": ScaleInSettings}
SECRETS = {
    "scalein_backlog_api_token": "tok-hush-1",
    "scalein_backlog_url": "postgresql://airflow:pw-hush-2@db/airflow",
    "scalein_retire_lock_url": "redis://:pw-hush-3@redis:6379/3",
}
VISIBLE = {"scalein_service": "workers-shown-4"}
# What Airflow's processes do at start-up: discover the providers and add their sections to the configuration.
LOAD_PROVIDERS = "from airflow.providers_manager import ProvidersManager\nProvidersManager().initialize_providers_configuration()"


def _airflow(code: str, **options: str) -> str:
    """Run ``code`` in a fresh interpreter with ``[ecsops]`` set only by ``options`` (environment variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__ECSOPS__")}
    env.update({f"AIRFLOW__ECSOPS__{k.upper()}": v for k, v in options.items()})
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def _options() -> dict[str, dict]:
    return get_provider_info()["config"]["ecsops"]["options"]


def test_every_settings_field_is_a_described_option():
    expected = [prefix + f.name for prefix, cls in SETTINGS.items() for f in fields(cls)]
    options = _options()
    assert sorted(options) == sorted(expected)
    for name in expected:
        assert options[name]["description"] and options[name]["example"], name


def test_airflow_serves_the_settings_defaults_when_nothing_is_configured():
    out = _airflow(
        "import json\n"
        "from airflow.configuration import conf\n"
        "from airflow_provider_ecsops.get_provider_info import get_provider_info\n"
        "from airflow_provider_ecsops.fargate.settings import FargateSettings\n"
        "from airflow_provider_ecsops.scalein.settings import ScaleInSettings\n"
        f"{LOAD_PROVIDERS}\n"
        "names = get_provider_info()['config']['ecsops']['options']\n"
        "print(json.dumps({'conf': {n: conf.get('ecsops', n) for n in names},\n"
        "  'same': [FargateSettings.from_airflow_conf() == FargateSettings(),\n"
        "           ScaleInSettings.from_airflow_conf() == ScaleInSettings()]}))\n"
    )
    result = json.loads(out)
    assert result["conf"] == {name: option["default"] for name, option in _options().items()}
    assert result["same"] == [True, True]


def test_configured_values_reach_the_settings():
    out = _airflow(
        "from airflow_provider_ecsops.fargate.settings import FargateSettings\n"
        "from airflow_provider_ecsops.scalein.settings import ScaleInSettings\n"
        "f, s = FargateSettings.from_airflow_conf(log_lines_on_failure=3), ScaleInSettings.from_airflow_conf()\n"
        "print(repr((f.poll_interval, f.log_lines_on_failure, s.protection_minutes, s.self_retire, s.service)))\n",
        fargate_poll_interval="2.5",
        fargate_log_lines_on_failure="50",
        scalein_protection_minutes="90",
        scalein_self_retire="True",
        scalein_service="workers",
    )
    # An operator argument (log_lines_on_failure=3) wins over the configuration.
    assert out == repr((2.5, 3, 90, True, "workers"))


def test_options_that_can_carry_credentials_are_sensitive():
    sensitive = {name for name, option in _options().items() if option.get("sensitive")}
    assert sensitive == set(SECRETS)


def test_airflow_masks_the_sensitive_options_in_its_configuration_view():
    """``conf.as_dict(display_sensitive=False)`` is what the configuration pages and ``config list`` print."""
    out = _airflow(
        "import json\n"
        "from airflow.configuration import conf\n"
        f"{LOAD_PROVIDERS}\n"
        "print(json.dumps(conf.as_dict(display_sensitive=False, display_source=False)['ecsops']))\n",
        **SECRETS,
        **VISIBLE,
    )
    section = json.loads(out)
    assert section["scalein_service"] == VISIBLE["scalein_service"]
    for name, secret in SECRETS.items():
        assert section[name] != secret and "hush" not in section[name], (name, section[name])


def _config_list_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "airflow", "config", "list", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def test_airflow_config_list_hides_the_sensitive_options():
    if "--hide-sensitive" not in _config_list_help():
        pytest.skip("this Airflow's `config list` has no --hide-sensitive (it prints every value as is)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__ECSOPS__")}
    env.update({f"AIRFLOW__ECSOPS__{k.upper()}": v for k, v in {**SECRETS, **VISIBLE}.items()})
    command = ["config", "list", "--section", "ecsops", "--show-values", "--hide-sensitive"]
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    assert f"scalein_service = {VISIBLE['scalein_service']}" in out, out[-2000:]
    for name, secret in SECRETS.items():
        assert f"{name} = " in out, name
        assert secret not in out and "hush" not in out, name


def test_discovering_the_provider_imports_no_airflow_and_no_aws_sdk():
    out = _airflow(
        "import sys\n"
        "from airflow_provider_ecsops.get_provider_info import get_provider_info\n"
        "get_provider_info()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'boto3', 'botocore')))\n"
    )
    assert out == "[]"


def test_documentation_url_is_the_projects():
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert get_provider_info()["documentation-url"] == urls["Documentation"]
    assert urls["Documentation"].startswith("https://")
