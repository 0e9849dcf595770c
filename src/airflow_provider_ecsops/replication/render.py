"""The race report's three faces: a console table, JSON for automation, and an HTML page with an SVG timeline.

The timeline spans the observed runs (and the workers' stops, when the lab's event log is given), not the
whole window, and scales to the page (``viewBox``, width 100%). Incidence reads "n/a" where no slot was judged.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from airflow_provider_ecsops.replication.classify import (
    CLASSES,
    INCIDENT_CLASSES,
    SlotResult,
    Tally,
    duration,
    tallies,
)
from airflow_provider_ecsops.replication.schedule import RaceSchedule
from airflow_provider_ecsops.replication.worker_events import WorkerEvent

COLOURS = {
    "completed": "#4caf50",
    "lost": "#d32f2f",
    "stuck": "#ff9800",
    "failed": "#8e24aa",
    "never_scheduled": "#9e9e9e",
    "running": "#2196f3",
}
MARKERS = {  # worker event -> (colour, symbol, label)
    "launch": ("#2e7d32", "\u25b2", "launched"),
    "sigterm": ("#ef6c00", "\u25bc", "SIGTERM"),
    "sigkill": ("#000000", "\u2716", "SIGKILL"),
    "exited": ("#616161", "\u25a0", "exited"),
}
NO_WORKER = "(no worker)"
AXIS_TICKS = 6
VIEW_WIDTH = 1200  # SVG user units; the page scales the drawing to its own width
HEADERS = ("expected", *CLASSES, "judged", "incidence")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_json(
    race_schedule: RaceSchedule, results: Sequence[SlotResult], since: datetime, until: datetime
) -> dict:
    """The report as a JSON-ready dict: schedule table, window, tallies and one entry per slot."""
    groups = tallies(results)
    slots = []
    for r in results:
        obs = r.observation
        slots.append(
            {
                "dag_id": r.dag.dag_id,
                "wave": r.dag.wave,
                "offset": r.dag.offset,
                "slot": _iso(r.slot),
                "class": r.cls,
                "reason": r.reason,
                "run_id": obs.run_id if obs else None,
                "state": obs.state if obs else None,
                "queued_at": _iso(obs.queued_at) if obs else None,
                "start": _iso(obs.start) if obs else None,
                "end": _iso(obs.end) if obs else None,
                "pid": obs.pid if obs else None,
                "worker": r.worker,
                "ecs_task_arn": r.ecs_task_arn,
                "expected_seconds": r.expected_seconds,
            }
        )
    return {
        "schedule": race_schedule.table(),
        "window": {"since": _iso(since), "until": _iso(until)},
        "tallies": {group: {k: t.as_dict() for k, t in items.items()} for group, items in groups.items()},
        "slots": slots,
    }


def _incidence(tally: Tally) -> str:
    return "n/a" if tally.incidence is None else f"{tally.incidence:.1%}"


def _table(title: str, rows: dict[str, Tally]) -> list[str]:
    width = max([len(title), *map(len, rows)])
    lines = [f"{title:<{width}}  " + "  ".join(f"{h:>9}" for h in HEADERS)]
    for key, tally in rows.items():
        d = tally.as_dict()
        cells = [f"{d[h]:>9}" for h in HEADERS[:-1]] + [f"{_incidence(tally):>9}"]
        lines.append(f"{key:<{width}}  " + "  ".join(cells))
    return lines


def _at(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds") if when else "-"


def to_console(results: Sequence[SlotResult], since: datetime, until: datetime) -> str:
    """Incidence per DAG and per offset, then one line per incident."""
    groups = tallies(results)
    lines = [f"Scale-down race report: {len(results)} slots from {_at(since)} to {_at(until)}", ""]
    lines += [*_table("dag_id", groups["dag"]), "", *_table("offset", groups["offset"])]
    lines += ["", *_table("set", groups["all"])]
    if groups["all"]["all"].incidence is None:
        lines += [
            "",
            "Incidence n/a: no slot of the window was scheduled and settled, so nothing was judged.",
        ]
    incidents = [r for r in results if r.cls in INCIDENT_CLASSES]
    if incidents:
        lines += ["", "Incidents:"]
        lines += [
            f"  {r.cls:<6} {r.dag.dag_id} {_at(r.slot)} worker={r.worker or '-'} "
            f"ecs_task={r.ecs_task_arn or '-'}: {r.reason}"
            for r in incidents
        ]
    return "\n".join(lines)


def _bar_span(r: SlotResult) -> tuple[datetime, datetime]:
    obs = r.observation
    start = (obs.start if obs else None) or r.slot
    end = (obs.end if obs else None) or start + timedelta(seconds=r.expected_seconds)
    return start, max(end, start)


def _lanes(results: Sequence[SlotResult], workers: Sequence[str]) -> dict[str, list[list[SlotResult]]]:
    """Per worker, rows of non-overlapping bars (greedy packing), so concurrent runs stay visible.

    :param workers: workers that get a lane even without a bar (their stops are worth seeing).
    """
    lanes: dict[str, list[list[SlotResult]]] = {w: [] for w in workers}
    for r in sorted(results, key=lambda r: _bar_span(r)[0]):
        rows = lanes.setdefault(r.worker or NO_WORKER, [])
        start = _bar_span(r)[0]
        for row in rows:
            if _bar_span(row[-1])[1] <= start:
                row.append(r)
                break
        else:
            rows.append([r])
    return dict(sorted(lanes.items(), key=lambda kv: (kv[0] == NO_WORKER, kv[0])))


def _span(results: Sequence[SlotResult], events: Sequence[WorkerEvent]) -> tuple[datetime, datetime]:
    """From the first to the last observed run, widened to the workers' stops; all slots if none ran."""
    observed = [_bar_span(r) for r in results if r.observation is not None] or [_bar_span(r) for r in results]
    times = [t for span in observed for t in span] + [e.at for e in events if e.action != "launch"]
    return min(times), max(times)


