#!/usr/bin/env bash
# The test command: lint and mypy once, then the whole suite on each line of the CI matrix, then (full runs only)
# the wheel's MWAA install check and the race harness's short mode once, on the 3.3.1 line (it starts a whole
# Airflow 3 + Celery stack).
#   scripts/test.sh                    the CI set: MWAA 2.10.3 (py3.11), MWAA 3.0.6, MWAA 3.3.1 (py3.12), the
#                                      latest Airflow 3 (from the built wheel), then the race short mode
#   scripts/test.sh LINE [pytest args] one line by hand, e.g. scripts/test.sh 2.11.2 tests/fargate -x
# Lines (scripts/venv.sh): every MWAA version from 2.10.1 up (2.10.1 2.10.3 2.11.0 2.11.2 3.0.6 3.2.1 3.3.1, each
# under MWAA's constraints file of that version) and latest; af2 and af33 are aliases of 2.10.3 and 3.3.1.
# Where a constraints file pins a test-only tool too old for its own botocore, venv.sh floats that tool and says
# so (MWAA 2.11.2: moto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lines=(2.10.3 3.0.6 3.3.1 latest)
full=1
if [ $# -gt 0 ] && [[ "$1" =~ ^([0-9]+\.[0-9]+\.[0-9]+|latest|af2|af33)$ ]]; then lines=("$1"); shift; full=; fi
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
  scripts/typecheck.sh
fi

status=0
for line in "${lines[@]}"; do
  venv=$(scripts/venv.sh "$line")
  export AIRFLOW_HOME
  AIRFLOW_HOME=$(mktemp -d "/tmp/ecsops-airflow-$line.XXXXXX")
  export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$root/example_dags"
  export AIRFLOW__CORE__UNIT_TEST_MODE=True
  # Which copy of the package the tests import: src/ (editable lines) or site-packages (the wheel line).
  where=$("$venv/bin/python" -c 'import airflow_provider_ecsops as p; print(p.__file__)' 2>/dev/null | tail -1)
  echo "=== $line: $("$venv/bin/python" -c 'import airflow; print("Airflow", airflow.__version__)' 2>/dev/null | tail -1) on $("$venv/bin/python" --version), package from $where"
  if [ "$line" = latest ] && [[ "$where" == "$root/src/"* ]]; then
    echo "=== latest must test the installed wheel, not $root/src" >&2; exit 1
  fi
  "$venv/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
  # CI time (2 cores, 90 minutes at most): the scale-in tests that run real Celery worker subprocesses (minutes
  # per line) run in the full run on the two ends of the Celery range, 2.10.3 (Celery 5.4) and latest (5.6+);
  # `scripts/test.sh <line>` runs them on any line.
  worker_tests=()
  if [ -n "$full" ] && [[ "$line" != 2.10.3 && "$line" != latest ]]; then
    worker_tests=(--ignore=tests/scalein/test_brokers.py --ignore=tests/scalein/test_guard_policy.py
      --ignore=tests/scalein/test_guard_worker.py --ignore=tests/scalein/test_self_retire.py
      --ignore=tests/scalein/test_airflow_worker.py)
    echo "=== $line: the scale-in worker-subprocess tests run on 2.10.3 and latest in this run (by hand: scripts/test.sh $line)"
  fi
  # The heartbeat truth test starts a whole Airflow 3 + Celery stack (minutes): in the full run, on 3.3.1 only.
  if [ -n "$full" ] && [ "$line" != 3.3.1 ]; then worker_tests+=(--ignore=tests/heartbeat/test_truth.py); fi
  "$venv/bin/python" -m pytest --ignore=tests/race "${worker_tests[@]}" "$@" || status=$?
  rm -rf "$AIRFLOW_HOME"
  [ "$status" -eq 0 ] || { echo "=== $line failed (pytest exit $status)"; exit "$status"; }
done

if [ -n "$full" ]; then
  echo "=== the built wheel: contents, resolution under every MWAA constraints file, MWAA's --no-index route"
  scripts/check_mwaa_install.sh
  venv=$(scripts/venv.sh 3.3.1)
  AIRFLOW_HOME=$(mktemp -d /tmp/ecsops-airflow-race.XXXXXX)  # the harness gives each component its own home
  echo "=== race harness, short mode (Airflow 3.3.1, real scheduler and Celery workers)"
  "$venv/bin/python" -m pytest tests/race -p no:cacheprovider || status=$?
  rm -rf "$AIRFLOW_HOME"
  exit "$status"
fi
