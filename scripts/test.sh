#!/usr/bin/env bash
# The test command: lint once, then the whole suite on each line of the Airflow matrix, then (full runs only)
# the race harness's short mode once, on the af33 line (it starts a whole Airflow 3 + Celery stack).
#   scripts/test.sh                 all lines (af2 af33 latest) and the race short mode
#   scripts/test.sh af2 -k fargate  one line, extra pytest arguments after it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lines=(af2 af33 latest)
full=1
if [ $# -gt 0 ] && [[ "$1" =~ ^(af2|af33|latest)$ ]]; then lines=("$1"); shift; full=; fi
[ $# -gt 0 ] && full=

# The HTML report test renders with headless Chromium (Debian's package); install it once per machine.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing chromium for the report rendering test ..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

if [ -z "${ECSOPS_SKIP_LINT:-}" ]; then  # set it for a quick inner loop; CI always lints
  lint_venv=$(scripts/venv.sh latest)
  "$lint_venv/bin/ruff" check src tests bench example_dags scripts
  "$lint_venv/bin/ruff" format --check src tests bench example_dags scripts
fi

status=0
for line in "${lines[@]}"; do
  venv=$(scripts/venv.sh "$line")
  export AIRFLOW_HOME
  AIRFLOW_HOME=$(mktemp -d "/tmp/ecsops-airflow-$line.XXXXXX")
  export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$root/example_dags"
  export AIRFLOW__CORE__UNIT_TEST_MODE=True
  echo "=== $line: $("$venv/bin/python" -c 'import airflow; print("Airflow", airflow.__version__)') on $("$venv/bin/python" --version)"
  "$venv/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
  "$venv/bin/python" -m pytest --ignore=tests/race "$@" || status=$?
  rm -rf "$AIRFLOW_HOME"
  [ "$status" -eq 0 ] || { echo "=== $line failed (pytest exit $status)"; exit "$status"; }
done

if [ -n "$full" ]; then
  venv=$(scripts/venv.sh af33)
  AIRFLOW_HOME=$(mktemp -d /tmp/ecsops-airflow-race.XXXXXX)  # the harness gives each component its own home
  echo "=== race harness, short mode (Airflow 3.3.1, real scheduler and Celery workers)"
  "$venv/bin/python" -m pytest tests/race -p no:cacheprovider || status=$?
  rm -rf "$AIRFLOW_HOME"
  exit "$status"
fi