def timeline_svg(
    results: Sequence[SlotResult], width: int = VIEW_WIDTH, events: Sequence[WorkerEvent] = ()
) -> str:
    """Inline SVG: one lane per worker, one bar per slot coloured by class, stop markers from ``events``.

    :param results: the verdicts.
    :param width: width of the drawing in user units (it is displayed at the page's width).
    :param events: worker events (:func:`~.worker_events.read_events`), drawn as markers in their lanes.
    """
    if not results:
        return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 30" width="400"><text x="4" y="20">no slots</text></svg>'
    t0, t1 = _span(results, events)
    total = max((t1 - t0).total_seconds(), 1.0)
    label_w, row_h, top = 150, 16, 34
    plot_w = width - label_w - 16

    def x(when: datetime) -> float:
        return label_w + (when - t0).total_seconds() / total * plot_w

    shown = [r for r in results if _bar_span(r)[1] >= t0 and _bar_span(r)[0] <= t1]
    visible = [e for e in events if t0 <= e.at <= t1]
    parts, y = [], top
    for worker, rows in _lanes(shown, sorted({e.worker for e in visible})).items():
        lane_h = row_h * max(len(rows), 1)
        parts.append(f'<g class="lane" data-worker="{html.escape(worker)}">')
        parts.append(f'<rect x="0" y="{y}" width="{width}" height="{lane_h}" fill="#f5f5f5" stroke="#ddd"/>')
        parts.append(f'<text x="4" y="{y + 12}" font-size="11">{html.escape(worker[:24])}</text>')
        for i, row in enumerate(rows):
            for r in row:
                start, end = _bar_span(r)
                title = (
                    f"{r.dag.dag_id} slot {_at(r.slot)}: {r.cls}, {r.reason}; ran {_at(start)} .. {_at(end)} "
                    f"({duration(end - start)}, expected {duration(timedelta(seconds=r.expected_seconds))})"
                )
                parts.append(
                    f'<rect class="bar {r.cls}" x="{x(start):.1f}" y="{y + i * row_h + 2}" '
                    f'width="{max(x(end) - x(start), 2):.1f}" height="{row_h - 4}" fill="{COLOURS[r.cls]}">'
                    f"<title>{html.escape(title)}</title></rect>"
                )
        for e in (e for e in visible if e.worker == worker):
            colour, symbol, label = MARKERS[e.action]
            title = html.escape(f"{worker} {label} at {_at(e.at)}" + (f": {e.detail}" if e.detail else ""))
            parts.append(
                f'<g class="marker {e.action}"><title>{title}</title>'
                f'<line x1="{x(e.at):.1f}" y1="{y}" x2="{x(e.at):.1f}" y2="{y + lane_h}" stroke="{colour}" '
                f'stroke-width="2"/><text x="{x(e.at):.1f}" y="{y + 10}" font-size="10" fill="{colour}" '
                f'text-anchor="middle">{symbol}</text></g>'
            )
        parts.append("</g>")
        y += lane_h
    axis = [f'<line x1="{label_w}" y1="24" x2="{label_w + plot_w}" y2="24" stroke="#333"/>']
    for i in range(AXIS_TICKS + 1):
        when = t0 + (t1 - t0) * i / AXIS_TICKS
        anchor = "start" if i == 0 else "end" if i == AXIS_TICKS else "middle"
        axis.append(
            f'<line x1="{x(when):.1f}" y1="24" x2="{x(when):.1f}" y2="{y}" stroke="#ccc" stroke-dasharray="2,3"/>'
            f'<text x="{x(when):.1f}" y="16" font-size="11" text-anchor="{anchor}">'
            f"{when.strftime('%H:%M:%S')}</text>"
        )
    hidden = len(results) - len(shown)
    note = (
        f'<text x="4" y="{y + 14}" font-size="11" fill="#555">{hidden} slot(s) outside the observed span '
        "(never scheduled) are not drawn; see the tables</text>"
        if hidden
        else ""
    )
    height = y + (20 if hidden else 6)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-family="sans-serif">{"".join(parts + axis)}{note}</svg>'
    )


