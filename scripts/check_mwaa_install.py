"""The built wheel is complete and installs on MWAA: what ``scripts/check_mwaa_install.sh`` runs.

1. Build the wheel (``uv build --wheel``) into a temporary wheelhouse and check its contents: every file of
   ``src/airflow_provider_ecsops`` (modules, ``py.typed``), the license, and the entry points pyproject declares
   (``apache_airflow_provider``, ``airflow.plugins``, the console script).
2. Resolution under every MWAA constraints file our Airflow range accepts (``../shared/mwaa-constraints``, else
   the copies in ``constraints/``): ``apache-airflow==<v>`` plus the wheel, ``-c <constraints>``, for the Python
   the file was generated for (its header names ``constraints-3.X.txt``). Every resolved package the file pins
   must resolve to the pin; anything it does not pin (but our own package) is reported.
3. MWAA's own route, for one line (``--route-line``, default 2.10.3): a venv that already has that Airflow and
   the amazon provider (as MWAA's image does), then ``pip install --no-index --find-links <wheelhouse>
   -c <constraints> airflow-provider-ecsops``; no installed package may change, ``import airflow_provider_ecsops``
   works and ProvidersManager lists the provider.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "airflow_provider_ecsops"
SHARED = ROOT.parent / "shared" / "mwaa-constraints"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def _run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(map(str, command))}\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    return out.stdout


def build_wheel(wheelhouse: Path) -> Path:
    _run("uv", "build", "--wheel", "--out-dir", wheelhouse, ROOT)
    (wheel,) = wheelhouse.glob("airflow_provider_ecsops-*.whl")
    return wheel


def _entry_points(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    group = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = groups.setdefault(line.strip("[]"), {})
        elif "=" in line and group is not None:
            name, _, value = line.partition("=")
            group[name.strip()] = value.strip()
    return groups


def check_contents(wheel: Path) -> list[str]:
    """Problems with the wheel's contents (empty: complete)."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        declared = _entry_points(archive.read(entry_points).decode())
    expected = {
        "airflow_provider_ecsops/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file()
        and p.suffix != ".pyc"
        and not any(part.startswith((".", "__pycache__")) for part in p.relative_to(PACKAGE).parts)
    }
    problems = [f"missing from the wheel: {n}" for n in sorted(expected - names)]
    if "airflow_provider_ecsops/py.typed" not in names:
        problems.append("missing from the wheel: py.typed")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("missing from the wheel: the LICENSE file")
    wanted = {**PROJECT.get("entry-points", {}), "console_scripts": PROJECT.get("scripts", {})}
    for group in ("apache_airflow_provider", "airflow.plugins", "console_scripts"):
        if not wanted.get(group):
            problems.append(f"pyproject declares no {group} entry point")
        elif declared.get(group) != wanted[group]:
            problems.append(f"entry points [{group}]: wheel {declared.get(group)}, pyproject {wanted[group]}")
    return problems


def _airflow_version(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.stem.split("airflow-")[-1].split("."))


def _python_of(path: Path) -> str:
    """The Python a constraints file was generated for: its header names ``constraints-3.X.txt``."""
    match = re.search(r"/constraints-(3\.\d+)\.txt", path.read_text()[:2000])
    if not match:
        raise SystemExit(f"{path}: no constraints-3.X.txt in its header; cannot tell its Python")
    return match.group(1)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def constraints_files() -> list[Path]:
    """MWAA's constraints files from our Airflow floor up (pyproject's ``apache-airflow>=X``)."""
    (airflow,) = [
        r for r in PROJECT["dependencies"] if _name(re.split(r"[<>=!~ ;\[]", r)[0]) == "apache-airflow"
    ]
    match = re.search(r">=\s*([\d.]+)", airflow)
    if not match:
        raise SystemExit(f"pyproject's {airflow!r} has no >= floor")
    floor = tuple(int(p) for p in match.group(1).split("."))
    files = sorted(
        (SHARED if SHARED.is_dir() else ROOT / "constraints").glob("*airflow-*.txt"), key=_airflow_version
    )
    return [f for f in files if _airflow_version(f) >= floor]


