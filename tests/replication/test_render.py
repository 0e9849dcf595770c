"""The HTML report: an SVG timeline with one bar per slot in worker lanes, tallies; and how Chromium renders it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser

import pytest

from airflow_provider_ecsops.replication.dags import TASK_ID
from airflow_provider_ecsops.replication.observations import observations_from_db
from airflow_provider_ecsops.replication.render import COLOURS, NO_WORKER, VIEW_WIDTH, to_html
from airflow_provider_ecsops.replication.worker_events import read_events
from tests.replication.helpers import FAKE_TASK_ARN, judge
from tests.replication.seed import EXPECTED, PREFIX

SVG = "{http://www.w3.org/2000/svg}"


IDLE_WORKER = "w-idle"


def _event_log(path, lost) -> str:
    """An ``events.jsonl`` as the race lab's autoscaler writes it: the lost run's worker stopped mid-run."""
    start = lost.observation.start.timestamp()
    entries = [
        {"time": start - 3600, "action": "launch", "worker": lost.worker, "task_arn": lost.ecs_task_arn, "why": "warm-up"},
        {"time": start - 1, "action": "scale_in", "stops": 2, "land_in": [1.0, 1.2]},
        {"time": start + 0.2, "action": "sigterm", "worker": lost.worker, "running_tasks": 1, "protected_skipped": 0},
        {"time": start + 0.3, "action": "sigterm", "worker": IDLE_WORKER, "running_tasks": 0, "protected_skipped": 0},
        {"time": start + 0.6, "action": "sigkill", "worker": lost.worker},
        {"time": start + 0.7, "action": "exited", "worker": lost.worker, "after": 0.5},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return str(path)


@pytest.fixture(scope="module")
def page(sqlite_plan, tmp_path_factory) -> str:
    results = judge(sqlite_plan, observations_from_db(sqlite_plan["url"], list(EXPECTED), TASK_ID))
    lost = next(r for r in results if r.cls == "lost")
    events = read_events(_event_log(tmp_path_factory.mktemp("events") / "events.jsonl", lost))
    return to_html(
        results,
        datetime.fromisoformat(sqlite_plan["since"]),
        datetime.fromisoformat(sqlite_plan["until"]),
        events=events,
    )


def _svg(page: str) -> ET.Element:
    begin = page.index("<svg", page.index("Timeline"))
    return ET.fromstring(page[begin : page.index("</svg>", begin) + 6])


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
    svg = _svg(page)
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
    assert not list(lanes.pop(IDLE_WORKER).iter(f"{SVG}rect[@class]"))  # a lane for its stop, no bar
    assert any("lost" in (b.get("class") or "") for g in lanes.values() for b in g.iter(f"{SVG}rect"))

    tables = _Tables()
    tables.feed(page)
    per_dag = {row[0]: row[1:] for row in tables.rows["dag_id"][1:]}
    assert set(per_dag) == set(EXPECTED)
    assert tables.rows["offset"][0] == ["offset", "expected", *COLOURS, "judged", "incidence"]
    assert tables.rows["set"][1][:7] == ["all", "8", "2", "1", "2", "1", "1"]


def test_timeline_fits_the_page_and_spans_the_runs(page):
    svg = _svg(page)
    assert svg.get("width") == "100%" and svg.get("viewBox").startswith(f"0 0 {VIEW_WIDTH} ")
    bars = [b for b in svg.iter(f"{SVG}rect") if (b.get("class") or "").startswith("bar ")]
    left = [float(b.get("x")) for b in bars]
    right = [float(b.get("x")) + float(b.get("width")) for b in bars]
    # The span starts at the first bar and ends at the last bar or marker: no empty stretch on either side.
    assert min(left) < 151 and VIEW_WIDTH - 17 <= max(right + _marker_xs(svg)) <= VIEW_WIDTH


def _marker_xs(svg: ET.Element) -> list[float]:
    return [
        float(line.get("x1"))
        for g in svg.iter(f"{SVG}g")
        if "marker" in (g.get("class") or "")
        for line in g.iter(f"{SVG}line")
    ]


def test_stop_markers_sit_in_their_workers_lanes_and_the_incident_list_names_them(page):
    svg = _svg(page)
    lanes = {g.get("data-worker"): g for g in svg.findall(f"{SVG}g[@class='lane']")}
    lost_lane = next(
        w for w, g in lanes.items() if any("lost" in (b.get("class") or "") for b in g.iter(f"{SVG}rect"))
    )
    markers = {w: [m.get("class").split()[1] for m in g.findall(f"{SVG}g")] for w, g in lanes.items()}
    assert markers[lost_lane] == ["sigterm", "sigkill", "exited"]  # the warm-up launch is before the span
    assert markers[IDLE_WORKER] == ["sigterm"]
    titles = [m.find(f"{SVG}title").text for m in lanes[lost_lane].findall(f"{SVG}g")]
    assert titles[0].endswith("1 running task(s) at SIGTERM")

    tables = _Tables()
    tables.feed(page)
    head, *rows = tables.rows["incidents"]
    assert head == ["class", "dag_id", "slot", "worker", "ECS task", "what happened", "when", "worker stops"]
    by_dag = {row[1]: row for row in rows}
    assert sorted(row[0] for row in rows) == ["lost", "stuck", "stuck"]
    lost = by_dag[f"{PREFIX}_b2"]
    assert lost[3] == lost_lane and lost[4] == FAKE_TASK_ARN.rsplit("/", 1)[-1]
    assert "SIGTERM" in lost[7] and "SIGKILL" in lost[7] and "exited 0.5 s after SIGTERM" in lost[7]
    assert by_dag[f"{PREFIX}_b3"][5] == "queued for 30 min 00 s" and by_dag[f"{PREFIX}_b3"][7] == "-"


def test_chromium_renders_the_page(page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert chromium, "headless Chromium is needed: apt-get install -y chromium (scripts/test.sh installs it)"
    html_file, png = tmp_path / "race.html", tmp_path / "race.png"
    html_file.write_text(page)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={png}",
         "--window-size=1280,900", html_file.as_uri()],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 900)
    assert len(data) > 20_000  # a blank page compresses to a few kB
