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
# The full run takes two lanes side by side (most of a line's time is spent waiting on worker subprocesses,
# brokers and servers, not on the CPU), each with a Redis database of its own (ECSOPS_TEST_REDIS_DB); a lane's
# output is printed when it ends. Everything the tests create elsewhere (PostgreSQL databases, RabbitMQ and SQS
# queues, ports, homes) is named per process, so lanes do not meet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
full=1
lines=()
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

# run_line LINE [pytest args]: the suite on one line, in an Airflow home of its own.
run_line() {
  local line=$1 venv where status=0
  shift
  # Called in an `||` list, where errexit is off: every step checks its own status.
  venv=$(scripts/venv.sh "$line") || return 1
  export AIRFLOW_HOME
  AIRFLOW_HOME=$(mktemp -d "/tmp/ecsops-airflow-$line.XXXXXX")
  export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$root/example_dags"
  export AIRFLOW__CORE__UNIT_TEST_MODE=True
  # Which copy of the package the tests import: src/ (editable lines) or site-packages (the wheel line).
  where=$("$venv/bin/python" -c 'import airflow_provider_ecsops as p; print(p.__file__)' 2>/dev/null | tail -1)
  echo "=== $line: $("$venv/bin/python" -c 'import airflow; print("Airflow", airflow.__version__)' 2>/dev/null | tail -1) on $("$venv/bin/python" --version), package from $where"
  if [ "$line" = latest ] && [[ "$where" == "$root/src/"* ]]; then
    echo "=== latest must test the installed wheel, not $root/src" >&2; return 1
  fi
  "$venv/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; return 1; }
  # CI time: the scale-in tests that run real Celery worker subprocesses (minutes per line) run in the full run
  # on the two ends of the Celery range, 2.10.3 (Celery 5.4) and latest (5.6+); `scripts/test.sh <line>` runs
  # them on any line.
  local worker_tests=()
  if [ -n "$full" ] && [[ "$line" != 2.10.3 && "$line" != latest ]]; then
    worker_tests=(--ignore=tests/scalein/test_brokers.py --ignore=tests/scalein/test_guard_policy.py
      --ignore=tests/scalein/test_guard_worker.py --ignore=tests/scalein/test_self_retire.py
      --ignore=tests/scalein/test_airflow_worker.py)
    echo "=== $line: the scale-in worker-subprocess tests run on 2.10.3 and latest in this run (by hand: scripts/test.sh $line)"
  fi
  # The heartbeat truth test starts a whole Airflow 3 + Celery stack (minutes): in the full run, on 3.3.1 only.
  if [ -n "$full" ] && [ "$line" != 3.3.1 ]; then worker_tests+=(--ignore=tests/heartbeat/test_truth.py); fi
  local began=$SECONDS
  "$venv/bin/python" -m pytest --ignore=tests/race "${worker_tests[@]}" "$@" || status=$?
  rm -rf "$AIRFLOW_HOME"
  echo "=== $line: pytest exit $status after $((SECONDS - began)) s"
  return "$status"
}

if [ -z "$full" ]; then  # one line, or every CI line one after the other with the given pytest args
  [ ${#lines[@]} -gt 0 ] || lines=(2.10.3 3.0.6 3.3.1 latest)
  for line in "${lines[@]}"; do run_line "$line" "$@" || exit $?; done
  exit 0
fi

# Two lanes of about equal length: each holds one line with the worker-subprocess tests.
lanes=("2.10.3 3.3.1" "latest 3.0.6")
logs=$(mktemp -d /tmp/ecsops-lanes.XXXXXX)
pids=()
for i in "${!lanes[@]}"; do
  (
    export ECSOPS_TEST_REDIS_DB=$((7 + i))
    for line in ${lanes[$i]}; do run_line "$line" || exit $?; done
  ) >"$logs/lane$i.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  lane_status=0
  wait "${pids[$i]}" || lane_status=$?
  echo "=== lane $i (${lanes[$i]}): exit $lane_status"
  cat "$logs/lane$i.log"
  [ "$lane_status" -eq 0 ] || status=$lane_status
done
rm -rf "$logs"
[ "$status" -eq 0 ] || { echo "=== a line failed (exit $status)"; exit "$status"; }

echo "=== the built wheel: contents, resolution under every MWAA constraints file, MWAA's --no-index route"
scripts/check_mwaa_install.sh
venv=$(scripts/venv.sh 3.3.1)
AIRFLOW_HOME=$(mktemp -d /tmp/ecsops-airflow-race.XXXXXX)  # the harness gives each component its own home
echo "=== race harness, short mode (Airflow 3.3.1, real scheduler and Celery workers)"
"$venv/bin/python" -m pytest tests/race -p no:cacheprovider || status=$?
rm -rf "$AIRFLOW_HOME"
exit "$status"