def check_resolution(wheel: Path, constraints: Path) -> tuple[list[str], list[str]]:
    """(pins the resolution would change, packages it adds that the file does not pin)."""
    version = ".".join(map(str, _airflow_version(constraints)))
    requirements = f"apache-airflow=={version}\nairflow-provider-ecsops @ {wheel.as_uri()}\n"
    python = _python_of(constraints)
    command = ["uv", "pip", "compile", "-", "-c", str(constraints), "--python-version", python, "--no-header"]
    out = subprocess.run(
        [*command, "--no-annotate", "-q"],
        input=requirements,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        return [f"no resolution: {out.stderr.strip()[-2000:]}"], []
    pins = _pins(constraints)
    changed, unpinned = [], []
    for line in out.stdout.splitlines():
        if "==" not in line:
            continue
        name, resolved = line.split("==", 1)
        name = _name(name)
        if name in pins and pins[name] != resolved.strip():
            changed.append(f"{name} {pins[name]} -> {resolved.strip()}")
        elif name not in pins and name != "apache-airflow":
            unpinned.append(f"{name}=={resolved.strip()}")
    return changed, unpinned


def check_mwaa_route(wheel: Path, constraints: Path, work: Path) -> list[str]:
    """Install as MWAA does into a venv that already holds the line's Airflow; problems found."""
    version = ".".join(map(str, _airflow_version(constraints)))
    venv = work / f"mwaa-{version}"
    python = venv / "bin" / "python"
    _run("uv", "venv", "-q", "--seed", "--python", _python_of(constraints), venv)
    _run(
        "uv", "pip", "install", "-q", "--python", python, "-c", constraints,
        f"apache-airflow=={version}", "apache-airflow-providers-amazon",
    )  # fmt: skip
    before = _run(python, "-m", "pip", "freeze", "--all")
    # MWAA's requirements.txt route: the wheel from plugins.zip, nothing from an index, the constraints line.
    _run(
        python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheel.parent,
        "--constraint", constraints, "airflow-provider-ecsops",
    )  # fmt: skip
    after = _run(python, "-m", "pip", "freeze", "--all")
    problems = [f"pip changed {line}" for line in sorted(set(before.splitlines()) - set(after.splitlines()))]
    added = {_name(line.split("==")[0]) for line in set(after.splitlines()) - set(before.splitlines())}
    if added != {"airflow-provider-ecsops"}:
        problems.append(f"pip added {sorted(added)}, expected only airflow-provider-ecsops")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / f"airflow-home-{version}"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    shown = _run(
        python,
        "-c",
        "import json, airflow_provider_ecsops\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "info = ProvidersManager().providers['airflow-provider-ecsops']\n"
        "print(json.dumps({'file': airflow_provider_ecsops.__file__, 'version': info.version}))\n",
        env=env,
    )
    result = json.loads(shown.strip().splitlines()[-1])
    if str(venv) not in result["file"]:
        problems.append(f"airflow_provider_ecsops imported from {result['file']}, not the installed wheel")
    wheel_version = wheel.name.split("-")[1]
    if result["version"] != wheel_version:
        problems.append(f"ProvidersManager shows version {result['version']}, the wheel is {wheel_version}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--route-line", default="2.10.3", help="the MWAA line whose pip route is run for real"
    )
    parser.add_argument("--no-route", action="store_true", help="contents and resolution only")
    args = parser.parse_args(argv)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="ecsops-wheel-") as tmp:
        work = Path(tmp)
        wheelhouse = work / "wheelhouse"
        wheel = build_wheel(wheelhouse)
        problems = check_contents(wheel)
        print(f"wheel {wheel.name}: {'complete' if not problems else 'INCOMPLETE'}")
        for problem in problems:
            print(f"  {problem}")
        failures += bool(problems)
        files = constraints_files()
        if not files:
            print("no MWAA constraints files found")
            return 1
        for constraints in files:
            changed, unpinned = check_resolution(wheel, constraints)
            verdict = "no pin changed" if not changed else "PINS CHANGED"
            print(f"{constraints.name} (Python {_python_of(constraints)}): {verdict}")
            for line in changed:
                print(f"  {line}")
            if unpinned:
                print(f"  not pinned by the file, floating: {', '.join(unpinned)}")
            failures += bool(changed)
        if not args.no_route:
            (route,) = [f for f in files if f.stem.endswith(f"airflow-{args.route_line}")]
            problems = check_mwaa_route(wheel, route, work)
            print(
                f"MWAA route ({route.name}, --no-index --find-links): {'installed' if not problems else 'FAILED'}"
            )
            for problem in problems:
                print(f"  {problem}")
            failures += bool(problems)
    print("OK" if not failures else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
