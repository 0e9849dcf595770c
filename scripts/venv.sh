#!/usr/bin/env bash
# Build (or reuse) the virtualenv of one test-matrix line and print its path.
#   scripts/venv.sh af2       Airflow 2.10.3 under MWAA's 2.10.3 constraints, Python 3.11
#   scripts/venv.sh af33      Airflow 3.3.1 under MWAA's 3.3.1 constraints, Python 3.12 (else 3.11)
#   scripts/venv.sh latest    newest Airflow 3 release, Python 3.12 (else 3.11)
# Venvs are cached by a hash of this script, the constraints and pyproject.toml, outside the work tree,
# so repeated runs (and CI on the same machine) reuse them; the project itself is reinstalled each time.
set -euo pipefail
line=${1:?usage: scripts/venv.sh af2|af33|latest}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ECSOPS_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-provider-ecsops/venvs}

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

case "$line" in
  af2)    py=$(pick_python 3.11); airflow="apache-airflow==2.10.3"; cons="$root/constraints/mwaa-airflow-2.10.3.txt" ;;
  af33)   py=$(pick_python 3.12 3.11); airflow="apache-airflow==3.3.1"; cons="$root/constraints/mwaa-airflow-3.3.1.txt" ;;
  # celery 5.7 removed celery.backends.database.retry, which apache-airflow-providers-celery 3.26 imports.
  latest) py=$(pick_python 3.12 3.11); airflow="apache-airflow>=3.3,<4 celery<5.7"; cons="" ;;
  *) echo "unknown line $line (af2|af33|latest)" >&2; exit 2 ;;
esac

command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv >&2
# Only what decides the installed set goes into the key: pytest or ruff settings must not force a rebuild.
deps=$(sed -n '/^dependencies = \[/,/^\[project.entry-points/p' "$root/pyproject.toml")
key=$( (echo "$airflow $py"; echo "$deps"; cat ${cons:+"$cons"} /dev/null) | sha256sum | cut -c1-12)
venv="$cache/$line-$key"
cflag=()
[ -n "$cons" ] && cflag=(-c "$cons")

if [ ! -f "$venv/.complete" ]; then
  echo "building $venv ($airflow, $("$py" --version))" >&2
  rm -rf "$venv"
  uv venv -q --python "$py" "$venv" >&2
  uv pip install -q --python "$venv/bin/python" "${cflag[@]}" \
    $airflow "$root[test,celery,bench]" ruff >&2
  touch "$venv/.complete"
fi
# Reinstall the project itself (editable, no dependency changes) so entry points point at this tree.
uv pip install -q --python "$venv/bin/python" --no-deps -e "$root" >&2
echo "$venv"
