"""The HTML report: an SVG timeline with one bar per slot in worker lanes, tallies; and how Chromium renders it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser

import pytest

from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.observations import observations_from_db
from airflow_provider_ecsops.replication.render import COLOURS, NO_WORKER, to_html
from tests.replication.helpers import judge
from tests.replication.seed import EXPECTED

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def page(sqlite_plan) -> str:
    results = judge(sqlite_plan, observations_from_db(sqlite_plan["url"], list(EXPECTED), TASK_ID))
    return to_html(
        results, datetime.fromisoformat(sqlite_plan["since"]), datetime.fromisoformat(sqlite_plan["until"])
    )


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self._table = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs)["class"].split()[-1]
            self.rows[self._table] = []
        elif tag == "tr" and self._table:
            self.rows[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[self._table][-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None


def test_html_has_a_bar_per_slot_in_worker_lanes(page, sqlite_plan):
    svg = ET.fromstring(
        page[page.index("<svg", page.index("Timeline")) : page.index("</svg>", page.index("Timeline")) + 6]
    )
    bars = svg.findall(f".//{SVG}rect[@class]")
    bars = [b for b in bars if b.get("class").startswith("bar ")]
    assert len(bars) == len(EXPECTED)
    assert sorted(b.get("class").split()[1] for b in bars) == sorted(EXPECTED.values())
    assert all(b.get("fill") == COLOURS[b.get("class").split()[1]] for b in bars)
    titles = [b.find(f"{SVG}title").text for b in bars]
    assert any(t.startswith(f"{dag_id} ") and cls in t for t in titles for dag_id, cls in EXPECTED.items())
    lanes = {g.get("data-worker"): g for g in svg.findall(f"{SVG}g[@class='lane']")}
    # Never-started slots have no worker; the lost one sits in its worker's lane.
    no_worker = {b.get("class").split()[1] for b in lanes.pop(NO_WORKER).iter(f"{SVG}rect") if b.get("class")}
    assert no_worker == {"never_scheduled", "stuck"}
    assert any("lost" in (b.get("class") or "") for g in lanes.values() for b in g.iter(f"{SVG}rect"))

    tables = _Tables()
    tables.feed(page)
    per_dag = {row[0]: row[1:] for row in tables.rows["dag_id"][1:]}
    assert set(per_dag) == set(EXPECTED)
    assert tables.rows["offset"][0] == ["offset", "expected", *COLOURS, "judged", "incidence"]
    assert tables.rows["set"][1][:7] == ["all", "8", "2", "1", "2", "1", "1"]


def test_chromium_renders_the_page(page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert chromium, "headless Chromium is needed: apt-get install -y chromium (scripts/test.sh installs it)"
    html_file, png = tmp_path / "race.html", tmp_path / "race.png"
    html_file.write_text(page)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={png}",
         "--window-size=1450,700", html_file.as_uri()],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1450, 700)
    assert len(data) > 20_000  # a blank page compresses to a few kB
