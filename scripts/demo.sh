#!/usr/bin/env bash
# The main demo: every example DAG end to end against local AWS (moto + the Fargate double) and a fresh SQLite
# Airflow metadata DB. Usage: scripts/demo.sh [af2|af33|latest]   (default: latest Airflow 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
line=${1:-latest}
venv=$("$root/scripts/venv.sh" "$line")
export AIRFLOW_HOME
AIRFLOW_HOME=$(mktemp -d /tmp/ecsops-demo.XXXXXX)
export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$root/example_dags"
export ECSOPS_DEMO_OUT=${ECSOPS_DEMO_OUT:-$root/out/demo}
echo "Airflow home $AIRFLOW_HOME (SQLite); migrating the metadata DB ..."
"$venv/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
"$venv/bin/python" "$root/scripts/demo.py" 2>"$AIRFLOW_HOME/demo.log" || { tail -50 "$AIRFLOW_HOME/demo.log"; exit 1; }
echo "Full Airflow log: $AIRFLOW_HOME/demo.log"
