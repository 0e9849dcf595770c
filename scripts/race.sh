#!/usr/bin/env bash
# The scale-down race reproduced locally, guarded vs unguarded fleet (docs/race-lab.md).
#   scripts/race.sh long              ~15 min: 26 periods, 208 task runs per fleet (make race)
#   scripts/race.sh short             4-8 min: 4 periods, 32 task runs per fleet (make race-short, CI)
#   scripts/race.sh long --guard off --seed 7 --stop-timeout 120   (more options: --help)
#   scripts/race.sh long --broker sqs|amqp --concurrency 4 --seeds 3   a campaign: table per seed and totals
# Reports: out/race/<mode>/{on,off}/report.html; the table is printed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-long}
[ $# -gt 0 ] && shift
venv=$(scripts/venv.sh af33)
"$venv/bin/python" -c "from airflow_provider_ecsops.testing.services import ensure_service; ensure_service('postgres'); ensure_service('redis')"
# RabbitMQ (--broker amqp) is started by the run itself if down; --broker sqs runs a moto server per fleet.
exec "$venv/bin/python" -m airflow_provider_ecsops.testing.race --mode "$mode" --out out/race "$@"
