#!/usr/bin/env bash
# The built wheel: complete (modules, py.typed, license, entry points), resolvable under every MWAA constraints
# file from our Airflow floor up with no pin changed, and installable by MWAA's route (--no-index --find-links
# <wheelhouse> -c <constraints>) into a venv that already has Airflow. Needs uv and PyPI; a few minutes.
#   scripts/check_mwaa_install.sh                     all of it (the real route on MWAA 2.10.3)
#   scripts/check_mwaa_install.sh --route-line 3.0.6  the real route on another MWAA line
#   scripts/check_mwaa_install.sh --no-route          contents and resolution only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv >&2
for py in python3.12 python3.11 python3; do  # the checker needs 3.11+ (tomllib); pyenv shims may not run
  if "$py" -c 'import tomllib' >/dev/null 2>&1; then exec "$py" "$root/scripts/check_mwaa_install.py" "$@"; fi
done
echo "no Python 3.11+ found" >&2; exit 1
