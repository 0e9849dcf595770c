#!/usr/bin/env bash
# mypy over src/ in the latest line's venv (settings in pyproject's [tool.mypy]: not strict yet). The latest
# line is the reference: Airflow 2's and older Airflow 3's own annotations differ, so other lines are not checked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(scripts/venv.sh latest)
"$venv/bin/python" -m mypy
