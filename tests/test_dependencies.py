"""Our dependency ranges accept every pin of MWAA's constraints files from Airflow 2.10.1 up.

With every direct requirement pinned by the constraints and every pin inside our ranges,
``pip install airflow-provider-ecsops -c <MWAA constraints>`` installs exactly the pins: nothing is upgraded
or downgraded. The files are read from ``../shared/mwaa-constraints`` when present (all MWAA versions), else
from the copies in ``constraints/``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "mwaa-constraints"
FILES = sorted((SHARED if SHARED.is_dir() else ROOT / "constraints").glob("*.txt"))


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[")[0])] = Version(version.split(";")[0].strip())
    return pins


SUPPORTED = [f for f in FILES if Version(f.stem.split("airflow-")[-1]) >= Version("2.10.1")]


def test_constraints_files_are_found():
    assert SUPPORTED, f"no MWAA constraints files in {SHARED} or constraints/"


@pytest.mark.parametrize("path", SUPPORTED, ids=[f.stem for f in SUPPORTED])
def test_every_pin_is_inside_our_ranges(path):
    pins = _pins(path)
    airflow_version = Version(path.stem.split("airflow-")[-1])
    assert Requirement("apache-airflow>=2.10.1,<4").specifier.contains(airflow_version)
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        if name == "apache-airflow":
            assert requirement.specifier.contains(airflow_version), (path.name, str(requirement))
            continue
        assert name in pins, f"{requirement.name} is not pinned in {path.name}: pip would pick a version"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{path.name} pins {requirement.name}=={pins[name]}, outside our {requirement.specifier}"
        )


def test_airflow_below_2_10_is_refused():
    (airflow,) = [r for r in _requirements() if r.name == "apache-airflow"]
    assert not airflow.specifier.contains("2.9.2")
