#!/usr/bin/env bash
# Build (or reuse) the virtualenv of one test-matrix line and print its path.
#   scripts/venv.sh 2.10.1|2.10.3|2.11.0|2.11.2|3.0.6|3.2.1|3.3.1
#                             that Airflow under MWAA's constraints file of the same version
#                             (constraints/mwaa-airflow-X.Y.Z.txt), on the Python that file was made for
#   scripts/venv.sh latest    newest Airflow 3 release, Python 3.12, and the project installed from its BUILT
#                             WHEEL (not the tree), so a file or entry point missing from the wheel fails there
#   af2 = 2.10.3, af33 = 3.3.1 (older names, kept as aliases)
# Venvs are cached by a hash of the inputs that decide the installed set, outside the work tree, so repeated runs
# (and CI on the same machine) reuse them; the project itself is reinstalled each time.
set -euo pipefail
line=${1:?usage: scripts/venv.sh 2.10.1|2.10.3|2.11.0|2.11.2|3.0.6|3.2.1|3.3.1|latest}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ECSOPS_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-provider-ecsops/venvs}

case "$line" in
  af2) line=2.10.3 ;;
  af33) line=3.3.1 ;;
esac

pick_python() {
  for want in "$@"; do
    for cand in "python$want" "$HOME/.pyenv/versions/$want"*/bin/python; do
      if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys' >/dev/null 2>&1; then
        command -v "$cand"; return 0
      fi
    done
  done
  echo "no Python among: $*" >&2; return 1
}

# Test-only tools a constraints file pins too old for the botocore it pins as well: installed unpinned ("floated")
# on that line. MWAA 2.11.2 pins moto 5.0.11, which cannot talk to the botocore 1.42.61 it pins on CloudWatch
# (nor can moto up to 5.0.13, the newest its py-partiql-parser pin allows, so that moto[server] dependency floats
# too); the product never imports moto, so floating it tests the same product under the same pins.
declare -A floats=([2.11.2]="moto py-partiql-parser")

float=""
wheel=""
case "$line" in
  latest)
    py=$(pick_python 3.12 3.11)
    # celery 5.7 removed celery.backends.database.retry, which apache-airflow-providers-celery 3.26 imports.
    airflow="apache-airflow>=3.3,<4 celery<5.7"; cons=""; wheel=1 ;;
  *)
    cons="$root/constraints/mwaa-airflow-$line.txt"
    [ -f "$cons" ] || { echo "unknown line $line: no $cons (lines: $(cd "$root/constraints" && ls mwaa-airflow-*.txt | sed 's/mwaa-airflow-//; s/\.txt$//' | tr '\n' ' ')latest)" >&2; exit 2; }
    # The header names the constraints the file was copied from, e.g. .../constraints-2.11.2/constraints-3.12.txt.
    want=$(grep -om1 'constraints-[0-9][0-9.]*/constraints-3\.[0-9]*\.txt' "$cons" | sed 's/.*constraints-\(3\.[0-9]*\)\.txt/\1/')
    py=$(pick_python "${want:?no Python version in the header of $cons}")
    airflow="apache-airflow==$line"; float=${floats[$line]:-} ;;
esac

command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv >&2
# Only what decides the installed set goes into the key: pytest or ruff settings must not force a rebuild.
deps=$(sed -n '/^dependencies = \[/,/^\[project.entry-points/p' "$root/pyproject.toml")
key=$( (echo "$airflow $py float=$float"; echo "$deps"; cat ${cons:+"$cons"} /dev/null) | sha256sum | cut -c1-12)
venv="$cache/$line-$key"

if [ ! -f "$venv/.complete" ]; then
  echo "building $venv ($airflow, $("$py" --version))" >&2
  rm -rf "$venv"
  uv venv -q --python "$py" "$venv" >&2
  cflag=()
  if [ -n "$cons" ]; then
    used="$venv/constraints.txt"
    cp "$cons" "$used"
    for tool in $float; do
      echo "line $line: floating test-only tool $tool, pinned $(grep -i "^$tool==" "$cons") with $(grep -i '^botocore==' "$cons") (see scripts/venv.sh)" >&2
      sed -i "/^$tool==/Id" "$used"
    done
    cflag=(-c "$used")
  fi
  uv pip install -q --python "$venv/bin/python" "${cflag[@]}" \
    $airflow "$root[test,celery,bench]" ruff >&2
  touch "$venv/.complete"
fi
for tool in $float; do
  echo "line $line: $tool floated to $("$venv/bin/python" -c "from importlib.metadata import version; print(version('$tool'))") (constraints pin $(grep -i "^$tool==" "$cons"))" >&2
done
if [ -n "$wheel" ]; then
  # Install what users install: the wheel, built from this tree, not an editable link to src/.
  dist=$(mktemp -d /tmp/ecsops-wheel.XXXXXX)
  uv build -q --wheel --out-dir "$dist" "$root" >&2
  uv pip install -q --python "$venv/bin/python" --no-deps --reinstall "$dist"/airflow_provider_ecsops-*.whl >&2
  rm -rf "$dist"
else
  # Reinstall the project itself (editable, no dependency changes) so entry points point at this tree.
  uv pip install -q --python "$venv/bin/python" --no-deps -e "$root" >&2
fi
echo "$venv"
