"""DAG parsing stays cheap: what DAG files import loads no AWS SDK and no amazon provider."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("boto3", "botocore", "aiobotocore", "moto")


def _heavy_modules_after(code: str) -> list[str]:
    """Heavy modules that ``code`` loads beyond what importing Airflow itself loads (Airflow 3.3.1 reads
    providers' ``get_provider_info`` modules while it configures itself)."""
    probe = (
        "import sys, airflow, airflow.configuration\n"
        f"heavy = lambda: {{m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        "or m.startswith('airflow.providers.amazon')}\n"
        "before = heavy()\n"
        f"{code}\n"
        "print(sorted(heavy() - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return eval(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    ["airflow_provider_ecsops.fargate.operator", "airflow_provider_ecsops.fargate"],
)
def test_operator_modules_import_no_aws_sdk(module):
    assert _heavy_modules_after(f"import {module}") == []


def test_fargate_example_dag_parses_without_aws_sdk():
    code = (
        "import runpy\n"
        f"ns = runpy.run_path({str(ROOT / 'example_dags' / 'fargate_offload.py')!r})\n"
        "assert len(ns['dag'].tasks) == 3\n"
    )
    assert _heavy_modules_after(code) == []