def _html_table(title: str, rows: dict[str, Tally]) -> str:
    head = "".join(f"<th>{h}</th>" for h in (title, *HEADERS))
    body = "".join(
        "<tr><td>{}</td>{}<td>{}</td></tr>".format(
            html.escape(key), "".join(f"<td>{t.as_dict()[h]}</td>" for h in HEADERS[:-1]), _incidence(t)
        )
        for key, t in rows.items()
    )
    return f'<table class="tally {title}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _clock(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _stops(r: SlotResult, events: Sequence[WorkerEvent]) -> list[WorkerEvent]:
    """The stops (SIGTERM, SIGKILL, exit) of the run's worker from the run's start on."""
    start = r.observation.start if r.observation else None
    if not r.worker or start is None:
        return []
    return [e for e in events if e.worker == r.worker and e.action != "launch" and e.at >= start][:3]


def _when_it_happened(r: SlotResult, events: Sequence[WorkerEvent]) -> datetime:
    """Lost: the worker's first stop, else the run's end or start; stuck: since when it waited."""
    obs = r.observation
    if obs is None:
        return r.slot
    if r.cls == "lost":
        stops = _stops(r, events)
        return stops[0].at if stops else obs.end or obs.start or r.slot
    return obs.queued_at or r.slot


def _stops_in_words(r: SlotResult, events: Sequence[WorkerEvent]) -> str:
    return "; ".join(
        f"{MARKERS[e.action][2]} {e.at:%H:%M:%S}" + (f" ({e.detail})" if e.detail else "")
        for e in _stops(r, events)
    )


def incident_table(results: Sequence[SlotResult], events: Sequence[WorkerEvent] = ()) -> str:
    """One row per lost or stuck slot: DAG, slot, worker, ECS task, what happened, when, the worker's stops."""
    incidents = sorted(
        (r for r in results if r.cls in INCIDENT_CLASSES), key=lambda r: _when_it_happened(r, events)
    )
    if not incidents:
        return "<p>No lost or stuck slot.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in ("class", "dag_id", "slot", "worker", "ECS task", "what happened", "when", "worker stops")
    )
    rows = "".join(
        f'<tr class="{r.cls}"><td>{r.cls}</td><td>{html.escape(r.dag.dag_id)}</td><td class="when">{_clock(r.slot)}</td>'
        f"<td>{html.escape(r.worker or '-')}</td>"
        f'<td title="{html.escape(r.ecs_task_arn or "")}">{html.escape((r.ecs_task_arn or "-").rsplit("/", 1)[-1])}</td>'
        f'<td>{html.escape(r.reason)}</td><td class="when">{_clock(_when_it_happened(r, events))}</td>'
        f"<td>{html.escape(_stops_in_words(r, events) or '-')}</td></tr>"
        for r in incidents
    )
    return f'<table class="incidents"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def to_html(
    results: Sequence[SlotResult],
    since: datetime,
    until: datetime,
    events: Sequence[WorkerEvent] | None = None,
) -> str:
    """A self-contained page: legend, SVG timeline by worker, incidents, tallies per DAG and per offset.

    :param results: the verdicts.
    :param since: start of the window.
    :param until: end of the window.
    :param events: the race lab's worker events (stop markers); ``None`` when no event log was given.
    """
    groups = tallies(results)
    events = events or []
    legend = "".join(
        f'<span class="key"><svg width="12" height="12"><rect width="12" height="12" fill="{c}"/></svg> {k}</span>'
        for k, c in COLOURS.items()
    )
    legend += (
        "".join(
            f'<span class="key" style="color:{c}">{symbol} {label}</span>'
            for c, symbol, label in MARKERS.values()
        )
        if events
        else '<span class="key">(no event log given: no stop markers)</span>'
    )
    whole = groups["all"]["all"]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Scale-down race report</title>
<style>body{{font-family:sans-serif;margin:16px}} table{{border-collapse:collapse;margin:8px 0 16px}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} td:first-child{{text-align:left}}
table.incidents{{width:100%}} table.incidents td,table.incidents th{{text-align:left}}
td.when{{white-space:nowrap}} tr.lost td:first-child{{color:{COLOURS["lost"]};font-weight:bold}}
tr.stuck td:first-child{{color:{COLOURS["stuck"]};font-weight:bold}}
.key{{margin-right:14px;white-space:nowrap}} svg.timeline{{display:block;max-width:100%}}</style></head>
<body><h1>Scale-down race report</h1>
<p>{len(results)} slots from {_at(since)} to {_at(until)} (UTC): {whole.incidents} incident(s) in {whole.judged}
judged slots, incidence {_incidence(whole)}. Incidence = (lost + stuck) / judged, judged = scheduled and settled
(neither running nor never scheduled).</p>
<div class="legend">{legend}</div>
<h2>Timeline by worker (UTC)</h2>
{timeline_svg(results, events=events)}
<h2>Incidents</h2>{incident_table(results, events)}
<h2>Per DAG</h2>{_html_table("dag_id", groups["dag"])}
<h2>Per offset</h2>{_html_table("offset", groups["offset"])}
<h2>Whole set</h2>{_html_table("set", groups["all"])}
</body></html>
"""


def write_json(path: str, report: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
