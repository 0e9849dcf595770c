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


def _airflow_requirement() -> Requirement:
    (airflow,) = [r for r in _requirements() if canonicalize_name(r.name) == "apache-airflow"]
    return airflow


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[")[0])] = Version(version.split(";")[0].strip())
    return pins


def _airflow_version(path: Path) -> Version:
    return Version(path.stem.split("airflow-")[-1])


# The MWAA lines our declared Airflow range (pyproject's, read above) accepts.
SUPPORTED = [f for f in FILES if _airflow_requirement().specifier.contains(_airflow_version(f))]


def test_constraints_files_are_found():
    assert SUPPORTED, f"no MWAA constraints file inside {_airflow_requirement()} in {SHARED} or constraints/"


def test_our_airflow_range_leaves_no_mwaa_line_out_above_its_floor():
    oldest = min(_airflow_version(f) for f in SUPPORTED)
    refused = [f.name for f in FILES if f not in SUPPORTED and _airflow_version(f) > oldest]
    assert not refused, f"{_airflow_requirement()} refuses MWAA lines newer than {oldest}: {refused}"


@pytest.mark.parametrize("path", SUPPORTED, ids=[f.stem for f in SUPPORTED])
def test_every_pin_is_inside_our_ranges(path):
    pins = _pins(path)
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        if name == "apache-airflow":
            continue
        assert name in pins, f"{requirement.name} is not pinned in {path.name}: pip would pick a version"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{path.name} pins {requirement.name}=={pins[name]}, outside our {requirement.specifier}"
        )


def test_airflow_below_2_10_is_refused():
    assert not _airflow_requirement().specifier.contains("2.9.2")
